"""Tables of coalition loyalty: programmes, earning rules, the points ledger
(accounts and immutable transfers), earn lots, holds, returns, conversions and
settlement entries between merchants.

Amounts are BigInteger. Transfers are append-only; a post or void names its
pending transfer in `pending_id`, unique, so a hold resolves exactly once.
Member ids are plain strings (members live in their own package).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from oao.core.db import Base

NETWORK = "network"  # owner_key of the network programme (merchant_id NULL)


class Programme(Base):
    __tablename__ = "loyalty_programmes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_key: Mapped[str] = mapped_column(String(40), unique=True)  # "network" or the merchant id
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    currency: Mapped[str] = mapped_column(String(3))
    value_minor: Mapped[int] = mapped_column(BigInteger)  # minor units paid for every value_points points
    value_points: Mapped[int] = mapped_column(BigInteger)
    expiry_days: Mapped[int | None] = mapped_column(Integer)  # None: points never expire
    tiers: Mapped[list[Any]]  # [{"name": "Gold", "min_spend_minor": 500000}, ...]
    # Published rate into network points: rate_num network points per rate_den of these.
    network_rate_num: Mapped[int | None] = mapped_column(BigInteger)
    network_rate_den: Mapped[int | None] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())


class EarningRule(Base):
    __tablename__ = "loyalty_earning_rules"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    programme_id: Mapped[str] = mapped_column(ForeignKey("loyalty_programmes.id"), index=True)
    merchant_id: Mapped[str | None] = mapped_column(String(40), index=True)  # None: every merchant's sales
    name: Mapped[str] = mapped_column(String(120))
    points: Mapped[int] = mapped_column(BigInteger)
    per_minor: Mapped[int] = mapped_column(BigInteger)
    category_multipliers: Mapped[dict[str, Any]]
    product_multipliers: Mapped[dict[str, Any]]
    channel_multipliers: Mapped[dict[str, Any]]
    min_basket_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    cap_points: Mapped[int | None] = mapped_column(BigInteger)
    cap_period: Mapped[str | None] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class Account(Base):
    __tablename__ = "loyalty_accounts"
    __table_args__ = (UniqueConstraint("programme_id", "kind", "owner_key", name="uq_loyalty_account_owner"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    programme_id: Mapped[str] = mapped_column(ForeignKey("loyalty_programmes.id"))
    # member | issuance (points a merchant gave out) | redemption (points a merchant accepted)
    # | clearing (conversions) | expiry
    kind: Mapped[str] = mapped_column(String(20))
    owner_key: Mapped[str] = mapped_column(String(80))  # member id, merchant id or "network"
    debits_must_not_exceed_credits: Mapped[bool] = mapped_column(Boolean, default=False)
    credits_must_not_exceed_debits: Mapped[bool] = mapped_column(Boolean, default=False)
    debits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    debits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]


class Transfer(Base):
    __tablename__ = "loyalty_transfers"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)  # given by the caller: retries reuse it
    # Sortable creation order (transfers of one instant keep the order they were written in).
    seq: Mapped[str] = mapped_column(String(40), index=True)
    # Few indexes on purpose: each one is written by every transfer (the hot path).
    programme_id: Mapped[str] = mapped_column(String(40))
    debit_account_id: Mapped[str] = mapped_column(String(40), index=True)
    credit_account_id: Mapped[str] = mapped_column(String(40), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(10))  # single | pending | post | void
    pending_id: Mapped[str | None] = mapped_column(String(120), unique=True)
    code: Mapped[str] = mapped_column(String(20))  # earn, spend, hold, expire, convert, reverse, restore, grant
    linked_id: Mapped[str | None] = mapped_column(String(120))  # legs applied all-or-nothing share it
    timeout_at: Mapped[datetime | None]
    reference: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime]


class Lot(Base):
    """Points a member got in one go (an earning, a conversion, a restore), spent oldest first."""

    __tablename__ = "loyalty_lots"
    __table_args__ = (Index("ix_loyalty_lots_account_open", "account_id", "remaining"),
                      Index("ix_loyalty_lots_expiry", "expires_at", "remaining"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(40))
    programme_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[str] = mapped_column(String(80), index=True)
    issuer_merchant_id: Mapped[str | None] = mapped_column(String(40))  # None: the network issued them
    points: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    earned_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    transfer_id: Mapped[str] = mapped_column(String(120))


class Earning(Base):
    __tablename__ = "loyalty_earnings"
    __table_args__ = (UniqueConstraint("event_id", "rule_id", name="uq_loyalty_earning_event_rule"),
                      Index("ix_loyalty_earnings_cap", "rule_id", "member_id", "earned_at"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40))
    rule_id: Mapped[str] = mapped_column(String(40))
    programme_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[str] = mapped_column(String(80), index=True)
    merchant_id: Mapped[str] = mapped_column(String(40))
    sale_ref: Mapped[str] = mapped_column(String(80), index=True)
    spend_minor: Mapped[int] = mapped_column(BigInteger)
    points: Mapped[int] = mapped_column(BigInteger)
    points_reversed: Mapped[int] = mapped_column(BigInteger, default=0)
    line_points: Mapped[list[Any]]
    transfer_id: Mapped[str] = mapped_column(String(120))
    lot_id: Mapped[str] = mapped_column(String(40))
    earned_at: Mapped[datetime]


class SpendRecord(Base):
    """Money a member spent (negative for returns), for tiers over a rolling 12 months."""

    __tablename__ = "loyalty_spend_records"
    __table_args__ = (Index("ix_loyalty_spend_member_at", "member_id", "at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source: Mapped[str] = mapped_column(String(120), unique=True)  # event id or return id
    member_id: Mapped[str] = mapped_column(String(80))
    merchant_id: Mapped[str] = mapped_column(String(40))
    sale_ref: Mapped[str] = mapped_column(String(80), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]


class Hold(Base):
    __tablename__ = "loyalty_holds"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # the caller's hold id
    programme_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[str] = mapped_column(String(80), index=True)
    account_id: Mapped[str] = mapped_column(String(40))
    accepting_merchant_id: Mapped[str] = mapped_column(String(40), index=True)
    points: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10))  # pending | posted | voided
    posted_points: Mapped[int | None] = mapped_column(BigInteger)
    points_restored: Mapped[int] = mapped_column(BigInteger, default=0)
    transfer_id: Mapped[str] = mapped_column(String(120))
    sale_ref: Mapped[str | None] = mapped_column(String(80), index=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class HoldAllocation(Base):
    __tablename__ = "loyalty_hold_allocations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    hold_id: Mapped[str] = mapped_column(String(80), index=True)
    lot_id: Mapped[str] = mapped_column(String(40))
    issuer_merchant_id: Mapped[str | None] = mapped_column(String(40))
    lot_expires_at: Mapped[datetime | None]
    points: Mapped[int] = mapped_column(BigInteger)
    posted_points: Mapped[int | None] = mapped_column(BigInteger)  # set when the hold posts


class SettlementEntry(Base):
    """Money one merchant (or the network, None) owes another for points, append-only."""

    __tablename__ = "loyalty_settlement_entries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    programme_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(24))  # redemption | redemption_reversal | conversion
    debtor_merchant_id: Mapped[str | None] = mapped_column(String(40), index=True)
    creditor_merchant_id: Mapped[str | None] = mapped_column(String(40), index=True)
    points: Mapped[int] = mapped_column(BigInteger)  # negative on a reversal
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # negative on a reversal
    currency: Mapped[str] = mapped_column(String(3))
    hold_id: Mapped[str | None] = mapped_column(String(80), index=True)
    transfer_id: Mapped[str] = mapped_column(String(120))
    reverses_entry_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]


class ReturnRecord(Base):
    __tablename__ = "loyalty_returns"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # the caller's return id
    sale_ref: Mapped[str] = mapped_column(String(80), index=True)
    returned_minor: Mapped[int] = mapped_column(BigInteger)
    sale_total_minor: Mapped[int] = mapped_column(BigInteger)
    points_reversed: Mapped[int] = mapped_column(BigInteger)
    points_restored: Mapped[int] = mapped_column(BigInteger)
    shortfall: Mapped[int] = mapped_column(BigInteger)  # earned points already spent, not reversible
    created_at: Mapped[datetime]


class Conversion(Base):
    __tablename__ = "loyalty_conversions"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # the caller's conversion id
    member_id: Mapped[str] = mapped_column(String(80), index=True)
    from_programme_id: Mapped[str] = mapped_column(String(40))
    to_programme_id: Mapped[str] = mapped_column(String(40))
    points_in: Mapped[int] = mapped_column(BigInteger)
    points_out: Mapped[int] = mapped_column(BigInteger)
    rate_num: Mapped[int] = mapped_column(BigInteger)
    rate_den: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
