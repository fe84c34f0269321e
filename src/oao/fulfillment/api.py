"""Quotes, the store's work queue and the staff actions on fulfillments."""

from __future__ import annotations

import io
from typing import Annotated

import segno
from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from oao.core.errors import NotFound
from oao.deps import PROBLEM_RESPONSES, CtxDep, IdempotencyKey, idempotent
from oao.fulfillment import lifecycle
from oao.fulfillment import service as fulfillment
from oao.fulfillment.models import Fulfillment, Quote
from oao.fulfillment.schemas import FulfillmentOut, HandoverIn, HandoverOut, QuoteIn, QuoteOut
from oao.fulfillment.service import ItemIn
from oao.network import service as network
from oao.orders import service as orders

router = APIRouter(tags=["fulfillment"], responses=PROBLEM_RESPONSES)


def quote_out(record: Quote) -> QuoteOut:
    message = (f"{len(record.options)} ways to receive this cart." if record.options else
               "No store, dark store or warehouse can supply this cart to that place right now.")
    return QuoteOut(id=record.id, created_at=record.created_at, expires_at=record.expires_at,
                    options=record.options, message=message)


def fulfillment_out(f: Fulfillment, *, show_code: bool) -> FulfillmentOut:
    return FulfillmentOut(id=f.id, order_id=f.order_id, merchant_id=f.merchant_id, kind=f.kind, status=f.status,
                          source_location_id=f.source_location_id, pickup_location_id=f.pickup_location_id,
                          via_location_id=f.via_location_id,
                          destination=f.destination, lines=f.lines, transfer_id=f.transfer_id,
                          promised_at=f.promised_at, goods_arrive_at=f.goods_arrive_at, ready_at=f.ready_at,
                          completed_at=f.completed_at,
                          hold_until=f.hold_until, pickup_code=f.pickup_code if show_code else None,
                          cancel_reason=f.cancel_reason)


@router.post("/quotes", response_model=QuoteOut, status_code=201,
             summary="Every way to receive a cart, with time and fee")
def create_quote(body: QuoteIn, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None) -> Response:
    def run(session: Session) -> QuoteOut:
        record = fulfillment.build_quote(
            session, principal=ctx.principal,
            items=[ItemIn(quantity=l.quantity, product_id=l.product_id, gtin=l.gtin, merchant_id=l.merchant_id)
                   for l in body.lines],
            destination=body.destination.model_dump() if body.destination else None,
            pickup_location_id=body.pickup_location_id, at=body.at, now=ctx.now(), settings=ctx.settings)
        return quote_out(record)

    return idempotent(ctx, request, idempotency_key, body, 201, run)


@router.get("/quotes/{quote_id}", response_model=QuoteOut)
def read_quote(quote_id: str, ctx: CtxDep) -> QuoteOut:
    with ctx.read() as session:
        return quote_out(fulfillment.get_quote(session, quote_id=quote_id, principal=ctx.principal))


@router.get("/fulfillments", response_model=list[FulfillmentOut], summary="A store's work queue")
def work_queue(ctx: CtxDep, location_id: Annotated[str, Query(max_length=40)],
               status: Annotated[list[str] | None, Query()] = None) -> list[FulfillmentOut]:
    with ctx.read() as session:
        location = network.get_location(session, location_id=location_id)
        ctx.principal.ensure_merchant(location.merchant_id, "location", location_id)
        rows = lifecycle.queue(session, location_id=location_id, statuses=status)
        return [fulfillment_out(f, show_code=ctx.principal.can_see_merchant(f.merchant_id)) for f in rows]


@router.get("/fulfillments/{fulfillment_id}", response_model=FulfillmentOut)
def read_fulfillment(fulfillment_id: str, ctx: CtxDep) -> FulfillmentOut:
    with ctx.read() as session:
        f = lifecycle.get_visible(session, fulfillment_id=fulfillment_id, principal=ctx.principal)
        return fulfillment_out(f, show_code=ctx.principal.can_see_merchant(f.merchant_id))


def _act(ctx, request: Request, key: str | None, fulfillment_id: str, action) -> Response:
    def run(session: Session) -> FulfillmentOut:
        f = lifecycle.get_visible(session, fulfillment_id=fulfillment_id, principal=ctx.principal)
        action(session, f)
        orders.sync_status(session, order_id=f.order_id, now=ctx.now())
        return fulfillment_out(f, show_code=ctx.principal.can_see_merchant(f.merchant_id))

    return idempotent(ctx, request, key, None, 200, run)


@router.post("/fulfillments/{fulfillment_id}/pick", response_model=FulfillmentOut,
             summary="Staff start picking the order")
def pick(fulfillment_id: str, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None) -> Response:
    return _act(ctx, request, idempotency_key, fulfillment_id, lambda s, f: lifecycle.start_picking(
        s, fulfillment=f, principal=ctx.principal, now=ctx.now()))


@router.post("/fulfillments/{fulfillment_id}/pack", response_model=FulfillmentOut,
             summary="Picking done: ready for pickup, sent to the pickup store, or out for delivery")
def pack(fulfillment_id: str, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None) -> Response:
    return _act(ctx, request, idempotency_key, fulfillment_id, lambda s, f: lifecycle.mark_packed(
        s, fulfillment=f, principal=ctx.principal, now=ctx.now(), hold_hours=ctx.settings.pickup_hold_hours))


@router.post("/fulfillments/{fulfillment_id}/receive", response_model=FulfillmentOut,
             summary="The pickup store received the transferred goods")
def receive(fulfillment_id: str, ctx: CtxDep, request: Request,
            idempotency_key: IdempotencyKey = None) -> Response:
    return _act(ctx, request, idempotency_key, fulfillment_id, lambda s, f: lifecycle.receive_at_pickup(
        s, fulfillment=f, principal=ctx.principal, now=ctx.now(), hold_hours=ctx.settings.pickup_hold_hours))


@router.post("/fulfillments/{fulfillment_id}/deliver", response_model=FulfillmentOut,
             summary="The courier delivered the order")
def deliver(fulfillment_id: str, ctx: CtxDep, request: Request,
            idempotency_key: IdempotencyKey = None) -> Response:
    return _act(ctx, request, idempotency_key, fulfillment_id, lambda s, f: lifecycle.mark_delivered(
        s, fulfillment=f, principal=ctx.principal, now=ctx.now()))


@router.post("/locations/{location_id}/handover", response_model=HandoverOut,
             summary="Hand over parcels to a shopper who shows her pickup code")
def handover(location_id: str, body: HandoverIn, ctx: CtxDep, request: Request,
             idempotency_key: IdempotencyKey = None) -> Response:
    def run(session: Session) -> HandoverOut:
        legs = lifecycle.hand_over(session, location_id=location_id, code=body.code, principal=ctx.principal,
                                   now=ctx.now())
        orders.sync_status(session, order_id=legs[0].order_id, now=ctx.now())
        items = sum(int(l["quantity"]) for f in legs for l in f.lines)
        return HandoverOut(order_id=legs[0].order_id,
                           handed_over=[fulfillment_out(f, show_code=False) for f in legs],
                           message=f"Hand over {items} item(s) of order {legs[0].order_id}.")

    return idempotent(ctx, request, idempotency_key, body, 200, run)


@router.get("/fulfillments/{fulfillment_id}/pickup-code.{fmt}", summary="The pickup code as a QR image",
            responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}})
def pickup_code_image(fulfillment_id: str, fmt: str, ctx: CtxDep) -> Response:
    if fmt not in ("svg", "png"):
        raise NotFound("Pickup codes are served as .svg or .png.")
    with ctx.read() as session:
        f = lifecycle.get_visible(session, fulfillment_id=fulfillment_id, principal=ctx.principal)
        if not ctx.principal.can_see_merchant(f.merchant_id):
            raise NotFound(f"No fulfillment {fulfillment_id!r}.")
        if f.pickup_code is None or f.status != "ready_for_pickup":
            raise NotFound(f"Fulfillment {f.id} has no pickup code yet (it is {f.status}).")
        code = f.pickup_code
    qr = segno.make_qr(code, error="m")
    buffer = io.BytesIO()
    if fmt == "svg":
        qr.save(buffer, kind="svg", scale=8, border=2, title=f"Pickup code {code}")
        return Response(buffer.getvalue(), media_type="image/svg+xml")
    qr.save(buffer, kind="png", scale=8, border=2)
    return Response(buffer.getvalue(), media_type="image/png")
