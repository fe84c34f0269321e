"""The money ledger on the database: writing entries exactly once, reading balances.

An entry is one INSERT … ON CONFLICT DO NOTHING on its caller-chosen id, so
two workers (or a retry) writing the same entry leave one row; a second write
of the same id with a different body is a Conflict, never a silent change.
There are no running totals to update: a balance is a SUM over the indexed
entries, so concurrent postings never queue on a hot account row (the
operator's cash is touched by every sale).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from oao.core.errors import Conflict, InvalidInput
from oao.core.money import is_currency
from oao.settlement.models import LedgerEntry
from oao.settlement.postings import PostingError, check_account, check_amount

ENTRIES = LedgerEntry.__table__
MAX_ID_LENGTH = 120
BODY = ("kind", "debit_account", "credit_account", "amount_minor", "currency", "reference")


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def write(session: Session, *, entry_id: str, kind: str, debit: str, credit: str, amount_minor: int,
          currency: str, reference: str, booked_at: datetime, now: datetime, source_id: str | None = None,
          reverses_id: str | None = None, basis_minor: int | None = None) -> tuple[LedgerEntry, bool]:
    """Write one entry; (entry, False) when it already existed with the same body (a retry)."""
    if not isinstance(entry_id, str) or not 1 <= len(entry_id) <= MAX_ID_LENGTH:
        raise InvalidInput(f"An entry id is 1 to {MAX_ID_LENGTH} characters.")
    if not isinstance(kind, str) or not 1 <= len(kind) <= 40:
        raise InvalidInput("An entry kind is 1 to 40 characters.")
    if not isinstance(reference, str) or not 1 <= len(reference) <= 120:
        raise InvalidInput("An entry reference is 1 to 120 characters.")
    if not is_currency(currency):
        raise InvalidInput(f"Currency {currency!r} is not a supported ISO 4217 code.")
    try:
        check_account(debit)
        check_account(credit)
        check_amount(amount_minor)
    except PostingError as exc:
        raise InvalidInput(str(exc)) from None
    if debit == credit:
        raise InvalidInput("An entry moves money between two different accounts.")
    values: dict[str, Any] = {"id": entry_id, "kind": kind, "debit_account": debit, "credit_account": credit,
                              "amount_minor": amount_minor, "currency": currency, "reference": reference,
                              "source_id": source_id, "reverses_id": reverses_id, "basis_minor": basis_minor,
                              "booked_at": booked_at, "created_at": now}
    stmt = _insert(session)(ENTRIES).values(**values).on_conflict_do_nothing().returning(ENTRIES.c.id)
    created = session.execute(stmt).first() is not None
    entry = session.get(LedgerEntry, entry_id, populate_existing=True)
    assert entry is not None
    if not created:
        changed = sorted(k for k in BODY if getattr(entry, k) != values[k])
        if changed:
            raise Conflict(f"Settlement entry {entry_id} already exists with a different {', '.join(changed)}.",
                           entry_id=entry_id)
    return entry, created


def balance(session: Session, *, account: str, currency: str, before: datetime | None = None) -> int:
    """Credits minus debits of the account (entries booked before `before`, or all)."""
    total = 0
    for side, sign in ((ENTRIES.c.credit_account, 1), (ENTRIES.c.debit_account, -1)):
        query = select(func.coalesce(func.sum(ENTRIES.c.amount_minor), 0)).where(
            side == account, ENTRIES.c.currency == currency)
        if before is not None:
            query = query.where(ENTRIES.c.booked_at < before)
        # int(): PostgreSQL sums a bigint as numeric (a Decimal).
        total += sign * int(session.scalar(query) or 0)
    return total


def balances(session: Session, *, before: datetime | None = None, prefix: str | None = None
             ) -> dict[tuple[str, str], int]:
    """Every account's balance as (account, currency) -> credits − debits: two GROUP BYs."""
    out: dict[tuple[str, str], int] = {}
    for side, sign in ((ENTRIES.c.credit_account, 1), (ENTRIES.c.debit_account, -1)):
        query = select(side, ENTRIES.c.currency, func.sum(ENTRIES.c.amount_minor)).group_by(side, ENTRIES.c.currency)
        if before is not None:
            query = query.where(ENTRIES.c.booked_at < before)
        if prefix is not None:
            query = query.where(side.like(f"{prefix}%"))
        for account, currency, amount in session.execute(query):
            out[(account, currency)] = out.get((account, currency), 0) + sign * int(amount)
    return out


def signed_sum_by(session: Session, *, account: str, kinds: tuple[str, ...], reference: str) -> int:
    """The account's balance over entries of `kinds` with this reference (what one payment did to it)."""
    c = ENTRIES.c
    signed = case((c.credit_account == account, c.amount_minor), else_=-c.amount_minor)
    return int(session.scalar(select(func.coalesce(func.sum(signed), 0)).where(
        c.reference == reference, c.kind.in_(kinds),
        (c.credit_account == account) | (c.debit_account == account))) or 0)


def entries_of(session: Session, *, reference: str, kinds: tuple[str, ...]) -> list[LedgerEntry]:
    return list(session.scalars(select(LedgerEntry).where(LedgerEntry.reference == reference,
                                                          LedgerEntry.kind.in_(kinds))
                                .order_by(LedgerEntry.booked_at, LedgerEntry.id)))


def reversed_of(session: Session, *, entry_id: str) -> int:
    """How much of an entry later entries reversed (they name it in reverses_id)."""
    return int(session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
        LedgerEntry.reverses_id == entry_id)) or 0)
