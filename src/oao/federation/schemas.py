"""Pydantic in/out shapes of the federation API (the admin side; partner messages are
plain JSON documents described in docs/federation.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Capability = Literal["order_handoff", "stock_visibility", "pickup", "member_recognition", "points_settlement"]


class InvitationIn(BaseModel):
    merchant_id: str | None = Field(None, max_length=40, description="Default: your own merchant")
    capabilities: list[Capability] | None = Field(None, description="What you offer; default all this instance "
                                                                    "supports")
    pickup_fee_minor: int = Field(0, ge=0, le=10_000_000, description="What you charge per parcel collected at "
                                                                      "your locations")
    currency: str | None = Field(None, min_length=3, max_length=3)
    expires_in_minutes: int = Field(24 * 60, ge=1, le=30 * 24 * 60)


class InvitationOut(BaseModel):
    id: str
    merchant_id: str
    token: str
    capabilities: list[str]
    expires_at: datetime


class LinkIn(BaseModel):
    token: str = Field(min_length=20, max_length=8000, description="The partner's invitation token")
    merchant_id: str | None = Field(None, max_length=40)
    capabilities: list[Capability] | None = None
    pickup_fee_minor: int = Field(0, ge=0, le=10_000_000)
    currency: str | None = Field(None, min_length=3, max_length=3)


class LinkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    merchant_id: str
    status: str
    remote_url: str
    remote_key_id: str
    remote_link_id: str | None
    remote_merchant: dict[str, Any]
    offered: list[str]
    remote_offered: list[str]
    capabilities: list[str]
    terms: dict[str, Any]
    remote_terms: dict[str, Any]
    last_error: str | None
    created_at: datetime
    updated_at: datetime


class LinkStatusIn(BaseModel):
    status: Literal["active", "suspended"]


class RemoteLocationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    link_id: str
    remote_location_id: str
    name: str
    address: str
    latitude: float | None
    longitude: float | None
    details: dict[str, Any]
    fetched_at: datetime


class ParcelIn(BaseModel):
    order_id: str = Field(max_length=40)
    link_id: str = Field(max_length=40)
    remote_location_id: str = Field(max_length=80)
    parcel_count: int = Field(1, ge=1, le=50)


class ParcelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    link_id: str
    merchant_id: str
    role: str
    status: str
    order_id: str | None
    order_reference: str
    remote_parcel_id: str | None
    location_id: str | None
    remote_location_id: str | None
    parcel_count: int
    customer_first_name: str
    fee_minor: int
    currency: str
    settlement_entry_id: str | None
    expected_at: datetime | None
    created_at: datetime
    ready_at: datetime | None
    handed_over_at: datetime | None


class ParcelHandoverIn(BaseModel):
    location_id: str = Field(max_length=40)
    code: str = Field(min_length=1, max_length=40)


class ParcelHandoverOut(BaseModel):
    parcels: list[ParcelOut]
    message: str


class DeliveryOut(BaseModel):
    delivered: int


class StockShareIn(BaseModel):
    scope: Literal["gtins", "all"] = Field(description="gtins: only the listed products; all: every product you "
                                                       "offer")
    gtins: list[str] = Field(default_factory=list, max_length=5000)
    precision: Literal["bands", "exact"] = Field("bands", description="bands: none/few/some/many; exact: units")


class StockShareOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    link_id: str
    scope: str
    gtins: list[str]
    precision: str
    updated_at: datetime


class StockRefreshIn(BaseModel):
    gtins: list[str] = Field(default_factory=list, max_length=100, description="Default: all the partner shares")


class RemoteStockOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    link_id: str
    gtin14: str
    remote_location_id: str
    location_name: str
    latitude: float | None
    longitude: float | None
    quantity: int | None
    band: str
    as_of: datetime | None
    fetched_at: datetime


class RemoteAvailabilityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    link_id: str
    partner: dict[str, Any]
    remote_url: str
    gtin14: str
    location_id: str
    location_name: str
    latitude: float | None
    longitude: float | None
    distance_km: float | None
    band: str
    quantity: int | None
    as_of: datetime | None
    fetched_at: datetime
    stale: bool
