"""Payment intents (Stripe's state names), their refunds, and what wallets told us.

An intent paid through a wallet carries the merchant order number the
provider knows it by (`out_trade_no`: our order id, or the intent id for a
counter payment, or the checkout id when one payment pays the orders of several
merchants) and never gets a new one on a retry. Such a shared payment lists
each order's share in `payment_allocations`; its refunds say whose share they
give back (`order_id`), so no order's refund can eat another's money. Refunds carry our refund
id, which is also the provider's refund idempotency key (`out_request_no`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from oao.core.db import Base
from oao.payments import sandbox_models  # noqa: F401  (the sandbox wallet's own tables, for metadata)

INTENT_STATUSES = ("requires_payment_method", "requires_capture", "processing", "succeeded", "canceled")
REFUND_STATUSES = ("pending", "succeeded", "failed")
FLOWS = ("merchant_qr", "payment_code")


class PaymentIntent(Base):
    __tablename__ = "payment_intents"
    __table_args__ = (Index("ix_payment_intent_provider_status", "provider", "status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    # The order it pays; for a checkout of several orders, the checkout id (`chk_…`, see PaymentAllocation).
    order_id: Mapped[str | None] = mapped_column(String(40), index=True)
    pos_sale_id: Mapped[str | None] = mapped_column(String(40), index=True)
    amount_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str | None] = mapped_column(String(30))  # pay_in_store | cash | card | wallet_qr …
    provider: Mapped[str] = mapped_column(String(30), default="in_store")
    status: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Wallet payments only (NULL for in-store money).
    out_trade_no: Mapped[str | None] = mapped_column(String(64), unique=True)
    provider_trade_no: Mapped[str | None] = mapped_column(String(64))
    flow: Mapped[str | None] = mapped_column(String(20))  # merchant_qr | payment_code
    location_id: Mapped[str | None] = mapped_column(String(40))
    register_id: Mapped[str | None] = mapped_column(String(40))
    qr_content: Mapped[str | None] = mapped_column(String(500))
    expires_at: Mapped[datetime | None]  # the QR, or how long a payment code may stay "user paying"
    amount_refunded_minor: Mapped[int] = mapped_column(Integer, default=0)  # refunds pending or done
    reversed_minor: Mapped[int] = mapped_column(Integer, default=0)  # given back by the provider's cancel
    close_requested_at: Mapped[datetime | None]  # cancelled here; the provider must still be told
    closed_at: Mapped[datetime | None]  # the provider confirmed the charge is closed
    polled_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))


class PaymentRefund(Base):
    __tablename__ = "payment_refunds"
    __table_args__ = (UniqueConstraint("merchant_id", "refund_id", name="uq_payment_refund_id"),
                      Index("ix_payment_refund_status", "status", "created_at"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    intent_id: Mapped[str] = mapped_column(ForeignKey("payment_intents.id"), index=True)
    refund_id: Mapped[str] = mapped_column(String(64))  # ours, and the provider's out_request_no
    # The order whose share of a shared (checkout) payment this gives back; NULL for a payment of one order.
    order_id: Mapped[str | None] = mapped_column(String(40), index=True)
    amount_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20))
    failure_message: Mapped[str | None] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PaymentAllocation(Base):
    """The share of one payment that pays one order (a checkout's single payment pays several)."""

    __tablename__ = "payment_allocations"

    intent_id: Mapped[str] = mapped_column(ForeignKey("payment_intents.id"), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))  # the seller of that order
    amount_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))


class PaymentNotification(Base):
    """Each provider event handled once: the primary key is the dedupe."""

    __tablename__ = "payment_notifications"

    provider: Mapped[str] = mapped_column(String(30), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    intent_id: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(30))
    received_at: Mapped[datetime]


class RejectedNotification(Base):
    """Notifications refused (bad signature, wrong amount, unknown charge): kept for investigation."""

    __tablename__ = "payment_rejected_notifications"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(String(300))
    event_id: Mapped[str | None] = mapped_column(String(80))
    out_trade_no: Mapped[str | None] = mapped_column(String(64))
    raw_body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(index=True)
