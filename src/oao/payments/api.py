"""HTTP routes of payments: intents, counter wallet payments, refunds, and wallet notifications.

Routes that reach a wallet commit first and call it afterwards (`gateway.py`),
so a replay with the same Idempotency-Key answers with the payment as it
stands now (which may have moved on since the first answer).
"""

from __future__ import annotations

import io
import json
from typing import Annotated, Literal

import segno
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from oao.core.errors import InvalidInput, InvalidState, NotFound, Problem
from oao.deps import PROBLEM_RESPONSES, Ctx, CtxDep, IdempotencyKey, app_state, idempotent
from oao.network import service as network
from oao.payments import emvco, gateway, notifications
from oao.payments import service as payments
from oao.payments.models import RejectedNotification
from oao.payments.schemas import (
    CancelPaymentIn,
    CounterPaymentIn,
    PaymentIntentOut,
    RefundIn,
    RefundOut,
    RejectedNotificationOut,
    StallQrOut,
)
from oao.pos import service as pos

router = APIRouter(tags=["payments"], responses=PROBLEM_RESPONSES)
StatusFilter = Literal["requires_payment_method", "requires_capture", "processing", "succeeded", "canceled"]


def _intent(ctx: Ctx, intent_id: str) -> PaymentIntentOut:
    with ctx.read() as session:
        return PaymentIntentOut.model_validate(payments.get_visible_intent(session, intent_id=intent_id,
                                                                           principal=ctx.principal))


@router.get("/payments/intents", response_model=list[PaymentIntentOut], summary="Your payment intents")
def list_intents(ctx: CtxDep, order_id: Annotated[str | None, Query(max_length=40)] = None,
                 status: StatusFilter | None = None,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[PaymentIntentOut]:
    with ctx.read() as session:
        return [PaymentIntentOut.model_validate(i) for i in payments.list_intents(
            session, principal=ctx.principal, order_id=order_id, status=status, limit=limit)]


@router.get("/payments/intents/{intent_id}", response_model=PaymentIntentOut,
            summary="A payment intent as recorded here (POST .../refresh asks the wallet)")
def read_intent(intent_id: str, ctx: CtxDep) -> PaymentIntentOut:
    return _intent(ctx, intent_id)


@router.get("/payments/intents/{intent_id}/qr.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}, "description": "the QR to show the shopper"}},
            summary="The merchant-presented QR of an open wallet payment, as SVG")
def intent_qr(intent_id: str, ctx: CtxDep) -> Response:
    intent = _intent(ctx, intent_id)
    if not intent.qr_content or intent.status not in payments.OPEN_STATUSES:
        raise InvalidState(f"Payment {intent_id} has no QR to show (it is {intent.status}).")
    svg = segno.make(intent.qr_content, error="m").svg_inline(scale=8)
    return Response(svg, media_type="image/svg+xml")


@router.post("/payments/counter", response_model=PaymentIntentOut, status_code=201,
             summary="Take a wallet payment at a counter: show a QR, or charge the shopper's scanned code")
def open_counter_payment(body: CounterPaymentIn, ctx: CtxDep, request: Request,
                         idempotency_key: IdempotencyKey = None) -> Response:
    if body.flow == "payment_code" and not body.auth_code:
        raise Problem("A payment_code payment needs the scanned `auth_code`.")

    def run(session: Session) -> PaymentIntentOut:
        if body.register_id is not None:
            register = pos.get_register(session, principal=ctx.principal, register_id=body.register_id)
            if register.location_id != body.location_id:
                raise InvalidState(f"Register {body.register_id} is not at location {body.location_id}.")
        now = ctx.now()
        intent = payments.open_counter_payment(
            session, principal=ctx.principal, location_id=body.location_id, amount_minor=body.amount_minor,
            currency=body.currency, flow=body.flow, provider=ctx.settings.payment_provider,
            expires_at=gateway.counter_expiry(ctx.settings, body.flow, now), now=now, register_id=body.register_id)
        return PaymentIntentOut.model_validate(intent)

    first = idempotent(ctx, request, idempotency_key, body, 201, run)
    intent_id = _body_id(first)
    gateway.start(ctx.db, intent_id=intent_id, now=ctx.now(), auth_code=body.auth_code,
                  provider_factory=gateway.app_provider_factory(request.app.state))
    return JSONResponse(_intent(ctx, intent_id).model_dump(mode="json"), status_code=201)


def _body_id(response: JSONResponse) -> str:
    return str(json.loads(response.body)["id"])


@router.post("/payments/intents/{intent_id}/refresh", response_model=PaymentIntentOut,
             summary="Ask the wallet where the payment stands now (a register polls this); cancels it when timed out")
def refresh_intent(intent_id: str, ctx: CtxDep, request: Request) -> PaymentIntentOut:
    _intent(ctx, intent_id)  # visibility
    gateway.refresh(ctx.db, intent_id=intent_id, now=ctx.now(),
                    provider_factory=gateway.app_provider_factory(request.app.state))
    return _intent(ctx, intent_id)


@router.post("/payments/intents/{intent_id}/cancel", response_model=PaymentIntentOut,
             summary="Cancel an open counter wallet payment (the wallet reverses it if it was paid meanwhile)")
def cancel_intent(intent_id: str, body: CancelPaymentIn, ctx: CtxDep, request: Request,
                  idempotency_key: IdempotencyKey = None) -> PaymentIntentOut:
    gateway.cancel(ctx.db, intent_id=intent_id, now=ctx.now(), reason=body.reason, principal=ctx.principal,
                   provider_factory=gateway.app_provider_factory(request.app.state))
    return _intent(ctx, intent_id)


@router.post("/payments/intents/{intent_id}/refunds", response_model=RefundOut, status_code=201,
             responses={200: {"model": RefundOut, "description": "This refund id was already used: its refund"}},
             summary="Refund part of a succeeded payment; idempotent by your refund_id")
def create_refund(intent_id: str, body: RefundIn, ctx: CtxDep, request: Request) -> JSONResponse:
    row, created = gateway.refund(ctx.db, intent_id=intent_id, refund_id=body.refund_id,
                                  amount_minor=body.amount_minor, reason=body.reason, now=ctx.now(),
                                  principal=ctx.principal,
                                  provider_factory=gateway.app_provider_factory(request.app.state))
    return JSONResponse(RefundOut.model_validate(row).model_dump(mode="json"), status_code=201 if created else 200)


@router.get("/payments/intents/{intent_id}/refunds", response_model=list[RefundOut])
def list_refunds(intent_id: str, ctx: CtxDep) -> list[RefundOut]:
    with ctx.read() as session:
        payments.get_visible_intent(session, intent_id=intent_id, principal=ctx.principal)
        return [RefundOut.model_validate(r) for r in payments.refunds_of(session, intent_id=intent_id)]


@router.get("/payments/rejected-notifications", response_model=list[RejectedNotificationOut],
            summary="Wallet notifications refused (bad signature, wrong amount…), newest first (network admins)")
def rejected_notifications(ctx: CtxDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
                           ) -> list[RejectedNotificationOut]:
    ctx.principal.ensure_network_admin()
    with ctx.read() as session:
        rows = session.scalars(select(RejectedNotification)
                               .order_by(RejectedNotification.received_at.desc(), RejectedNotification.id.desc())
                               .limit(limit))
        return [RejectedNotificationOut.model_validate(r) for r in rows]


@router.post("/payments/notify/{provider}", response_class=PlainTextResponse,
             responses={200: {"content": {"text/plain": {}}, "description": "`success`: acknowledged"}},
             summary="Where wallets deliver their signed notifications (no Authorization: the signature is it)")
async def notify(provider: str, request: Request) -> PlainTextResponse:
    if provider not in gateway.PROVIDERS:
        raise NotFound(f"No payment provider {provider!r}.")
    raw = await request.body()
    db, clock, _settings = app_state(request)
    factory = gateway.app_provider_factory(request.app.state)

    def run() -> str:
        try:
            wallet = factory(provider)
        except Problem:
            raise NotFound(f"Payment provider {provider!r} is not configured here.") from None
        return notifications.receive(db, provider=wallet, raw_body=raw, headers=dict(request.headers),
                                     now=clock.now())

    await run_in_threadpool(run)
    return PlainTextResponse("success")


# --- the printed QR of a stall (S6) ----------------------------------------------------------------

# City from the location's timezone when the address does not say (EMVCo needs one; 15 characters max).
_ZONE_CITY = {"Asia/Shanghai": "Hangzhou"}


def _ascii_label(name: str) -> str | None:
    """EMVCo's additional-data fields take plain ASCII; other characters are dropped, not mis-counted."""
    label = " ".join("".join(c if c.isascii() else " " for c in name).split())
    return label or None


def _stall_payload(ctx: Ctx, location_id: str, mcc: str) -> str:
    with ctx.read() as session:
        location = network.get_location(session, location_id=location_id)
        ctx.principal.ensure_merchant(location.merchant_id, "location", location_id)
        merchant = network.get_merchant(session, merchant_id=location.merchant_id)
        city = _ZONE_CITY.get(location.timezone, location.timezone.rsplit("/", 1)[-1].replace("_", " "))
        try:
            return emvco.static_stall_qr(merchant_name=merchant.name, city=city, mcc=mcc, currency=merchant.currency,
                                         merchant_account_id=merchant.id, location_id=location.id,
                                         store_label=_ascii_label(location.name))
        except emvco.EmvQrError as exc:
            raise InvalidInput(f"No stall QR can be made for {location.name}: {exc}") from None


Mcc = Annotated[str, Query(pattern=r"^\d{4}$", description="ISO 18245 merchant category code (default 5499, "
                                                          "misc. food stores)")]


@router.get("/payments/stall-qr/{location_id}.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}}}, summary="The stall QR as an SVG to print")
def stall_qr_svg(location_id: Annotated[str, Path(max_length=40)], ctx: CtxDep, mcc: Mcc = "5499") -> Response:
    buffer = io.BytesIO()
    segno.make(_stall_payload(ctx, location_id, mcc), error="m").save(buffer, kind="svg", scale=6, border=2)
    return Response(buffer.getvalue(), media_type="image/svg+xml")


@router.get("/payments/stall-qr/{location_id}", response_model=StallQrOut,
            summary="The static EMVCo QR a stall prints: the shopper scans it and types the amount")
def stall_qr(location_id: Annotated[str, Path(max_length=40)], ctx: CtxDep, mcc: Mcc = "5499") -> StallQrOut:
    payload = _stall_payload(ctx, location_id, mcc)
    return StallQrOut(location_id=location_id, payload=payload,
                      svg_url=f"/api/v1/payments/stall-qr/{location_id}.svg?mcc={mcc}")
