"""Use cases of the network: merchants, locations, staff, API keys, agreements.

Keyword-only functions over a Session; they never commit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from oao.core.auth import Principal, Role, hash_password, new_token, token_hash, verify_password
from oao.core.db import get_or_404
from oao.core.errors import Conflict, InvalidInput, NotFound, Unauthorized
from oao.core.geo import bounding_box, cells_within, haversine_km, search_cell
from oao.core.ids import new_id
from oao.core.money import is_currency
from oao.core.outbox import record_event

# Partner agreements live in oao.network.agreements (this module would pass 600
# lines); other domains keep calling them here.
from oao.network.agreements import (
    accept_version,
    agreement_versions,
    create_pickup_agreement,
    decline_version,
    end_agreement,
    get_agreement,
    get_version,
    list_agreements,
    pickup_partners,
    pickup_terms,
    points_terms,
    propose_agreement,
    propose_version,
    referral_terms,
    withdraw_version,
)
from oao.network.models import ApiKey, Location, Merchant, StaffSession, StaffUser
from oao.network.schemas import (
    check_closures,
    check_kind,
    check_latitude,
    check_longitude,
    check_opening_hours,
    check_timezone,
)
from oao.network.terms import PickupTerms, PointsTerms, ReferralTerms

SESSION_HOURS = 12


# --- authentication -----------------------------------------------------------------

def authenticate(session: Session, *, token: str, now: datetime) -> Principal:
    """Resolve a bearer token (API key or staff session) to the principal behind it."""
    digest = token_hash(token)
    key = session.scalar(select(ApiKey).where(ApiKey.token_hash == digest))
    if key is not None:
        if key.revoked_at is not None:
            raise Unauthorized("This API key has been revoked.")
        return Principal(kind="api_key", id=key.id, name=key.name, role=Role(key.role),
                         merchant_id=key.merchant_id)
    staff_session = session.scalar(select(StaffSession).where(StaffSession.token_hash == digest))
    if staff_session is None:
        raise Unauthorized("Unknown API key or session token.")
    if staff_session.expires_at <= now:
        raise Unauthorized("This session has expired; log in again.")
    user = session.get(StaffUser, staff_session.user_id)
    if user is None or not user.active:
        raise Unauthorized("This staff account is disabled.")
    return staff_principal(user)


def staff_principal(user: StaffUser) -> Principal:
    return Principal(kind="staff", id=user.id, name=user.name, role=Role(user.role),
                     merchant_id=user.merchant_id, location_id=user.location_id)


def log_in(session: Session, *, email: str, password: str, now: datetime) -> tuple[str, StaffUser, datetime]:
    """Check a staff password and open a session; returns (token, user, expiry)."""
    user = session.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
    if user is None or not user.active or not verify_password(user.password_hash, password):
        raise Unauthorized("Wrong email or password.")
    token = new_token("oao_st")
    expires = now + timedelta(hours=SESSION_HOURS)
    session.add(StaffSession(id=new_id("ses"), user_id=user.id, token_hash=token_hash(token),
                             created_at=now, expires_at=expires))
    return token, user, expires


def create_api_key(session: Session, *, merchant_id: str | None, name: str, now: datetime,
                   role: Role | None = None) -> tuple[str, ApiKey]:
    """Issue an API key; the secret is returned once and only its hash is kept."""
    if merchant_id is not None and session.get(Merchant, merchant_id) is None:
        raise NotFound(f"No merchant {merchant_id!r}.")
    role = role or (Role.MERCHANT_ADMIN if merchant_id else Role.NETWORK_ADMIN)
    token = new_token("oao_sk")
    key = ApiKey(id=new_id("key"), merchant_id=merchant_id, name=name, role=role.value,
                 token_hash=token_hash(token), token_hint=token[:10], created_at=now, revoked_at=None)
    session.add(key)
    return token, key


def create_staff_user(session: Session, *, email: str, name: str, password: str, role: Role,
                      merchant_id: str | None, location_id: str | None, now: datetime) -> StaffUser:
    email = email.strip().lower()
    if session.scalar(select(StaffUser).where(StaffUser.email == email)) is not None:
        raise Conflict(f"A staff user with email {email!r} already exists.")
    if role is not Role.NETWORK_ADMIN and merchant_id is None:
        raise Conflict("Merchant admins and store staff belong to a merchant.")
    user = StaffUser(id=new_id("usr"), email=email, name=name, password_hash=hash_password(password),
                     role=role.value, merchant_id=merchant_id, location_id=location_id, active=True,
                     created_at=now)
    session.add(user)
    return user


# --- merchants ------------------------------------------------------------------------

def create_merchant(session: Session, *, name: str, slug: str, currency: str, now: datetime) -> Merchant:
    """Onboard a merchant; its slug is unique across the network."""
    if not is_currency(currency):
        raise InvalidInput(f"currency {currency!r} is not a supported ISO 4217 code")
    if session.scalar(select(Merchant.id).where(Merchant.slug == slug)) is not None:
        raise Conflict(f"A merchant with slug {slug!r} already exists.")
    merchant = Merchant(id=new_id("mer"), name=name, slug=slug, currency=currency, created_at=now)
    session.add(merchant)
    session.flush()
    record_event(session, type="merchant.created", subject_id=merchant.id, merchant_id=merchant.id,
                 payload={"name": name, "slug": slug, "currency": currency}, at=now)
    return merchant


def get_merchant(session: Session, *, merchant_id: str) -> Merchant:
    return get_or_404(session, Merchant, merchant_id, "merchant")


def list_merchants(session: Session, *, merchant_id: str | None) -> list[Merchant]:
    """Every merchant (merchant_id None) or just that one."""
    query = select(Merchant).order_by(Merchant.name, Merchant.id)
    if merchant_id is not None:
        query = query.where(Merchant.id == merchant_id)
    return list(session.scalars(query))


# --- locations ------------------------------------------------------------------------

# Fields a caller may set on a location; id, merchant, search cell and timestamps are ours.
LOCATION_FIELDS = frozenset({
    "name", "kind", "latitude", "longitude", "address", "timezone", "opening_hours", "closures",
    "sells_in_store", "accepts_pickups", "accepts_partner_pickups", "delivery_radius_km", "pick_minutes",
    "delivery_capacity_per_hour", "delivery_fee_minor", "shipping_lead_hours", "shipping_fee_minor", "active",
})
_LOCATION_CHECKS: dict[str, Callable[[Any], Any]] = {
    "kind": check_kind, "latitude": check_latitude, "longitude": check_longitude,
    "timezone": check_timezone, "opening_hours": check_opening_hours, "closures": check_closures,
}
_NON_NEGATIVE = ("delivery_radius_km", "pick_minutes", "delivery_capacity_per_hour", "delivery_fee_minor",
                 "shipping_fee_minor")
_LOCATION_DEFAULTS: dict[str, Any] = {
    "address": "", "opening_hours": {}, "closures": [], "sells_in_store": True, "accepts_pickups": False,
    "accepts_partner_pickups": False, "delivery_radius_km": 0.0, "pick_minutes": 15,
    "delivery_capacity_per_hour": 0, "delivery_fee_minor": 0, "shipping_lead_hours": None,
    "shipping_fee_minor": 0, "active": True,
}


def _checked_location_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The same rules as the HTTP schema, for callers that come from Python (demo, CLI)."""
    unknown = set(fields) - LOCATION_FIELDS
    if unknown:
        raise InvalidInput(f"Unknown location fields: {', '.join(sorted(unknown))}.")
    out = dict(fields)
    for name, value in fields.items():
        if value is None and name != "shipping_lead_hours":
            raise InvalidInput(f"{name} cannot be null.")
        try:
            if name in _LOCATION_CHECKS:
                out[name] = _LOCATION_CHECKS[name](value)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        if name in _NON_NEGATIVE and value < 0:
            raise InvalidInput(f"{name} cannot be negative, got {value}.")
        if name == "shipping_lead_hours" and value is not None and value < 0:
            raise InvalidInput(f"shipping_lead_hours cannot be negative, got {value}.")
        if name == "name" and not str(value).strip():
            raise InvalidInput("A location needs a name.")
    return out


def _location_payload(location: Location) -> dict[str, Any]:
    return {"name": location.name, "kind": location.kind, "latitude": location.latitude,
            "longitude": location.longitude, "active": location.active}


def create_location(session: Session, *, merchant_id: str, now: datetime, **fields: Any) -> Location:
    """Add a store, warehouse, pickup point or dark store; indexed by its H3 search cell."""
    get_merchant(session, merchant_id=merchant_id)
    missing = [name for name in ("name", "kind", "latitude", "longitude", "timezone") if name not in fields]
    if missing:
        raise InvalidInput(f"A location needs {', '.join(missing)}.")
    values = {**_LOCATION_DEFAULTS, **_checked_location_fields(fields)}
    location = Location(id=new_id("loc"), merchant_id=merchant_id,
                        search_cell=search_cell(values["latitude"], values["longitude"]),
                        created_at=now, **values)
    session.add(location)
    session.flush()
    record_event(session, type="location.created", subject_id=location.id, merchant_id=merchant_id,
                 payload=_location_payload(location), at=now)
    return location


def update_location(session: Session, *, location_id: str, changes: dict[str, Any], now: datetime) -> Location:
    """Change some fields of a location; moving it moves its search cell too."""
    location = get_location(session, location_id=location_id)
    values = _checked_location_fields(changes)
    for name, value in values.items():
        setattr(location, name, value)
    location.search_cell = search_cell(location.latitude, location.longitude)
    session.flush()
    record_event(session, type="location.updated", subject_id=location.id, merchant_id=location.merchant_id,
                 payload={**_location_payload(location), "changed": sorted(values)}, at=now)
    return location


def get_location(session: Session, *, location_id: str) -> Location:
    return get_or_404(session, Location, location_id, "location")


def list_locations(session: Session, *, merchant_id: str | None, kinds: list[str] | None = None,
                   include_inactive: bool = False) -> list[Location]:
    """A merchant's locations (every merchant's when merchant_id is None), active ones unless asked."""
    query = select(Location).order_by(Location.merchant_id, Location.name, Location.id)
    if merchant_id is not None:
        query = query.where(Location.merchant_id == merchant_id)
    if kinds:
        query = query.where(Location.kind.in_(kinds))
    if not include_inactive:
        query = query.where(Location.active.is_(True))
    return list(session.scalars(query))


def locations_by_ids(session: Session, *, location_ids: Iterable[str]) -> list[Location]:
    """The locations among these ids that exist (any merchant, active or not), in a few queries."""
    ids = sorted(set(location_ids))
    found: list[Location] = []
    for start in range(0, len(ids), 1000):  # far below the databases' bound-parameter limits
        found.extend(session.scalars(select(Location).where(Location.id.in_(ids[start:start + 1000]))))
    return found


def locations_in_cells(session: Session, *, cells: list[str]) -> list[Location]:
    """Active locations indexed under any of these H3 search cells (quoting's spatial pre-filter)."""
    if not cells:
        return []
    return list(session.scalars(select(Location)
                                .where(Location.search_cell.in_(cells), Location.active.is_(True))
                                .order_by(Location.id)))


WIDE_SEARCH_KM = 10.0


def locations_near(session: Session, *, latitude: float, longitude: float, radius_km: float,
                   location_ids: Collection[str] | Select[Any] | None = None,
                   pickups_only: bool = False, limit: int | None = None) -> list[Location]:
    """Active locations within radius_km, optionally among given ids or only pickup-accepting ones.

    The H3 search cells and a bounding box narrow it in SQL (indexed cell
    column), the exact distance in Python; quoting calls this on every quote.
    `location_ids` may be a subquery (another domain's filter, applied in SQL).
    With `limit`, the nearest that many.
    """
    min_lat, max_lat, min_lon, max_lon = bounding_box(latitude, longitude, radius_km)
    query = select(Location).where(Location.active.is_(True), Location.latitude.between(min_lat, max_lat),
                                   Location.longitude.between(min_lon, max_lon))
    if radius_km >= WIDE_SEARCH_KM:
        # Wide circles: the coarse H3 cells are the better index. Narrow ones sit
        # inside a single cell's neighbourhood, where the lat/lon index wins.
        query = query.where(Location.search_cell.in_(cells_within(latitude, longitude, radius_km)))
    if pickups_only:
        query = query.where(Location.accepts_pickups.is_(True))
    wanted = None
    if isinstance(location_ids, Select):
        query = query.where(Location.id.in_(location_ids))
    elif location_ids is not None:
        if not location_ids:
            return []
        if len(location_ids) <= 2000:
            query = query.where(Location.id.in_(sorted(location_ids)))
        else:  # a huge IN list costs more than filtering the nearby rows here
            wanted = set(location_ids)
    if limit is not None:
        # Nearest first in SQL (flat-earth distance is exact enough to rank a city).
        coslat = math.cos(math.radians(latitude))
        flat = ((Location.latitude - latitude) * (Location.latitude - latitude)
                + (Location.longitude - longitude) * (Location.longitude - longitude) * coslat * coslat)
        query = query.order_by(flat, Location.id).limit(limit * 2 if wanted is None else None)
    else:
        query = query.order_by(Location.id)
    near = []
    for loc in session.scalars(query):
        km = haversine_km(latitude, longitude, loc.latitude, loc.longitude)
        if km <= radius_km and (wanted is None or loc.id in wanted):
            near.append((km, loc.id, loc))
    near.sort(key=lambda item: item[:2])
    return [loc for _, _, loc in near[:limit]]


# --- API keys and staff -------------------------------------------------------------------

def issue_api_key(session: Session, *, merchant_id: str | None, name: str, role: Role,
                  now: datetime) -> tuple[str, ApiKey]:
    """create_api_key plus the rules on roles and the outbox event."""
    if role is Role.NETWORK_ADMIN and merchant_id is not None:
        raise InvalidInput("A network_admin key belongs to no merchant; leave merchant_id out.")
    if role is not Role.NETWORK_ADMIN and merchant_id is None:
        raise InvalidInput(f"A {role.value} key belongs to a merchant; give merchant_id.")
    token, key = create_api_key(session, merchant_id=merchant_id, name=name, now=now, role=role)
    session.flush()
    record_event(session, type="api_key.created", subject_id=key.id, merchant_id=merchant_id,
                 payload={"name": name, "role": role.value}, at=now)
    return token, key


def list_api_keys(session: Session, *, merchant_id: str | None) -> list[ApiKey]:
    """Keys of one merchant, or every key when merchant_id is None (network admins)."""
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if merchant_id is not None:
        query = query.where(ApiKey.merchant_id == merchant_id)
    return list(session.scalars(query))


def get_api_key(session: Session, *, key_id: str) -> ApiKey:
    return get_or_404(session, ApiKey, key_id, "API key")


def revoke_api_key(session: Session, *, key_id: str, now: datetime) -> ApiKey:
    """Stop a key from authenticating; revoking twice is harmless."""
    key = get_api_key(session, key_id=key_id)
    if key.revoked_at is None:
        key.revoked_at = now
        session.flush()
        record_event(session, type="api_key.revoked", subject_id=key.id, merchant_id=key.merchant_id,
                     payload={"name": key.name}, at=now)
    return key


def add_staff_user(session: Session, *, email: str, name: str, password: str, role: Role,
                   merchant_id: str | None, location_id: str | None, now: datetime) -> StaffUser:
    """create_staff_user plus the rules that keep a staff account coherent with its merchant."""
    if role is Role.NETWORK_ADMIN and (merchant_id is not None or location_id is not None):
        raise InvalidInput("A network admin belongs to no merchant or location.")
    if role is not Role.NETWORK_ADMIN:
        if merchant_id is None:
            raise InvalidInput("Merchant admins and store staff belong to a merchant; give merchant_id.")
        get_merchant(session, merchant_id=merchant_id)
    if role is Role.STORE_STAFF and location_id is None:
        raise InvalidInput("Store staff need a home store; give location_id.")
    if location_id is not None:
        location = session.get(Location, location_id)
        if location is None or location.merchant_id != merchant_id:
            raise InvalidInput(f"Location {location_id!r} is not a location of merchant {merchant_id!r}.")
    user = create_staff_user(session, email=email, name=name, password=password, role=role,
                             merchant_id=merchant_id, location_id=location_id, now=now)
    session.flush()
    record_event(session, type="staff_user.created", subject_id=user.id, merchant_id=merchant_id,
                 payload={"role": role.value, "location_id": location_id}, at=now)
    return user


def list_staff_users(session: Session, *, merchant_id: str | None) -> list[StaffUser]:
    query = select(StaffUser).order_by(StaffUser.email)
    if merchant_id is not None:
        query = query.where(StaffUser.merchant_id == merchant_id)
    return list(session.scalars(query))


# --- partner agreements (re-exported from oao.network.agreements) ----------------------------

__all__ = [
    "PickupTerms", "PointsTerms", "ReferralTerms", "accept_version", "agreement_versions",
    "create_pickup_agreement", "decline_version", "end_agreement", "get_agreement", "get_version",
    "list_agreements", "pickup_partners", "pickup_terms", "points_terms", "propose_agreement", "propose_version",
    "referral_terms", "withdraw_version",
]


def shipping_locations(session: Session, *, location_ids: Iterable[str] | Select[Any]) -> list[Location]:
    """Which of these locations ship parcels (have a shipping lead time), for quoting.

    `location_ids` may be a subquery, so a product stocked in thousands of
    places costs one query, not thousands of bound ids."""
    base = select(Location).where(Location.active.is_(True), Location.shipping_lead_hours.is_not(None))
    if isinstance(location_ids, Select):
        return list(session.scalars(base.where(Location.id.in_(location_ids)).order_by(Location.id)))
    ids = list(location_ids)
    found: list[Location] = []
    for start in range(0, len(ids), 500):
        found.extend(session.scalars(base.where(Location.id.in_(ids[start:start + 500]))))
    return found
