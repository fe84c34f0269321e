"""Kiosk: "Order from our partner", the endless aisle (S3's lip gloss the shop does not carry).

Products of this store's kind that the network can deliver and this store
cannot hand over today (`pos.endless_aisle`). The shopper chooses an area of
town and types her street address; the fulfillment quote (the same engine as
the storefront) gives the home-delivery options in words; the order is placed
by the network's storefront principal, as on /shop, with her member ref *for
the selling merchant* (so she earns points there on delivery), and paid with
the wallet QR shown on the kiosk. When the kiosk's merchant has an accepted
referral agreement with the seller, the order is placed with this merchant as
its referrer and the agreed commission is copied onto it (settlement pays it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from oao.core.errors import InvalidInput, NotFound, Problem
from oao.core.money import Money
from oao.deps import Ctx
from oao.fulfillment import service as fulfillment
from oao.fulfillment.service import ItemIn
from oao.members import service as members
from oao.network import service as network
from oao.network.hours import local_time
from oao.orders import service as orders
from oao.payments import gateway
from oao.payments import service as payments
from oao.pos import endless_aisle
from oao.web.common import STOREFRONT, StaffPageDep, check_csrf, is_htmx, shop_ctx
from oao.web.shop import shopper
from oao.web.store.kiosk_basket import money
from oao.web.store.kiosk_state import Kiosk, kiosk_page, load_kiosk, load_visit, save_visit

router = APIRouter(include_in_schema=False)
Csrf = Annotated[str, Form(max_length=200)]
HOME_KINDS = ("delivery", "shipping")  # to her door; pickup is what the kiosk's own shelf is for


def when_words(at: datetime, tz: str, now: datetime) -> str:
    """'today by 18:40', 'tomorrow by 18:00', 'on 3 Dec by 10:00', in the store's time zone."""
    local, today = local_time(at, tz), local_time(now, tz).date()
    clock = f"{local.hour:02d}:{local.minute:02d}"
    days = (local.date() - today).days
    if days == 0:
        return f"today by {clock}"
    if days == 1:
        return f"tomorrow by {clock}"
    weekday = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[local.weekday()]
    month = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")[local.month - 1]
    return f"on {weekday} {local.day} {month} by {clock}"


def option_words(option: dict[str, Any], tz: str, now: datetime) -> dict[str, Any]:
    """A quote option as the shopper reads it: "Delivered to you tomorrow by 18:00 · ¥10.00"."""
    arrive = datetime.fromisoformat(option["arrive_at"])
    fee = option["fee_minor"]
    source = option.get("delivered_from") or option["legs"][0]["source"]
    how = "by courier" if option["kind"] == "delivery" else "by parcel"
    return {"id": option["id"], "kind": option["kind"],
            "headline": f"Delivered to you {when_words(arrive, tz, now)}",
            "fee": money(fee, option["currency"]) if fee else "free delivery",
            "detail": f"{option['merchant']['name']} sends it {how} from {source['name']}",
            "total": money(option["total_minor"], option["currency"]), "explanation": option.get("explanation", "")}


def _kiosk(request: Request, ctx: Ctx) -> Kiosk:
    kiosk = load_kiosk(request, ctx)
    if kiosk is None:
        raise InvalidInput("This screen is not set up as a kiosk yet; a member of staff opens /store/kiosk.")
    return kiosk


def _page(request: Request, ctx: Ctx, template: str, kiosk: Kiosk, context: dict[str, Any], *,
          status: int = 200, idle: int | None = 60) -> Response:
    return kiosk_page(request, ctx, template, kiosk, context, status=status, idle=idle)


def _product(request: Request, ctx: Ctx, kiosk: Kiosk, product_id: str) -> endless_aisle.PartnerProduct:
    with ctx.read() as session:
        found = endless_aisle.partner_products(session, location_id=kiosk.location_id,
                                               merchant_id=kiosk.merchant_id, product_id=product_id, limit=1)
    if not found:
        raise NotFound("This product cannot be ordered from our partners right now.")
    return found[0]


@router.get("/store/kiosk/partner")
def partner_list(request: Request, ctx: StaffPageDep) -> Response:
    kiosk = _kiosk(request, ctx)
    visit = load_visit(request)
    with ctx.read() as session:
        products = endless_aisle.partner_products(session, location_id=kiosk.location_id,
                                                  merchant_id=kiosk.merchant_id)
    return _page(request, ctx, "store/kiosk_partner.html", kiosk, {"products": products, "visit": visit})


def _order_form(request: Request, ctx: Ctx, kiosk: Kiosk, product: endless_aisle.PartnerProduct, *,
                form: dict[str, Any], options: list[dict[str, Any]] | None = None, quote_id: str | None = None,
                error: str | None = None, status: int = 200) -> Response:
    # The kiosk has no map or geocoder: she picks one of the network's own neighbourhoods (the storefront's
    # list) and types her street, which the courier gets as written.
    with ctx.read() as session:
        areas = shopper.areas(session)
    return _page(request, ctx, "store/kiosk_partner_order.html", kiosk,
                 {"product": product, "areas": areas, "form": form, "options": options, "quote_id": quote_id,
                  "error": error, "visit": load_visit(request)}, status=status)


@router.get("/store/kiosk/partner/{product_id}")
def partner_product(request: Request, ctx: StaffPageDep, product_id: str) -> Response:
    kiosk = _kiosk(request, ctx)
    product = _product(request, ctx, kiosk, product_id[:40])
    return _order_form(request, ctx, kiosk, product, form={"area": "", "street": "", "phone": "", "quantity": 1})


@router.post("/store/kiosk/partner/{product_id}/quote")
def partner_quote(request: Request, ctx: StaffPageDep, product_id: str,
                  area: Annotated[str, Form(max_length=40)] = "", street: Annotated[str, Form(max_length=200)] = "",
                  phone: Annotated[str, Form(max_length=40)] = "",
                  quantity: Annotated[int, Form(ge=1, le=10)] = 1, csrf: Csrf = "") -> Response:
    """Where should it go: the delivery options to that address, in words."""
    check_csrf(request, csrf)
    kiosk = _kiosk(request, ctx)
    product = _product(request, ctx, kiosk, product_id[:40])
    form = {"area": area, "street": street.strip(), "phone": phone.strip(), "quantity": quantity}
    with ctx.read() as session:
        place = next((a for a in shopper.areas(session) if a.key == area), None)
    if place is None or not form["street"]:
        return _order_form(request, ctx, kiosk, product, form=form, status=422,
                           error="Choose your area and type your street address, so the courier finds you.")
    shop = shop_ctx(request)
    destination = {"latitude": place.latitude, "longitude": place.longitude,
                   "address": f"{form['street']}, {place.name}"}
    with shop.tx() as session:
        quote = fulfillment.build_quote(session, principal=STOREFRONT,
                                        items=[ItemIn(quantity=quantity, product_id=product.product_id,
                                                      merchant_id=product.merchant_id)],
                                        destination=destination, pickup_location_id=None, at=None, now=shop.now(),
                                        settings=shop.settings)
        quote_id = quote.id
        options = [option_words(o, kiosk.timezone, shop.now()) for o in quote.options if o["kind"] in HOME_KINDS]
    if not options:
        return _order_form(request, ctx, kiosk, product, form=form, status=422,
                           error=f"Sorry, {product.merchant_name} cannot deliver to {place.name} right now. "
                                 "Try another area, or ask staff.")
    return _order_form(request, ctx, kiosk, product, form=form, options=options, quote_id=quote_id)


@router.post("/store/kiosk/partner/{product_id}/order")
def partner_order(request: Request, ctx: StaffPageDep, product_id: str,
                  quote_id: Annotated[str, Form(max_length=40)] = "",
                  option_id: Annotated[str, Form(max_length=40)] = "",
                  phone: Annotated[str, Form(max_length=40)] = "", csrf: Csrf = "") -> Response:
    """Place the order with the seller (stock is reserved now) and show the wallet QR to pay it."""
    check_csrf(request, csrf)
    kiosk = _kiosk(request, ctx)
    visit = load_visit(request)
    shop = shop_ctx(request)
    now = shop.now()
    try:
        with shop.tx() as session:
            quote = fulfillment.get_quote(session, quote_id=quote_id, principal=STOREFRONT)
            option = fulfillment.quote_option(quote, option_id=option_id, now=now)
            seller = option["merchant"]["id"]
            seller_ref = None
            if visit.member_ref:
                # She showed her code to this shop; the seller knows her by its own pairwise ref.
                member_id = members.resolve_member_ref(session, merchant_id=kiosk.merchant_id,
                                                       member_ref=visit.member_ref)
                if member_id is not None:
                    seller_ref = members.member_ref_for(session, merchant_id=seller, member_id=member_id)
            order = orders.place_order(session, principal=STOREFRONT, quote_id=quote_id, option_id=option_id,
                                       member_ref=seller_ref,
                                       customer={"name": visit.member_name or "Kiosk shopper",
                                                 "phone": phone.strip()[:40], "email": ""},
                                       payment_method="wallet_qr", now=now, settings=shop.settings,
                                       referrer_merchant_id=referrer_for(session, kiosk, seller, now))
            order_id = order.id
            intent = orders.wallet_intent(session, order_id=order_id)
            intent_id = intent.id if intent is not None else None
            words = option_words(option, kiosk.timezone, now)
    except Problem as exc:
        product = _product(request, ctx, kiosk, product_id[:40])
        return _order_form(request, ctx, kiosk, product, form={"area": "", "street": "", "phone": phone,
                                                                "quantity": 1},
                           error=f"{exc.detail} Please choose the delivery again.", status=exc.status)
    if intent_id is not None:
        gateway.start(shop.db, intent_id=intent_id, now=now,
                      provider_factory=gateway.app_provider_factory(request.app.state))
    visit.partner = {"order_id": order_id, "intent_id": intent_id, "headline": words["headline"],
                     "total": words["total"], "seller": option["merchant"]["name"],
                     "titles": [line["title"] for line in option["lines"]], "paid": False}
    return save_visit(request, RedirectResponse("/store/kiosk/partner-pay", status_code=303), visit)


def referrer_for(session: Any, kiosk: Kiosk, seller: str, now: datetime) -> str | None:
    """This shop, when an accepted referral agreement lets it sell the seller's products (it earns the
    commission); otherwise the partner order is placed without a referrer."""
    if seller == kiosk.merchant_id:
        return None
    terms = network.referral_terms(session, referrer_merchant_id=kiosk.merchant_id, seller_merchant_id=seller, at=now)
    return kiosk.merchant_id if terms is not None else None


def _partner_pay_context(visit: Any, request: Request) -> dict[str, Any]:
    partner = visit.partner or {}
    shop = shop_ctx(request)
    intent = None
    if partner.get("intent_id"):
        with shop.read() as session:
            intent = payments.get_intent(session, intent_id=partner["intent_id"])
            session.expunge(intent)
    qr_svg = None
    if intent is not None and intent.status in payments.OPEN_STATUSES and intent.qr_content:
        qr_svg = segno.make(intent.qr_content, error="m").svg_inline(scale=6, title="Wallet payment QR")
    wallet = Money(intent.amount_minor, intent.currency) if intent is not None else None
    return {"partner": partner, "intent": intent, "qr_svg": qr_svg, "wallet": wallet,
            "status_url": "/store/kiosk/partner-pay/status", "cancel_url": None, "code_url": None}


@router.get("/store/kiosk/partner-pay")
def partner_pay(request: Request, ctx: StaffPageDep) -> Response:
    kiosk = _kiosk(request, ctx)
    visit = load_visit(request)
    if not visit.partner:
        return RedirectResponse("/store/kiosk/partner", status_code=303)
    if visit.partner.get("paid"):
        return RedirectResponse("/store/kiosk/partner-done", status_code=303)
    return _page(request, ctx, "store/kiosk_pay.html", kiosk,
                 {**_partner_pay_context(visit, request), "visit": visit, "error": None}, idle=180)


@router.post("/store/kiosk/partner-pay/status")
def partner_pay_status(request: Request, ctx: StaffPageDep, csrf: Csrf = "") -> Response:
    """Polled while she pays for the partner order: done when the seller's order is confirmed."""
    check_csrf(request, csrf)
    kiosk = _kiosk(request, ctx)
    visit = load_visit(request)
    partner = visit.partner
    if not partner:
        return _leave(request, "/store/kiosk/partner")
    shop = shop_ctx(request)
    if partner.get("intent_id"):
        gateway.refresh(shop.db, intent_id=partner["intent_id"], now=shop.now(),
                        provider_factory=gateway.app_provider_factory(request.app.state))
    with shop.read() as session:
        status = orders.get_order(session, order_id=partner["order_id"], principal=STOREFRONT).status
    if status in ("confirmed", "completed"):
        partner["paid"] = True
        return save_visit(request, _leave(request, "/store/kiosk/partner-done"), visit)
    if status == "cancelled":
        visit.partner = None
        return save_visit(request, _leave(request, "/store/kiosk/partner"), visit)
    if is_htmx(request):
        return _page(request, ctx, "store/kiosk_pay_status.html", kiosk, _partner_pay_context(visit, request))
    return RedirectResponse("/store/kiosk/partner-pay", status_code=303)


def _leave(request: Request, url: str) -> Response:
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


@router.get("/store/kiosk/partner-done")
def partner_done(request: Request, ctx: StaffPageDep) -> Response:
    kiosk = _kiosk(request, ctx)
    visit = load_visit(request)
    if not visit.partner or not visit.partner.get("paid"):
        return RedirectResponse("/store/kiosk/partner", status_code=303)
    done = {"kind": "partner", **visit.partner}
    return _page(request, ctx, "store/kiosk_thanks.html", kiosk, {"done": done, "visit": visit}, idle=20)


@router.post("/store/kiosk/partner-done/continue")
def partner_continue(request: Request, ctx: StaffPageDep, csrf: Csrf = "") -> Response:
    """Back to her basket in this shop after the partner order (her visit goes on)."""
    check_csrf(request, csrf)
    visit = load_visit(request)
    visit.partner = None
    target = "/store/kiosk/shop" if visit.started else "/store/kiosk"
    return save_visit(request, RedirectResponse(target, status_code=303), visit)
