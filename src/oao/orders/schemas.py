"""Request and response bodies of orders."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from oao.fulfillment.schemas import FulfillmentOut


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("", max_length=200)
    phone: str = Field("", max_length=40)
    email: str = Field("", max_length=254)


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quote_id: str = Field(..., max_length=40)
    option_id: str = Field(..., max_length=40)
    customer: CustomerIn = Field(default_factory=CustomerIn)
    payment_method: Literal["pay_at_pickup", "pay_on_delivery"] | None = Field(
        None, description="Agree an in-store tender now; omit to hold the stock until /pay is called.")


class PayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payment_method: Literal["pay_at_pickup", "pay_on_delivery"]


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("cancelled by the shopper", min_length=1, max_length=200)


class OrderLineOut(BaseModel):
    product_id: str
    gtin: str
    title: str
    quantity: int
    unit_price_minor: int
    fulfillment_id: str


class OrderOut(BaseModel):
    id: str
    merchant_id: str
    status: Literal["pending_payment", "confirmed", "completed", "cancelled"]
    channel: str
    currency: str
    subtotal_minor: int
    fees_minor: int
    total_minor: int
    payment_method: str
    payment_due_at: datetime | None
    cancel_reason: str | None
    customer: CustomerIn
    lines: list[OrderLineOut]
    fulfillments: list[FulfillmentOut]
    created_at: datetime
    updated_at: datetime
