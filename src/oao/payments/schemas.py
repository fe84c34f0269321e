"""Pydantic shapes of payment intents, for the routers that show them (orders, POS)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

IntentStatus = Literal["requires_payment_method", "requires_capture", "processing", "succeeded", "canceled"]


class PaymentIntentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    merchant_id: str
    order_id: str | None
    pos_sale_id: str | None
    amount_minor: int = Field(description="integer minor units of `currency`")
    currency: str
    method: str | None = Field(description="cash, card, wallet, voucher, pay_in_store_other, "
                                           "pay_in_store or split")
    provider: str
    status: IntentStatus
    created_at: datetime
    updated_at: datetime
