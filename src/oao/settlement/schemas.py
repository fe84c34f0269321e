"""Pydantic in/out shapes of the settlement API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from oao.settlement.postings import MAX_AMOUNT


class EntryIn(BaseModel):
    """A correction or an entry learned elsewhere (network admins): a new entry, never an edit."""

    entry_id: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")
    kind: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")
    debit: str = Field(min_length=1, max_length=100, description="account code, e.g. merchant:<id>, operator:fees")
    credit: str = Field(min_length=1, max_length=100)
    amount_minor: StrictInt = Field(ge=1, le=MAX_AMOUNT)
    currency: str = Field(min_length=3, max_length=3)
    merchant_ids: list[str] = Field(max_length=2, description="exactly the merchants the two accounts name")
    reference: str = Field(min_length=1, max_length=120)


class EntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    debit_account: str
    credit_account: str
    amount_minor: int
    currency: str
    reference: str
    source_id: str | None
    reverses_id: str | None
    basis_minor: int | None
    booked_at: datetime
    created_at: datetime


class StatementLineOut(BaseModel):
    entry_id: str
    booked_at: datetime
    kind: str
    reference: str
    counterpart: str
    amount_minor: int = Field(description="signed: + owed to the merchant, − owed by it")
    balance_minor: int


class StatementCheckOut(BaseModel):
    ledger_closing_minor: int = Field(description="an independent SUM over the ledger up to `to`")
    closing_matches_ledger: bool
    captured_minor: int = Field(description="wallet payments captured for the merchant in the period, net of refunds")
    proceeds_minor: int = Field(description="sale − refund entries of the statement")
    reconciled_to_payments: bool
    unposted_sources: int = Field(description="events not posted yet: a difference may only mean the worker is behind")


class StatementOut(BaseModel):
    merchant_id: str
    merchant_name: str
    currency: str
    start: datetime
    end: datetime
    opening_minor: int
    lines: list[StatementLineOut]
    totals_by_kind: dict[str, int]
    closing_minor: int
    check: StatementCheckOut


class PaymentDifferenceOut(BaseModel):
    intent_id: str
    expected_minor: int
    ledger_minor: int


class ReconciliationRowOut(BaseModel):
    merchant_id: str
    currency: str
    captured_minor: int
    refunded_minor: int
    expected_minor: int
    ledger_minor: int
    difference_minor: int
    payments: list[PaymentDifferenceOut]


class ReconciliationOut(BaseModel):
    ok: bool
    rows: list[ReconciliationRowOut]
    unposted_sources: int
    unbalanced_currencies: list[str]


class PositionOut(BaseModel):
    merchant_id: str
    currency: str
    opening_minor: int
    totals_by_kind: dict[str, int]
    closing_minor: int
    entries: int


class RunOut(BaseModel):
    start: datetime
    end: datetime
    entries_read: int
    positions: list[PositionOut]
    mismatches: list[str]
