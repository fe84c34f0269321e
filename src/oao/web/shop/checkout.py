"""Checkout and the shopper's order page.

Checkout asks the quote service for every way to receive the cart at the
shopper's location and says each in plain words ("Ready at Daily Corner ·
Hubin by 11:10 · free"). Placing the order runs once per checkout form: the
form's hidden token is the Idempotency-Key, so a double tap or a resent POST
lands on the same order. A wallet payment is started after the order's
transaction has committed (the wallet is outside; see payments.gateway).

A cart no single shop can serve whole (the quote engine answers options where
one seller has everything) is split by seller (orders.checkouts.split_by_seller)
and each part is quoted on its own: the page shows one option list per seller,
and placing it makes one checkout, one order per seller, paid with one wallet
payment (or each in person).

The order page is the shopper's: it opens with the signed link the checkout
redirected to, or for the member who placed it; anyone else gets a 404.
"""

from __future__ import annotations

import io
import logging
import re
from datetime import datetime
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from oao.core.errors import Conflict, Gone, InsufficientStock, InvalidInput, InvalidState, NotFound
from oao.core.idempotency import request_fingerprint, run_idempotent
from oao.core.ids import new_id
from oao.deps import Ctx
from oao.fulfillment import lifecycle
from oao.fulfillment import service as fulfillment
from oao.fulfillment.models import Quote
from oao.fulfillment.service import ItemIn
from oao.members import service as members
from oao.network import service as network
from oao.orders import checkouts
from oao.orders import points as order_points
from oao.orders import service as orders
from oao.orders.models import Order
from oao.orders.points import NotEnoughPoints, PointsNeedMember, PointsOverTotal, PointsProgrammeMismatch
from oao.payments import gateway
from oao.payments import service as payments
from oao.web.common import STOREFRONT, ShopDep, current_shopper, render, sign, signed_ok
from oao.web.shop import member_area, shopper

log = logging.getLogger("oao.web.shop")
router = APIRouter(include_in_schema=False)

# How the money part is paid; `in_person` becomes pay_at_pickup or pay_on_delivery. Points are chosen
# beside it (shop/_pay_with_points.html): held when the order is placed, they pay first.
OWN_PAYMENTS = ("wallet_qr", "in_person")
FINAL_STATUSES = ("completed", "cancelled")
PHONE_DIGITS = re.compile(r"^\+?[0-9]{6,20}$")
MAX_SELLERS = 4  # option lists on one checkout page (form fields leg_0 … leg_3)


def order_tag(request: Request, order_id: str) -> str:
    return sign(request, "shop-order", order_id)


def order_link(request: Request, order_id: str) -> str:
    return f"/shop/orders/{order_id}?t={order_tag(request, order_id)}"


# --- options in words ---------------------------------------------------------------------------------

def option_words(option: dict[str, Any], now: datetime, where: shopper.Where | None) -> dict[str, Any]:
    """What a shopper reads on an option card: a headline with time, the fee, and the small print."""
    kind, currency = option["kind"], option["currency"]
    sources = [leg["source"] for leg in option["legs"]]
    details: list[str] = []
    if kind == "pickup":
        place = option["pickup_location"]
        headline = f"Ready at {place['name']} {shopper.when_words(option['ready_at'] or option['arrive_at'], now)}"
        if where is not None:
            details.append(f"{shopper.km(where.km_to(place['latitude'], place['longitude']))} from you")
        if option["involves_transfer"]:
            details.append("sent over from " + " and ".join(s["name"] for s in sources))
    elif kind == "delivery":
        headline = f"Delivered to you {shopper.when_words(option['arrive_at'], now)}"
        origin = option.get("delivered_from") or sources[0]
        details.append(f"from {origin['name']}")
    else:
        when = shopper.when_words(option["arrive_at"], now)
        origin = "the warehouse" if all(s["kind"] == "warehouse" for s in sources) else sources[0]["name"]
        headline = f"Shipped from {origin}, arrives {'today ' if when.startswith('by ') else ''}{when}"
    if option["is_split"]:
        details.append(f"in {len(sources)} parcels")
    if details:
        details[0] = details[0][:1].upper() + details[0][1:]
    return {"id": option["id"], "kind": kind, "headline": headline, "fee": shopper.fee_words(option["fee_minor"],
                                                                                              currency),
            "details": details, "seller": option["merchant"]["name"],
            "total": shopper.money(option["total_minor"], currency),
            "in_person": "Pay at pickup" if kind == "pickup" else "Pay on delivery"}


def _soonest_nearest(options: list[dict[str, Any]], where: shopper.Where) -> list[dict[str, Any]]:
    """Soonest first; at the same time the cheaper, then the nearer pickup store (what a shopper weighs)."""
    def key(option: dict[str, Any]) -> tuple[datetime, int, float]:
        place = option.get("pickup_location")
        distance = where.km_to(place["latitude"], place["longitude"]) if place else 0.0
        return datetime.fromisoformat(option["arrive_at"]), option["fee_minor"], round(distance, 1)

    return sorted(options, key=key)


def _payment_method(choice: str, kind: str) -> str | None:
    if choice == "wallet_qr":
        return "wallet_qr"
    if choice == "in_person":
        return "pay_at_pickup" if kind == "pickup" else "pay_on_delivery"
    return None


# --- checkout -----------------------------------------------------------------------------------------

def _new_quote(request: Request, ctx: Ctx, where: shopper.Where) -> tuple[Quote | None, str | None]:
    lines = shopper.cart(request)
    if not lines:
        return None, None
    try:
        with ctx.tx() as session:
            record = fulfillment.build_quote(
                session, principal=STOREFRONT, items=[ItemIn(quantity=q, product_id=p) for p, q in lines.items()],
                destination={"latitude": where.latitude, "longitude": where.longitude, "address": where.label},
                pickup_location_id=None, at=None, now=ctx.now(), settings=ctx.settings)
            session.expunge(record)
            return record, None
    except (InvalidInput, NotFound) as exc:
        return None, exc.detail


def _split_quotes(request: Request, ctx: Ctx, where: shopper.Where) -> tuple[list[Quote], str | None]:
    """No shop has the whole cart: one quote per seller (each product from its cheapest seller)."""
    lines = shopper.cart(request)
    if len(lines) < 2:
        return [], None
    records: list[Quote] = []
    try:
        with ctx.tx() as session:
            parts = checkouts.split_by_seller(session, items=lines)
            if len(parts) < 2 or len(parts) > MAX_SELLERS:
                return [], None
            for seller, items in parts.items():
                record = fulfillment.build_quote(
                    session, principal=STOREFRONT,
                    items=[ItemIn(quantity=q, product_id=p, merchant_id=seller) for p, q in items.items()],
                    destination={"latitude": where.latitude, "longitude": where.longitude, "address": where.label},
                    pickup_location_id=None, at=None, now=ctx.now(), settings=ctx.settings)
                if not record.options:
                    return [], None
                records.append(record)
            session.expunge_all()
    except (InvalidInput, NotFound) as exc:
        return [], exc.detail
    return records, None


def _seller_lists(records: list[Quote], where: shopper.Where, now: datetime,
                  chosen: dict[str, str]) -> list[dict[str, Any]]:
    """One option list per seller of a split cart, the soonest-nearest option chosen unless she chose."""
    out = []
    for index, record in enumerate(records):
        ordered = _soonest_nearest(record.options, where)
        out.append({"index": index, "quote_id": record.id, "seller": ordered[0]["merchant"]["name"],
                    "chosen": chosen.get(f"leg_{index}") or ordered[0]["id"],
                    "lines": ", ".join(f"{l['quantity']} × {l['title']}" for l in ordered[0]["lines"]),
                    "options": [option_words(o, now, where) for o in ordered]})
    return out


def _checkout_page(request: Request, ctx: Ctx, record: Quote | None, *, form: dict[str, str],
                   errors: dict[str, str], status: int = 200, notice: str | None = None,
                   problem: str | None = None, split: list[Quote] | None = None) -> HTMLResponse:
    from oao.web.shop.web import cart_view, page_context

    with ctx.read() as session:
        context = page_context(request, session)
        where = context["where"]
        options = [option_words(o, ctx.now(), where) for o in _soonest_nearest(record.options if record else [],
                                                                               where)]
        cart = shopper.cart(request)
        summary = cart_view(session, cart)
    sellers = _seller_lists(split, where, ctx.now(), form) if split and not options else []
    if not form.get("token"):
        form = {**form, "token": new_id("chk")}
    points_options = []
    if record is not None and record.options:
        # The dearest option bounds what points may pay; the order itself caps them at its own total.
        points_options = member_area.points_options_for(
            request, total_minor=max(o["total_minor"] for o in record.options), currency=record.options[0]["currency"],
            merchant_ids=[o["merchant"]["id"] for o in record.options])
    return render(request, "shop/checkout.html", {
        **context, "shop_nav": "cart", "quote": record, "options": options, "form": form, "errors": errors,
        "notice": notice, "problem": problem, "cart_empty": not cart, "summary": summary,
        "shopper": current_shopper(request), "points_options": points_options, "sellers": sellers,
        "quote_ids": ",".join(r.id for r in split or [])}, status=status)


def _prefill(request: Request, ctx: Ctx) -> dict[str, str]:
    member = current_shopper(request)
    if member is None:
        return {}
    with ctx.read() as session:
        person = members.get_member(session, member_id=member.member_id)
        return {"name": person.name or "", "phone": person.phone or ""}


@router.get("/shop/checkout", response_class=HTMLResponse)
def checkout_page(request: Request, ctx: ShopDep) -> Response:
    if not shopper.cart(request):
        return RedirectResponse("/shop/cart", status_code=303)
    with ctx.read() as session:
        where = shopper.where(request, session)
    record, problem = _new_quote(request, ctx, where)
    form = {"payment": "wallet_qr", **_prefill(request, ctx)}
    split: list[Quote] = []
    if record is not None and record.options:
        form["option_id"] = _soonest_nearest(record.options, where)[0]["id"]
    elif problem is None:
        split, problem = _split_quotes(request, ctx, where)
    return _checkout_page(request, ctx, record, form=form, errors={}, problem=problem, split=split)


def _validate(form: dict[str, str], option: dict[str, Any] | None, *, points_cover_all: bool) -> dict[str, str]:
    errors: dict[str, str] = {}
    if option is None:
        errors["option_id"] = "Choose how you want to receive your order."
    if not form["name"]:
        errors["name"] = "Tell us your name, so the store knows whose order it is."
    elif len(form["name"]) > 100:
        errors["name"] = "Please keep your name under 100 characters."
    phone = re.sub(r"[\s\-()]", "", form["phone"])
    if not PHONE_DIGITS.match(phone):
        errors["phone"] = "Enter a phone number the store can reach you on (6 to 20 digits)."
    if form["payment"] not in OWN_PAYMENTS and not points_cover_all:
        errors["payment"] = "Choose how you want to pay."
    return errors


@router.post("/shop/checkout", response_class=HTMLResponse)
def place_order(request: Request, ctx: ShopDep, quote_id: Annotated[str, Form(max_length=40)] = "",
                option_id: Annotated[str, Form(max_length=40)] = "", name: Annotated[str, Form(max_length=200)] = "",
                phone: Annotated[str, Form(max_length=40)] = "", payment: Annotated[str, Form(max_length=30)] = "",
                points_programme: Annotated[str, Form(max_length=40)] = "",
                points_amount: Annotated[str, Form(max_length=20)] = "",
                token: Annotated[str, Form(max_length=60)] = "",
                quote_ids: Annotated[str, Form(max_length=(41 * MAX_SELLERS))] = "",
                leg_0: Annotated[str, Form(max_length=40)] = "", leg_1: Annotated[str, Form(max_length=40)] = "",
                leg_2: Annotated[str, Form(max_length=40)] = "",
                leg_3: Annotated[str, Form(max_length=40)] = "") -> Response:
    from oao.web.shop.web import check_same_origin

    check_same_origin(request)
    if quote_ids:
        form = {"name": name.strip(), "phone": phone.strip(), "payment": payment, "token": token,
                "quote_ids": quote_ids, "leg_0": leg_0, "leg_1": leg_1, "leg_2": leg_2, "leg_3": leg_3}
        return _place_checkout(request, ctx, form)
    form = {"quote_id": quote_id, "option_id": option_id, "name": name.strip(), "phone": phone.strip(),
            "payment": payment, "token": token, "points_programme": points_programme,
            "points_amount": points_amount}
    with ctx.read() as session:
        where = shopper.where(request, session)
        try:
            record = fulfillment.get_quote(session, quote_id=quote_id, principal=STOREFRONT) if quote_id else None
        except NotFound:
            record = None
        if record is not None:
            session.expunge(record)
    if record is None:
        fresh, problem = _new_quote(request, ctx, where)
        return _checkout_page(request, ctx, fresh, form={**form, "option_id": ""}, errors={}, status=409,
                              notice="Your delivery options were out of date; here they are again.", problem=problem)
    option = next((o for o in record.options if o["id"] == option_id), None)
    member = current_shopper(request)
    points, points_error = None, None
    if member is not None and option is not None:
        try:
            points = member_area.points_request_from_form(points_programme=points_programme,
                                                          points_amount=points_amount,
                                                          total_minor=option["total_minor"])
        except InvalidInput as exc:
            points_error = exc.detail
    errors = _validate(form, option, points_cover_all=points is not None and option is not None
                       and points.amount_minor >= option["total_minor"])
    if points_error:
        errors["points"] = points_error
    if errors:
        return _checkout_page(request, ctx, record, form=form, errors=errors, status=422)
    assert option is not None
    method = _payment_method(payment, option["kind"])

    def action(session: Session) -> tuple[int, dict[str, Any]]:
        member_ref = None
        if member is not None:
            member_ref = members.member_ref_for(session, merchant_id=option["merchant"]["id"],
                                                member_id=member.member_id)
        order = orders.place_order(session, principal=STOREFRONT, quote_id=record.id, option_id=option["id"],
                                   member_ref=member_ref, customer={"name": form["name"], "phone": form["phone"]},
                                   payment_method=method, now=ctx.now(), settings=ctx.settings, points=points)
        return 201, {"id": order.id}

    payload = {k: form[k] for k in ("quote_id", "option_id", "name", "phone", "payment", "points_programme",
                                    "points_amount")}
    try:
        _, body = run_idempotent(ctx.db, scope="storefront:checkout", key=token or new_id("chk"),
                                 fingerprint=request_fingerprint("POST", "/shop/checkout", payload), at=ctx.now(),
                                 action=action)
    except (NotEnoughPoints, PointsNeedMember, PointsOverTotal, PointsProgrammeMismatch) as exc:
        # Her points changed, or cannot pay this order: say so beside the points and keep everything else.
        return _checkout_page(request, ctx, record, form={**form, "token": ""}, errors={"points": exc.detail},
                              status=exc.status)
    except (Gone, Conflict, InsufficientStock, InvalidState) as exc:
        # Something changed since the options were shown (expired, sold out, new price): fresh options.
        fresh, problem = _new_quote(request, ctx, where)
        return _checkout_page(request, ctx, fresh, form={**form, "option_id": "", "token": ""}, errors={},
                              status=409, notice=f"{exc.detail} Here are your options as they are now.",
                              problem=problem)
    order_id = body["id"]
    _ensure_qr(request, ctx, order_id)
    response = RedirectResponse(order_link(request, order_id), status_code=303)
    shopper.save_cart(request, response, {})
    return response


def _place_checkout(request: Request, ctx: Ctx, form: dict[str, str]) -> Response:
    """A split cart: one order per seller in one checkout, paid once (or each in person)."""
    with ctx.read() as session:
        where = shopper.where(request, session)
        records: list[Quote] = []
        for quote_id in form["quote_ids"].split(",")[:MAX_SELLERS]:
            try:
                records.append(fulfillment.get_quote(session, quote_id=quote_id, principal=STOREFRONT))
            except NotFound:
                records = []
                break
        session.expunge_all()
    if not records:
        fresh, problem = _new_quote(request, ctx, where)
        split, problem = _split_quotes(request, ctx, where) if problem is None else ([], problem)
        return _checkout_page(request, ctx, fresh, form={**form, "token": ""}, errors={}, status=409, split=split,
                              notice="Your delivery options were out of date; here they are again.", problem=problem)
    chosen = [next((o for o in r.options if o["id"] == form[f"leg_{i}"]), None) for i, r in enumerate(records)]
    errors = _validate(form, chosen[0] if all(chosen) else None, points_cover_all=False)
    if errors:
        return _checkout_page(request, ctx, None, form=form, errors=errors, status=422, split=records)
    member = current_shopper(request)
    method = "wallet_qr" if form["payment"] == "wallet_qr" else "in_person"

    def action(session: Session) -> tuple[int, dict[str, Any]]:
        checkout = checkouts.place_checkout(
            session, principal=STOREFRONT, legs=[checkouts.CheckoutLeg(r.id, o["id"])
                                                 for r, o in zip(records, chosen, strict=True) if o is not None],
            customer={"name": form["name"], "phone": form["phone"]}, payment_method=method, now=ctx.now(),
            settings=ctx.settings, member_id=member.member_id if member is not None else None)
        return 201, {"id": checkout.id,
                     "orders": [o.id for o in orders.checkout_orders(session, checkout_id=checkout.id)]}

    payload = {k: form[k] for k in ("quote_ids", "leg_0", "leg_1", "leg_2", "leg_3", "name", "phone", "payment")}
    try:
        _, body = run_idempotent(ctx.db, scope="storefront:checkout", key=form["token"] or new_id("chk"),
                                 fingerprint=request_fingerprint("POST", "/shop/checkout", payload), at=ctx.now(),
                                 action=action)
    except (Gone, Conflict, InsufficientStock, InvalidState) as exc:
        fresh, problem = _new_quote(request, ctx, where)
        split, problem = _split_quotes(request, ctx, where) if problem is None else ([], problem)
        return _checkout_page(request, ctx, fresh, form={**form, "token": ""}, errors={}, status=409, split=split,
                              notice=f"{exc.detail} Here are your options as they are now.", problem=problem)
    first = body["orders"][0]
    _ensure_qr(request, ctx, first)  # the one payment of the checkout: its QR is on every order's page
    response = RedirectResponse(order_link(request, first), status_code=303)
    shopper.save_cart(request, response, {})
    return response


def _ensure_qr(request: Request, ctx: Ctx, order_id: str) -> None:
    """After the commit: ask the wallet for the QR if the order waits for one (the order page asks again
    if this fails); an order paid in person or wholly with points has none."""
    with ctx.read() as session:
        intent = orders.wallet_intent(session, order_id=order_id)
        waiting = intent is not None and intent.status in ("requires_payment_method", "processing") \
            and not intent.qr_content
        intent_id = intent.id if intent is not None else None
    if waiting and intent_id:
        try:
            gateway.start(ctx.db, intent_id=intent_id, now=ctx.now(),
                          provider_factory=gateway.app_provider_factory(request.app.state))
        except Exception:  # noqa: BLE001 - the order stands; the page shows "preparing the QR" and retries
            log.exception("could not get the wallet QR for order %s", order_id)


# --- the order page -----------------------------------------------------------------------------------

def _visible_order(request: Request, session: Session, order_id: str, tag: str | None) -> Order:
    """The order if this browser may see it (its signed link, or its member), else 404."""
    order = orders.get_order(session, order_id=order_id[:40], principal=STOREFRONT)
    if signed_ok(request, "shop-order", order.id, tag):
        return order
    member = current_shopper(request)
    if member is not None and order.member_id == member.member_id:
        return order
    raise NotFound(f"No order {order_id!r}.")


def _qr_svg(content: str, title: str) -> str:
    buffer = io.BytesIO()
    segno.make(content, error="m").save(buffer, kind="svg", scale=6, border=2, title=title, svgclass="qr-code",
                                        xmldecl=False, svgns=True, nl=False)
    return buffer.getvalue().decode()


_LEG_WORDS = {"pending_payment": "Waiting for payment", "confirmed": "Confirmed, the store will pack it soon",
              "picking": "Being packed", "in_transit": "On its way to the pickup store",
              "ready_for_pickup": "Ready for pickup", "out_for_delivery": "Out for delivery",
              "completed": "Done", "cancelled": "Cancelled"}


def _status(order: Order, legs: list[Any], intent: Any) -> tuple[str, str]:
    """(headline, badge class) of the order as the shopper should read it."""
    if order.status == "cancelled":
        return f"Cancelled ({order.cancel_reason})" if order.cancel_reason else "Cancelled", "bad"
    if order.status == "completed":
        return ("Collected. Enjoy!" if legs and legs[0].kind == "pickup" else "Delivered. Enjoy!"), "ok"
    if order.status == "pending_payment":
        return "Waiting for your payment", "warn"
    live = [f for f in legs if f.status != "cancelled"]
    for state in ("ready_for_pickup", "out_for_delivery", "in_transit", "picking"):
        if any(f.status == state for f in live):
            return _LEG_WORDS[state], "ok" if state == "ready_for_pickup" else "info"
    paid = intent is not None and intent.status == "succeeded"
    return ("Paid and confirmed" if paid else "Confirmed"), "ok"


def _payment_words(order: Order, intent: Any, paid_with_points: Any = None) -> str:
    """The payment in one line; with points, what they paid comes first and the rest is the money part."""
    due = order.total_minor
    prefix = ""
    if paid_with_points is not None and paid_with_points.status != "released":
        due -= paid_with_points.amount_minor
        verb = {"held": "held for", "spent": "paid", "restored": "given back from"}.get(paid_with_points.status,
                                                                                        "paid")
        prefix = (f"{paid_with_points.points:,} {paid_with_points.programme_name} points {verb} "
                  f"{shopper.money(paid_with_points.amount_minor, order.currency)}")
        if due <= 0:
            return prefix
        prefix += " · "
    total = shopper.money(due, order.currency)
    if intent is not None and order.checkout_id is not None and intent.amount_minor != due:
        # One payment for the whole checkout (several shops' orders): say what it is for.
        total = f"{shopper.money(intent.amount_minor, intent.currency)} (all your orders of this checkout)"
    if intent is not None:
        if intent.status == "succeeded":
            return f"{prefix}Paid {total} with your wallet"
        if intent.status == "canceled":
            return prefix + "Wallet payment cancelled" + (" and refunded" if intent.reversed_minor else "")
        return f"{prefix}{total} to pay with your wallet"
    if order.payment_method == "pay_at_pickup":
        return prefix + (f"{total} to pay when you collect" if order.status != "completed"
                         else f"Paid {total} at pickup")
    if order.payment_method == "pay_on_delivery":
        return prefix + (f"{total} to pay on delivery" if order.status != "completed"
                         else f"Paid {total} on delivery")
    return f"{prefix}{total} to pay"


def order_context(request: Request, session: Session, order: Order, now: datetime) -> dict[str, Any]:
    where = shopper.where(request, session)
    legs = lifecycle.of_order(session, order_id=order.id)
    intent = orders.wallet_intent(session, order_id=order.id)
    try:
        record = fulfillment.get_quote(session, quote_id=order.quote_id, principal=STOREFRONT)
        option = next((o for o in record.options if o["id"] == order.option_id), None)
    except NotFound:
        option = None
    pickups = []
    for f in legs:
        if f.kind != "pickup" or f.pickup_location_id is None:
            continue
        place = network.get_location(session, location_id=f.pickup_location_id)
        distance = where.km_to(place.latitude, place.longitude)
        hint = f"{place.name}, {shopper.street(place.address)}"
        hint += (f" — {shopper.km(distance)} from you, {shopper.route_hint(distance)}" if where.chosen
                 else f" — {shopper.km(distance)} from {where.label}")
        ready = f.status == "ready_for_pickup" and f.pickup_code
        pickups.append({"place": place.name, "hint": hint, "open_text": shopper.open_words(place, now)[1],
                        "ready": bool(ready), "code": f.pickup_code if ready else None,
                        "code_svg": _qr_svg(f.pickup_code, f"Pickup code {f.pickup_code}") if ready else None,
                        "hold_until": shopper.clock_words(f.hold_until, now) if ready and f.hold_until else None,
                        "status": _LEG_WORDS.get(f.status, f.status)})
    headline, badge = _status(order, legs, intent)
    awaiting = intent is not None and order.status == "pending_payment" and intent.status in payments.OPEN_STATUSES
    cancellable = order.status in ("pending_payment", "confirmed") and all(
        f.status in lifecycle.CANCELLABLE or f.status == "cancelled" for f in legs)
    lines = [{"title": l.title, "quantity": l.quantity, "total": shopper.money(l.unit_price_minor * l.quantity,
                                                                               l.currency)}
             for l in orders.lines_of(session, order_id=order.id)]
    return {
        "order": order, "placed_at": shopper.clock_words(order.created_at, now), "headline": headline,
        "badge": badge, "final": order.status in FINAL_STATUSES,
        "option": option_words(option, order.created_at, None) if option else None,
        "lines": lines, "subtotal": shopper.money(order.subtotal_minor, order.currency),
        "fees": shopper.fee_words(order.fees_minor, order.currency),
        "total": shopper.money(order.total_minor, order.currency),
        "payment": _payment_words(order, intent, order_points.points_of(session, order=order)),
        "awaiting_wallet": awaiting, "intent_id": intent.id if intent is not None else None,
        "pay_svg": _qr_svg(intent.qr_content, "Payment QR code") if awaiting and intent.qr_content else None,
        "pay_until": shopper.clock_words(order.payment_due_at, now) if awaiting and order.payment_due_at else None,
        "pickups": pickups, "cancellable": cancellable, "tag": order_tag(request, order.id),
        "siblings": [{"seller": network.get_merchant(session, merchant_id=o.merchant_id).name,
                      "link": order_link(request, o.id), "short": o.id[-8:].upper(),
                      "total": shopper.money(o.total_minor, o.currency)}
                     for o in (orders.checkout_orders(session, checkout_id=order.checkout_id)
                               if order.checkout_id else []) if o.id != order.id],
        "legs": [{"status": _LEG_WORDS.get(f.status, f.status), "kind": f.kind} for f in legs],
    }


def _order_response(request: Request, ctx: Ctx, order_id: str, t: str | None, template: str,
                    status: int = 200, message: str | None = None) -> HTMLResponse:
    from oao.web.shop.web import page_context

    with ctx.read() as session:
        order = _visible_order(request, session, order_id, t)
        needs_qr, order_id = order.status == "pending_payment", order.id
    if needs_qr:
        _ensure_qr(request, ctx, order_id)
    with ctx.read() as session:
        order = _visible_order(request, session, order_id, t)
        context = {**page_context(request, session), **order_context(request, session, order, ctx.now()),
                   "message": message}
        return render(request, template, context, status=status)  # inside: the template reads the order


@router.get("/shop/orders/{order_id}", response_class=HTMLResponse)
def order_page(request: Request, order_id: str, ctx: ShopDep,
               t: Annotated[str | None, Query(max_length=40)] = None) -> HTMLResponse:
    return _order_response(request, ctx, order_id, t, "shop/order.html")


@router.get("/shop/orders/{order_id}/live", response_class=HTMLResponse)
def order_live(request: Request, order_id: str, ctx: ShopDep,
               t: Annotated[str | None, Query(max_length=40)] = None) -> HTMLResponse:
    """The live part of the order page, polled by htmx every 3 s until the order is final."""
    return _order_response(request, ctx, order_id, t, "shop/_order_live.html")


@router.post("/shop/orders/{order_id}/cancel", response_class=HTMLResponse)
def cancel_order(request: Request, order_id: str, ctx: ShopDep,
                 t: Annotated[str, Form(max_length=40)] = "") -> Response:
    from oao.web.shop.web import check_same_origin

    check_same_origin(request)
    message = None
    try:
        with ctx.tx() as session:
            order = _visible_order(request, session, order_id, t)
            orders.cancel_order(session, order=order, reason="cancelled by the shopper", now=ctx.now())
            order_id = order.id
    except InvalidState as exc:
        message = exc.detail
    else:
        try:
            gateway.settle_order(ctx.db, order_id=order_id, now=ctx.now(),
                                 provider_factory=gateway.app_provider_factory(request.app.state))
        except Exception:  # noqa: BLE001 - the worker closes the charge and sends the refund again
            log.exception("could not settle the wallet payment of cancelled order %s", order_id)
    if message is None:
        return RedirectResponse(order_link(request, order_id), status_code=303)
    return _order_response(request, ctx, order_id, t, "shop/order.html", status=409, message=message)
