"""Orders placed from a quote option, and their lines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from oao.core.db import Base

ORDER_STATUSES = ("pending_payment", "confirmed", "completed", "cancelled")
CHECKOUT_STATUSES = ("pending_payment", "confirmed", "cancelled")


class Checkout(Base):
    """One shopper's purchase from several merchants: one order per merchant, paid with one payment."""

    __tablename__ = "checkouts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # also the wallet's merchant order number
    status: Mapped[str] = mapped_column(String(20))
    payment_method: Mapped[str] = mapped_column(String(30))
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(Integer)
    referrer_merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"))
    created_by: Mapped[str] = mapped_column(String(40))  # the principal that placed it (may read it back)
    payment_due_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_order_payment_due", "status", "payment_due_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20), default="online")
    status: Mapped[str] = mapped_column(String(20))
    quote_id: Mapped[str] = mapped_column(String(40))
    option_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[str | None] = mapped_column(String(40), index=True)  # the shopper, when a member
    customer_name: Mapped[str] = mapped_column(String(200), default="")
    customer_phone: Mapped[str] = mapped_column(String(40), default="")
    customer_email: Mapped[str] = mapped_column(String(254), default="")
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_minor: Mapped[int] = mapped_column(Integer)
    fees_minor: Mapped[int] = mapped_column(Integer)
    total_minor: Mapped[int] = mapped_column(Integer)
    payment_method: Mapped[str] = mapped_column(String(30))
    payment_due_at: Mapped[datetime | None]  # unpaid orders release their stock then
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    # Sold through another merchant (S3's kiosk): that merchant, and the commission agreed when it was placed
    # (copied, so a later change of the agreement never alters an order already placed).
    referrer_merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    referral_commission_bps: Mapped[int | None] = mapped_column(Integer)
    checkout_id: Mapped[str | None] = mapped_column(ForeignKey("checkouts.id"), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    fulfillment_id: Mapped[str] = mapped_column(String(40))
    gtin: Mapped[str] = mapped_column(String(14))
    title: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))


class OrderReturn(Base):
    """Goods of a completed online order brought back to a store (S11), with what was given back."""

    __tablename__ = "order_returns"
    __table_args__ = (UniqueConstraint("merchant_id", "client_return_id", name="uq_order_return_client_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_return_id: Mapped[str] = mapped_column(String(80))  # the store's id for it; a resend dedupes on it
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"))  # the store that took the goods back
    currency: Mapped[str] = mapped_column(String(3))
    goods_minor: Mapped[int] = mapped_column(Integer)  # value of the returned lines
    money_refund_minor: Mapped[int] = mapped_column(Integer)  # back to the original money tenders
    points_refund_minor: Mapped[int] = mapped_column(Integer)  # value given back as points spent
    points_reversed: Mapped[int] = mapped_column(Integer, default=0)  # earned points taken back
    points_restored: Mapped[int] = mapped_column(Integer, default=0)  # spent points given back
    reason: Mapped[str] = mapped_column(String(200), default="")
    refunds: Mapped[list[Any]]  # [{"intent_id", "refund_id", "amount_minor", "method"}]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(40))


class OrderReturnLine(Base):
    __tablename__ = "order_return_lines"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    return_id: Mapped[str] = mapped_column(ForeignKey("order_returns.id"), index=True)
    order_line_id: Mapped[str] = mapped_column(ForeignKey("order_lines.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(Integer)
