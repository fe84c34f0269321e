"""Placing, paying for, reading and cancelling orders."""

from __future__ import annotations

import json
import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from oao.deps import PROBLEM_RESPONSES, Ctx, CtxDep, IdempotencyKey, idempotent
from oao.fulfillment import lifecycle
from oao.fulfillment.api import fulfillment_out
from oao.members import service as members
from oao.orders import checkouts, returns
from oao.orders import points as order_points
from oao.orders import service as orders
from oao.orders.models import Checkout, Order, OrderReturn
from oao.orders.schemas import (
    CancelIn,
    CheckoutIn,
    CheckoutOut,
    CustomerIn,
    OrderIn,
    OrderLineOut,
    OrderOut,
    OrderPointsOut,
    PayIn,
    ReturnIn,
    ReturnLineOut,
    ReturnOut,
    ReturnRefundOut,
)
from oao.payments import gateway
from oao.payments.schemas import OrderPaymentOut

log = logging.getLogger("oao.orders")
router = APIRouter(tags=["orders"], responses=PROBLEM_RESPONSES)


def order_out(session: Session, order: Order) -> OrderOut:
    points = order_points.points_of(session, order=order)
    paid_in_points = points.amount_minor if points is not None and points.status in ("held", "spent") else 0
    return OrderOut(
        id=order.id, merchant_id=order.merchant_id, status=order.status, channel=order.channel,
        member_ref=(members.member_ref_for(session, merchant_id=order.merchant_id, member_id=order.member_id)
                    if order.member_id else None),
        currency=order.currency, subtotal_minor=order.subtotal_minor, fees_minor=order.fees_minor,
        total_minor=order.total_minor, payment_method=order.payment_method, payment_due_at=order.payment_due_at,
        cancel_reason=order.cancel_reason,
        customer=CustomerIn(name=order.customer_name, phone=order.customer_phone, email=order.customer_email),
        lines=[OrderLineOut(id=l.id, product_id=l.product_id, gtin=l.gtin, title=l.title, quantity=l.quantity,
                            unit_price_minor=l.unit_price_minor, fulfillment_id=l.fulfillment_id)
               for l in orders.lines_of(session, order_id=order.id)],
        fulfillments=[fulfillment_out(f, show_code=True) for f in lifecycle.of_order(session, order_id=order.id)],
        payment=_payment_out(session, order),
        points=OrderPointsOut.model_validate(points, from_attributes=True) if points is not None else None,
        referrer_merchant_id=order.referrer_merchant_id, referral_commission_bps=order.referral_commission_bps,
        checkout_id=order.checkout_id,
        money_due_minor=order.total_minor - paid_in_points, created_at=order.created_at, updated_at=order.updated_at)


def _payment_out(session: Session, order: Order) -> OrderPaymentOut | None:
    return _intent_out(orders.wallet_intent(session, order_id=order.id))


def _intent_out(intent) -> OrderPaymentOut | None:
    if intent is None:
        return None
    return OrderPaymentOut(intent_id=intent.id, status=intent.status, provider=intent.provider,
                           amount_minor=intent.amount_minor, currency=intent.currency,
                           qr_content=intent.qr_content if intent.status in orders.payments.OPEN_STATUSES else None,
                           qr_svg_url=f"/api/v1/payments/intents/{intent.id}/qr.svg", expires_at=intent.expires_at,
                           last_error=intent.last_error)


def _after_payment_step(ctx: Ctx, request: Request, response: JSONResponse) -> Response:
    """Outside the order's transaction: ask the wallet for the QR, or close charges a cancel left open."""
    if response.status_code >= 300:
        return response
    order_id = json.loads(response.body)["id"]
    with ctx.read() as session:
        intent = orders.wallet_intent(session, order_id=order_id)
        wallet = (intent.id, intent.status) if intent is not None else None
    if wallet is None:
        return response  # no wallet involved: the (replayed) answer as it was
    factory = gateway.app_provider_factory(request.app.state)
    if wallet[1] in ("requires_payment_method", "processing"):
        gateway.start(ctx.db, intent_id=wallet[0], now=ctx.now(), provider_factory=factory)
    else:
        gateway.settle_order(ctx.db, order_id=order_id, now=ctx.now(), provider_factory=factory)
    with ctx.read() as session:
        order = orders.get_order(session, order_id=order_id, principal=ctx.principal)
        return JSONResponse(order_out(session, order).model_dump(mode="json"), status_code=response.status_code)


@router.post("/orders", response_model=OrderOut, status_code=201,
             summary="Place an order from a quote option; stock is reserved at once")
def place_order(body: OrderIn, ctx: CtxDep, request: Request,
                idempotency_key: IdempotencyKey = None) -> Response:
    def run(session: Session) -> OrderOut:
        order = orders.place_order(session, principal=ctx.principal, quote_id=body.quote_id,
                                   option_id=body.option_id, customer=body.customer.model_dump(),
                                   member_ref=body.member_ref,
                                   payment_method=body.payment_method, now=ctx.now(), settings=ctx.settings,
                                   points=order_points.PointsRequest(programme_id=body.points.programme_id,
                                                                     amount_minor=body.points.amount_minor)
                                   if body.points is not None else None,
                                   referrer_merchant_id=body.referrer_merchant_id)
        return order_out(session, order)

    return _after_payment_step(ctx, request, idempotent(ctx, request, idempotency_key, body, 201, run))


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


def _order_action(ctx: Ctx, request: Request, key: str | None, body, order_id: str, action) -> JSONResponse:
    def run(session: Session) -> OrderOut:
        order = orders.get_order(session, order_id=order_id, principal=ctx.principal)
        action(session, order)
        return order_out(session, order)

    return idempotent(ctx, request, key, body, 200, run)


@router.post("/orders/{order_id}/pay", response_model=OrderOut,
             summary="Agree an in-store tender, or get the wallet QR, for an order awaiting payment")
def pay(order_id: str, body: PayIn, ctx: CtxDep, request: Request,
        idempotency_key: IdempotencyKey = None) -> Response:
    return _after_payment_step(ctx, request, _order_action(
        ctx, request, idempotency_key, body, order_id, lambda s, o: orders.pay(
            s, order=o, payment_method=body.payment_method, now=ctx.now(), provider=ctx.settings.payment_provider)))


@router.post("/orders/{order_id}/cancel", response_model=OrderOut,
             summary="Cancel an order whose goods have not left; its stock is released")
def cancel(order_id: str, body: CancelIn, ctx: CtxDep, request: Request,
           idempotency_key: IdempotencyKey = None) -> Response:
    return _after_payment_step(ctx, request, _order_action(
        ctx, request, idempotency_key, body, order_id, lambda s, o: orders.cancel_order(
            s, order=o, reason=body.reason, now=ctx.now())))


def return_out(session: Session, ret: OrderReturn) -> ReturnOut:
    return ReturnOut(id=ret.id, return_id=ret.client_return_id, order_id=ret.order_id, merchant_id=ret.merchant_id,
                     location_id=ret.location_id, currency=ret.currency, goods_minor=ret.goods_minor,
                     money_refund_minor=ret.money_refund_minor, points_refund_minor=ret.points_refund_minor,
                     points_reversed=ret.points_reversed, points_restored=ret.points_restored,
                     lines=[ReturnLineOut(order_line_id=l.order_line_id, product_id=l.product_id, quantity=l.quantity,
                                          amount_minor=l.amount_minor)
                            for l in returns.return_lines(session, return_=ret)],
                     refunds=[ReturnRefundOut.model_validate(
                         {**r, "status": orders.payments.get_refund(session, refund_pk=r["id"]).status})
                         for r in ret.refunds], reason=ret.reason,
                     created_at=ret.created_at)


@router.post("/orders/{order_id}/returns", response_model=ReturnOut, status_code=201,
             summary="Take goods of a completed order back at a store: refund, points and stock at once")
def accept_return(order_id: str, body: ReturnIn, ctx: CtxDep, request: Request,
                  idempotency_key: IdempotencyKey = None) -> Response:
    created = True

    def run(session: Session) -> ReturnOut:
        nonlocal created
        ret, created = returns.accept_return(
            session, principal=ctx.principal, order_id=order_id, return_id=body.return_id,
            location_id=body.location_id, reason=body.reason, now=ctx.now(),
            lines=[returns.ReturnedLine(order_line_id=l.order_line_id, quantity=l.quantity) for l in body.lines])
        return return_out(session, ret)

    response = idempotent(ctx, request, idempotency_key, body, 201, run)
    if response.status_code == 201 and not created:
        response.status_code = 200  # a resend of a recorded return
    pending = [r["id"] for r in json.loads(response.body)["refunds"]] if response.status_code < 300 else []
    if pending:
        # After the commit: send the wallet refunds (the worker retries any the provider did not confirm).
        factory = gateway.app_provider_factory(request.app.state)
        for refund_pk in pending:
            try:
                gateway.execute_refund(ctx.db, refund_pk=refund_pk, now=ctx.now(), provider_factory=factory)
            except Exception:  # noqa: BLE001 - the return is recorded; the worker sends the refund again
                log.exception("refund %s of a return could not be sent now", refund_pk)
        with ctx.read() as session:
            ret = returns.get_return(session, return_pk=json.loads(response.body)["id"])
            return JSONResponse(return_out(session, ret).model_dump(mode="json"), status_code=response.status_code)
    return response


@router.get("/orders/{order_id}/returns", response_model=list[ReturnOut])
def list_returns(order_id: str, ctx: CtxDep) -> list[ReturnOut]:
    with ctx.read() as session:
        order = orders.get_order(session, order_id=order_id, principal=ctx.principal)
        return [return_out(session, r) for r in returns.returns_of(session, order_id=order.id)]


# --- checkouts: several merchants' orders, one payment ---------------------------------------------------

def checkout_out(session: Session, checkout: Checkout, principal) -> CheckoutOut:
    return CheckoutOut(
        id=checkout.id, status=checkout.status, payment_method=checkout.payment_method, currency=checkout.currency,
        total_minor=checkout.total_minor, referrer_merchant_id=checkout.referrer_merchant_id,
        payment_due_at=checkout.payment_due_at, cancel_reason=checkout.cancel_reason,
        orders=[order_out(session, o) for o in checkouts.visible_orders(session, checkout=checkout,
                                                                          principal=principal)],
        payment=_intent_out(checkouts.payment_of(session, checkout=checkout)),
        created_at=checkout.created_at, updated_at=checkout.updated_at)


@router.post("/checkouts", response_model=CheckoutOut, status_code=201,
             summary="Place one order per merchant (all or nothing) and open ONE payment for them all")
def place_checkout(body: CheckoutIn, ctx: CtxDep, request: Request,
                   idempotency_key: IdempotencyKey = None) -> Response:
    def run(session: Session) -> CheckoutOut:
        checkout = checkouts.place_checkout(
            session, principal=ctx.principal, legs=[checkouts.CheckoutLeg(l.quote_id, l.option_id) for l in body.legs],
            customer=body.customer.model_dump(), member_ref=body.member_ref, payment_method=body.payment_method,
            referrer_merchant_id=body.referrer_merchant_id, now=ctx.now(), settings=ctx.settings)
        return checkout_out(session, checkout, ctx.principal)

    response = idempotent(ctx, request, idempotency_key, body, 201, run)
    if response.status_code >= 300:
        return response
    checkout_id = json.loads(response.body)["id"]
    with ctx.read() as session:
        intent = checkouts.payment_of(session, checkout=checkouts.get_checkout(
            session, checkout_id=checkout_id, principal=ctx.principal))
        wallet = (intent.id, intent.status) if intent is not None else None
    if wallet is None or wallet[1] not in ("requires_payment_method", "processing"):
        return response
    # Outside the checkout's transaction: ask the wallet for the QR of the one payment.
    gateway.start(ctx.db, intent_id=wallet[0], now=ctx.now(), provider_factory=gateway.app_provider_factory(
        request.app.state))
    return JSONResponse(read_checkout(checkout_id, ctx).model_dump(mode="json"), status_code=response.status_code)


@router.get("/checkouts/{checkout_id}", response_model=CheckoutOut)
def read_checkout(checkout_id: str, ctx: CtxDep) -> CheckoutOut:
    with ctx.read() as session:
        checkout = checkouts.get_checkout(session, checkout_id=checkout_id, principal=ctx.principal)
        return checkout_out(session, checkout, ctx.principal)
