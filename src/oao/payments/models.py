"""Payment intents with Stripe's state names: the seam wallets plug into later."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from oao.core.db import Base

INTENT_STATUSES = ("requires_payment_method", "requires_capture", "processing", "succeeded", "canceled")


class PaymentIntent(Base):
    __tablename__ = "payment_intents"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    order_id: Mapped[str | None] = mapped_column(String(40), index=True)
    pos_sale_id: Mapped[str | None] = mapped_column(String(40), index=True)
    amount_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str | None] = mapped_column(String(30))  # pay_in_store | cash | card | wallet …
    provider: Mapped[str] = mapped_column(String(30), default="in_store")
    status: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
