"""Quotes (priced, timed options that expire) and fulfillments (one per leg)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from oao.core.db import Base

FULFILLMENT_KINDS = ("pickup", "delivery", "shipping")
FULFILLMENT_STATUSES = ("pending_payment", "confirmed", "picking", "in_transit", "ready_for_pickup",
                        "out_for_delivery", "completed", "cancelled")


class Quote(Base):
    __tablename__ = "quotes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    requested_by: Mapped[str] = mapped_column(String(40))  # principal id
    request: Mapped[dict[str, Any]]
    options: Mapped[list[Any]]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class Fulfillment(Base):
    __tablename__ = "fulfillments"
    __table_args__ = (
        Index("ix_fulfillment_source_status", "source_location_id", "status"),
        Index("ix_fulfillment_pickup_status", "pickup_location_id", "status"),
        Index("ix_fulfillment_hold", "status", "hold_until"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    source_location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"))
    pickup_location_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id"))
    # A delivery whose goods first travel to another store of the seller, which delivers them.
    via_location_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id"))
    destination: Mapped[dict[str, Any] | None]  # {"latitude", "longitude", "address"}
    lines: Mapped[list[Any]]  # [{"product_id", "quantity"}]
    transfer_id: Mapped[str | None] = mapped_column(String(40))
    promised_at: Mapped[datetime]  # ready for pickup, or arrival at the door: the shopper's promise
    goods_arrive_at: Mapped[datetime | None]  # a transfer's expected arrival at the pickup store
    pickup_code: Mapped[str | None] = mapped_column(String(16), index=True)
    hold_until: Mapped[datetime | None]  # a ready pickup waits until then
    created_at: Mapped[datetime]
    ready_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
