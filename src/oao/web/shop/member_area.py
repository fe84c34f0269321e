"""Storefront: the member area (/shop/login, /shop/signup, /shop/me…).

The shopper's session is the members' own (cookie `oao_member`, set by
members/web.py's helpers), so logging in here also logs in on /members and the
OpenID Connect pages, and the other way round. Forms work as plain POST + 303;
htmx swaps the member code before it expires and flips consent switches in
place. Every POST carries a token bound to the member session (form field
`csrf`, or the X-CSRF-Token header htmx sends from the layout).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from oao.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from oao.deps import app_state
from oao.insights import serving as insights_serving
from oao.loyalty import service as loyalty
from oao.loyalty.models import Account, Transfer
from oao.members import codes, external_login
from oao.members import service as members
from oao.members import web as members_web
from oao.members.consents import DATA_CLASSES, DESCRIPTIONS
from oao.network import service as network
from oao.orders.points import PointsRequest
from oao.web.common import CSRF_HEADER, LoginRequired, Shopper, current_shopper, is_htmx, render
from oao.web.shop import shopper as shop_state

router = APIRouter(include_in_schema=False)

# What switching a data class on lets a merchant see, in words a shopper reads at a glance.
CONSENT_MEANING = {
    "profile.name": "Staff can greet you by name at the till and on your orders.",
    "profile.email": "They can send you receipts and offers by email.",
    "profile.phone": "They can call or message you about your orders.",
    "profile.age_band": "They see your age range (such as 25-34), never your birth date.",
    "profile.gender": "They can tailor suggestions to the gender you gave.",
    "purchase_history": "They see what you bought from them, to suggest what you may like.",
    "device_readings": "In-store devices (such as a skin scan kiosk) may keep their readings for you.",
}
STATEMENT_WORDS = {  # transfer code -> (badge, badge style, sentence)
    "earn": ("Earned", "ok", "Earned on a purchase"),
    "grant": ("Earned", "ok", "Gift"),
    "hold": ("Held", "warn", "Held for a purchase"),
    "spend": ("Spent", "info", "Spent"),
    "void": ("Released", "ok", "Hold released: the purchase did not go ahead"),
    "expire": ("Expired", "bad", "Expired"),
    "reverse": ("Reversed", "bad", "Taken back: goods returned"),
    "restore": ("Given back", "ok", "Given back: goods returned or order cancelled"),
    "convert": ("Converted", "info", "Converted between programmes"),
}


# --- session helpers -----------------------------------------------------------------------------

def _safe_next(target: str | None) -> str:
    """Only storefront and member paths, so `next` cannot send the shopper to another site."""
    if target and target.startswith(("/shop", "/members")) and "//" not in target and "\\" not in target:
        return target
    return "/shop/me"


def require_shopper(request: Request) -> Shopper:
    """The logged-in member, or a redirect to /shop/login?next=<this page>."""
    found = current_shopper(request)
    if found is None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if is_htmx(request) and request.url.path == "/shop/me/code":
            here = "/shop/me"
        raise LoginRequired(f"/shop/login?next={quote(here, safe='')}")
    return found


ShopperDep = Annotated[Shopper, Depends(require_shopper)]


def _check_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin and origin != "null" and origin.rstrip("/") != f"{request.url.scheme}://{request.url.netloc}":
        raise Forbidden("This form came from another site; open the shop and try again.")


def _check_csrf(request: Request, shopper: Shopper, submitted: str) -> None:
    expected = members_web.member_csrf(request, shopper.session_token)
    given = submitted or request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(expected, given):
        raise Forbidden("This form has expired; reload the page and try again.")


def _shell(request: Request, shopper: Shopper | None, **extra: Any) -> dict[str, Any]:
    """What the storefront shell needs, plus the member's CSRF token (the layout hands it to htmx)."""
    return {"shop_nav": "me", "member_name": shopper.name if shopper else None,
            "cart_count": shop_state.cart_count(shop_state.cart(request)),
            "csrf": members_web.member_csrf(request, shopper.session_token) if shopper else "", **extra}


def _external(request: Request) -> dict[str, Any]:
    _, _, settings = app_state(request)
    return {"external": external_login.enabled(settings), "external_name": settings.external_oidc_name}


def _local(at: datetime) -> datetime:
    return at.astimezone(ZoneInfo(shop_state.NETWORK_TZ))


def _date_words(at: datetime, now: datetime) -> str:
    local, today = _local(at), _local(now)
    if local.date() == today.date():
        return f"Today, {local:%H:%M}"
    if local.year == today.year:
        return f"{local.day} {local:%b}, {local:%H:%M}"
    return f"{local.day} {local:%b %Y}"


# --- log in, sign up, log out ----------------------------------------------------------------------

def _login_page(request: Request, *, next: str, error: str | None = None, login: str = "",
                status: int = 200) -> HTMLResponse:
    return render(request, "shop/member_login.html", {
        **_shell(request, None), **_external(request), "next": next, "error": error, "login": login,
        "external_url": f"/members/login/external?next={quote(next, safe='')}"}, status=status)


@router.get("/shop/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    if current_shopper(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, next=_safe_next(next))


def _logged_in(request: Request, token: str, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    members_web.set_session_cookie(request, response, token)
    return response


@router.post("/shop/login", response_class=HTMLResponse)
def login_submit(request: Request, login: Annotated[str, Form(max_length=254)] = "",
                 password: Annotated[str, Form(max_length=200)] = "",
                 next: Annotated[str, Form(max_length=500)] = "") -> Response:
    _check_origin(request)
    db, clock, _ = app_state(request)
    target = _safe_next(next)
    if not login.strip() or not password:
        return _login_page(request, next=target, login=login, status=422,
                           error="Enter your email or phone number and your password.")
    try:
        with db.unit_of_work() as session:
            token, _, _ = members.log_in(session, login=login, password=password, now=clock.now())
    except Unauthorized as exc:
        return _login_page(request, next=target, login=login, error=exc.detail, status=401)
    return _logged_in(request, token, target)


def _signup_page(request: Request, *, next: str, form: dict[str, str] | None = None, error: str | None = None,
                 status: int = 200) -> HTMLResponse:
    return render(request, "shop/member_signup.html", {
        **_shell(request, None), **_external(request), "next": next, "error": error,
        "form": form or {"name": "", "login": ""},
        "external_url": f"/members/login/external?next={quote(next, safe='')}"}, status=status)


@router.get("/shop/signup", response_class=HTMLResponse)
def signup_page(request: Request, next: str | None = None) -> Response:
    if current_shopper(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _signup_page(request, next=_safe_next(next))


@router.post("/shop/signup", response_class=HTMLResponse)
def signup_submit(request: Request, name: Annotated[str, Form(max_length=200)] = "",
                  login: Annotated[str, Form(max_length=254)] = "",
                  password: Annotated[str, Form(max_length=200)] = "",
                  next: Annotated[str, Form(max_length=500)] = "") -> Response:
    _check_origin(request)
    db, clock, _ = app_state(request)
    target, form = _safe_next(next), {"name": name.strip(), "login": login.strip()}
    if not form["name"] or not form["login"]:
        return _signup_page(request, next=target, form=form, status=422,
                            error="Tell us your name and an email address or phone number.")
    email, phone = (form["login"], None) if "@" in form["login"] else (None, form["login"])
    try:
        with db.unit_of_work() as session:
            member = members.sign_up(session, email=email, phone=phone, password=password, name=form["name"],
                                     now=clock.now())
            token, _ = members.start_session(session, member_id=member.id, now=clock.now())
    except (InvalidInput, Conflict) as exc:
        return _signup_page(request, next=target, form=form, error=exc.detail, status=exc.status)
    return _logged_in(request, token, target)


@router.post("/shop/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    db, clock, _ = app_state(request)
    shopper = current_shopper(request)
    if shopper is not None:
        _check_csrf(request, shopper, csrf)
        with db.unit_of_work() as session:
            members.log_out(session, token=shopper.session_token, now=clock.now())
    response = RedirectResponse("/shop", status_code=303)
    members_web.clear_session_cookie(response)
    return response


# --- the member's card -----------------------------------------------------------------------------

def _member_code(request: Request, shopper: Shopper) -> dict[str, Any]:
    """A fresh one-time member code, drawn as QR and Code 128, and when to fetch the next one."""
    db, clock, settings = app_state(request)
    with db.unit_of_work() as session:
        issued = members.issue_member_code(session, member_id=shopper.member_id, now=clock.now(),
                                           settings=settings)
    seconds = max(int((issued.expires_at - clock.now()).total_seconds()), 1)
    return {"code": issued.code, "code_groups": " ".join(issued.code[i:i + 6] for i in range(0, len(issued.code), 6)),
            "qr_svg": _scalable_qr(codes.qr_image(issued.code, "svg").decode()),
            "barcode_svg": _scalable_barcode(codes.barcode_image(issued.code, "svg").decode()),
            "seconds_left": seconds, "refresh_in": max(seconds - 5, 3),
            "valid_until": f"{_local(issued.expires_at):%H:%M:%S}"}


MM = 96 / 25.4  # CSS px per millimetre
_SIZE = re.compile(r'<svg([^>]*?) width="([0-9.]+)(mm)?" height="([0-9.]+)(mm)?"')


def _inline(svg: str) -> str:
    """The <svg> element alone (no XML prolog or DOCTYPE, which mean nothing inside HTML)."""
    return svg[svg.find("<svg"):]


def _scalable_qr(svg: str) -> str:
    """The QR with a viewBox, so CSS can size it for the screen (segno writes a fixed size)."""
    return _SIZE.sub(lambda m: f'<svg{m.group(1)} viewBox="0 0 {m.group(2)} {m.group(4)}"', _inline(svg), count=1)


def _scalable_barcode(svg: str) -> str:
    """The Code 128 bars alone, scalable: the code is printed in groups below it, so the
    barcode's own small caption is cropped (bars run from 1 mm to 13 mm down the drawing)."""
    svg = re.sub(r"<text[^>]*>.*?</text>", "", _inline(svg), flags=re.S)
    return _SIZE.sub(lambda m: f'<svg{m.group(1)} viewBox="0 0 {float(m.group(2)) * MM:.1f} {14 * MM:.1f}" '
                               'preserveAspectRatio="none"', svg, count=1)


@dataclass(frozen=True)
class Card:
    programme_id: str
    name: str
    points: int
    worth: str
    held: int
    tier: str | None
    expiry: str | None  # "1,200 points expire on 3 Dec 2027"
    network: bool


def _cards(session: Session, member_id: str, now: datetime) -> list[Card]:
    out = []
    for b in loyalty.balances(session, member_id=member_id, now=now):
        expiry = None
        if b.next_expiry_at is not None and b.next_expiry_points:
            local = _local(b.next_expiry_at)
            expiry = f"{b.next_expiry_points:,} points expire on {local.day} {local:%b %Y}"
        out.append(Card(programme_id=b.programme_id, name=b.programme_name, points=b.available,
                        worth=shop_state.money(b.value_minor, b.currency), held=b.held, tier=b.tier, expiry=expiry,
                        network=b.merchant_id is None))
    return out


@router.get("/shop/me", response_class=HTMLResponse)
def me_page(request: Request, shopper: ShopperDep) -> HTMLResponse:
    db, clock, _ = app_state(request)
    code = _member_code(request, shopper)
    with db.read() as session:
        cards = _cards(session, shopper.member_id, clock.now())
        shared = len(members.list_consents(session, member_id=shopper.member_id, now=clock.now()))
        linked = members.list_identities(session, member_id=shopper.member_id)
    return render(request, "shop/me.html", {**_shell(request, shopper), **_external(request), **code,
                                            "cards": cards, "shared": shared, "linked": bool(linked),
                                            "greeting": _greeting(clock.now())})


def _greeting(now: datetime) -> str:
    hour = _local(now).hour
    return "Good morning" if 5 <= hour < 12 else "Good afternoon" if 12 <= hour < 18 else "Good evening"


@router.get("/shop/me/code", response_class=HTMLResponse)
def me_code(request: Request, shopper: ShopperDep) -> HTMLResponse:
    """The member code card alone: htmx swaps it in before the shown code expires."""
    return render(request, "shop/me_code.html", {**_shell(request, shopper), **_member_code(request, shopper)},
                  headers={"Cache-Control": "no-store"})


# --- points statement ------------------------------------------------------------------------------

def _merchant_names(session: Session) -> dict[str, str]:
    return {m.id: m.name for m in network.list_merchants(session, merchant_id=None)}


def _counterparts(session: Session, transfer_ids: list[str], member_id: str) -> dict[str, str | None]:
    """Transfer id -> owner of the account on the other side (a merchant id, "network", or None).

    A read-only query for this page: the statement says how many points moved, this says with whom.
    """
    if not transfer_ids:
        return {}
    rows = session.execute(select(Transfer.id, Transfer.pending_id, Transfer.debit_account_id,
                                  Transfer.credit_account_id).where(Transfer.id.in_(transfer_ids))).all()
    pending = [r.pending_id for r in rows if r.pending_id]
    held = {r.id: r for r in session.execute(select(Transfer.id, Transfer.debit_account_id,
                                                    Transfer.credit_account_id)
                                             .where(Transfer.id.in_(pending))).all()} if pending else {}
    account_ids = {a for r in [*rows, *held.values()] for a in (r.debit_account_id, r.credit_account_id) if a}
    accounts = {a.id: a for a in session.scalars(select(Account).where(Account.id.in_(account_ids)))}
    out: dict[str, str | None] = {}
    for r in rows:
        source = held.get(r.pending_id, r) if r.pending_id else r
        other = next((accounts.get(a) for a in (source.debit_account_id, source.credit_account_id)
                      if a in accounts and not (accounts[a].kind == "member" and accounts[a].owner_key == member_id)),
                     None)
        out[r.id] = other.owner_key if other is not None and other.kind in ("issuance", "redemption") else None
    return out


def _statement(session: Session, member_id: str, programme_id: str, now: datetime) -> list[dict[str, Any]]:
    lines = loyalty.statement(session, member_id=member_id, programme_id=programme_id, limit=200)
    names = _merchant_names(session)
    other = _counterparts(session, [line.transfer_id for line in lines], member_id)
    rows = []
    for line in reversed(lines):  # newest first
        badge, tone, words = STATEMENT_WORDS.get(line.code, (line.code.title(), "info", line.code.title()))
        owner = other.get(line.transfer_id)
        where = names.get(owner or "", "the Hangzhou network" if owner == "network" else "")
        ref = line.reference or ""
        how = "online order" if "ord_" in ref else "in store" if line.code in ("earn", "hold", "spend") else ""
        if line.code == "grant" and ref:
            words = ref[:1].upper() + ref[1:]
        rows.append({"when": _date_words(line.at, now), "badge": badge, "tone": tone, "words": words,
                     "where": " · ".join(p for p in (where, how) if p), "points": line.points,
                     "balance": line.balance_after})
    return rows


@router.get("/shop/me/points/{programme_id}", response_class=HTMLResponse)
def points_page(request: Request, programme_id: str, shopper: ShopperDep) -> HTMLResponse:
    db, clock, _ = app_state(request)
    with db.read() as session:
        try:
            programme = loyalty.get_programme(session, programme_id=programme_id[:40])
        except NotFound:
            raise NotFound("No such points card; open it from your member page.") from None
        card = next((c for c in _cards(session, shopper.member_id, clock.now())
                     if c.programme_id == programme.id), None)
        rows = _statement(session, shopper.member_id, programme.id, clock.now())
        shown = {"name": programme.name, "merchant_id": programme.merchant_id}
    return render(request, "shop/me_points.html", {**_shell(request, shopper), "programme": shown,
                                                   "card": card, "rows": rows})


# --- consents ---------------------------------------------------------------------------------------

def _switch(merchant_id: str, merchant_name: str, data_class: str, on: bool) -> dict[str, Any]:
    label = DESCRIPTIONS[data_class]
    return {"merchant_id": merchant_id, "merchant_name": merchant_name, "data_class": data_class, "on": on,
            "title": label[:1].upper() + label[1:], "meaning": CONSENT_MEANING.get(data_class, ""),
            "aria": f"Share {label} with {merchant_name}", "dom_id": f"c-{merchant_id}-{data_class}".replace(".", "-")}


def _consent_groups(session: Session, member_id: str, now: datetime,
                    open_id: str | None = None) -> list[dict[str, Any]]:
    """One group of switches per merchant (open when something is shared, or just changed)."""
    current: dict[str, set[str]] = {}
    for c in members.list_consents(session, member_id=member_id, now=now):
        current.setdefault(c.merchant_id, set()).add(c.data_class)
    groups = []
    for m in sorted(network.list_merchants(session, merchant_id=None), key=lambda m: m.name):
        on = current.get(m.id, set())
        groups.append({"id": m.id, "name": m.name, "count": len(on), "total": len(DATA_CLASSES),
                       "open": bool(on) or m.id == open_id,
                       "switches": [_switch(m.id, m.name, c, c in on) for c in DATA_CLASSES]})
    return groups


@router.get("/shop/me/consents", response_class=HTMLResponse)
def consents_page(request: Request, shopper: ShopperDep, done: str = "", merchant: str = "") -> HTMLResponse:
    db, clock, _ = app_state(request)
    with db.read() as session:
        groups = _consent_groups(session, shopper.member_id, clock.now(), open_id=merchant[:40] or None)
    return render(request, "shop/me_consents.html", {**_shell(request, shopper), "groups": groups,
                                                     "message": done[:200] if done else None})


@router.post("/shop/me/consents", response_class=HTMLResponse)
def consents_change(request: Request, shopper: ShopperDep, merchant_id: Annotated[str, Form(max_length=40)] = "",
                    data_class: Annotated[str, Form(max_length=40)] = "",
                    share: Annotated[str, Form(max_length=5)] = "", csrf: Annotated[str, Form(max_length=100)] = ""
                    ) -> Response:
    """Switch one data class on or off for one merchant (form POST + 303, or an htmx swap of the switch)."""
    _check_csrf(request, shopper, csrf)
    if data_class not in DATA_CLASSES or share not in ("on", "off"):
        raise InvalidInput("Choose a merchant and what to share.")
    db, clock, _ = app_state(request)
    with db.unit_of_work() as session:
        merchant = network.get_merchant(session, merchant_id=merchant_id)
        change = members.grant_consents if share == "on" else members.withdraw_consents
        change(session, member_id=shopper.member_id, merchant_id=merchant.id, data_classes=[data_class],
               now=clock.now(), source="shop")
        name = merchant.name
        group = next(g for g in _consent_groups(session, shopper.member_id, clock.now()) if g["id"] == merchant.id)
    switch = _switch(merchant_id, name, data_class, share == "on")
    message = (f"{name} can now see {DESCRIPTIONS[data_class]}." if share == "on"
               else f"{name} no longer sees {DESCRIPTIONS[data_class]}.")
    if is_htmx(request):
        return render(request, "shop/me_consent_switch.html", {**_shell(request, shopper), "s": switch,
                                                               "message": message, "g": group, "oob": True})
    return RedirectResponse(f"/shop/me/consents?done={quote(message)}&merchant={quote(merchant_id)}"
                            f"#{switch['dom_id']}", status_code=303)


# --- suggestions (insights) -------------------------------------------------------------------------

@router.get("/shop/me/suggestions", response_class=HTMLResponse)
def suggestions_page(request: Request, shopper: ShopperDep) -> HTMLResponse:
    """"For you" and "Due soon" at each shop she shares her purchase history with (nothing without it)."""
    db, clock, _ = app_state(request)
    now = clock.now()
    shops = []
    with db.read() as session:
        names = _merchant_names(session)
        for merchant_id in insights_serving.member_merchants_with_suggestions(session, member_id=shopper.member_id,
                                                                              now=now):
            lists = {kind: insights_serving.recommend(session, merchant_id=merchant_id, location=None,
                                                      member_id=shopper.member_id, kind=kind, limit=6, now=now,
                                                      channel="online").items
                     for kind in ("for_you", "due_soon")}
            if lists["for_you"] or lists["due_soon"]:
                shops.append({"name": names.get(merchant_id, ""), **lists})
    return render(request, "shop/me_suggestions.html", {**_shell(request, shopper), "shops": shops})


# --- paying with points at checkout ------------------------------------------------------------------

def points_options_for(request: Request, *, total_minor: int, currency: str,
                       merchant_ids: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The logged-in shopper's points that can pay (part of) a total in `currency`, for shop/_pay_with_points.html.

    Only programmes every seller in `merchant_ids` accepts are offered (the network card everywhere, a
    merchant's own points there, a partner's under a points agreement), at the value they pay there, so
    whichever option she picks the points are good. Each option: programme_id, name, balance_points,
    max_amount_minor (what the points may pay: all she has, at most the total), currency, and `max_amount` /
    `balance_worth` in words. Empty when not logged in.
    """
    shopper = current_shopper(request)
    if shopper is None or total_minor <= 0:
        return []
    db, clock, _ = app_state(request)
    sellers = sorted(set(merchant_ids))
    out = []
    with db.read() as session:
        for b in loyalty.balances(session, member_id=shopper.member_id):
            if b.currency != currency or b.available <= 0:
                continue
            programme = loyalty.get_programme(session, programme_id=b.programme_id)
            values = [loyalty.accepted_value(session, programme=programme, accepting_merchant_id=m, at=clock.now())
                      for m in sellers]
            if any(v is None for v in values):
                continue
            worth = min((v.value_of(b.available) for v in values if v is not None), default=b.value_minor)
            top = min(total_minor, worth)  # value_of rounds down, so the points always suffice
            if top < 1:
                continue
            out.append({"programme_id": b.programme_id, "name": b.programme_name, "balance_points": b.available,
                        "max_amount_minor": top, "currency": b.currency,
                        "max_amount": shop_state.money(top, currency),
                        "max_amount_plain": f"{Decimal(top) / 100:.2f}", "covers_total": top >= total_minor,
                        "balance_worth": shop_state.money(worth, b.currency)})
    return out


def points_request_from_form(*, points_programme: str, points_amount: str = "", points_amount_minor: str = "",
                             total_minor: int | None = None) -> PointsRequest | None:
    """The checkout form's points choice as `place_order(points=...)`; None when the shopper chose none.

    `points_amount` is what the shopper typed in yuan ("50" or "50.00"); `points_amount_minor`, if sent,
    wins (an integer in minor units). With `total_minor` (the chosen option's total) a larger amount is
    cut to the total: the shopper typed "all my points" for an order that costs less. A malformed or
    non-positive amount is a 422 with a message for her.
    """
    if not points_programme:
        return None
    raw = (points_amount_minor or "").strip()
    try:
        if raw:
            minor = int(raw)
        else:
            yuan = Decimal((points_amount or "").strip().lstrip("¥").replace(",", ""))
            if yuan != yuan.quantize(Decimal("0.01")):
                raise InvalidOperation
            minor = int(yuan * 100)
    except (InvalidOperation, ValueError):
        raise InvalidInput("Type the amount to pay with points, like 50 or 50.00.") from None
    if minor < 1:
        raise InvalidInput("Type an amount of at least ¥0.01 to pay with points, or choose not to use points.")
    if total_minor is not None:
        minor = min(minor, total_minor)
    return PointsRequest(programme_id=points_programme[:40], amount_minor=minor)
