"""Stock levels, receipts, adjustments, the movement history and transfers."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from oao.catalog import service as catalog
from oao.core.auth import Principal, Role
from oao.core.errors import Forbidden, InvalidInput, NotFound
from oao.deps import PROBLEM_RESPONSES, CtxDep, IdempotencyKey, idempotent
from oao.fulfillment import lifecycle
from oao.inventory import service as inventory
from oao.inventory import transfers
from oao.inventory.models import StockLevel, StockMovement, Transfer
from oao.inventory.schemas import (
    AdjustmentIn,
    MovementOut,
    ReceiptIn,
    StockOut,
    TransferIn,
    TransferLineOut,
    TransferOut,
)
from oao.inventory.service import LineQty
from oao.network import service as network
from oao.orders import service as orders

router = APIRouter(tags=["inventory"], responses=PROBLEM_RESPONSES)


def stock_out(level: StockLevel) -> StockOut:
    return StockOut(location_id=level.location_id, product_id=level.product_id, merchant_id=level.merchant_id,
                    on_hand=level.on_hand, reserved=level.reserved, available=level.on_hand - level.reserved,
                    updated_at=level.updated_at)


def transfer_out(session: Session, t: Transfer) -> TransferOut:
    products = catalog.products_by_ids(session, product_ids=[line["product_id"] for line in t.lines])
    lines = [TransferLineOut(product_id=line["product_id"], quantity=line["quantity"],
                             gtin=products[line["product_id"]].gtin if line["product_id"] in products else "",
                             title=products[line["product_id"]].title if line["product_id"] in products else "")
             for line in t.lines]
    return TransferOut(id=t.id, merchant_id=t.merchant_id, from_location_id=t.from_location_id,
                       to_location_id=t.to_location_id, to_merchant_id=t.to_merchant_id, status=t.status,
                       lines=lines, expected_arrival_at=t.expected_arrival_at, fulfillment_id=t.fulfillment_id,
                       note=t.note, created_at=t.created_at, shipped_at=t.shipped_at, received_at=t.received_at)


def _own_location(session: Session, principal: Principal, location_id: str, *, acting: bool):
    location = network.get_location(session, location_id=location_id)
    principal.ensure_merchant(location.merchant_id, "location", location_id)
    if acting and principal.role is Role.STORE_STAFF and principal.location_id != location.id:
        raise Forbidden(f"You work at another store; only staff of {location.name} can change its stock.")
    return location


@router.get("/stock", response_model=list[StockOut], summary="Stock levels at a location")
def list_stock(ctx: CtxDep, location_id: Annotated[str, Query(max_length=40)],
               product_id: Annotated[str | None, Query(max_length=40)] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[StockOut]:
    with ctx.read() as session:
        _own_location(session, ctx.principal, location_id, acting=False)
        query = select(StockLevel).where(StockLevel.location_id == location_id)
        if product_id:
            query = query.where(StockLevel.product_id == product_id)
        return [stock_out(l) for l in session.scalars(query.order_by(StockLevel.product_id).limit(limit))]


@router.post("/stock/receipts", response_model=StockOut, status_code=201, summary="Goods received")
def receive(body: ReceiptIn, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None) -> Response:
    def run(session: Session) -> StockOut:
        location = _own_location(session, ctx.principal, body.location_id, acting=True)
        catalog.get_product(session, product_id=body.product_id)
        level = inventory.receive_stock(session, merchant_id=location.merchant_id, location_id=location.id,
                                        product_id=body.product_id, quantity=body.quantity, reason=body.reason,
                                        now=ctx.now())
        return stock_out(level)

    return idempotent(ctx, request, idempotency_key, body, 201, run)


@router.post("/stock/adjustments", response_model=StockOut, status_code=201,
             summary="Correct on-hand with a reason (never below what orders reserved)")
def adjust(body: AdjustmentIn, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None) -> Response:
    if body.delta == 0:
        raise InvalidInput("delta must not be zero: an adjustment changes the quantity.")

    def run(session: Session) -> StockOut:
        location = _own_location(session, ctx.principal, body.location_id, acting=True)
        catalog.get_product(session, product_id=body.product_id)
        level = inventory.adjust_stock(session, merchant_id=location.merchant_id, location_id=location.id,
                                       product_id=body.product_id, delta=body.delta, reason=body.reason,
                                       now=ctx.now())
        return stock_out(level)

    return idempotent(ctx, request, idempotency_key, body, 201, run)


@router.get("/stock/movements", response_model=list[MovementOut], summary="The append-only stock history")
def movements(ctx: CtxDep, location_id: Annotated[str, Query(max_length=40)],
              product_id: Annotated[str | None, Query(max_length=40)] = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[MovementOut]:
    with ctx.read() as session:
        _own_location(session, ctx.principal, location_id, acting=False)
        query = select(StockMovement).where(StockMovement.location_id == location_id)
        if product_id:
            query = query.where(StockMovement.product_id == product_id)
        rows = session.scalars(query.order_by(StockMovement.at.desc(), StockMovement.id.desc()).limit(limit))
        return [MovementOut(id=m.id, location_id=m.location_id, product_id=m.product_id, kind=m.kind,
                            quantity=m.quantity, reason=m.reason, reference=m.reference, at=m.at) for m in rows]


@router.post("/transfers", response_model=TransferOut, status_code=201,
             summary="Staff request a transfer; its units are reserved at the source")
def create_transfer(body: TransferIn, ctx: CtxDep, request: Request,
                    idempotency_key: IdempotencyKey = None) -> Response:
    if body.expected_arrival_at.tzinfo is None:
        raise InvalidInput("expected_arrival_at needs a timezone, e.g. 2026-11-17T18:00:00+08:00")

    def run(session: Session) -> TransferOut:
        source = _own_location(session, ctx.principal, body.from_location_id, acting=True)
        target = network.get_location(session, location_id=body.to_location_id)
        if target.merchant_id != source.merchant_id:
            raise InvalidInput("Staff transfers stay within one merchant; parcels to partners travel with orders.")
        t = transfers.create_transfer(session, merchant_id=source.merchant_id, from_location_id=source.id,
                                      to_location_id=target.id, to_merchant_id=target.merchant_id,
                                      lines=[LineQty(l.product_id, l.quantity) for l in body.lines],
                                      expected_arrival_at=body.expected_arrival_at, now=ctx.now(), note=body.note)
        return transfer_out(session, t)

    return idempotent(ctx, request, idempotency_key, body, 201, run)


def _visible_transfer(session: Session, principal: Principal, transfer_id: str) -> Transfer:
    """Owner, receiver and the holder of the goods at the source (a partner point) may see it."""
    t = session.get(Transfer, transfer_id)
    if t is not None and (principal.can_see_merchant(t.merchant_id) or principal.can_see_merchant(t.to_merchant_id)
                          or principal.can_see_merchant(
                              network.get_location(session, location_id=t.from_location_id).merchant_id)):
        return t
    raise NotFound(f"No transfer {transfer_id!r}.")


@router.get("/transfers", response_model=list[TransferOut],
            summary="Transfers at a location: incoming ones show their expected arrival")
def list_transfers(ctx: CtxDep, location_id: Annotated[str, Query(max_length=40)],
                   direction: Literal["incoming", "outgoing", "any"] = "any",
                   status: Literal["requested", "in_transit", "received", "cancelled"] | None = None
                   ) -> list[TransferOut]:
    with ctx.read() as session:
        _own_location(session, ctx.principal, location_id, acting=False)
        rows = transfers.list_transfers(session, location_id=location_id, merchant_id=None, direction=direction,
                                        status=status)
        return [transfer_out(session, t) for t in rows]


@router.get("/transfers/{transfer_id}", response_model=TransferOut)
def read_transfer(transfer_id: str, ctx: CtxDep) -> TransferOut:
    with ctx.read() as session:
        return transfer_out(session, _visible_transfer(session, ctx.principal, transfer_id))


@router.post("/transfers/{transfer_id}/ship", response_model=TransferOut, summary="The goods left the source")
def ship(transfer_id: str, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None) -> Response:
    def run(session: Session) -> TransferOut:
        t = _visible_transfer(session, ctx.principal, transfer_id)
        _own_location(session, ctx.principal, t.from_location_id, acting=True)
        f = lifecycle.for_transfer(session, transfer_id=t.id)
        if f is not None:  # order goods ship when picking is done
            lifecycle.mark_packed(session, fulfillment=f, principal=ctx.principal, now=ctx.now(),
                                  hold_hours=ctx.settings.pickup_hold_hours)
        else:
            transfers.ship_transfer(session, transfer_id=t.id, now=ctx.now())
        return transfer_out(session, t)

    return idempotent(ctx, request, idempotency_key, None, 200, run)


@router.post("/transfers/{transfer_id}/receive", response_model=TransferOut,
             summary="The goods arrived; an order waiting for them becomes ready for pickup")
def receive_transfer(transfer_id: str, ctx: CtxDep, request: Request,
                     idempotency_key: IdempotencyKey = None) -> Response:
    def run(session: Session) -> TransferOut:
        t = _visible_transfer(session, ctx.principal, transfer_id)
        target = network.get_location(session, location_id=t.to_location_id)
        if not ctx.principal.can_see_merchant(target.merchant_id):
            raise Forbidden(f"Only staff of {target.name} can receive this transfer.")
        f = lifecycle.for_transfer(session, transfer_id=t.id)
        if f is not None:
            lifecycle.receive_at_pickup(session, fulfillment=f, principal=ctx.principal, now=ctx.now(),
                                        hold_hours=ctx.settings.pickup_hold_hours)
            orders.sync_status(session, order_id=f.order_id, now=ctx.now())
        else:
            _own_location(session, ctx.principal, t.to_location_id, acting=True)
            transfers.receive_transfer(session, transfer_id=t.id, now=ctx.now())
        return transfer_out(session, t)

    return idempotent(ctx, request, idempotency_key, None, 200, run)


# --- expected receipts (goods on order; replenishment turns accepted suggestions into them) ---------------

from oao.inventory import receipts as _receipts  # noqa: E402
from oao.inventory.schemas import (  # noqa: E402
    ExpectedReceiptIn,
    ExpectedReceiptOut,
    ExpectedReceiptReceiveIn,
)


def _visible_receipt(session: Session, principal: Principal, receipt_id: str):  # noqa: ANN202
    receipt = _receipts.get_receipt(session, receipt_id=receipt_id)
    principal.ensure_merchant(receipt.merchant_id, "expected receipt", receipt_id)
    return receipt


@router.get("/stock/expected-receipts", response_model=list[ExpectedReceiptOut],
            summary="Goods on order for a location, soonest first")
def list_expected_receipts(ctx: CtxDep, location_id: Annotated[str, Query(max_length=40)],
                           status: Literal["expected", "received", "cancelled"] | None = "expected",
                           limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[ExpectedReceiptOut]:
    with ctx.read() as session:
        _own_location(session, ctx.principal, location_id, acting=False)
        return [ExpectedReceiptOut.model_validate(r)
                for r in _receipts.list_receipts(session, location_id=location_id, status=status, limit=limit)]


@router.post("/stock/expected-receipts", response_model=ExpectedReceiptOut, status_code=201,
             summary="Record goods on their way (a supplier order); they count as on order until received")
def create_expected_receipt(body: ExpectedReceiptIn, ctx: CtxDep, request: Request,
                            idempotency_key: IdempotencyKey = None) -> Response:
    if body.expected_at.tzinfo is None:
        raise InvalidInput("expected_at needs a timezone, e.g. 2026-11-18T07:00:00+08:00")

    def run(session: Session) -> ExpectedReceiptOut:
        location = _own_location(session, ctx.principal, body.location_id, acting=True)
        catalog.get_product(session, product_id=body.product_id)
        return ExpectedReceiptOut.model_validate(_receipts.expect(
            session, merchant_id=location.merchant_id, location_id=location.id, product_id=body.product_id,
            quantity=body.quantity, expected_at=body.expected_at, now=ctx.now(), reference=body.reference))

    return idempotent(ctx, request, idempotency_key, body, 201, run)


@router.post("/stock/expected-receipts/{receipt_id}/receive", response_model=ExpectedReceiptOut,
             summary="The goods came: add them to stock (a `receipt` movement naming this receipt)")
def receive_expected_receipt(receipt_id: str, ctx: CtxDep, request: Request,
                             body: ExpectedReceiptReceiveIn | None = None,
                             idempotency_key: IdempotencyKey = None) -> Response:
    def run(session: Session) -> ExpectedReceiptOut:
        receipt = _visible_receipt(session, ctx.principal, receipt_id)
        _own_location(session, ctx.principal, receipt.location_id, acting=True)
        return ExpectedReceiptOut.model_validate(_receipts.receive(
            session, receipt_id=receipt.id, now=ctx.now(), quantity=body.quantity if body else None))

    return idempotent(ctx, request, idempotency_key, body, 200, run)


@router.post("/stock/expected-receipts/{receipt_id}/cancel", response_model=ExpectedReceiptOut,
             summary="The goods will not come: stop counting them as on order")
def cancel_expected_receipt(receipt_id: str, ctx: CtxDep, request: Request,
                            idempotency_key: IdempotencyKey = None) -> Response:
    def run(session: Session) -> ExpectedReceiptOut:
        receipt = _visible_receipt(session, ctx.principal, receipt_id)
        _own_location(session, ctx.principal, receipt.location_id, acting=True)
        return ExpectedReceiptOut.model_validate(_receipts.cancel(session, receipt_id=receipt.id, now=ctx.now()))

    return idempotent(ctx, request, idempotency_key, None, 200, run)
