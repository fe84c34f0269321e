"""Storefront: the member's connected devices and their reorder rules (/shop/me/devices, S9).

She adds a device and sees its credential once (rendered in the answer to her POST, never put
in a URL or stored: only its hash is kept), edits what each device may reorder (threshold,
quantity, monthly cap, how to receive it and pay, on/off), and reads what her devices reported
and what came of it. Forms are plain POST + 303 with the member CSRF token, like the rest of the
member area; the rules themselves are checked by devices.service and its messages shown here.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from oao.catalog import service as catalog
from oao.core.errors import Conflict, Forbidden, InvalidInput, InvalidState
from oao.deps import app_state
from oao.devices import service as devices
from oao.devices.models import DEVICE_KINDS, UNITS, Device, DeviceEvent, ReorderRule
from oao.devices.rules import REASON_WORDS
from oao.members import web as members_web
from oao.network import service as network
from oao.web.common import CSRF_HEADER, Shopper, render
from oao.web.shop import shopper as shop_state
from oao.web.shop.member_area import ShopperDep

router = APIRouter(include_in_schema=False)

KIND_WORDS = {"washing_machine": "Washing machine", "dishwasher": "Dishwasher", "coffee_machine": "Coffee machine",
              "printer": "Printer", "water_filter": "Water filter", "pet_feeder": "Pet feeder",
              "button": "One-press button", "other": "Other device"}
FULFILLMENT_WORDS = {"delivery": "Delivered to my address", "pickup": "I pick it up at a store",
                     "ship": "Shipped to my address"}
PAYMENT_WORDS = {"in_person": "Pay at pickup or on delivery", "points": "Pay with my points only",
                 "points_or_in_person": "Points if I have enough, else pay in person"}
MAX_PRODUCTS = 200  # a shop's offers listed in the product choice (one page of catalog.list_offers)
Text = Annotated[str, Form(max_length=300)]


def _check_csrf(request: Request, shopper: Shopper, submitted: str) -> None:
    expected = members_web.member_csrf(request, shopper.session_token)
    if not hmac.compare_digest(expected, submitted or request.headers.get(CSRF_HEADER, "")):
        raise Forbidden("This form has expired; reload the page and try again.")


def _shell(request: Request, shopper: Shopper, **extra: Any) -> dict[str, Any]:
    return {"shop_nav": "me", "member_name": shopper.name,
            "cart_count": shop_state.cart_count(shop_state.cart(request)),
            "csrf": members_web.member_csrf(request, shopper.session_token), **extra}


def _when(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "never"
    tz = ZoneInfo(shop_state.NETWORK_TZ)
    local, today = at.astimezone(tz), now.astimezone(tz)
    return f"today {local:%H:%M}" if local.date() == today.date() else f"{local.day} {local:%b}, {local:%H:%M}"


def _event_view(e: DeviceEvent, devices_by_id: dict[str, Device], titles: dict[str, str],
                rules_by_id: dict[str, ReorderRule], now: datetime) -> dict[str, Any]:
    device = devices_by_id.get(e.device_id)
    rule = rules_by_id.get(e.rule_id or "")
    what = (f"level {e.level} {device.unit if device else ''}".strip() if e.kind == "reading" and e.consumed is None
            else f"used {e.consumed}, {e.level} left" if e.kind == "reading" else "button pressed")
    return {"device": device.name if device else e.device_id, "what": what, "when": _when(e.received_at, now),
            "ordered": e.outcome == "ordered", "reason": e.reason,
            "words": e.detail or REASON_WORDS.get(e.reason, e.reason),
            "product": titles.get(rule.product_id, "") if rule else "", "order_id": e.order_id,
            "total": shop_state.money(e.total_minor, e.currency) if e.total_minor is not None and e.currency else ""}


def _activity(session: Session, member_id: str, now: datetime, device_id: str | None = None,
              limit: int = 20) -> list[dict[str, Any]]:
    events = devices.list_events(session, member_id=member_id, device_id=device_id, limit=limit)
    owned = {d.id: d for d in devices.list_devices(session, member_id=member_id)}
    rules = {r.id: r for d in owned.values() for r in devices.list_rules(session, device_id=d.id)}
    titles = devices.product_titles(session, product_ids=[r.product_id for r in rules.values()])
    return [_event_view(e, owned, titles, rules, now) for e in events]


def _shops(session: Session) -> list[dict[str, str]]:
    return [{"id": m.id, "name": m.name} for m in sorted(network.list_merchants(session, merchant_id=None),
                                                         key=lambda m: m.name)]


def _list_page(request: Request, shopper: Shopper, *, credential: str | None = None, new_device: str | None = None,
               error: str | None = None, form: dict[str, str] | None = None, status: int = 200,
               message: str | None = None) -> HTMLResponse:
    db, clock, _ = app_state(request)
    with db.read() as session:
        owned = devices.list_devices(session, member_id=shopper.member_id)
        names = {s["id"]: s["name"] for s in _shops(session)}
        rows = [{"id": d.id, "name": d.name, "kind": KIND_WORDS.get(d.kind, d.kind), "shop": names.get(d.merchant_id),
                 "revoked": d.revoked_at is not None, "seen": _when(d.last_seen_at, clock.now()),
                 "rules": len(devices.list_rules(session, device_id=d.id))} for d in owned]
        context = {"devices": rows, "shops": _shops(session), "kinds": KIND_WORDS, "units": UNITS,
                   "activity": _activity(session, shopper.member_id, clock.now())}
    headers = {"Cache-Control": "no-store"} if credential else None
    return render(request, "shop/me_devices.html", {
        **_shell(request, shopper), **context, "credential": credential, "new_device": new_device, "error": error,
        "message": message, "form": form or {"name": "", "kind": "washing_machine", "merchant_id": "",
                                             "unit": "percent"}}, status=status, headers=headers)


@router.get("/shop/me/devices", response_class=HTMLResponse)
def devices_page(request: Request, shopper: ShopperDep, done: str = "") -> HTMLResponse:
    return _list_page(request, shopper, message=done[:200] or None)


@router.post("/shop/me/devices", response_class=HTMLResponse)
def add_device(request: Request, shopper: ShopperDep, name: Annotated[str, Form(max_length=100)] = "",
               kind: Annotated[str, Form(max_length=30)] = "", merchant_id: Annotated[str, Form(max_length=40)] = "",
               unit: Annotated[str, Form(max_length=20)] = "percent",
               csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    _check_csrf(request, shopper, csrf)
    form = {"name": name.strip(), "kind": kind, "merchant_id": merchant_id, "unit": unit}
    if kind not in DEVICE_KINDS or not merchant_id or not form["name"]:
        return _list_page(request, shopper, form=form, status=422,
                          error="Give the device a name, say what it is and choose the shop it orders from.")
    db, clock, _ = app_state(request)
    try:
        with db.unit_of_work() as session:
            device, credential = devices.register_device(session, member_id=shopper.member_id, name=form["name"],
                                                         kind=kind, merchant_id=merchant_id, unit=unit,
                                                         now=clock.now())
            device_id = device.id
    except (InvalidInput, Conflict) as exc:
        return _list_page(request, shopper, form=form, error=exc.detail, status=exc.status)
    # The only time the credential is shown: in this answer, not behind a redirect.
    return _list_page(request, shopper, credential=credential, new_device=device_id, status=201)


# --- one device and its rules ----------------------------------------------------------------------

def _yuan(minor: int | None) -> str:
    return "" if minor is None else f"{Decimal(minor) / 100:.2f}".removesuffix(".00")


def _rule_view(rule: ReorderRule, titles: dict[str, str], places: dict[str, str]) -> dict[str, Any]:
    return {"id": rule.id, "product_id": rule.product_id, "product": titles.get(rule.product_id, rule.product_id),
            "quantity": rule.quantity, "threshold": "" if rule.threshold is None else rule.threshold,
            "capacity": "" if rule.capacity is None else rule.capacity, "cap": _yuan(rule.monthly_cap_minor),
            "cap_words": shop_state.money(rule.monthly_cap_minor, rule.currency) if rule.monthly_cap_minor
            else "no cap", "fulfillment": rule.fulfillment, "pickup_location_id": rule.pickup_location_id or "",
            "place": places.get(rule.pickup_location_id or "", "") if rule.fulfillment == "pickup"
            else rule.address or "", "address": rule.address or "", "payment": rule.payment,
            "min_gap_hours": rule.min_gap_hours, "enabled": rule.enabled,
            "level": "" if rule.level is None else rule.level}


def _device_page(request: Request, shopper: Shopper, device_id: str, *, error: str | None = None,
                 error_rule: str | None = None, status: int = 200, message: str | None = None,
                 form: dict[str, Any] | None = None) -> HTMLResponse:
    db, clock, _ = app_state(request)
    with db.read() as session:
        device = devices.get_device(session, member_id=shopper.member_id, device_id=device_id[:40])
        offers, _ = catalog.list_offers(session, merchant_id=device.merchant_id, limit=MAX_PRODUCTS)
        titles = devices.product_titles(session, product_ids=[o.product_id for o in offers if o.active])
        stores = {loc.id: loc.name for loc in network.list_locations(session, merchant_id=device.merchant_id)
                  if loc.accepts_pickups}
        rules = [_rule_view(r, titles, stores) for r in devices.list_rules(session, device_id=device.id)]
        shown = {"id": device.id, "name": device.name, "kind": KIND_WORDS.get(device.kind, device.kind),
                 "unit": device.unit, "button": device.kind == "button", "revoked": device.revoked_at is not None,
                 "shop": network.get_merchant(session, merchant_id=device.merchant_id).name,
                 "hint": device.secret_hint, "seen": _when(device.last_seen_at, clock.now())}
        activity = _activity(session, shopper.member_id, clock.now(), device_id=device.id)
    if form is not None and error_rule not in (None, "new"):
        # The rule she was editing shows what she typed, beside the message saying what to fix.
        rules = [{**r, **form, "enabled": form["enabled"] == "on"} if r["id"] == error_rule else r for r in rules]
    products = sorted(titles.items(), key=lambda item: item[1].lower())
    new_rule = {"product_id": "", "quantity": 1, "threshold": "" if shown["button"] else 20, "capacity": "", "cap": "",
                "fulfillment": "delivery", "pickup_location_id": "", "address": "", "payment": "in_person",
                "min_gap_hours": 24, "enabled": True}
    if error_rule == "new" and form is not None:
        new_rule = form
    return render(request, "shop/me_device.html", {
        **_shell(request, shopper), "device": shown, "rules": rules, "products": products, "stores": stores,
        "fulfillments": FULFILLMENT_WORDS, "payments": PAYMENT_WORDS, "activity": activity, "error": error,
        "error_rule": error_rule, "message": message, "new_rule": new_rule}, status=status)


@router.get("/shop/me/devices/{device_id}", response_class=HTMLResponse)
def device_page(request: Request, device_id: str, shopper: ShopperDep, done: str = "") -> HTMLResponse:
    return _device_page(request, shopper, device_id, message=done[:200] or None)


def _whole(raw: str, label: str, *, optional: bool) -> int | None:
    raw = raw.strip()
    if not raw:
        if optional:
            return None
        raise InvalidInput(f"Fill in the {label}.")
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidInput(f"The {label} is a whole number, like 20.")
    return int(raw)


def _cap_minor(raw: str) -> int | None:
    raw = raw.strip().lstrip("¥").replace(",", "")
    if not raw:
        return None
    try:
        yuan = Decimal(raw)
    except InvalidOperation:
        raise InvalidInput("Type the monthly cap in yuan, like 200 or 199.50, or leave it empty for no cap.") from None
    if yuan != yuan.quantize(Decimal("0.01")) or yuan <= 0 or yuan > 1_000_000:
        raise InvalidInput("Type the monthly cap in yuan, like 200 or 199.50, or leave it empty for no cap.")
    return int(yuan * 100)


def _rule_values(request: Request, session: Session, form: dict[str, str],
                 current_address: str | None = None) -> dict[str, Any]:
    """The form in the service's terms; an address is found among the network's areas and streets (an
    address left as it was keeps its place, which may have come from the API with exact coordinates)."""
    values: dict[str, Any] = {
        "quantity": _whole(form["quantity"], "quantity", optional=False),
        "threshold": _whole(form["threshold"], "reorder level", optional=True),
        "capacity": _whole(form["capacity"], "full level", optional=True),
        "monthly_cap_minor": _cap_minor(form["cap"]), "fulfillment": form["fulfillment"],
        "payment": form["payment"], "min_gap_hours": _whole(form["min_gap_hours"], "gap between orders",
                                                            optional=False),
        "enabled": form["enabled"] == "on", "pickup_location_id": form["pickup_location_id"] or None,
    }
    typed = form["address"].strip()
    if form["fulfillment"] in ("delivery", "ship") and not (current_address and typed == current_address):
        area = shop_state.match_address(session, typed) if typed else None
        if area is None:
            where = shop_state.where(request, session)
            if typed or not where.chosen:
                raise InvalidInput("We could not find that address; type a street or area of Hangzhou such as "
                                   "\"Hubin\" or \"Pinghai Road\".")
            values.update(address=where.label, latitude=where.latitude, longitude=where.longitude)
        else:
            values.update(address=typed, latitude=area.latitude, longitude=area.longitude)
    return values


RuleForm = dict[str, str]


def _rule_form(product_id: str, quantity: str, threshold: str, capacity: str, cap: str, fulfillment: str,
               pickup_location_id: str, address: str, payment: str, min_gap_hours: str, enabled: str) -> RuleForm:
    return {"product_id": product_id, "quantity": quantity, "threshold": threshold, "capacity": capacity, "cap": cap,
            "fulfillment": fulfillment, "pickup_location_id": pickup_location_id, "address": address,
            "payment": payment, "min_gap_hours": min_gap_hours, "enabled": enabled}


@router.post("/shop/me/devices/{device_id}/rules", response_class=HTMLResponse)
def add_rule(request: Request, device_id: str, shopper: ShopperDep, product_id: Text = "", quantity: Text = "1",
             threshold: Text = "", capacity: Text = "", cap: Text = "", fulfillment: Text = "delivery",
             pickup_location_id: Text = "", address: Text = "", payment: Text = "in_person",
             min_gap_hours: Text = "24", enabled: Text = "", csrf: Text = "") -> Response:
    _check_csrf(request, shopper, csrf)
    form = _rule_form(product_id, quantity, threshold, capacity, cap, fulfillment, pickup_location_id, address,
                      payment, min_gap_hours, enabled)
    db, clock, _ = app_state(request)
    try:
        with db.unit_of_work() as session:
            values = _rule_values(request, session, form)
            rule = devices.add_rule(session, member_id=shopper.member_id, device_id=device_id[:40],
                                    values={"product_id": product_id, **values}, now=clock.now())
            rule_id = rule.id
    except (InvalidInput, Conflict, InvalidState) as exc:
        return _device_page(request, shopper, device_id, error=exc.detail, error_rule="new", status=exc.status,
                            form={**form, "enabled": form["enabled"] == "on"})
    return RedirectResponse(f"/shop/me/devices/{device_id}?done={quote('Reorder rule added.')}#rule-{rule_id}",
                            status_code=303)


@router.post("/shop/me/devices/{device_id}/rules/{rule_id}", response_class=HTMLResponse)
def edit_rule(request: Request, device_id: str, rule_id: str, shopper: ShopperDep, quantity: Text = "1",
              threshold: Text = "", capacity: Text = "", cap: Text = "", fulfillment: Text = "delivery",
              pickup_location_id: Text = "", address: Text = "", payment: Text = "in_person",
              min_gap_hours: Text = "24", enabled: Text = "", csrf: Text = "") -> Response:
    _check_csrf(request, shopper, csrf)
    form = _rule_form("", quantity, threshold, capacity, cap, fulfillment, pickup_location_id, address, payment,
                      min_gap_hours, enabled)
    db, clock, _ = app_state(request)
    try:
        with db.unit_of_work() as session:
            current = devices.get_rule(session, member_id=shopper.member_id, device_id=device_id[:40],
                                       rule_id=rule_id[:40])
            devices.update_rule(session, member_id=shopper.member_id, device_id=device_id[:40], rule_id=rule_id[:40],
                                changes=_rule_values(request, session, form, current.address), now=clock.now())
    except (InvalidInput, Conflict, InvalidState) as exc:
        return _device_page(request, shopper, device_id, error=exc.detail, error_rule=rule_id, status=exc.status,
                            form={k: v for k, v in form.items() if k != "product_id"})
    return RedirectResponse(f"/shop/me/devices/{device_id}?done={quote('Reorder rule saved.')}#rule-{rule_id}",
                            status_code=303)


@router.post("/shop/me/devices/{device_id}/rules/{rule_id}/delete")
def delete_rule(request: Request, device_id: str, rule_id: str, shopper: ShopperDep, csrf: Text = "") -> Response:
    _check_csrf(request, shopper, csrf)
    db, clock, _ = app_state(request)
    with db.unit_of_work() as session:
        devices.delete_rule(session, member_id=shopper.member_id, device_id=device_id[:40], rule_id=rule_id[:40],
                            now=clock.now())
    return RedirectResponse(f"/shop/me/devices/{device_id}?done={quote('Reorder rule removed.')}", status_code=303)


@router.post("/shop/me/devices/{device_id}/revoke")
def revoke(request: Request, device_id: str, shopper: ShopperDep, csrf: Text = "") -> Response:
    _check_csrf(request, shopper, csrf)
    db, clock, _ = app_state(request)
    with db.unit_of_work() as session:
        device = devices.revoke_device(session, member_id=shopper.member_id, device_id=device_id[:40],
                                       now=clock.now())
        words = f"{device.name} is revoked: it can no longer report or order."
    return RedirectResponse(f"/shop/me/devices?done={quote(words)}", status_code=303)

