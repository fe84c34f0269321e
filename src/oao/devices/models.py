"""Tables of the devices domain: a member's connected devices, their reorder rules, and every
report a device sent with what came of it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from oao.core.db import Base

DEVICE_KINDS = ("washing_machine", "dishwasher", "coffee_machine", "printer", "water_filter", "pet_feeder",
                "button", "other")
UNITS = ("percent", "doses", "items", "grams", "ml")
FULFILLMENT_KINDS = ("delivery", "pickup", "ship")
# How a reorder is paid with nobody at hand: never a wallet QR (it needs the shopper to scan it).
PAYMENT_CHOICES = ("in_person", "points", "points_or_in_person")


class Device(Base):
    """A member's machine (or one-press button) with its own credential; only the credential's hash is kept."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))  # the shop it orders from
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(30))
    unit: Mapped[str] = mapped_column(String(20))  # what its levels and thresholds count
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the credential
    secret_hint: Mapped[str] = mapped_column(String(16))  # its first characters, to tell credentials apart
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ReorderRule(Base):
    """What a device may order for its member, when, and within which limits."""

    __tablename__ = "device_reorder_rules"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[int | None] = mapped_column(Integer)  # reorder at or below this level (None: button only)
    capacity: Mapped[int | None] = mapped_column(Integer)  # level when full: consumption reports count down from it
    monthly_cap_minor: Mapped[int | None] = mapped_column(Integer)  # None: no cap
    currency: Mapped[str] = mapped_column(String(3))
    fulfillment: Mapped[str] = mapped_column(String(10))
    pickup_location_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id"))
    address: Mapped[str | None] = mapped_column(String(300))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    payment: Mapped[str] = mapped_column(String(30))
    points_programme_id: Mapped[str | None] = mapped_column(String(40))
    min_gap_hours: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # What the device last told us (a consumption report counts down from it).
    level: Mapped[int | None] = mapped_column(Integer)
    level_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class DeviceEvent(Base):
    """One report of a device (a reading or a press) and its outcome, unique per device event id.

    The row is claimed before anything is decided, so a resent or concurrent duplicate waits on the unique
    index and then reads the first outcome instead of ordering twice.
    """

    __tablename__ = "device_events"
    __table_args__ = (UniqueConstraint("device_id", "event_id", name="uq_device_event_id"),
                      Index("ix_device_event_member", "member_id", "received_at"),
                      Index("ix_device_event_rule", "rule_id", "outcome"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    event_id: Mapped[str] = mapped_column(String(80))  # the device's own id for the report
    request_hash: Mapped[str] = mapped_column(String(64))  # same event id with another body: refused
    kind: Mapped[str] = mapped_column(String(10))  # reading | press
    rule_id: Mapped[str | None] = mapped_column(String(40))
    level: Mapped[int | None] = mapped_column(Integer)
    consumed: Mapped[int | None] = mapped_column(Integer)
    reported_at: Mapped[datetime]  # the device's clock
    received_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(10))  # ordered | skipped
    reason: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str] = mapped_column(String(400))
    order_id: Mapped[str | None] = mapped_column(String(40))
    total_minor: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(String(3))
