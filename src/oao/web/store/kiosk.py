"""Store console: kiosk mode (S3), a full-screen self-service page at a kiosk or self-checkout register.

Staff open /store/kiosk once with their own login and choose the register;
from then on the screen serves shoppers unattended:

1. attract screen: scan the member code (a scanner types it into a focused
   field) or continue as a guest;
2. greeting with the name she shares with this merchant and her points,
   suggestions (this store's best sellers, or what is in stock here), a basket
   priced at the register's channel and the points it will earn here;
3. self-checkout: optionally part in points (a points hold), the rest by
   wallet (a counter wallet payment shown as a QR, or her payment code); the
   page polls until the wallet has paid, then records the sale through
   `pos.service.record_sale` with her member ref, so the loyalty worker earns
   her points once;
4. thank-you, and back to the attract screen (also after 60 s without a
   touch: kiosk.js posts /store/kiosk/reset, which voids what was under way).

The endless aisle ("Order from our partner") lives in `kiosk_partner`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from oao.core.errors import InvalidInput, Problem
from oao.core.money import Money
from oao.deps import Ctx
from oao.loyalty import service as loyalty
from oao.members import service as members
from oao.network import service as network
from oao.payments import gateway
from oao.payments import service as payments
from oao.pos import bestsellers
from oao.pos import service as pos
from oao.pos.service import ScannedLine
from oao.pos.tenders import Tender
from oao.web.common import StaffPageDep, check_csrf, is_htmx
from oao.web.store import kiosk_partner, kiosk_suggestions
from oao.web.store.kiosk_basket import earn_preview, price_basket, sellable_product
from oao.web.store.kiosk_state import (
    KIOSK_KINDS,
    MAX_LINES,
    MAX_QUANTITY,
    Kiosk,
    Visit,
    clear_register,
    clear_visit,
    kiosk_page,
    load_kiosk,
    load_visit,
    save_register_id,
    save_visit,
)

router = APIRouter(include_in_schema=False)
router.include_router(kiosk_partner.router)

PAYING_IDLE_SECONDS = 180  # she is busy on her phone, not touching the kiosk
THANKS_SECONDS = 20
Csrf = Annotated[str, Form(max_length=200)]


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _hx_redirect(request: Request, url: str) -> Response:
    """Leave the page: a full navigation for htmx, a 303 for a plain form."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return _see_other(url)


@dataclass(frozen=True)
class KioskRegister:
    id: str
    name: str
    kind: str
    store_name: str


def kiosk_registers(session: Session, ctx: Ctx) -> list[KioskRegister]:
    """Kiosk and self-checkout registers the staff member may run, with their store names."""
    principal = ctx.principal
    registers = [r for r in pos.list_registers(session, principal=principal, location_id=principal.location_id)
                 if r.kind in KIOSK_KINDS]
    names = {loc.id: loc.name for loc in network.locations_by_ids(session,
                                                                   location_ids={r.location_id for r in registers})}
    return [KioskRegister(id=r.id, name=r.name, kind=r.kind, store_name=names.get(r.location_id, ""))
            for r in registers]


@dataclass(frozen=True)
class MemberPoints:
    available: int
    programme_id: str
    programme: str
    value_minor: int  # what `available` pays for


def member_points(session: Session, *, merchant_id: str, member_ref: str | None, now) -> MemberPoints | None:  # noqa: ANN001
    """The network points of the member behind this ref (the card every merchant accepts)."""
    if member_ref is None:
        return None
    member_id = members.resolve_member_ref(session, merchant_id=merchant_id, member_ref=member_ref)
    if member_id is None:
        return None
    cards = loyalty.balances(session, member_id=member_id, now=now)
    card = next((b for b in cards if b.merchant_id is None), None)
    if card is None:
        return None
    return MemberPoints(available=card.available, programme_id=card.programme_id, programme=card.programme_name,
                        value_minor=card.value_minor)


def _basket_context(session: Session, kiosk: Kiosk, visit: Visit, now) -> dict[str, Any]:  # noqa: ANN001
    basket = price_basket(session, merchant_id=kiosk.merchant_id, location_id=kiosk.location_id,
                          register_kind=kiosk.register_kind, basket=visit.basket, currency=kiosk.currency)
    points = member_points(session, merchant_id=kiosk.merchant_id, member_ref=visit.member_ref, now=now)
    max_points = 0
    if points is not None and basket.total_minor > 0:
        needed = loyalty.points_needed(session, programme_id=points.programme_id, amount_minor=basket.total_minor)
        max_points = min(points.available, needed)
    return {"basket": basket, "earn": earn_preview(session, merchant_id=kiosk.merchant_id,
                                                   register_kind=kiosk.register_kind, basket=basket),
            "points": points, "max_points": max_points, "visit": visit}


# --- setup and attract -------------------------------------------------------------------------

@router.get("/store/kiosk")
def kiosk_home(request: Request, ctx: StaffPageDep) -> Response:
    kiosk = load_kiosk(request, ctx)
    if kiosk is None:
        with ctx.read() as session:
            registers = kiosk_registers(session, ctx)
        return kiosk_page(request, ctx, "store/kiosk_setup.html", None, {"registers": registers}, idle=None)
    visit = load_visit(request)
    if visit.checkout:
        return _see_other("/store/kiosk/pay")
    if visit.started:
        return _see_other("/store/kiosk/shop")
    return kiosk_page(request, ctx, "store/kiosk_attract.html", kiosk, {"error": None}, idle=None)


@router.post("/store/kiosk/setup")
def kiosk_setup(request: Request, ctx: StaffPageDep, register_id: Annotated[str, Form(max_length=40)] = "",
                csrf: Csrf = "") -> Response:
    check_csrf(request, csrf)
    with ctx.read() as session:
        allowed = {r.id for r in kiosk_registers(session, ctx)}
    if register_id not in allowed:
        raise InvalidInput("Choose one of this store's kiosk or self-checkout registers.")
    return clear_visit(save_register_id(request, _see_other("/store/kiosk"), register_id))


@router.post("/store/kiosk/exit")
def kiosk_exit(request: Request, ctx: StaffPageDep, csrf: Csrf = "") -> Response:
    """Staff take the screen out of kiosk mode (back to choosing a register)."""
    check_csrf(request, csrf)
    _abandon(request, ctx, load_visit(request))
    return clear_register(clear_visit(_see_other("/store/kiosk")))


def _require_kiosk(request: Request, ctx: Ctx) -> Kiosk:
    kiosk = load_kiosk(request, ctx)
    if kiosk is None:
        raise InvalidInput("This screen is not set up as a kiosk yet; a member of staff opens /store/kiosk "
                           "and chooses the kiosk register.")
    return kiosk


@router.post("/store/kiosk/member")
def scan_member(request: Request, ctx: StaffPageDep, code: Annotated[str, Form(max_length=80)] = "",
                csrf: Csrf = "") -> Response:
    """She scanned her member code: recognise her (the name she shares with us, her points)."""
    check_csrf(request, csrf)
    kiosk = _require_kiosk(request, ctx)
    try:
        with ctx.tx() as session:
            redeemed = members.redeem_member_code(session, code=code, merchant_id=kiosk.merchant_id,
                                                  now=ctx.now(), settings=ctx.settings)
    except Problem as exc:
        return kiosk_page(request, ctx, "store/kiosk_attract.html", kiosk,
                     {"error": f"{exc.detail} You can also continue as a guest."}, status=exc.status, idle=None)
    name = redeemed.profile.get("name")
    visit = Visit(member_ref=redeemed.member_ref, member_name=str(name) if name else None)
    return save_visit(request, _see_other("/store/kiosk/shop"), visit)


@router.post("/store/kiosk/guest")
def continue_as_guest(request: Request, ctx: StaffPageDep, csrf: Csrf = "") -> Response:
    check_csrf(request, csrf)
    _require_kiosk(request, ctx)
    return save_visit(request, _see_other("/store/kiosk/shop"), Visit(guest=True))


def _abandon(request: Request, ctx: Ctx, visit: Visit) -> bool:
    """Give back what an unfinished checkout holds: cancel its wallet payment, release its points.

    If the wallet took the money meanwhile, the sale is recorded instead (she paid, so she bought it);
    returns True then.
    """
    checkout = visit.checkout
    if not checkout:
        return False
    if checkout.get("intent_id"):
        factory = gateway.app_provider_factory(request.app.state)
        intent = gateway.refresh(ctx.db, intent_id=checkout["intent_id"], now=ctx.now(), provider_factory=factory)
        if intent.status == "succeeded":
            kiosk = load_kiosk(request, ctx)
            if kiosk is not None:
                _record(ctx, kiosk, visit)
                return True
        try:
            gateway.cancel(ctx.db, intent_id=checkout["intent_id"], now=ctx.now(), principal=ctx.principal,
                           reason="the shopper left the kiosk", provider_factory=factory)
        except Problem:
            pass  # paid at the very last moment: staff refund it from the payments list
    if checkout.get("hold_id"):
        try:
            with ctx.tx() as session:
                loyalty.void_hold(session, hold_id=checkout["hold_id"], now=ctx.now())
        except Problem:
            pass  # already voided or expired
    return False


@router.post("/store/kiosk/reset")
def reset(request: Request, ctx: StaffPageDep, csrf: Csrf = "") -> Response:
    """Start over (her "Done" / "Start over", or kiosk.js after a minute without a touch)."""
    check_csrf(request, csrf)
    _abandon(request, ctx, load_visit(request))
    return clear_visit(_hx_redirect(request, "/store/kiosk"))


# --- shopping ---------------------------------------------------------------------------------

def _shop(request: Request, ctx: Ctx, kiosk: Kiosk, visit: Visit, *, error: str | None = None,
          status: int = 200) -> Response:
    with ctx.read() as session:
        context = _basket_context(session, kiosk, visit, ctx.now())
        if is_htmx(request):
            return kiosk_page(request, ctx, "store/kiosk_basket.html", kiosk, {**context, "error": error},
                         status=status)
        suggestions = bestsellers.store_suggestions(session, location_id=kiosk.location_id,
                                                    merchant_id=kiosk.merchant_id,
                                                    channel=pos.channel_for(kiosk.register_kind), now=ctx.now())
        personal = kiosk_suggestions.personal_sections(
            session, merchant_id=kiosk.merchant_id, location_id=kiosk.location_id, member_ref=visit.member_ref,
            skin_type=visit.skin_type, channel=pos.channel_for(kiosk.register_kind), now=ctx.now())
    return kiosk_page(request, ctx, "store/kiosk_shop.html", kiosk,
                 {**context, "suggestions": suggestions, "personal": personal,
                  "skin_types": kiosk_suggestions.SKIN_TYPES, "error": error}, status=status)


@router.get("/store/kiosk/shop")
def shop(request: Request, ctx: StaffPageDep) -> Response:
    kiosk = load_kiosk(request, ctx)
    visit = load_visit(request)
    if kiosk is None or not visit.started:
        return _see_other("/store/kiosk")
    if visit.checkout:
        return _see_other("/store/kiosk/pay")
    return _shop(request, ctx, kiosk, visit)


@router.post("/store/kiosk/skin")
def skin_scan(request: Request, ctx: StaffPageDep, skin_type: Annotated[str, Form(max_length=20)] = "",
              csrf: Csrf = "") -> Response:
    """The skin sensor's reading (here: the shopper taps her skin type): suggestions that fit it, this visit only."""
    check_csrf(request, csrf)
    _require_kiosk(request, ctx)
    visit = load_visit(request)
    if not visit.started:
        return _see_other("/store/kiosk")
    visit.skin_type = skin_type if skin_type in kiosk_suggestions.SKIN_TYPES else None
    return save_visit(request, _see_other("/store/kiosk/shop"), visit)


def _change_basket(request: Request, ctx: Ctx, gtin: str, quantity: int | None, delta: int) -> Response:
    kiosk = _require_kiosk(request, ctx)
    visit = load_visit(request)
    if not visit.started:
        return _hx_redirect(request, "/store/kiosk")
    if visit.checkout:
        return _hx_redirect(request, "/store/kiosk/pay")
    try:
        with ctx.read() as session:
            product = sellable_product(session, merchant_id=kiosk.merchant_id, gtin=gtin)
            shelf = bestsellers.available_here(session, location_id=kiosk.location_id).get(product.id, 0)
            session.expunge(product)  # read below, after the read transaction ended
        current = visit.basket.get(product.gtin, 0)
        wanted = quantity if quantity is not None else current + delta
        if wanted > 0 and product.gtin not in visit.basket and len(visit.basket) >= MAX_LINES:
            raise InvalidInput(f"A kiosk basket holds up to {MAX_LINES} different products.")
        if wanted > MAX_QUANTITY:
            raise InvalidInput(f"Up to {MAX_QUANTITY} of one product at the kiosk; ask staff for more.")
        if wanted > shelf:
            raise InvalidInput(f"Only {shelf} of {product.title} left on our shelves." if shelf
                               else f"{product.title} is sold out here. Try “Order from our partner”.")
    except InvalidInput as exc:
        return save_visit(request, _shop(request, ctx, kiosk, visit, error=exc.detail, status=422), visit)
    if wanted <= 0:
        visit.basket.pop(product.gtin, None)
    else:
        visit.basket[product.gtin] = wanted
    response = _shop(request, ctx, kiosk, visit) if is_htmx(request) else _see_other("/store/kiosk/shop")
    return save_visit(request, response, visit)


@router.post("/store/kiosk/basket/add")
def add_to_basket(request: Request, ctx: StaffPageDep, gtin: Annotated[str, Form(max_length=40)] = "",
                  csrf: Csrf = "") -> Response:
    """A tap on a product, or a scanned barcode: one more of it."""
    check_csrf(request, csrf)
    return _change_basket(request, ctx, gtin, None, +1)


@router.post("/store/kiosk/basket/set")
def set_quantity(request: Request, ctx: StaffPageDep, gtin: Annotated[str, Form(max_length=40)] = "",
                 quantity: Annotated[int, Form(ge=0, le=999)] = 0, csrf: Csrf = "") -> Response:
    """Change a line's quantity (0 removes it)."""
    check_csrf(request, csrf)
    return _change_basket(request, ctx, gtin, quantity, 0)


# --- self-checkout ----------------------------------------------------------------------------

@router.post("/store/kiosk/checkout")
def checkout(request: Request, ctx: StaffPageDep, points: Annotated[int, Form(ge=0, le=10**9)] = 0,
             csrf: Csrf = "") -> Response:
    """Hold the points she spends, open the wallet payment for the rest, and show its QR."""
    check_csrf(request, csrf)
    kiosk = _require_kiosk(request, ctx)
    visit = load_visit(request)
    if visit.checkout:
        return _see_other("/store/kiosk/pay")
    if not visit.basket:
        return _see_other("/store/kiosk/shop" if visit.started else "/store/kiosk")
    sale_id = f"kiosk-{secrets.token_hex(10)}"
    now = ctx.now()
    try:
        with ctx.tx() as session:
            context = _basket_context(session, kiosk, visit, now)
            basket, card = context["basket"], context["points"]
            points = min(points, context["max_points"]) if card is not None else 0
            points_minor, hold_id = 0, None
            if points > 0:
                hold_id = f"{sale_id}-pts"
                member_id = members.require_member_ref(session, merchant_id=kiosk.merchant_id,
                                                       member_ref=visit.member_ref or "")
                loyalty.hold_points(session, hold_id=hold_id, member_id=member_id, programme_id=card.programme_id,
                                    points=points, accepting_merchant_id=kiosk.merchant_id, now=now)
                points_minor = loyalty.points_value_minor(session, programme_id=card.programme_id, points=points)
            wallet_minor = basket.total_minor - points_minor
            intent_id = None
            if wallet_minor > 0:
                intent = payments.open_counter_payment(
                    session, principal=ctx.principal, location_id=kiosk.location_id, amount_minor=wallet_minor,
                    currency=basket.currency, flow="merchant_qr", provider=ctx.settings.payment_provider,
                    expires_at=gateway.counter_expiry(ctx.settings, "merchant_qr", now), now=now,
                    register_id=kiosk.register_id)
                intent_id = intent.id
    except InvalidInput as exc:
        return save_visit(request, _shop(request, ctx, kiosk, visit, error=exc.detail, status=422), visit)
    visit.checkout = {"sale_id": sale_id, "lines": [[g, q] for g, q in visit.basket.items()],
                      "total_minor": basket.total_minor, "currency": basket.currency, "points": points,
                      "points_minor": points_minor, "hold_id": hold_id, "wallet_minor": wallet_minor,
                      "intent_id": intent_id}
    if intent_id is None:  # her points pay it all
        return _finish(request, ctx, kiosk, visit)
    gateway.start(ctx.db, intent_id=intent_id, now=now,
                  provider_factory=gateway.app_provider_factory(request.app.state))
    return save_visit(request, _see_other("/store/kiosk/pay"), visit)


def _pay_context(ctx: Ctx, visit: Visit) -> dict[str, Any]:
    checkout = visit.checkout or {}
    intent = None
    if checkout.get("intent_id"):
        with ctx.read() as session:
            intent = payments.get_visible_intent(session, intent_id=checkout["intent_id"], principal=ctx.principal)
            session.expunge(intent)
    qr_svg = None
    if intent is not None and intent.status in payments.OPEN_STATUSES and intent.qr_content:
        qr_svg = segno.make(intent.qr_content, error="m").svg_inline(scale=6, title="Wallet payment QR")
    return {"checkout": checkout, "intent": intent, "qr_svg": qr_svg,
            "wallet": Money(checkout.get("wallet_minor", 0), checkout.get("currency", "CNY")),
            "status_url": "/store/kiosk/pay/status", "cancel_url": "/store/kiosk/pay/cancel",
            "code_url": "/store/kiosk/pay/code"}


@router.get("/store/kiosk/pay")
def pay_page(request: Request, ctx: StaffPageDep) -> Response:
    kiosk = load_kiosk(request, ctx)
    visit = load_visit(request)
    if kiosk is None or not visit.checkout:
        return _see_other("/store/kiosk")
    return kiosk_page(request, ctx, "store/kiosk_pay.html", kiosk, {**_pay_context(ctx, visit), "visit": visit,
                                                                  "error": None}, idle=PAYING_IDLE_SECONDS)


@router.post("/store/kiosk/pay/status")
def pay_status(request: Request, ctx: StaffPageDep, csrf: Csrf = "") -> Response:
    """Polled while she pays: records the sale the moment the wallet says it is paid."""
    check_csrf(request, csrf)
    kiosk = _require_kiosk(request, ctx)
    visit = load_visit(request)
    checkout = visit.checkout
    if not checkout:
        return _hx_redirect(request, "/store/kiosk")
    intent = gateway.refresh(ctx.db, intent_id=checkout["intent_id"], now=ctx.now(),
                             provider_factory=gateway.app_provider_factory(request.app.state))
    if intent.status == "succeeded":
        return _finish(request, ctx, kiosk, visit)
    if intent.status == "canceled":  # timed out: release her points, back to the basket
        _abandon(request, ctx, visit)
        visit.checkout = None
        response = _hx_redirect(request, "/store/kiosk/shop")
        return save_visit(request, response, visit)
    if is_htmx(request):
        return kiosk_page(request, ctx, "store/kiosk_pay_status.html", kiosk, _pay_context(ctx, visit))
    return _see_other("/store/kiosk/pay")


@router.post("/store/kiosk/pay/code")
def pay_with_code(request: Request, ctx: StaffPageDep, auth_code: Annotated[str, Form(max_length=64)] = "",
                  csrf: Csrf = "") -> Response:
    """She shows her wallet's payment code instead of scanning ours: charge that code."""
    check_csrf(request, csrf)
    kiosk = _require_kiosk(request, ctx)
    visit = load_visit(request)
    checkout = visit.checkout
    if not checkout or not checkout.get("intent_id"):
        return _see_other("/store/kiosk")
    if not auth_code.strip():
        return kiosk_page(request, ctx, "store/kiosk_pay.html", kiosk, {**_pay_context(ctx, visit), "visit": visit,
                     "error": "Scan the payment code shown in your wallet app."}, status=422,
                     idle=PAYING_IDLE_SECONDS)
    factory = gateway.app_provider_factory(request.app.state)
    # The QR she did not use is cancelled first, so the one payment cannot be taken twice.
    try:
        gateway.cancel(ctx.db, intent_id=checkout["intent_id"], now=ctx.now(), principal=ctx.principal,
                       reason="paid with a payment code instead", provider_factory=factory)
    except Problem:
        if gateway.refresh(ctx.db, intent_id=checkout["intent_id"], now=ctx.now(),
                           provider_factory=factory).status == "succeeded":
            return _finish(request, ctx, kiosk, visit)  # she had just paid by the QR after all
        raise
    now = ctx.now()
    with ctx.tx() as session:
        intent = payments.open_counter_payment(
            session, principal=ctx.principal, location_id=kiosk.location_id, amount_minor=checkout["wallet_minor"],
            currency=checkout["currency"], flow="payment_code", provider=ctx.settings.payment_provider,
            expires_at=gateway.counter_expiry(ctx.settings, "payment_code", now), now=now,
            register_id=kiosk.register_id)
        intent_id = intent.id
    checkout["intent_id"] = intent_id
    intent = gateway.start(ctx.db, intent_id=intent_id, now=now, provider_factory=factory, auth_code=auth_code.strip())
    if intent.status == "succeeded":
        return _finish(request, ctx, kiosk, visit)
    return save_visit(request, _see_other("/store/kiosk/pay"), visit)


@router.post("/store/kiosk/pay/cancel")
def cancel_payment(request: Request, ctx: StaffPageDep, csrf: Csrf = "") -> Response:
    """Back to the basket: the wallet payment is cancelled and her points are released."""
    check_csrf(request, csrf)
    visit = load_visit(request)
    if _abandon(request, ctx, visit):
        return save_visit(request, _see_other("/store/kiosk/thanks"), visit)
    visit.checkout = None
    return save_visit(request, _see_other("/store/kiosk/shop" if visit.started else "/store/kiosk"), visit)


def _finish(request: Request, ctx: Ctx, kiosk: Kiosk, visit: Visit) -> Response:
    """Record the paid sale and say thank you."""
    _record(ctx, kiosk, visit)
    return save_visit(request, _hx_redirect(request, "/store/kiosk/thanks"), visit)


def _record(ctx: Ctx, kiosk: Kiosk, visit: Visit) -> None:
    """Record the paid sale (once: a second poll replays it by its sale id); the visit keeps its receipt."""
    checkout = visit.checkout or {}
    tenders = []
    if checkout.get("hold_id"):
        tenders.append(Tender("points", checkout["points_minor"], checkout["hold_id"]))
    if checkout.get("intent_id"):
        tenders.append(Tender("wallet", checkout["wallet_minor"], checkout["intent_id"]))
    now = ctx.now()
    with ctx.tx() as session:
        sale, _ = pos.record_sale(session, principal=ctx.principal, sale_id=checkout["sale_id"],
                                  register_id=kiosk.register_id,
                                  lines=[ScannedLine(gtin, quantity) for gtin, quantity in checkout["lines"]],
                                  tenders=tenders, member_ref=visit.member_ref, now=now)
        receipt = pos.receipt(session, sale=sale)
        basket = price_basket(session, merchant_id=kiosk.merchant_id, location_id=kiosk.location_id,
                              register_kind=kiosk.register_kind,
                              basket={line.gtin: line.quantity for line in receipt.lines}, currency=receipt.currency)
        earned = earn_preview(session, merchant_id=kiosk.merchant_id, register_kind=kiosk.register_kind,
                              basket=basket) if visit.member_ref else None
    visit.done = {"kind": "sale", "receipt_number": receipt.receipt_number, "sale_id": receipt.id,
                  "total_minor": receipt.total_minor, "currency": receipt.currency, "item_count": basket.items,
                  "points_spent": checkout.get("points", 0), "wallet_minor": checkout.get("wallet_minor", 0),
                  "points_earned": earned.points if earned else 0,
                  "programme": earned.programme if earned else "",
                  "boost": earned.multiplier_words if earned and earned.boosted else ""}
    visit.checkout, visit.basket = None, {}


@router.get("/store/kiosk/thanks")
def thanks(request: Request, ctx: StaffPageDep) -> Response:
    kiosk = load_kiosk(request, ctx)
    visit = load_visit(request)
    if kiosk is None or not visit.done:
        return _see_other("/store/kiosk")
    return kiosk_page(request, ctx, "store/kiosk_thanks.html", kiosk, {"done": visit.done, "visit": visit},
                 idle=THANKS_SECONDS)
