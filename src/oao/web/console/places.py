"""Locations (opening hours, delivery settings) and staff users of the merchant dashboard.

Changes go through the service calls behind PATCH /api/v1/locations/{id}
(network.update_location) and POST /api/v1/staff-users
(network.add_staff_user, which wraps create_staff_user with the merchant and
home-store rules). The forms check each field first so a mistake is shown
next to the field it is about, and nothing is saved until all are right.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from oao.core.auth import Role
from oao.core.errors import Conflict, InvalidInput
from oao.network import service as network
from oao.network.hours import DAYS
from oao.network.schemas import check_opening_hours
from oao.web.common import AdminPageDep, check_csrf
from oao.web.console.common import Scope, amount_text, pick_merchant, scope_for, show, to_minor

router = APIRouter(include_in_schema=False)

DAY_NAMES = dict(zip(DAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
                     strict=True))
SPANS_PER_DAY = 2  # a morning and an afternoon (a lunch break); the API takes any number
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 10  # as the API's StaffUserIn


def _location_of(session, scope: Scope, location_id: str):  # noqa: ANN001, ANN202
    location = network.get_location(session, location_id=location_id)
    scope.ctx.principal.ensure_merchant(location.merchant_id, "location", location_id)
    if location.merchant_id != scope.merchant_id:
        raise InvalidInput("This location belongs to another merchant than the one on this page.")
    return location


def hours_text(spans: list[list[str]] | None) -> str:
    return ", ".join(f"{a}–{b}" for a, b in spans) if spans else "Closed"


# --- locations -----------------------------------------------------------------------------

@router.get("/console/locations", response_class=HTMLResponse)
def locations_page(request: Request, ctx: AdminPageDep, merchant: str | None = None,
                   saved: str | None = None) -> HTMLResponse:
    scope = scope_for(ctx, merchant)
    if scope is None:
        return pick_merchant(request, ctx, "locations")
    with ctx.read() as session:
        locations = network.list_locations(session, merchant_id=scope.merchant_id, include_inactive=True)
        return show(request, scope, "console/locations.html", "locations", {
            "locations": locations, "saved": saved, "days": DAYS, "day_names": DAY_NAMES, "hours_text": hours_text})


def _form_from(location: Any, currency: str) -> dict[str, str]:
    form: dict[str, str] = {}
    for day in DAYS:
        spans = (location.opening_hours or {}).get(day) or []
        form[f"{day}_closed"] = "" if spans else "on"
        for i in range(SPANS_PER_DAY):
            opens, closes = spans[i] if i < len(spans) else ("", "")
            form[f"{day}_open{i + 1}"], form[f"{day}_close{i + 1}"] = opens, closes
    form.update(delivery_radius_km=f"{location.delivery_radius_km:g}",
                delivery_fee=amount_text(location.delivery_fee_minor, currency),
                delivery_capacity_per_hour=str(location.delivery_capacity_per_hour),
                pick_minutes=str(location.pick_minutes), accepts_pickups="on" if location.accepts_pickups else "")
    return form


def _time(text: str) -> str:
    match = _TIME.match(text.strip())
    if not match:
        raise ValueError(f"{text.strip()!r} is not a time such as 08:00")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def parse_location_form(form: dict[str, str], currency: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(changes for update_location, {field: error}) from the edit form; changes only if no errors."""
    errors: dict[str, str] = {}
    hours: dict[str, list[list[str]]] = {}
    for day in DAYS:
        spans: list[list[str]] = []
        if not form.get(f"{day}_closed"):
            for i in range(1, SPANS_PER_DAY + 1):
                opens, closes = form.get(f"{day}_open{i}", "").strip(), form.get(f"{day}_close{i}", "").strip()
                if not opens and not closes:
                    continue
                if not opens or not closes:
                    errors[day] = "Give both an opening and a closing time, or tick Closed."
                    break
                try:
                    spans.append([_time(opens), _time(closes)])
                except ValueError as exc:
                    errors[day] = str(exc)
                    break
            if not spans and day not in errors:
                errors[day] = "Give the opening hours, or tick Closed."
        if day not in errors:
            try:
                hours.update(check_opening_hours({day: spans}) if spans else {})
            except ValueError as exc:
                errors[day] = str(exc).removeprefix(f"opening hours on {day}: ")
    changes: dict[str, Any] = {"opening_hours": hours, "accepts_pickups": bool(form.get("accepts_pickups"))}

    def number(name: str, kind: type, most: float, what: str) -> None:
        raw = form.get(name, "").strip()
        try:
            value = kind(raw)
        except ValueError:
            errors[name] = f"Write {what} as a {'whole ' if kind is int else ''}number."
            return
        if not 0 <= value <= most:
            errors[name] = f"{what.capitalize()} must be between 0 and {most:g}."
            return
        changes[name] = value

    number("delivery_radius_km", float, 500, "the delivery radius")
    number("delivery_capacity_per_hour", int, 10_000, "the deliveries per hour")
    number("pick_minutes", int, 24 * 60, "the picking time")
    try:
        changes["delivery_fee_minor"] = to_minor(form.get("delivery_fee", "") or "0", currency)
    except ValueError as exc:
        errors["delivery_fee"] = str(exc)
    return (changes if not errors else {}), errors


@router.get("/console/locations/{location_id}", response_class=HTMLResponse)
def location_page(request: Request, location_id: str, ctx: AdminPageDep, merchant: str | None = None
                  ) -> HTMLResponse:
    scope = scope_for(ctx, merchant)
    if scope is None:
        return pick_merchant(request, ctx, "locations")
    with ctx.read() as session:
        location = _location_of(session, scope, location_id)
        return show(request, scope, "console/location_edit.html", "locations", {
            "location": location, "form": _form_from(location, scope.currency), "errors": {}, "error": None,
            "days": DAYS, "day_names": DAY_NAMES, "spans": range(1, SPANS_PER_DAY + 1)})


@router.post("/console/locations/{location_id}", response_class=HTMLResponse)
async def save_location(request: Request, location_id: str, ctx: AdminPageDep) -> Response:
    form = {k: str(v)[:200] for k, v in (await request.form()).items()}
    check_csrf(request, form.get("csrf"))
    scope = scope_for(ctx, form.get("merchant") or None)
    if scope is None:
        raise InvalidInput("Pick a merchant first.")
    changes, errors = parse_location_form(form, scope.currency)
    error = None
    with ctx.tx() as session:
        location = _location_of(session, scope, location_id)
        ctx.principal.ensure_admin_of(location.merchant_id)
        if not errors:
            try:
                network.update_location(session, location_id=location_id, changes=changes, now=ctx.now())
            except InvalidInput as exc:
                error = exc.detail
                session.rollback()
        name = location.name
    if not errors and error is None:
        return RedirectResponse(scope.link("/console/locations", saved=location_id), status_code=303)
    with ctx.read() as session:
        location = _location_of(session, scope, location_id)
        return show(request, scope, "console/location_edit.html", "locations", {
            "location": location, "form": form, "errors": errors, "error": error or
            f"{name} was not saved: fix the {len(errors)} field{'s' if len(errors) != 1 else ''} marked below.",
            "days": DAYS, "day_names": DAY_NAMES, "spans": range(1, SPANS_PER_DAY + 1)}, status=422)


# --- staff users ---------------------------------------------------------------------------

ROLES = {"store_staff": "Store staff", "merchant_admin": "Merchant admin"}


def _staff_context(session, scope: Scope) -> dict[str, Any]:  # noqa: ANN001
    users = network.list_staff_users(session, merchant_id=scope.merchant_id)
    locations = network.list_locations(session, merchant_id=scope.merchant_id)
    return {"users": users, "locations": locations, "location_names": {loc.id: loc.name for loc in locations},
            "roles": ROLES}


@router.get("/console/staff", response_class=HTMLResponse)
def staff_page(request: Request, ctx: AdminPageDep, merchant: str | None = None,
               created: str | None = None) -> HTMLResponse:
    scope = scope_for(ctx, merchant)
    if scope is None:
        return pick_merchant(request, ctx, "staff")
    with ctx.read() as session:
        return show(request, scope, "console/staff.html", "staff", {
            **_staff_context(session, scope), "form": {"role": "store_staff"}, "errors": {}, "created": created})


def check_staff_form(form: dict[str, str], location_ids: set[str]) -> dict[str, str]:
    errors = {}
    if not form.get("name", "").strip():
        errors["name"] = "Give the person's name."
    if not _EMAIL.match(form.get("email", "").strip()):
        errors["email"] = "Give an email address such as li.na@example.com."
    if form.get("role") not in ROLES:
        errors["role"] = "Choose store staff or merchant admin."
    location_id = form.get("location_id", "")
    if form.get("role") == "store_staff" and not location_id:
        errors["location_id"] = "Store staff need a home store."
    elif location_id and location_id not in location_ids:
        errors["location_id"] = "Choose one of your stores."
    if len(form.get("password", "")) < MIN_PASSWORD:
        errors["password"] = f"The initial password needs at least {MIN_PASSWORD} characters."
    return errors


@router.post("/console/staff", response_class=HTMLResponse)
async def create_staff(request: Request, ctx: AdminPageDep) -> Response:
    form = {k: str(v)[:254] for k, v in (await request.form()).items()}
    check_csrf(request, form.get("csrf"))
    scope = scope_for(ctx, form.get("merchant") or None)
    if scope is None:
        raise InvalidInput("Pick a merchant first.")
    ctx.principal.ensure_admin_of(scope.merchant_id)
    with ctx.read() as session:
        location_ids = {loc.id for loc in network.list_locations(session, merchant_id=scope.merchant_id)}
    errors = check_staff_form(form, location_ids)
    if not errors:
        try:
            with ctx.tx() as session:
                user = network.add_staff_user(session, email=form["email"], name=form["name"].strip(),
                                              password=form["password"], role=Role(form["role"]),
                                              merchant_id=scope.merchant_id,
                                              location_id=form.get("location_id") or None, now=ctx.now())
                email = user.email
            return RedirectResponse(scope.link("/console/staff", created=email), status_code=303)
        except Conflict:
            errors["email"] = "Someone already has a staff account with this email."
        except InvalidInput as exc:
            errors["form"] = exc.detail
    form.pop("password", None)  # never echoed back into the page
    with ctx.read() as session:
        return show(request, scope, "console/staff.html", "staff",
                    {**_staff_context(session, scope), "form": form, "errors": errors, "created": None}, status=422)
