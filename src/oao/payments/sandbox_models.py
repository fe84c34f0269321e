"""Tables of the built-in sandbox wallet: the wallet's own books, not OAO's.

They live in OAO's database only so the sandbox needs nothing to install; OAO's
payment code never reads them (it talks to the sandbox over HTTP like to any wallet).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from oao.core.db import Base

TRADE_STATUSES = ("waiting", "user_paying", "succeeded", "closed")
CODE_MODES = ("instant", "confirm", "insufficient")


class SandboxAccount(Base):
    __tablename__ = "sandbox_wallet_accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]


class SandboxTrade(Base):
    __tablename__ = "sandbox_wallet_trades"
    __table_args__ = (UniqueConstraint("app_id", "out_trade_no", name="uq_sandbox_trade_out_trade_no"),)

    trade_no: Mapped[str] = mapped_column(String(40), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(64))
    out_trade_no: Mapped[str] = mapped_column(String(64))
    merchant_ref: Mapped[str] = mapped_column(String(64))
    store_ref: Mapped[str | None] = mapped_column(String(64))
    amount_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    refunded_minor: Mapped[int] = mapped_column(Integer, default=0)
    flow: Mapped[str] = mapped_column(String(20))  # merchant_qr | payment_code
    status: Mapped[str] = mapped_column(String(20))
    qr_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    account_id: Mapped[str | None] = mapped_column(String(40))
    notify_url: Mapped[str] = mapped_column(String(500))
    expires_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SandboxRefund(Base):
    __tablename__ = "sandbox_wallet_refunds"
    __table_args__ = (UniqueConstraint("trade_no", "out_request_no", name="uq_sandbox_refund_request"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    trade_no: Mapped[str] = mapped_column(String(40), index=True)
    out_request_no: Mapped[str] = mapped_column(String(64))
    amount_minor: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class SandboxPaymentCode(Base):
    __tablename__ = "sandbox_wallet_codes"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(40), index=True)
    mode: Mapped[str] = mapped_column(String(20))  # instant | confirm ("user paying") | insufficient
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class SandboxDelivery(Base):
    """One copy of a signed notification waiting to be POSTed to the merchant (chaos makes several)."""

    __tablename__ = "sandbox_wallet_deliveries"
    __table_args__ = (Index("ix_sandbox_delivery_due", "delivered_at", "deliver_after"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), index=True)
    trade_no: Mapped[str] = mapped_column(String(40))
    url: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(200))
    deliver_after: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None]
    last_result: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
