"""Pydantic shapes of payment intents, counter wallet payments and refunds."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

IntentStatus = Literal["requires_payment_method", "requires_capture", "processing", "succeeded", "canceled"]
_REF = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class PaymentIntentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    merchant_id: str
    order_id: str | None
    pos_sale_id: str | None
    amount_minor: int = Field(description="integer minor units of `currency`")
    currency: str
    method: str | None = Field(description="cash, card, wallet, voucher, pay_in_store_other, "
                                           "pay_in_store, split, wallet_qr or wallet_code")
    provider: str
    status: IntentStatus
    created_at: datetime
    updated_at: datetime
    out_trade_no: str | None = Field(None, description="the merchant order number the wallet knows this "
                                                       "payment by: the order id, or this intent's id")
    provider_trade_no: str | None = None
    flow: Literal["merchant_qr", "payment_code"] | None = None
    location_id: str | None = None
    register_id: str | None = None
    qr_content: str | None = Field(None, description="what the merchant-presented QR encodes")
    expires_at: datetime | None = Field(None, description="when the QR expires / the payment code times out")
    amount_refunded_minor: int = Field(0, description="refunds pending or done")
    reversed_minor: int = Field(0, description="given back by the provider when the charge was cancelled")
    last_error: str | None = None


class CounterPaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    location_id: str = Field(..., min_length=1, max_length=40)
    amount_minor: int = Field(..., gt=0, le=2_147_483_647, description="minor units of `currency`")
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$", description="default: the merchant's currency")
    flow: Literal["merchant_qr", "payment_code"] = Field(
        ..., description="merchant_qr: show a QR on the register's screen; payment_code: scan the shopper's code")
    auth_code: str | None = Field(None, pattern=r"^[0-9]{10,32}$",
                                  description="the scanned payment code (payment_code flow)")
    register_id: str | None = Field(None, min_length=1, max_length=40)


class CancelPaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("cancelled at the counter", min_length=1, max_length=200)


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refund_id: str = Field(..., pattern=_REF, description="your id for this refund; the provider's "
                                                          "out_request_no; a retry must reuse it")
    amount_minor: int = Field(..., gt=0, le=2_147_483_647)
    reason: str = Field(..., min_length=1, max_length=200)


class RefundOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    refund_id: str
    intent_id: str
    amount_minor: int
    currency: str
    reason: str
    provider: str
    status: Literal["pending", "succeeded", "failed"]
    failure_message: str | None
    created_at: datetime
    updated_at: datetime


class RejectedNotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    provider: str
    reason: str
    event_id: str | None
    out_trade_no: str | None
    received_at: datetime


class OrderPaymentOut(BaseModel):
    """The wallet payment of an online order: the QR the shopper scans, and where it stands."""

    intent_id: str
    status: IntentStatus
    provider: str
    amount_minor: int
    currency: str
    qr_content: str | None
    qr_svg_url: str
    expires_at: datetime | None
    last_error: str | None


class StallQrOut(BaseModel):
    location_id: str
    payload: str = Field(description="EMVCo merchant-presented QR payload (static: no amount), CRC-checked")
    svg_url: str
