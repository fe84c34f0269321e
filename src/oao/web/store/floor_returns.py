"""Store console: returns of online orders at this store (S11).

Staff find the order by its number or its pickup code, choose the lines and
quantities coming back and a reason, and accept: the returns service refunds
each money tender in proportion, gives back spent points, takes earned points
back and puts the units on this store's shelf, in one transaction. The form
carries a return id made when it was shown, so pressing Accept twice (or
reloading) records one return. Wallet refunds are sent after the commit, as
the JSON API does; the worker retries any the wallet did not confirm.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from oao.core.errors import Conflict, InvalidInput, InvalidState, NotFound
from oao.core.ids import new_id
from oao.deps import Ctx
from oao.fulfillment import lifecycle
from oao.fulfillment.models import Fulfillment
from oao.network import service as network
from oao.orders import returns
from oao.orders import service as orders
from oao.orders.models import Order
from oao.payments import gateway
from oao.payments import service as payments
from oao.web.common import StaffPageDep, check_csrf, render
from oao.web.store.floor_views import (
    PAYMENT_WORDS,
    FloorStore,
    floor_store,
    local_time,
    money,
    page_context,
    short_id,
    titles_of,
)

log = logging.getLogger("oao.web.store")
router = APIRouter(include_in_schema=False)

LocationQuery = Annotated[str | None, Query(alias="location", max_length=40)]
REASONS = ("Damaged or faulty", "Wrong item", "Not as described", "Changed mind", "Other")


def _find_order(session: Session, ctx: Ctx, text: str) -> Order:
    """An online order by its number (ord_…) or by the pickup code it was collected with."""
    text = text.strip()
    order = None
    if text.lower().startswith("ord_"):
        order = session.get(Order, text)
    elif text:
        code = lifecycle.normalise_code(text)
        leg = session.scalar(select(Fulfillment).where(Fulfillment.pickup_code == code).order_by(Fulfillment.id))
        order = session.get(Order, leg.order_id) if leg is not None else None
    if order is None or not ctx.principal.can_see_merchant(order.merchant_id):
        raise NotFound(f"No online order matches {text!r}. Type the order number (ord_…) from the shopper's "
                       "receipt or the pickup code she collected it with.")
    return order


def _order_view(session: Session, ctx: Ctx, store: FloorStore, order: Order) -> dict[str, object]:
    """The order's lines with what can still come back, and why the store cannot take it back if it cannot."""
    lines = orders.lines_of(session, order_id=order.id)
    returned: dict[str, int] = {}
    for earlier in returns.returns_of(session, order_id=order.id):
        for line in returns.return_lines(session, return_=earlier):
            returned[line.order_line_id] = returned.get(line.order_line_id, 0) + line.quantity
    blocked = ""
    if order.merchant_id != store.merchant_id:
        seller = network.get_merchant(session, merchant_id=order.merchant_id).name
        blocked = f"This order was sold by {seller}; it is returned at one of {seller}'s stores."
    elif order.status != "completed":
        blocked = (f"This order is {order.status.replace('_', ' ')}: only goods the shopper has received can be "
                   "returned. An order not collected yet is cancelled instead.")
    rows = [{"id": l.id, "title": l.title, "bought": l.quantity, "returned": returned.get(l.id, 0),
             "left": l.quantity - returned.get(l.id, 0), "unit": money(l.unit_price_minor, l.currency)}
            for l in lines]
    if not blocked and not any(r["left"] > 0 for r in rows):
        blocked = "Everything on this order has already been returned."
    paid = [i for i in payments.intents_for_order(session, order_id=order.id) if i.status == "succeeded"]
    return {"id": order.id, "short": short_id(order.id), "customer": order.customer_name or "Customer",
            "placed": local_time(order.created_at, store.timezone, ctx.now()),
            "total": money(order.total_minor, order.currency), "status": order.status, "lines": rows,
            "paid_with": ", ".join(sorted({PAYMENT_WORDS.get(i.method or "", i.method or "") for i in paid}))
            or "points only", "blocked": blocked}


def _page(request: Request, ctx: Ctx, store: FloorStore, *, find: str = "", order_id: str | None = None,
          error: str = "", status: int = 200, form: dict[str, object] | None = None) -> HTMLResponse:
    context: dict[str, object] = {**page_context(store, ctx, "returns"), "find": find, "order": None,
                                  "error": error, "reasons": REASONS, "return_id": new_id("rtn"),
                                  "form": form or {}}
    if order_id is not None:
        with ctx.read() as session:
            order = orders.get_order(session, order_id=order_id, principal=ctx.principal)
            context["order"] = _order_view(session, ctx, store, order)
    return render(request, "store/returns.html", context, ctx=ctx, status=status)


@router.get("/store/returns", response_class=HTMLResponse)
def returns_page(request: Request, ctx: StaffPageDep, location: LocationQuery = None,
                 find: Annotated[str, Query(max_length=80)] = "") -> HTMLResponse:
    with ctx.read() as session:
        store = floor_store(session, ctx.principal, location)
        if not find.strip():
            return _page(request, ctx, store)
        try:
            order_id = _find_order(session, ctx, find).id
        except (NotFound, InvalidInput) as missing:
            return _page(request, ctx, store, find=find, error=missing.detail, status=missing.status)
    return _page(request, ctx, store, find=find, order_id=order_id)


@router.post("/store/returns", response_class=HTMLResponse)
def accept_return(request: Request, ctx: StaffPageDep,
                  order_id: Annotated[str, Form(max_length=40)] = "",
                  return_id: Annotated[str, Form(max_length=80)] = "",
                  line_id: Annotated[list[str] | None, Form()] = None,
                  quantity: Annotated[list[str] | None, Form()] = None,
                  reason: Annotated[str, Form(max_length=40)] = "",
                  note: Annotated[str, Form(max_length=150)] = "",
                  csrf: Annotated[str, Form(max_length=200)] = "", location: LocationQuery = None) -> Response:
    check_csrf(request, csrf)
    with ctx.read() as session:
        store = floor_store(session, ctx.principal, location)
        order_id = orders.get_order(session, order_id=order_id, principal=ctx.principal).id
    chosen: list[returns.ReturnedLine] = []
    typed = dict(zip(line_id or [], quantity or [], strict=False))
    try:
        for ident, raw in typed.items():
            raw = raw.strip() or "0"
            if not raw.isdigit():
                raise InvalidInput(f"Quantities are whole numbers; {raw!r} is not one.")
            if int(raw) > 0:
                chosen.append(returns.ReturnedLine(order_line_id=ident, quantity=int(raw)))
        if not chosen:
            raise InvalidInput("Choose how many of at least one line come back.")
        why = reason if reason in REASONS else "Other"
        full_reason = f"{why}: {note.strip()}" if note.strip() else why
        with ctx.tx() as session:
            ret, _ = returns.accept_return(session, principal=ctx.principal, order_id=order_id, return_id=return_id,
                                           location_id=store.id, lines=chosen, reason=full_reason, now=ctx.now())
            return_pk = ret.id
            pending = [r["id"] for r in ret.refunds if r.get("status") == "pending"]
    except (InvalidInput, InvalidState, Conflict) as refused:
        form = {"quantities": typed, "reason": reason, "note": note, "return_id": return_id}
        return _page(request, ctx, store, find=order_id, order_id=order_id, error=refused.detail, status=refused.status,
                     form=form)
    factory = gateway.app_provider_factory(request.app.state)
    for refund_pk in pending:
        try:
            gateway.execute_refund(ctx.db, refund_pk=refund_pk, now=ctx.now(), provider_factory=factory)
        except Exception:  # noqa: BLE001 - the return is recorded; the worker sends the refund again
            log.exception("refund %s of a return could not be sent now", refund_pk)
    return RedirectResponse(f"/store/returns/{return_pk}{store.query}", status_code=303)


@router.get("/store/returns/{return_pk}", response_class=HTMLResponse)
def return_done(request: Request, ctx: StaffPageDep, return_pk: str, location: LocationQuery = None) -> HTMLResponse:
    """What the shopper gets back, to tell her at the counter."""
    with ctx.read() as session:
        store = floor_store(session, ctx.principal, location)
        ret = returns.get_return(session, return_pk=return_pk)
        if not ctx.principal.can_see_merchant(ret.merchant_id):
            raise NotFound(f"No return {return_pk!r}.")
        lines = returns.return_lines(session, return_=ret)
        titles = titles_of(session, {l.product_id for l in lines})
        refunds = []
        for r in ret.refunds:
            row = payments.get_refund(session, refund_pk=r["id"])
            refunds.append({"amount": money(int(r["amount_minor"]), ret.currency),
                            "method": PAYMENT_WORDS.get(str(r.get("method") or ""), str(r.get("method") or "")),
                            "status": row.status, "in_store": row.provider == payments.IN_STORE})
        where = network.get_location(session, location_id=ret.location_id).name
        done = {"id": ret.id, "order_short": short_id(ret.order_id), "order_id": ret.order_id,
                "goods": money(ret.goods_minor, ret.currency), "money": money(ret.money_refund_minor, ret.currency),
                "points_value": money(ret.points_refund_minor, ret.currency), "points_value_minor":
                ret.points_refund_minor, "points_reversed": ret.points_reversed,
                "points_restored": ret.points_restored, "reason": ret.reason, "where": where,
                "units": sum(l.quantity for l in lines), "refunds": refunds,
                "at": local_time(ret.created_at, store.timezone, ctx.now()),
                "lines": [(l.quantity, titles.get(l.product_id, l.product_id), money(l.amount_minor, ret.currency))
                          for l in lines]}
    return render(request, "store/returns_done.html", {**page_context(store, ctx, "returns"), "done": done}, ctx=ctx)
