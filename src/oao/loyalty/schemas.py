"""Pydantic in/out shapes of the loyalty API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from oao.loyalty.ledger import MAX_AMOUNT

Points = Annotated[StrictInt, Field(ge=1, le=MAX_AMOUNT, description="whole points")]
Percent = Annotated[StrictInt, Field(ge=0, le=100_000, description="percent: 100 = x1, 200 = x2")]
Ref = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
Channel = Literal["online", "till", "kiosk", "self_checkout"]


class TierIn(BaseModel):
    name: str = Field(min_length=1, max_length=40)
    min_spend_minor: StrictInt = Field(ge=0, le=MAX_AMOUNT, description="rolling 12-month spend that reaches it")


class ProgrammeIn(BaseModel):
    merchant_id: str | None = Field(None, min_length=1, max_length=40,
                                    description="your merchant; null (network admins) configures the network's")
    name: str = Field(min_length=1, max_length=120)
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217")
    value_minor: StrictInt = Field(ge=1, le=MAX_AMOUNT, description="minor units paid by `value_points` points")
    value_points: StrictInt = Field(1, ge=1, le=MAX_AMOUNT)
    expiry_days: StrictInt | None = Field(None, ge=1, le=36_600, description="each earn lot expires after; null: never")
    tiers: list[TierIn] = Field(default_factory=list, max_length=20)


class ProgrammeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    merchant_id: str | None
    name: str
    currency: str
    value_minor: int
    value_points: int
    expiry_days: int | None
    tiers: list[TierIn]
    network_rate_num: int | None = Field(description="network points per `network_rate_den` of these points")
    network_rate_den: int | None
    active: bool


class ConversionRateIn(BaseModel):
    network_points: StrictInt = Field(ge=1, le=10**9)
    per_points: StrictInt = Field(ge=1, le=10**9, description="this programme's points converting into them")


class RuleIn(BaseModel):
    merchant_id: str | None = Field(None, min_length=1, max_length=40,
                                    description="whose sales earn; null: every merchant (network programme only)")
    name: str = Field(min_length=1, max_length=120)
    points: StrictInt = Field(ge=1, le=10**9, description="points earned per `per_minor` minor units spent")
    per_minor: StrictInt = Field(ge=1, le=10**12)
    category_multipliers: dict[Annotated[str, Field(min_length=1, max_length=80)], Percent] = Field(
        default_factory=dict, max_length=1000)
    product_multipliers: dict[Annotated[str, Field(min_length=1, max_length=80)], Percent] = Field(
        default_factory=dict, max_length=1000)
    channel_multipliers: dict[Channel, Percent] | None = Field(
        None, description="default: self_checkout earns double")
    min_basket_minor: StrictInt = Field(0, ge=0, le=MAX_AMOUNT)
    cap_points: StrictInt | None = Field(None, ge=0, le=MAX_AMOUNT)
    cap_period: Literal["day", "month", "year"] | None = None


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    programme_id: str
    merchant_id: str | None
    name: str
    points: int
    per_minor: int
    category_multipliers: dict[str, int]
    product_multipliers: dict[str, int]
    channel_multipliers: dict[str, int]
    min_basket_minor: int
    cap_points: int | None
    cap_period: str | None
    active: bool


class TransferOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    programme_id: str
    debit_account_id: str
    credit_account_id: str
    amount: int
    kind: str
    pending_id: str | None
    code: str
    linked_id: str | None
    timeout_at: datetime | None
    reference: str | None
    created_at: datetime
    seq: str = Field(description="creation order; pass as `after` for the next page")


class SettlementEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    programme_id: str
    kind: str
    debtor_merchant_id: str | None = Field(description="who owes (null: the network)")
    creditor_merchant_id: str | None = Field(description="who is owed (null: the network)")
    points: int
    amount_minor: int
    currency: str
    hold_id: str | None
    transfer_id: str
    reverses_entry_id: str | None
    created_at: datetime


class BalanceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    programme_id: str
    programme_name: str
    merchant_id: str | None
    currency: str
    available: int
    held: int
    value_minor: int
    tier: str | None
    next_expiry_at: datetime | None
    next_expiry_points: int


class StatementLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    transfer_id: str
    at: datetime
    code: str
    kind: str
    points: int
    balance_after: int
    reference: str | None


class GrantIn(BaseModel):
    grant_id: Ref = Field(description="your id for this grant; a retry with it grants once")
    programme_id: str = Field(min_length=1, max_length=40)
    points: Points
    reason: str = Field(min_length=1, max_length=120)


class GrantOut(BaseModel):
    transfer_id: str


class HoldIn(BaseModel):
    hold_id: Ref = Field(description="your checkout's id for the hold; a retry with it holds once")
    member_ref: Ref | None = Field(None, description="the member's reference for your merchant (from a scanned "
                                                     "member code or the shared login)")
    member_id: Ref | None = Field(None, description="network admins only: the member's internal id")
    programme_id: str = Field(min_length=1, max_length=40)
    points: Points
    merchant_id: str | None = Field(None, min_length=1, max_length=40,
                                    description="accepting merchant (network admins); default: yours")
    sale_ref: Ref | None = None
    ttl_seconds: StrictInt = Field(900, ge=10, le=86_400, description="voided after this unless posted")


class PostHoldIn(BaseModel):
    points: Points | None = Field(None, description="fewer than held: the rest goes back; default all")
    sale_ref: Ref | None = None


class HoldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    programme_id: str
    member_ref: str | None = Field(None, description="the member's reference for the accepting merchant")
    accepting_merchant_id: str
    points: int
    status: str
    posted_points: int | None
    points_restored: int
    sale_ref: str | None
    expires_at: datetime
    created_at: datetime
    resolved_at: datetime | None
    value_minor: int = Field(0, description="what the held (or posted) points pay for")
