"""Merchants, their locations, staff users, API keys and pickup agreements."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from oao.core.db import Base

LOCATION_KINDS = ("store", "warehouse", "pickup_point", "dark_store")


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime]


class Location(Base):
    __tablename__ = "locations"
    # Nearby searches range over latitude and filter longitude from the same index.
    __table_args__ = (Index("ix_location_lat_lon", "latitude", "longitude"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    search_cell: Mapped[str] = mapped_column(String(20), index=True)  # H3 res 5, see core.geo
    address: Mapped[str] = mapped_column(String(300), default="")
    timezone: Mapped[str] = mapped_column(String(64))
    # {"mon": [["08:00", "20:00"]], ...}; close before open means past midnight
    opening_hours: Mapped[dict[str, Any]]
    closures: Mapped[list[Any]]  # ISO dates the location is closed all day
    sells_in_store: Mapped[bool] = mapped_column(Boolean, default=True)
    accepts_pickups: Mapped[bool] = mapped_column(Boolean, default=False)
    accepts_partner_pickups: Mapped[bool] = mapped_column(Boolean, default=False)
    delivery_radius_km: Mapped[float] = mapped_column(Float, default=0.0)  # 0: no ship-from-store
    pick_minutes: Mapped[int] = mapped_column(Integer, default=15)
    delivery_capacity_per_hour: Mapped[int] = mapped_column(Integer, default=0)
    delivery_fee_minor: Mapped[int] = mapped_column(Integer, default=0)
    shipping_lead_hours: Mapped[float | None] = mapped_column(Float)  # set: ships parcels
    shipping_fee_minor: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    location_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class StaffSession(Base):
    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("staff_users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_hint: Mapped[str] = mapped_column(String(20))  # first characters, to recognise a key
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


AGREEMENT_STATUSES = ("proposed", "active", "ended", "declined", "withdrawn")
LIVE_AGREEMENT_STATUSES = ("proposed", "active")
VERSION_STATUSES = ("proposed", "accepted", "declined", "withdrawn", "superseded")


class PartnerAgreement(Base):
    """An agreement between two merchants: proposed by one, accepted by the other.

    Its terms live in versions (PartnerAgreementVersion); `current_version` is
    the last accepted one. Status: proposed (nothing accepted yet) -> active ->
    ended, or proposed -> declined / withdrawn. At most one live (proposed or
    active) agreement per pair of merchants: changes are new versions of it.
    """

    __tablename__ = "partner_agreements"
    __table_args__ = (
        # Two concurrent proposals for the same pair cannot both become live.
        Index("uq_partner_agreements_live_pair", "pair_key", unique=True,
              sqlite_where=text("status IN ('proposed', 'active')"),
              postgresql_where=text("status IN ('proposed', 'active')")),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    proposer_merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    counterparty_merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    pair_key: Mapped[str] = mapped_column(String(90))  # "<smaller id>|<larger id>", either direction
    status: Mapped[str] = mapped_column(String(20))
    current_version: Mapped[int | None] = mapped_column(Integer)  # last accepted version
    latest_version: Mapped[int] = mapped_column(Integer)  # versions are numbered 1, 2, ...
    created_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]  # first acceptance
    ended_at: Mapped[datetime | None]  # also set when declined or withdrawn
    ended_by_merchant_id: Mapped[str | None] = mapped_column(String(40))  # None: the network operator


class PartnerAgreementVersion(Base):
    """One proposed set of terms. Rows are never deleted and their terms never change;
    only the decision (accepted / declined / withdrawn / superseded) is written once."""

    __tablename__ = "partner_agreement_versions"
    __table_args__ = (UniqueConstraint("agreement_id", "version"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("partner_agreements.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    terms: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20))
    proposed_by_merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    proposed_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by_merchant_id: Mapped[str | None] = mapped_column(String(40))  # None: the network operator
