"""Pydantic shapes of the insights API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from oao.inventory.schemas import ExpectedReceiptOut

# --- event log and imports ---



class ImportRowErrorOut(BaseModel):
    row: int | None = Field(description="1-based record number after the header; null for a note on the file")
    message: str


class TransactionImportOut(BaseModel):
    """One `oao import transactions` run and its report."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    merchant_id: str
    source_name: str
    status: str = Field(description="running, finished or failed")
    mapping: dict[str, Any] = Field(description="fields -> source columns, preset, currency, timezone, source")
    rows_total: int
    rows_imported: int
    rows_rejected: int
    rows_already_imported: int = Field(description="lines an earlier import of the same source logged already")
    products_created: int
    members_created: int
    errors: list[ImportRowErrorOut] = Field(description="the first rejected rows (up to 200) and notes")
    started_at: datetime
    finished_at: datetime | None


class TransactionImportsOut(BaseModel):
    items: list[TransactionImportOut]

# --- recommendations and training runs ---




class RecommendationOut(BaseModel):
    """One suggested product she can get, and why it is there."""

    product_id: str
    gtin: str
    title: str
    brand: str
    category: str
    price_minor: int = Field(description="at the asked channel, in minor units of `currency`")
    currency: str
    kind: str = Field(description="for_you | bought_together | popular_here | popular_age_band | due_soon | "
                                   "attributes")
    reason: str = Field(description='why, in words: "Bought with Rose Toner", "Popular here", "Fits dry skin"')
    score: float
    reach: str = Field(description="here (in stock at the location) | delivery | shipping (from another location "
                                    "of the merchant) | elsewhere (no location asked)")
    reach_text: str
    available_here: int
    from_location_id: str | None


class RecommendationsOut(BaseModel):
    kind: str = Field(description="the kind asked for, or `blend` (for_you, due_soon, popular in her age band, "
                                   "popular here)")
    location_id: str | None
    personal: bool = Field(description="whether her purchase history shaped the answer (needs her consent)")
    items: list[RecommendationOut]
    notes: list[str]


class TrainingRunIn(BaseModel):
    kind: str = Field("recommendations", description="recommendations")
    merchant_id: str | None = Field(None, max_length=40, description="network admins name the merchant")


class TrainingRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    merchant_id: str
    kind: str
    status: str = Field(description="requested | running | finished | failed")
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    seconds: float | None
    peak_memory_bytes: int | None
    events_used: int | None
    details: dict[str, Any]


# --- purchase suggestions and leftovers ---



class PurchaseSuggestionsBuildIn(BaseModel):
    """Build the current suggested purchase order of one store, or of each of the merchant's stores."""

    model_config = ConfigDict(extra="forbid")
    merchant_id: str | None = Field(None, max_length=40, description="network admins name the merchant")
    location_id: str | None = Field(None, max_length=40, description="one store; every store when left out")
    lead_time_days: int = Field(1, ge=0, le=60, description="days from ordering to the goods on the shelf")
    review_days: int = Field(1, ge=1, le=60, description="days until the next order (1: order every day)")
    service_level: float = Field(0.95, ge=0.5, lt=1, description="chance a cycle ends without running out")
    cost_share: float = Field(0.6, gt=0, le=1, description="cost as a share of the price (OAO has no cost "
                                                            "prices yet)")
    markdown_share: float = Field(0.5, ge=0, le=1, description="markdown price as a share of the price")


class PurchaseSuggestionLineOut(BaseModel):
    id: str
    product_id: str
    gtin: str
    title: str
    suggested_quantity: int
    quantity: int = Field(description="what will be (or was) ordered: edited or as suggested")
    reason: dict[str, Any] = Field(description="the figures behind the quantity: forecast, error sd, on hand, "
                                                 "reserved, on order, reorder point and order-up-to level, or the "
                                                 "newsvendor's critical ratio, price, assumed cost and markdown value")


class PurchaseSuggestionOut(BaseModel):
    id: str
    merchant_id: str
    location_id: str
    status: str = Field(description="proposed | accepted | rejected | superseded")
    created_at: datetime
    expected_at: datetime = Field(description="when accepted goods would arrive (creation + lead time)")
    decided_at: datetime | None
    decided_by: str | None
    lines: list[PurchaseSuggestionLineOut]
    receipts: list[ExpectedReceiptOut] = Field(description="expected receipts an accepted suggestion created")


class PurchaseSuggestionsBuiltOut(BaseModel):
    suggestions: list[PurchaseSuggestionOut] = Field(description="one per store with something to order")
    superseded: list[str] = Field(description="earlier proposals these replace")


class PurchaseSuggestionAcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quantities: dict[str, int] | None = Field(None, description="line id -> units to order (0 drops the line); "
                                                                 "lines not named are ordered as suggested")


class LeftoverDecisionOut(BaseModel):
    product_id: str
    title: str
    leftover: int
    forecast_today: float
    remaining_demand: float = Field(description="forecast demand for the rest of today's opening hours")
    price_minor: int
    currency: str
    action: str = Field(description="keep | markdown | move | write_off")
    full_price_units: int
    markdown_price_minor: int | None
    markdown_units: int
    channel: str | None
    move_units: int
    waste_units: int
    expected_revenue_minor: int
    explanation: str


class LeftoversOut(BaseModel):
    location_id: str
    at: datetime
    closes_at: datetime | None
    open_share_left: float = Field(description="share of today's opening hours still ahead")
    decisions: list[LeftoverDecisionOut]
    without_forecast: list[str] = Field(description="perishable products with stock but no forecast")
