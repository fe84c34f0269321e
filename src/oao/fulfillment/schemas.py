"""Request and response bodies of quotes and fulfillments."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oao.catalog.gtin import InvalidGtin, validate_gtin


class CartLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: str | None = Field(None, max_length=40, description="A product id (`prd_…`), or give `gtin`.")
    gtin: str | None = Field(None, max_length=20, description="GTIN-8/12/13/14 as scanned.")
    quantity: int = Field(..., ge=1, le=10_000)
    merchant_id: str | None = Field(None, max_length=40, description="Buy from this merchant only.")

    @model_validator(mode="after")
    def _one_identifier(self) -> CartLineIn:
        if not self.product_id and not self.gtin:
            raise ValueError("each cart line needs a product_id or a gtin")
        if self.gtin:
            try:
                validate_gtin(self.gtin)
            except InvalidGtin as exc:
                raise ValueError(str(exc)) from None
        return self


class DestinationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latitude: float = Field(..., ge=-90, le=90)
    longitude: float = Field(..., ge=-180, le=180)
    address: str = Field("", max_length=300)


class QuoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lines: list[CartLineIn] = Field(..., min_length=1, max_length=100)
    destination: DestinationIn | None = Field(None, description="Where the shopper is or wants delivery.")
    pickup_location_id: str | None = Field(None, max_length=40, description="A store the shopper chose.")
    at: datetime | None = Field(None, description="When to quote for (default now); timezone required.")

    @model_validator(mode="after")
    def _where(self) -> QuoteIn:
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("`at` needs a timezone, e.g. 2026-11-17T10:00:00+08:00")
        return self


class PlaceOut(BaseModel):
    id: str
    name: str
    address: str
    kind: str
    merchant_id: str
    latitude: float
    longitude: float


class LegLineOut(BaseModel):
    product_id: str
    quantity: int


class LegOut(BaseModel):
    source: PlaceOut
    lines: list[LegLineOut]
    ready_at: datetime
    arrive_at: datetime
    transfer_to: str | None


class PricedLineOut(BaseModel):
    product_id: str
    gtin: str
    title: str
    quantity: int
    unit_price_minor: int
    line_total_minor: int


class MerchantRef(BaseModel):
    id: str
    name: str


class OptionOut(BaseModel):
    id: str
    kind: Literal["pickup", "delivery", "shipping"]
    merchant: MerchantRef
    legs: list[LegOut]
    pickup_location: PlaceOut | None
    delivered_from: PlaceOut | None = Field(None, description="The store that delivers goods sent to it first.")
    destination: dict[str, Any] | None
    ready_at: datetime | None
    arrive_at: datetime
    currency: str
    lines: list[PricedLineOut]
    subtotal_minor: int
    fee_minor: int
    total_minor: int
    involves_transfer: bool
    is_split: bool
    explanation: str


class QuoteOut(BaseModel):
    id: str
    created_at: datetime
    expires_at: datetime
    options: list[OptionOut]
    message: str


class FulfillmentOut(BaseModel):
    id: str
    order_id: str
    merchant_id: str
    kind: str
    status: str
    source_location_id: str
    pickup_location_id: str | None
    via_location_id: str | None = Field(None, description="The store that delivers, once the goods reach it.")
    destination: dict[str, Any] | None
    lines: list[LegLineOut]
    transfer_id: str | None
    promised_at: datetime = Field(..., description="Ready for pickup, or at the door: what the shopper was promised.")
    goods_arrive_at: datetime | None = Field(None, description="When transferred goods reach the pickup store.")
    ready_at: datetime | None
    completed_at: datetime | None
    hold_until: datetime | None
    pickup_code: str | None = Field(None, description="Shown to the seller only; pickup staff scan it.")
    cancel_reason: str | None


class HandoverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(..., min_length=1, max_length=40, description="The pickup code as scanned or typed.")


class HandoverOut(BaseModel):
    order_id: str
    handed_over: list[FulfillmentOut]
    message: str
