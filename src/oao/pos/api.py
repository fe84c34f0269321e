"""HTTP API of the point of sale: registers and counter sales.

A register resends a sale until it hears back, so POST /pos/sales is
idempotent by the register's own `sale_id`: the first copy answers 201 with
the receipt, a resend of the same sale answers 200 with the same receipt, and
the same sale_id for a different sale answers 409. An `Idempotency-Key`
header is honoured too, like on every other POST.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from oao.deps import PROBLEM_RESPONSES, CtxDep, IdempotencyKey, idempotent
from oao.pos import service
from oao.pos.schemas import Receipt, RegisterIn, RegisterOut, SaleIn
from oao.pos.service import ScannedLine
from oao.pos.tenders import Tender

router = APIRouter(tags=["pos"], responses=PROBLEM_RESPONSES)

PROBLEMS = {code: {"model": None, "content": {"application/problem+json": {}}, "description": text}
            for code, text in ((401, "Not authenticated"), (403, "Not allowed"), (404, "Not found"),
                               (409, "Conflict"), (422, "Invalid input"))}


class _Replayed(Exception):
    """Leaves the idempotent unit of work when the sale was already recorded.

    The replay wrote nothing, so rolling its transaction back loses nothing,
    and the answer becomes a 200 instead of the 201 of a new sale.
    """

    def __init__(self, receipt: Receipt) -> None:
        super().__init__(receipt.id)
        self.receipt = receipt


# --- registers ------------------------------------------------------------------------------

@router.post("/pos/registers", response_model=RegisterOut, status_code=201, responses=PROBLEMS)
def create_register(body: RegisterIn, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None):
    """Add a till, kiosk or self-checkout to one of your stores (merchant admins)."""
    return idempotent(ctx, request, idempotency_key, body, 201, lambda s: RegisterOut.model_validate(
        service.create_register(s, principal=ctx.principal, location_id=body.location_id, name=body.name,
                                kind=body.kind, now=ctx.now())))


@router.get("/pos/registers", response_model=list[RegisterOut], responses=PROBLEMS)
def list_registers(ctx: CtxDep,
                   location_id: Annotated[str | None, Query(description="only this store's registers")] = None,
                   merchant_id: Annotated[str | None, Query(description="network admins: one merchant's")] = None,
                   ) -> list[RegisterOut]:
    """Your merchant's registers."""
    with ctx.read() as s:
        return [RegisterOut.model_validate(r) for r in
                service.list_registers(s, principal=ctx.principal, location_id=location_id,
                                       merchant_id=merchant_id)]


@router.get("/pos/registers/{register_id}", response_model=RegisterOut, responses=PROBLEMS)
def get_register(register_id: str, ctx: CtxDep) -> RegisterOut:
    with ctx.read() as s:
        return RegisterOut.model_validate(service.get_register(s, principal=ctx.principal,
                                                               register_id=register_id))


# --- sales ----------------------------------------------------------------------------------

@router.post("/pos/sales", response_model=Receipt, status_code=201,
             responses={200: {"model": Receipt, "description": "This sale was already recorded: its receipt"},
                        **PROBLEMS})
def record_sale(body: SaleIn, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None):
    """Record a counter sale and return its receipt; resending the same sale_id records it once."""

    def action(s: Session) -> Receipt:
        sale, created = service.record_sale(
            s, principal=ctx.principal, sale_id=body.sale_id, register_id=body.register_id,
            lines=[ScannedLine(line.gtin, line.quantity) for line in body.lines],
            tenders=[Tender(t.kind, t.amount_minor, t.reference()) for t in body.tenders],
            member_ref=body.member_ref, sold_at=body.sold_at, now=ctx.now())
        receipt = service.receipt(s, sale=sale)
        if not created:
            raise _Replayed(receipt)
        return receipt

    try:
        return idempotent(ctx, request, idempotency_key, body, 201, action)
    except _Replayed as replay:
        return JSONResponse(replay.receipt.model_dump(mode="json"), status_code=200)


@router.get("/pos/sales/{sale_id}", response_model=Receipt, responses=PROBLEMS)
def get_sale(sale_id: str, ctx: CtxDep) -> Receipt:
    """The receipt of a recorded sale (by its OAO id)."""
    with ctx.read() as s:
        return service.receipt(s, sale=service.get_sale(s, principal=ctx.principal, sale_id=sale_id))
