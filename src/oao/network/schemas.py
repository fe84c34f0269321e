"""Pydantic in/out shapes of the network API, and the checks on location fields.

The field checks (`check_*`) are plain functions raising ValueError, so the
service can apply exactly the same rules to callers that bypass HTTP (demo
data, the CLI) and HTTP callers get them as 422 field errors.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from oao.core.money import is_currency
from oao.network.hours import DAYS, parse_opening_hours
from oao.network.models import LOCATION_KINDS

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

LocationKind = Literal["store", "warehouse", "pickup_point", "dark_store"]
RoleName = Literal["network_admin", "merchant_admin", "store_staff"]


# --- field checks shared with the service ---------------------------------------------

def check_latitude(value: float) -> float:
    if not -90.0 <= value <= 90.0:
        raise ValueError(f"latitude must be between -90 and 90 degrees, got {value}")
    return value


def check_longitude(value: float) -> float:
    if not -180.0 <= value <= 180.0:
        raise ValueError(f"longitude must be between -180 and 180 degrees, got {value}")
    return value


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone {value!r} is not an IANA time zone such as 'Asia/Shanghai'") from None
    return value


def check_kind(value: str) -> str:
    if value not in LOCATION_KINDS:
        raise ValueError(f"kind {value!r} is not one of {', '.join(LOCATION_KINDS)}")
    return value


def _hhmm(minutes: int) -> str:
    if minutes == 24 * 60:
        return "24:00"
    minutes %= 24 * 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def check_opening_hours(value: Any) -> dict[str, list[list[str]]]:
    """`{"mon": [["08:00", "20:00"]], ...}`; a missing day is a closed day.

    Parsed by network.hours (the code that later answers "is it open?"), so
    whatever is accepted here can be computed with. A closing time earlier
    than the opening time runs past midnight; on top of that, periods of one
    day may not overlap, which is always a typo.
    """
    week = parse_opening_hours(value)
    out: dict[str, list[list[str]]] = {}
    for day, spans in zip(DAYS, week, strict=False):
        for (open1, close1), (open2, close2) in pairwise(spans):
            if open2 < close1:
                raise ValueError(f"opening hours on {day}: {_hhmm(open1)}-{_hhmm(close1)} and "
                                 f"{_hhmm(open2)}-{_hhmm(close2)} overlap")
        if day in value:
            # Kept as written ("24:00" stays "24:00"), ordered by opening time.
            out[day] = sorted(([p[0], p[1]] for p in value[day] or []), key=lambda p: p[0])
    return out


def check_closures(value: Any) -> list[str]:
    """ISO dates the location is closed all day, sorted and without repeats."""
    if not isinstance(value, list):
        raise ValueError("closures must be a list of ISO dates such as '2026-12-25'")  # noqa: TRY004
    days = set()
    for item in value:
        if isinstance(item, date):
            days.add(item)
            continue
        try:
            days.add(date.fromisoformat(item))
        except (TypeError, ValueError):
            raise ValueError(f"closures: {item!r} is not an ISO date such as '2026-12-25'") from None
    return sorted(d.isoformat() for d in days)


# --- merchants ----------------------------------------------------------------------------

class MerchantIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(min_length=2, max_length=80, description="lowercase letters, digits and hyphens")
    currency: str = Field(description="ISO 4217 code the merchant prices in, e.g. CNY")

    @field_validator("slug")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not _SLUG.match(v):
            raise ValueError(f"slug {v!r} must be lowercase letters and digits separated by single hyphens")
        return v

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        if not is_currency(v):
            raise ValueError(f"currency {v!r} is not a supported ISO 4217 code")
        return v


class MerchantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    slug: str
    currency: str
    created_at: datetime


# --- locations ----------------------------------------------------------------------------

class _LocationFields(BaseModel):
    """Validators shared by create and update (None means "not given" on update)."""

    @field_validator("latitude", check_fields=False)
    @classmethod
    def _lat(cls, v: float | None) -> float | None:
        return None if v is None else check_latitude(v)

    @field_validator("longitude", check_fields=False)
    @classmethod
    def _lon(cls, v: float | None) -> float | None:
        return None if v is None else check_longitude(v)

    @field_validator("timezone", check_fields=False)
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        return None if v is None else check_timezone(v)

    @field_validator("opening_hours", mode="before", check_fields=False)
    @classmethod
    def _hours(cls, v: Any) -> Any:
        return None if v is None else check_opening_hours(v)

    @field_validator("closures", mode="before", check_fields=False)
    @classmethod
    def _closures(cls, v: Any) -> Any:
        return None if v is None else check_closures(v)


class LocationIn(_LocationFields):
    merchant_id: str | None = Field(None, description="defaults to the caller's merchant")
    name: str = Field(min_length=1, max_length=200)
    kind: LocationKind
    latitude: float
    longitude: float
    address: str = Field("", max_length=300)
    timezone: str = Field(description="IANA zone the opening hours are in, e.g. Asia/Shanghai")
    opening_hours: dict[str, list[list[str]]] = Field(
        default_factory=dict, description='{"mon": [["08:00", "20:00"]]}; close before open runs past midnight')
    closures: list[str] = Field(default_factory=list, description="ISO dates the location is closed all day")
    sells_in_store: bool = True
    accepts_pickups: bool = False
    accepts_partner_pickups: bool = False
    delivery_radius_km: float = Field(0.0, ge=0, le=500, description="0: no delivery from here")
    pick_minutes: int = Field(15, ge=0, le=24 * 60)
    delivery_capacity_per_hour: int = Field(0, ge=0)
    delivery_fee_minor: int = Field(0, ge=0)
    shipping_lead_hours: float | None = Field(None, ge=0, description="set: this location ships parcels")
    shipping_fee_minor: int = Field(0, ge=0)


class LocationPatch(_LocationFields):
    """Only the fields sent change; `shipping_lead_hours: null` stops parcel shipping."""

    name: str | None = Field(None, min_length=1, max_length=200)
    kind: LocationKind | None = None
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = Field(None, max_length=300)
    timezone: str | None = None
    opening_hours: dict[str, list[list[str]]] | None = None
    closures: list[str] | None = None
    sells_in_store: bool | None = None
    accepts_pickups: bool | None = None
    accepts_partner_pickups: bool | None = None
    delivery_radius_km: float | None = Field(None, ge=0, le=500)
    pick_minutes: int | None = Field(None, ge=0, le=24 * 60)
    delivery_capacity_per_hour: int | None = Field(None, ge=0)
    delivery_fee_minor: int | None = Field(None, ge=0)
    shipping_lead_hours: float | None = Field(None, ge=0)
    shipping_fee_minor: int | None = Field(None, ge=0)
    active: bool | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> LocationPatch:
        for name in self.model_fields_set:
            if name != "shipping_lead_hours" and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null; leave it out to keep the current value")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class LocationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    merchant_id: str
    name: str
    kind: str
    latitude: float
    longitude: float
    search_cell: str
    address: str
    timezone: str
    opening_hours: dict[str, list[list[str]]]
    closures: list[str]
    sells_in_store: bool
    accepts_pickups: bool
    accepts_partner_pickups: bool
    delivery_radius_km: float
    pick_minutes: int
    delivery_capacity_per_hour: int
    delivery_fee_minor: int
    shipping_lead_hours: float | None
    shipping_fee_minor: int
    active: bool
    created_at: datetime


# --- sessions, keys, staff ------------------------------------------------------------------

class SessionIn(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1000)


class MeOut(BaseModel):
    kind: str = Field(description="api_key or staff")
    id: str
    name: str
    role: RoleName
    merchant_id: str | None
    location_id: str | None


class SessionOut(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>`")
    expires_at: datetime
    me: MeOut


class ApiKeyIn(BaseModel):
    merchant_id: str | None = Field(None, description="defaults to the caller's merchant; "
                                                      "null from a network admin makes a network key")
    name: str = Field(min_length=1, max_length=200)
    role: RoleName | None = Field(None, description="defaults to merchant_admin (network_admin without merchant)")


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    merchant_id: str | None
    name: str
    role: RoleName
    token_hint: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    token: str = Field(description="the secret, shown this once; only its hash is stored")


class StaffUserIn(BaseModel):
    email: str = Field(max_length=254)
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=10, max_length=1000, description="at least 10 characters")
    role: RoleName
    merchant_id: str | None = Field(None, description="defaults to the caller's merchant")
    location_id: str | None = Field(None, description="home store; required for store_staff")

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        v = v.strip().lower()
        if not _EMAIL.match(v):
            raise ValueError(f"{v!r} is not an email address")
        return v


class StaffUserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    name: str
    role: RoleName
    merchant_id: str | None
    location_id: str | None
    active: bool
    created_at: datetime


# --- partner agreements ---------------------------------------------------------------------

class PickupTermsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host_merchant_id: str = Field(description="the party whose partner pickup points accept the other's orders")
    fee_minor: int = Field(ge=0, description="what the guest pays the host per parcel, in minor units")
    currency: str = Field(description="the host's currency")


class ReferralTermsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    referrer_merchant_id: str = Field(description="the party that may sell the other's products")
    commission_bps: int = Field(ge=0, le=5000, description="commission to the referrer, in basis points "
                                                            "of the referred sale (at most 5000 = 50 %)")


class PointsTermsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    acceptor_merchant_id: str = Field(description="the party that accepts the other's points")
    issuer_programme_id: str = Field(description="the other party's loyalty programme")
    value_minor: int = Field(ge=1, description="value_points points pay this many minor units")
    value_points: int = Field(ge=1)


class TermsIn(BaseModel):
    """At least one term; every merchant named must be one of the two parties."""

    model_config = ConfigDict(extra="forbid")

    pickup: PickupTermsIn | None = None
    referral: ReferralTermsIn | None = None
    points: PointsTermsIn | None = None
    data_sharing: dict[str, Any] | None = Field(
        None, description='{"permissions": [{"data_class", "purposes"}], "prohibitions": [{"data_class", '
                          '"purposes" | null}], "constraints": {"min_group_size"}}')


class AgreementIn(BaseModel):
    """Propose an agreement: `counterparty_merchant_id` and `terms`.

    The older pickup-only shape (`guest_merchant_id`, `pickup_fee_minor`,
    optional `host_merchant_id`) is still accepted: the host proposes pickup
    terms, and a network admin's request is accepted at once.
    """

    proposer_merchant_id: str | None = Field(None, description="defaults to the caller's merchant")
    counterparty_merchant_id: str | None = Field(None, description="the merchant asked to accept")
    terms: TermsIn | None = None
    host_merchant_id: str | None = Field(None, description="pickup-only shape: whose locations accept the "
                                                          "pickups; defaults to the caller's merchant")
    guest_merchant_id: str | None = Field(None, description="pickup-only shape: whose orders may be picked "
                                                           "up at the host's locations")
    pickup_fee_minor: int | None = Field(None, ge=0, description="pickup-only shape: per parcel, in the "
                                                                 "host's currency")

    @model_validator(mode="after")
    def _one_shape(self) -> AgreementIn:
        legacy = self.guest_merchant_id is not None
        if legacy and (self.counterparty_merchant_id or self.terms or self.proposer_merchant_id):
            raise ValueError("send either counterparty_merchant_id and terms, or the pickup-only "
                             "guest_merchant_id and pickup_fee_minor, not both")
        if not legacy and (self.counterparty_merchant_id is None or self.terms is None):
            raise ValueError("a proposal needs counterparty_merchant_id and terms")
        if not legacy and (self.host_merchant_id is not None or self.pickup_fee_minor is not None):
            raise ValueError("host_merchant_id and pickup_fee_minor belong to the pickup-only shape; "
                             "put pickup terms in terms.pickup")
        return self

    def terms_document(self) -> dict[str, Any]:
        assert self.terms is not None
        return self.terms.model_dump(mode="json")


class VersionIn(BaseModel):
    proposer_merchant_id: str | None = Field(None, description="the party proposing; defaults to the "
                                                               "caller's merchant")
    terms: TermsIn


class DecisionIn(BaseModel):
    version: int = Field(ge=1, description="the version accepted, declined or withdrawn")


AgreementStatus = Literal["proposed", "active", "ended", "declined", "withdrawn"]


class AgreementVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    terms: dict[str, Any]
    status: Literal["proposed", "accepted", "declined", "withdrawn", "superseded"]
    proposed_by_merchant_id: str
    proposed_at: datetime
    decided_at: datetime | None
    decided_by_merchant_id: str | None = Field(description="null: the network operator")


class AgreementOut(BaseModel):
    id: str
    proposer_merchant_id: str
    counterparty_merchant_id: str
    status: AgreementStatus
    current_version: int | None = Field(description="the last accepted version, whose terms apply")
    terms: dict[str, Any] | None = Field(description="the terms of current_version")
    pending_version: int | None = Field(description="a proposal waiting for the other party")
    versions: list[AgreementVersionOut]
    created_at: datetime
    accepted_at: datetime | None
    ended_at: datetime | None
    ended_by_merchant_id: str | None
    # The pickup-only view of earlier clients (from the current terms, else the pending ones).
    host_merchant_id: str | None
    guest_merchant_id: str | None
    pickup_fee_minor: int | None
