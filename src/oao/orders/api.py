"""Placing, paying for, reading and cancelling orders."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from oao.deps import PROBLEM_RESPONSES, Ctx, CtxDep, IdempotencyKey, idempotent
from oao.fulfillment import lifecycle
from oao.fulfillment.api import fulfillment_out
from oao.orders import service as orders
from oao.orders.models import Order
from oao.orders.schemas import CancelIn, CustomerIn, OrderIn, OrderLineOut, OrderOut, PayIn

router = APIRouter(tags=["orders"], responses=PROBLEM_RESPONSES)


def order_out(session: Session, order: Order) -> OrderOut:
    return OrderOut(
        id=order.id, merchant_id=order.merchant_id, status=order.status, channel=order.channel,
        currency=order.currency, subtotal_minor=order.subtotal_minor, fees_minor=order.fees_minor,
        total_minor=order.total_minor, payment_method=order.payment_method, payment_due_at=order.payment_due_at,
        cancel_reason=order.cancel_reason,
        customer=CustomerIn(name=order.customer_name, phone=order.customer_phone, email=order.customer_email),
        lines=[OrderLineOut(product_id=l.product_id, gtin=l.gtin, title=l.title, quantity=l.quantity,
                            unit_price_minor=l.unit_price_minor, fulfillment_id=l.fulfillment_id)
               for l in orders.lines_of(session, order_id=order.id)],
        fulfillments=[fulfillment_out(f, show_code=True) for f in lifecycle.of_order(session, order_id=order.id)],
        created_at=order.created_at, updated_at=order.updated_at)


@router.post("/orders", response_model=OrderOut, status_code=201,
             summary="Place an order from a quote option; stock is reserved at once")
def place_order(body: OrderIn, ctx: CtxDep, request: Request,
                idempotency_key: IdempotencyKey = None) -> Response:
    def run(session: Session) -> OrderOut:
        order = orders.place_order(session, principal=ctx.principal, quote_id=body.quote_id,
                                   option_id=body.option_id, customer=body.customer.model_dump(),
                                   payment_method=body.payment_method, now=ctx.now(), settings=ctx.settings)
        return order_out(session, order)

    return idempotent(ctx, request, idempotency_key, body, 201, run)


@router.get("/orders", response_model=list[OrderOut])
def list_orders(ctx: CtxDep, status: Annotated[str | None, Query(max_length=20)] = None,
                limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[OrderOut]:
    with ctx.read() as session:
        return [order_out(session, o) for o in orders.list_orders(session, principal=ctx.principal,
                                                                   status=status, limit=limit)]


@router.get("/orders/{order_id}", response_model=OrderOut)
def read_order(order_id: str, ctx: CtxDep) -> OrderOut:
    with ctx.read() as session:
        return order_out(session, orders.get_order(session, order_id=order_id, principal=ctx.principal))


def _order_action(ctx: Ctx, request: Request, key: str | None, body, order_id: str, action) -> Response:
    def run(session: Session) -> OrderOut:
        order = orders.get_order(session, order_id=order_id, principal=ctx.principal)
        action(session, order)
        return order_out(session, order)

    return idempotent(ctx, request, key, body, 200, run)


@router.post("/orders/{order_id}/pay", response_model=OrderOut,
             summary="Agree an in-store tender for an order awaiting payment")
def pay(order_id: str, body: PayIn, ctx: CtxDep, request: Request,
        idempotency_key: IdempotencyKey = None) -> Response:
    return _order_action(ctx, request, idempotency_key, body, order_id, lambda s, o: orders.pay(
        s, order=o, payment_method=body.payment_method, now=ctx.now()))


@router.post("/orders/{order_id}/cancel", response_model=OrderOut,
             summary="Cancel an order whose goods have not left; its stock is released")
def cancel(order_id: str, body: CancelIn, ctx: CtxDep, request: Request,
           idempotency_key: IdempotencyKey = None) -> Response:
    return _order_action(ctx, request, idempotency_key, body, order_id, lambda s, o: orders.cancel_order(
        s, order=o, reason=body.reason, now=ctx.now()))
