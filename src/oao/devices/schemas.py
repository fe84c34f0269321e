"""Pydantic shapes of the devices API.

Field limits here only catch malformed input; the rules that need the database (does this shop sell
the product, does that store take pickups) are checked by devices.service with messages for a person.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from oao.devices.models import DEVICE_KINDS, FULFILLMENT_KINDS, PAYMENT_CHOICES, UNITS

DeviceKind = Literal[DEVICE_KINDS]  # type: ignore[valid-type]
Unit = Literal[UNITS]  # type: ignore[valid-type]
FulfillmentKind = Literal[FULFILLMENT_KINDS]  # type: ignore[valid-type]
PaymentChoice = Literal[PAYMENT_CHOICES]  # type: ignore[valid-type]
MAX_LEVEL = 1_000_000
EVENT_ID = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._:\-]+$",
                 description="The device's own id for this report: a resend with the same id is answered with "
                             "the first outcome.")


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    kind: DeviceKind
    merchant_id: str = Field(min_length=1, max_length=40, description="The shop this device orders from.")
    unit: Unit = Field(default="percent", description="What its readings and thresholds count.")


class DevicePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)


class DeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    kind: str
    unit: str
    merchant_id: str
    secret_hint: str
    created_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None


class DeviceCreated(DeviceOut):
    credential: str | None = Field(
        description="Send as `Authorization: Bearer <credential>`. Shown once, in the answer that registered the "
                    "device; a replay of that request answers null. Lost it? Revoke the device and register it "
                    "again.")


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: str = Field(min_length=1, max_length=40)
    quantity: int = Field(ge=1, le=99)
    threshold: int | None = Field(default=None, ge=0, le=MAX_LEVEL,
                                  description="Reorder when the level is at or below this, in the device's unit.")
    capacity: int | None = Field(default=None, ge=1, le=MAX_LEVEL,
                                 description="The level when full; consumption reports count down from it.")
    monthly_cap_minor: int | None = Field(
        default=None, ge=1, le=100_000_000,
        description="No reorder that would take what her device orders spent this calendar month (UTC) over this.")
    fulfillment: FulfillmentKind = "delivery"
    pickup_location_id: str | None = Field(default=None, max_length=40)
    address: str | None = Field(default=None, max_length=300)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    payment: PaymentChoice = Field(
        default="in_person",
        description="in_person: pay at pickup / on delivery; points: the member's points pay it all (or it is not "
                    "ordered); points_or_in_person: points when they cover it, else in person.")
    points_programme_id: str | None = Field(default=None, max_length=40)
    min_gap_hours: int = Field(default=24, ge=0, le=24 * 90)
    enabled: bool = True


class RulePatch(BaseModel):
    """Send only what changes; null clears an optional setting."""

    model_config = ConfigDict(extra="forbid")

    quantity: int | None = Field(default=None, ge=1, le=99)
    threshold: int | None = Field(default=None, ge=0, le=MAX_LEVEL)
    capacity: int | None = Field(default=None, ge=1, le=MAX_LEVEL)
    monthly_cap_minor: int | None = Field(default=None, ge=1, le=100_000_000)
    fulfillment: FulfillmentKind | None = None
    pickup_location_id: str | None = Field(default=None, max_length=40)
    address: str | None = Field(default=None, max_length=300)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    payment: PaymentChoice | None = None
    points_programme_id: str | None = Field(default=None, max_length=40)
    min_gap_hours: int | None = Field(default=None, ge=0, le=24 * 90)
    enabled: bool | None = None


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    device_id: str
    product_id: str
    product_title: str = ""
    quantity: int
    threshold: int | None
    capacity: int | None
    monthly_cap_minor: int | None
    currency: str
    fulfillment: str
    pickup_location_id: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    payment: str
    points_programme_id: str | None
    min_gap_hours: int
    enabled: bool
    level: int | None
    level_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ReadingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str = EVENT_ID
    level: int | None = Field(default=None, ge=0, le=MAX_LEVEL, description="What is left, in the device's unit.")
    consumed: int | None = Field(default=None, ge=0, le=MAX_LEVEL,
                                 description="What was used since the last report, in the device's unit.")
    at: AwareDatetime
    rule_id: str | None = Field(default=None, max_length=40,
                                description="Which rule this reading is about; needed only when it has several.")

    @model_validator(mode="after")
    def _one_measure(self) -> ReadingIn:
        if (self.level is None) == (self.consumed is None):
            raise ValueError("send either level (what is left) or consumed (what was used), not both or neither")
        return self


class PressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str = EVENT_ID
    at: AwareDatetime
    rule_id: str | None = Field(default=None, max_length=40)


class DeviceEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    device_id: str
    event_id: str
    kind: str
    rule_id: str | None
    level: int | None
    consumed: int | None
    reported_at: datetime
    received_at: datetime
    outcome: str
    reason: str
    detail: str
    order_id: str | None
    total_minor: int | None
    currency: str | None
