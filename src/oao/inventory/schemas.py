"""Request and response bodies of stock, movements and transfers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StockOut(BaseModel):
    location_id: str
    product_id: str
    merchant_id: str
    on_hand: int
    reserved: int
    available: int
    updated_at: datetime


class ReceiptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    location_id: str = Field(..., max_length=40)
    product_id: str = Field(..., max_length=40)
    quantity: int = Field(..., ge=1, le=1_000_000)
    reason: str = Field("goods received", min_length=1, max_length=200)


class AdjustmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    location_id: str = Field(..., max_length=40)
    product_id: str = Field(..., max_length=40)
    delta: int = Field(..., ge=-1_000_000, le=1_000_000, description="Signed change of on-hand, not zero.")
    reason: str = Field(..., min_length=1, max_length=200, description="Why: stocktake, breakage, expiry…")


class MovementOut(BaseModel):
    id: str
    location_id: str
    product_id: str
    kind: str
    quantity: int
    reason: str
    reference: str | None
    at: datetime


class TransferLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: str = Field(..., max_length=40)
    quantity: int = Field(..., ge=1, le=1_000_000)


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_location_id: str = Field(..., max_length=40)
    to_location_id: str = Field(..., max_length=40)
    lines: list[TransferLineIn] = Field(..., min_length=1, max_length=500)
    expected_arrival_at: datetime
    note: str = Field("", max_length=300)


class TransferLineOut(BaseModel):
    product_id: str
    quantity: int
    gtin: str = ""
    title: str = Field("", description="So the receiving store knows what to expect.")


class TransferOut(BaseModel):
    id: str
    merchant_id: str
    from_location_id: str
    to_location_id: str
    to_merchant_id: str
    status: Literal["requested", "in_transit", "received", "cancelled"]
    lines: list[TransferLineOut]
    expected_arrival_at: datetime
    fulfillment_id: str | None
    note: str
    created_at: datetime
    shipped_at: datetime | None
    received_at: datetime | None


class ExpectedReceiptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    location_id: str = Field(..., max_length=40)
    product_id: str = Field(..., max_length=40)
    quantity: int = Field(..., ge=1, le=1_000_000)
    expected_at: datetime
    reference: str | None = Field(None, max_length=60, description="Your supplier order number, if any.")


class ExpectedReceiptReceiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quantity: int | None = Field(None, ge=1, le=1_000_000,
                                 description="What actually came, when it differs from what was expected.")


class ExpectedReceiptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    merchant_id: str
    location_id: str
    product_id: str
    quantity: int
    expected_at: datetime
    status: Literal["expected", "received", "cancelled"]
    reference: str | None
    created_at: datetime
    received_at: datetime | None
    received_quantity: int | None
