"""Open a shop in the browser, the same day (S13): /join and its checklist.

/join             sign up: the merchant, its first admin, logged in at once
/join/steps       the checklist: 1 first store, 2 products, 3 QR codes, 4 first sale
/join/store       step 1: the store (an area of the network or typed coordinates) and its counter register
/join/products    step 2: adopt products of the shared catalog (GTINs or titles) with price and stock,
                  or import a CSV in the dashboard
/join/qr          step 3: the store's pickup QR and payment QR on one printable sheet
/shop/at/{id}     where the pickup QR points: the storefront, as seen from that store
Step 4 is the till (/store/pos), which works for a merchant admin as it is.

The sign-up form has no staff session yet, so it carries a double-submit token
(cookie + field) and is refused from another origin; every later form uses the
staff session's CSRF token like the dashboard.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
from typing import Annotated, Any
from zoneinfo import available_timezones

import segno
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from oao.catalog import shared_catalog
from oao.core.errors import Conflict, Forbidden, InvalidInput, InvalidState, NotFound
from oao.core.geo import valid_coordinates
from oao.core.money import CURRENCY_EXPONENTS
from oao.deps import Ctx
from oao.network import onboarding
from oao.network import service as network
from oao.payments import api as payments_api
from oao.web.common import STAFF_COOKIE, AdminPageDep, ShopDep, check_csrf, render, request_scope, sign, signed_ok
from oao.web.console.common import amount_text, money, to_minor
from oao.web.shop import shopper

router = APIRouter(include_in_schema=False)

FORM_COOKIE = "oao_join_form"  # the sign-up form's double-submit token
DEFAULTS_COOKIE = "oao_join"  # time zone and city given at sign-up, defaults of the store form
CURRENCIES = ("CNY", "HKD", "USD", "EUR", "GBP", "JPY", "SGD", "KRW")
TIMEZONES = ("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo", "Asia/Seoul",
             "Europe/London", "Europe/Berlin", "America/New_York", "UTC")
DEFAULT_CITY = "Hangzhou"
STEP_TITLES = {"store": "Open your first store", "products": "Add the products you sell",
               "qr": "Print your QR codes", "sale": "Make your first sale"}
SUGGESTED_STOCK = 10


# --- small helpers ------------------------------------------------------------------------------------

def _merchant_of(ctx: Ctx) -> str:
    merchant_id = ctx.principal.merchant_id
    if merchant_id is None:
        raise Forbidden("The shop checklist is for a merchant's admin; network admins use the dashboard.")
    return merchant_id


def _defaults(request: Request) -> dict[str, str]:
    raw = request.cookies.get(DEFAULTS_COOKIE, "")
    payload, _, tag = raw.partition(".")
    if not signed_ok(request, "join-defaults", payload, tag):
        return {"timezone": "Asia/Shanghai", "city": DEFAULT_CITY}
    try:
        value = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        value = {}
    return {"timezone": str(value.get("timezone") or "Asia/Shanghai"), "city": str(value.get("city") or "")}


def _pack_defaults(request: Request, timezone: str, city: str) -> str:
    payload = base64.urlsafe_b64encode(json.dumps({"timezone": timezone, "city": city[:60]}).encode()
                                       ).rstrip(b"=").decode()
    return f"{payload}.{sign(request, 'join-defaults', payload)}"


def _secure(request: Request) -> bool:
    return request_scope(request).settings.public_url.startswith("https://")


def _store_of(session: Any, ctx: Ctx, location_id: str | None) -> Any:
    """The store a step is about: the one asked for (the merchant's own), else its first store."""
    merchant_id = _merchant_of(ctx)
    if location_id:
        location = network.get_location(session, location_id=location_id[:40])
        ctx.principal.ensure_merchant(location.merchant_id, "location", location_id)
        return location
    stores = network.list_locations(session, merchant_id=merchant_id, kinds=["store"])
    return stores[0] if stores else None


def _svg(content: str, title: str) -> str:
    """A QR as an inline, scalable <svg> (a viewBox and no fixed size: print CSS sizes it)."""
    return segno.make(content, error="m").svg_inline(scale=1, border=2, omitsize=True, title=title,
                                                      svgclass="qr-code")


def pickup_url(request: Request, location_id: str) -> str:
    return request_scope(request).settings.public_url.rstrip("/") + f"/shop/at/{location_id}"


# --- sign up -----------------------------------------------------------------------------------------

def _join_page(request: Request, form: dict[str, str], errors: dict[str, str], token: str,
               status: int = 200) -> HTMLResponse:
    response = render(request, "onboarding/join.html", {
        "form": form, "errors": errors, "form_token": token, "currencies": CURRENCIES, "timezones": TIMEZONES},
        status=status)
    response.set_cookie(FORM_COOKIE, token, httponly=True, samesite="strict", path="/join", secure=_secure(request))
    return response


@router.get("/join", response_class=HTMLResponse)
def join_page(request: Request) -> HTMLResponse:
    token = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(24)
    return _join_page(request, {"currency": "CNY", "timezone": "Asia/Shanghai", "city": DEFAULT_CITY}, {}, token)


def _check_form_token(request: Request, submitted: str) -> None:
    origin = request.headers.get("origin")
    if origin and origin != "null" and origin.rstrip("/") != f"{request.url.scheme}://{request.url.netloc}":
        raise Forbidden("This form came from another site; open the sign-up page and try again.")
    expected = request.cookies.get(FORM_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, submitted):
        raise Forbidden("This form has expired; reload the sign-up page and try again.")


class _FormErrors(Exception):
    """Leaves the sign-up transaction (writing nothing) with what to fix."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("form errors")
        self.errors = errors


@router.post("/join", response_class=HTMLResponse)
def join(request: Request, shop_name: Annotated[str, Form(max_length=300)] = "",
         your_name: Annotated[str, Form(max_length=300)] = "", email: Annotated[str, Form(max_length=300)] = "",
         password: Annotated[str, Form(max_length=300)] = "", currency: Annotated[str, Form(max_length=3)] = "CNY",
         timezone: Annotated[str, Form(max_length=64)] = "Asia/Shanghai",
         city: Annotated[str, Form(max_length=100)] = "", slug: Annotated[str, Form(max_length=100)] = "",
         form_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    form = {"shop_name": shop_name, "your_name": your_name, "email": email, "currency": currency,
            "timezone": timezone, "city": city, "slug": slug}
    try:
        _check_form_token(request, form_token)
    except Forbidden as exc:
        return _join_page(request, form, {"form": exc.detail}, secrets.token_urlsafe(24), status=403)
    scope = request_scope(request)
    try:
        with scope.tx() as session:
            errors = onboarding.check_sign_up(session, shop_name=shop_name, your_name=your_name, email=email,
                                              password=password, currency=currency, slug=slug)
            if timezone not in available_timezones():
                errors["timezone"] = "Pick your time zone from the list."
            if errors:
                raise _FormErrors(errors)
            onboarding.sign_up(session, shop_name=shop_name, your_name=your_name, email=email, password=password,
                               currency=currency, slug=slug, now=scope.now())
            token, _, expires = network.log_in(session, email=email, password=password, now=scope.now())
    except _FormErrors as exc:
        return _join_page(request, form, exc.errors, form_token, status=422)
    except (Conflict, InvalidInput) as exc:  # a twin sign-up won the race for the email or the name
        return _join_page(request, form, {"form": exc.detail}, form_token, status=409)
    response = RedirectResponse("/join/steps", status_code=303)
    response.set_cookie(STAFF_COOKIE, token, max_age=int((expires - scope.now()).total_seconds()), httponly=True,
                        samesite="lax", path="/", secure=_secure(request))
    response.set_cookie(DEFAULTS_COOKIE, _pack_defaults(request, timezone, city.strip()), max_age=30 * 86400,
                        httponly=True, samesite="lax", path="/join", secure=_secure(request))
    response.delete_cookie(FORM_COOKIE, path="/join")
    return response


# --- the checklist -----------------------------------------------------------------------------------

@router.get("/join/steps", response_class=HTMLResponse)
def steps_page(request: Request, ctx: AdminPageDep) -> HTMLResponse:
    merchant_id = _merchant_of(ctx)
    with ctx.read() as session:
        merchant = network.get_merchant(session, merchant_id=merchant_id)
        progress = onboarding.progress(session, merchant_id=merchant_id)
        first = progress.stores[0] if progress.stores else None
        return render(request, "onboarding/steps.html", {
            "merchant": merchant, "progress": progress, "steps": progress.steps, "titles": STEP_TITLES,
            "store": first, "onboarding_nav": "steps"}, ctx=ctx)


# --- step 1: the store -------------------------------------------------------------------------------

def _store_page(request: Request, ctx: Ctx, form: dict[str, str], errors: dict[str, str],
                status: int = 200) -> HTMLResponse:
    with ctx.read() as session:
        areas = shopper.areas(session)
        merchant = network.get_merchant(session, merchant_id=_merchant_of(ctx))
        return render(request, "onboarding/store.html", {
            "form": form, "errors": errors, "areas": areas, "presets": onboarding.HOURS_PRESETS,
            "timezones": TIMEZONES, "merchant": merchant, "onboarding_nav": "store"}, ctx=ctx, status=status)


@router.get("/join/store", response_class=HTMLResponse)
def store_page(request: Request, ctx: AdminPageDep) -> HTMLResponse:
    defaults = _defaults(request)
    with ctx.read() as session:
        merchant = network.get_merchant(session, merchant_id=_merchant_of(ctx))
        name = merchant.name
    return _store_page(request, ctx, {"name": name, "timezone": defaults["timezone"], "hours": "daily_8_20",
                                      "accepts_pickups": "on", "city": defaults["city"], "where": "area"}, {})


def parse_store_form(form: dict[str, str], areas: list[shopper.Area]) -> tuple[dict[str, Any], dict[str, str]]:
    """(arguments of onboarding.open_store, {field: error}) from the store form."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {"name": form.get("name", "").strip(), "address": form.get("address", "").strip(),
                           "timezone": form.get("timezone", ""), "hours_preset": form.get("hours", ""),
                           "accepts_pickups": bool(form.get("accepts_pickups"))}
    if not out["name"]:
        errors["name"] = "Give the store a name shoppers will recognise."
    elif len(out["name"]) > 200:
        errors["name"] = "A store name has at most 200 characters."
    if len(out["address"]) > 300:
        errors["address"] = "An address has at most 300 characters."
    if out["timezone"] not in TIMEZONES and out["timezone"] not in available_timezones():
        errors["timezone"] = "Pick the store's time zone from the list."
    if out["hours_preset"] not in onboarding.HOURS_PRESETS:
        errors["hours"] = "Pick the opening hours from the list."
    if form.get("where") == "coordinates":
        try:
            lat, lon = float(form.get("latitude", "").strip()), float(form.get("longitude", "").strip())
        except ValueError:
            lat, lon = 999.0, 999.0
        if not valid_coordinates(lat, lon):
            errors["coordinates"] = "Write latitude and longitude as numbers, such as 30.2585 and 120.1660."
        out["latitude"], out["longitude"] = lat, lon
    else:
        area = next((a for a in areas if a.key == form.get("area")), None)
        if area is None:
            errors["area"] = "Pick the area your store is in, or give its coordinates."
        else:
            out["latitude"], out["longitude"] = area.latitude, area.longitude
            if not out["address"]:
                out["address"] = ", ".join(p for p in (area.name, area.district, form.get("city", "").strip()) if p)
    return out, errors


@router.post("/join/store", response_class=HTMLResponse)
async def create_store(request: Request, ctx: AdminPageDep) -> Response:
    raw = await request.form()
    form = {key: str(value)[:300] for key, value in raw.items() if isinstance(value, str)}
    check_csrf(request, form.get("csrf"))
    with ctx.read() as session:
        areas = shopper.areas(session)
    args, errors = parse_store_form(form, areas)
    if errors:
        return _store_page(request, ctx, form, errors, status=422)
    try:
        with ctx.tx() as session:
            opened = onboarding.open_store(session, principal=ctx.principal, now=ctx.now(), **args)
            location_id = opened.location.id
    except (InvalidInput, InvalidState) as exc:
        return _store_page(request, ctx, form, {"form": exc.detail}, status=422)
    return RedirectResponse(f"/join/products?location={location_id}&opened=1", status_code=303)


# --- step 2: products --------------------------------------------------------------------------------

def _products_page(request: Request, ctx: Ctx, *, q: str, location_id: str | None, errors: dict[str, str],
                   entered: dict[str, dict[str, str]] | None = None, added: int = 0, opened: bool = False,
                   status: int = 200) -> HTMLResponse:
    with ctx.read() as session:  # rendered inside: the rows expire when the read ends
        merchant = network.get_merchant(session, merchant_id=_merchant_of(ctx))
        store = _store_of(session, ctx, location_id)
        found = shared_catalog.search_shared(session, q=q, merchant_id=merchant.id, currency=merchant.currency)
        progress = onboarding.progress(session, merchant_id=merchant.id)
        exp = CURRENCY_EXPONENTS.get(merchant.currency, 2)
        currency = merchant.currency
        return render(request, "onboarding/products.html", {
            "merchant": merchant, "store": store, "stores": progress.stores, "q": q, "found": found,
            "errors": errors, "entered": entered or {}, "added": added, "opened": opened, "progress": progress,
            "money": lambda minor: money(minor, currency), "amount": lambda minor: amount_text(minor, currency),
            "price_step": "1" if exp == 0 else "0." + "0" * (exp - 1) + "1", "suggested_stock": SUGGESTED_STOCK,
            "onboarding_nav": "products"}, ctx=ctx, status=status)


@router.get("/join/products", response_class=HTMLResponse)
def products_page(request: Request, ctx: AdminPageDep, q: Annotated[str, Query(max_length=1000)] = "",
                  location: Annotated[str, Query(max_length=40)] = "", added: int = 0,
                  opened: int = 0) -> HTMLResponse:
    return _products_page(request, ctx, q=q, location_id=location or None, errors={}, added=max(added, 0),
                          opened=bool(opened))


def parse_adoptions(form: dict[str, str], currency: str) -> tuple[list[onboarding.Adoption], dict[str, str],
                                                                   dict[str, dict[str, str]]]:
    """(picks, {product_id: error}, what was typed per product) from the ticked rows of the form.

    Rows are `pick_<product id>` (the tick), `price_<id>` and `stock_<id>`; an unticked row is ignored
    whatever its fields say, so a price typed by mistake adopts nothing."""
    picks: list[onboarding.Adoption] = []
    errors: dict[str, str] = {}
    entered: dict[str, dict[str, str]] = {}
    for key in form:
        if not key.startswith("pick_"):
            continue
        product_id = key.removeprefix("pick_")[:40]
        price_text, stock_text = form.get(f"price_{product_id}", ""), form.get(f"stock_{product_id}", "") or "0"
        entered[product_id] = {"pick": "on", "price": price_text, "stock": stock_text}
        try:
            price = to_minor(price_text, currency)
            if price <= 0:
                raise ValueError("Give a price above zero.")
        except ValueError as exc:
            errors[product_id] = str(exc) if price_text.strip() else "Give your price for this product."
            continue
        if not stock_text.strip().isdigit() or int(stock_text) > onboarding.MAX_OPENING_STOCK:
            errors[product_id] = f"Opening stock is a whole number from 0 to {onboarding.MAX_OPENING_STOCK:,}."
            continue
        picks.append(onboarding.Adoption(product_id=product_id, price_minor=price, opening_stock=int(stock_text)))
    return picks, errors, entered


@router.post("/join/products", response_class=HTMLResponse)
async def adopt(request: Request, ctx: AdminPageDep) -> Response:
    raw = await request.form()
    form = {key: str(value)[:1000] for key, value in raw.items() if isinstance(value, str)}
    check_csrf(request, form.get("csrf"))
    q, location_id = form.get("q", ""), form.get("location", "")
    with ctx.read() as session:
        merchant = network.get_merchant(session, merchant_id=_merchant_of(ctx))
        store = _store_of(session, ctx, location_id or None)
        currency, store_id = merchant.currency, (store.id if store is not None else None)
    if store_id is None:
        return _products_page(request, ctx, q=q, location_id=None, status=422,
                              errors={"form": "Open your store first: stock is counted per store."})
    picks, errors, entered = parse_adoptions(form, currency)
    if not picks and not errors:
        errors["form"] = "Tick the products you sell, then give each one your price."
    if errors:
        return _products_page(request, ctx, q=q, location_id=store_id, errors=errors, entered=entered, status=422)
    try:
        with ctx.tx() as session:
            onboarding.adopt_products(session, principal=ctx.principal, location_id=store_id, picks=picks,
                                      now=ctx.now())
    except (InvalidInput, NotFound) as exc:
        return _products_page(request, ctx, q=q, location_id=store_id, errors={"form": exc.detail},
                              entered=entered, status=422)
    return RedirectResponse(f"/join/products?location={store_id}&added={len(picks)}", status_code=303)


# --- step 3: QR codes --------------------------------------------------------------------------------

@router.get("/join/qr", response_class=HTMLResponse)
def qr_page(request: Request, ctx: AdminPageDep, location: Annotated[str, Query(max_length=40)] = "") -> Response:
    with ctx.read() as session:
        store = _store_of(session, ctx, location or None)
        if store is None:
            return RedirectResponse("/join/store", status_code=303)
        store_id = store.id
    # The same payload as GET /api/v1/payments/stall-qr/{location}.svg: one function makes both.
    payment = payments_api.stall_qr(store_id, ctx, "5499").payload
    url = pickup_url(request, store_id)
    with ctx.read() as session:  # rendered inside: the rows expire when the read ends
        merchant = network.get_merchant(session, merchant_id=_merchant_of(ctx))
        store = network.get_location(session, location_id=store_id)
        stores = network.list_locations(session, merchant_id=merchant.id, kinds=["store"])
        return render(request, "onboarding/qr.html", {
            "merchant": merchant, "store": store, "stores": stores, "pickup_url": url,
            "pickup_svg": _svg(url, f"Order online, collect at {store.name}"),
            "payment_svg": _svg(payment, f"Pay {merchant.name}"), "payment_payload": payment,
            "onboarding_nav": "qr"}, ctx=ctx)


@router.post("/join/qr/printed")
def qr_printed(request: Request, ctx: AdminPageDep, csrf: Annotated[str, Form(max_length=200)] = "",
               location: Annotated[str, Form(max_length=40)] = "") -> Response:
    check_csrf(request, csrf)
    with ctx.tx() as session:
        store = _store_of(session, ctx, location or None)
        if store is None:
            return RedirectResponse("/join/store", status_code=303)
        onboarding.mark_qr_printed(session, principal=ctx.principal, location_id=store.id, now=ctx.now())
    return RedirectResponse("/join/steps", status_code=303)


# --- where the pickup QR points ----------------------------------------------------------------------

@router.get("/shop/at/{location_id}")
def shop_at(request: Request, location_id: str, ctx: ShopDep) -> Response:
    """The storefront as seen from this store: shoppers who scan its QR see what they can order there."""
    with ctx.read() as session:
        location = network.get_location(session, location_id=location_id[:40])
        if not location.active:
            raise NotFound(f"No location {location_id!r}.")
        latitude, longitude, name = location.latitude, location.longitude, location.name
    response = RedirectResponse("/shop", status_code=303)
    shopper.remember_where(request, response, latitude=latitude, longitude=longitude, label=name)
    return response
