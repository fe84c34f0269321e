"""Pydantic in/out shapes of the catalog API, and the checks shared with the importer.

`check_*` functions raise ValueError with a message fit for a person; the
schemas turn that into a 422 field error, the service and importer into
InvalidInput or a row error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from oao.catalog.gtin import InvalidGtin, validate_gtin
from oao.core.money import is_currency

# Sales channels a merchant may price differently on purpose; anything else is a typo.
CHANNELS = ("online", "store", "kiosk")
ImportKind = Literal["products", "offers", "stock"]


def check_gtin(value: str) -> str:
    try:
        return validate_gtin(value)
    except InvalidGtin as exc:
        raise ValueError(str(exc)) from None


def check_currency(value: str) -> str:
    if not is_currency(value):
        raise ValueError(f"currency {value!r} is not a supported ISO 4217 code such as CNY or EUR")
    return value


def check_price(name: str, value: Any) -> int:
    # bool is an int to Python, but `true` is never a price.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number of minor units (1299 for 12.99), got {value!r}")  # noqa: TRY004
    if value <= 0:
        raise ValueError(f"{name} must be more than 0, got {value}")
    return value


def check_channel_prices(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ValueError('channel_prices must be an object such as {"online": 1199}')  # noqa: TRY004
    out = {}
    for channel, price in value.items():
        if channel not in CHANNELS:
            raise ValueError(f"channel_prices: {channel!r} is not a channel; use {', '.join(CHANNELS)}")
        out[channel] = check_price(f"channel_prices.{channel}", price)
    return out


# --- products ---------------------------------------------------------------------------

AttributeValue = str | int | float | bool


class ProductIn(BaseModel):
    gtin: str = Field(description="GTIN-8, -12 (UPC-A), -13 (EAN) or -14, check digit included")
    title: str = Field(min_length=1, max_length=300)
    brand: str = Field("", max_length=120)
    category: str = Field("", max_length=120)
    attributes: dict[str, AttributeValue] = Field(default_factory=dict, description='e.g. {"size": "42"}')
    perishable: bool = False
    shelf_life_days: int | None = Field(None, ge=1, le=36500)

    @field_validator("gtin")
    @classmethod
    def _gtin(cls, v: str) -> str:
        return check_gtin(v)

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("title cannot be blank")
        return v.strip()


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    gtin: str
    gtin14: str = Field(description="the GTIN zero-padded to 14 digits")
    title: str
    brand: str
    category: str
    attributes: dict[str, Any]
    perishable: bool
    shelf_life_days: int | None
    created_by_merchant_id: str | None
    created_at: datetime


class ProductPage(BaseModel):
    items: list[ProductOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


# --- offers -----------------------------------------------------------------------------

class OfferIn(BaseModel):
    product_id: str
    merchant_id: str | None = Field(None, description="defaults to the caller's merchant")
    price_minor: StrictInt = Field(gt=0, description="the one price everywhere, in minor units")
    currency: str
    channel_prices: dict[str, int] = Field(
        default_factory=dict, description='set only to price a channel differently on purpose: '
                                          '{"online": 1199}; channels: online, store, kiosk')
    active: bool = True

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        return check_currency(v)

    @field_validator("channel_prices", mode="before")
    @classmethod
    def _channels(cls, v: Any) -> dict[str, int]:
        return check_channel_prices(v)


class OfferOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    merchant_id: str
    product_id: str
    price_minor: int
    currency: str
    channel_prices: dict[str, int]
    active: bool
    updated_at: datetime


class OfferPage(BaseModel):
    items: list[OfferOut]
    next_cursor: str | None


# --- imports ----------------------------------------------------------------------------

class ImportRowError(BaseModel):
    line: int = Field(description="1-based line of the file; the header is line 1")
    message: str


class ImportReportOut(BaseModel):
    kind: ImportKind
    rows_total: int
    rows_imported: int = Field(description="rows that created or changed something")
    rows_unchanged: int = Field(description="rows already true: product already in the catalog, "
                                            "same price, same count")
    errors: list[ImportRowError]


class ImportFingerprint(BaseModel):
    """What makes two uploads the same request, for Idempotency-Key replays."""

    kind: ImportKind
    merchant_id: str | None
    sha256: str
