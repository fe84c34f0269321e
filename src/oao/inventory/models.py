"""Stock levels, the append-only movement history, reservations and transfers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from oao.core.db import Base

MOVEMENT_KINDS = ("receipt", "sale", "adjustment", "transfer_out", "transfer_in", "return")


class StockLevel(Base):
    __tablename__ = "stock_levels"
    __table_args__ = (
        UniqueConstraint("location_id", "product_id", name="uq_stock_location_product"),
        # The last line of defence: whatever the code does, stock never goes negative.
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="reserved_within_on_hand"),
        Index("ix_stock_product_location", "product_id", "location_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class StockMovement(Base):
    __tablename__ = "stock_movements"
    __table_args__ = (Index("ix_movement_location_product", "location_id", "product_id", "at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    kind: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int] = mapped_column(Integer)  # signed change of on_hand
    reason: Mapped[str] = mapped_column(String(200), default="")
    reference: Mapped[str | None] = mapped_column(String(40), index=True)
    at: Mapped[datetime]


class Reservation(Base):
    __tablename__ = "reservations"
    __table_args__ = (Index("ix_reservation_due", "status", "expires_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(40), index=True)  # fulfillment id
    status: Mapped[str] = mapped_column(String(20), default="active")  # active|consumed|released|moved
    expires_at: Mapped[datetime | None]  # None: held until the reference is done
    created_at: Mapped[datetime]


class Transfer(Base):
    __tablename__ = "transfers"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)  # owner of the goods
    from_location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"), index=True)
    to_location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"), index=True)
    to_merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)  # may differ (partner)
    status: Mapped[str] = mapped_column(String(20))  # requested | in_transit | received | cancelled
    lines: Mapped[list[Any]]  # [{"product_id": ..., "quantity": ...}]
    expected_arrival_at: Mapped[datetime]
    fulfillment_id: Mapped[str | None] = mapped_column(String(40), index=True)
    note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime]
    shipped_at: Mapped[datetime | None]
    received_at: Mapped[datetime | None]


class ExpectedReceipt(Base):
    """Goods on order for a store: expected -> received (into stock) or cancelled.

    Open ones are the "on order" quantity replenishment counts, so a store is not
    sent the same goods twice while a delivery is on its way."""

    __tablename__ = "expected_receipts"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="expected_quantity_positive"),
        Index("ix_expected_receipts_open", "location_id", "status", "product_id"),
        Index("ix_expected_receipts_reference", "reference"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # erc_…
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    expected_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="expected")  # expected | received | cancelled
    reference: Mapped[str | None] = mapped_column(String(60))  # purchase-suggestion line, supplier PO number…
    created_at: Mapped[datetime]
    received_at: Mapped[datetime | None]
    received_quantity: Mapped[int | None] = mapped_column(Integer)  # what actually came (may differ)
