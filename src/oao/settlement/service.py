"""Use cases of the settlement domain: the money ledger between merchants.

Posting from other domains' facts lives in consumer.py (worker job), reading
in reports.py; this module is the entry point other packages and the API use.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from oao.core.auth import Principal
from oao.core.errors import InvalidInput
from oao.core.outbox import record_event
from oao.network import service as network
from oao.settlement import book
from oao.settlement import postings as p
from oao.settlement.consumer import CONSUMER, EVENTS, post_from_outbox, unposted
from oao.settlement.models import LedgerEntry
from oao.settlement.reports import (
    Reconciliation,
    SettlementRun,
    StatementCheck,
    check_statement,
    reconciliation,
    reconciliation_text,
    settlement_run,
    statement,
)

__all__ = ["CONSUMER", "EVENTS", "Reconciliation", "SettlementRun", "StatementCheck", "check_statement",
           "list_entries", "post_from_outbox", "reconciliation", "reconciliation_text", "record_entry",
           "settlement_run", "statement", "unposted"]


def record_entry(session: Session, *, entry_id: str, kind: str, debit: str, credit: str, amount_minor: int,
                 currency: str, merchant_ids: list[str], reference: str, now: datetime) -> LedgerEntry:
    """Record an entry another part learned about (a federated pickup fee, a correction); idempotent by id.

    `debit` and `credit` are account codes (postings.py); `merchant_ids` must name exactly the merchants
    whose payables the entry touches, so nobody records money for a merchant by accident. A retry with the
    same id and body returns the first entry; the same id with another body is a 409.
    """
    named = {m for m in (p.merchant_of(debit), p.merchant_of(credit)) if m}
    if set(merchant_ids) != named:
        raise InvalidInput(f"merchant_ids must be the merchants the accounts name: {sorted(named)}, "
                           f"not {sorted(set(merchant_ids))}.")
    for merchant_id in sorted(named):
        network.get_merchant(session, merchant_id=merchant_id)  # 404 for an unknown merchant
    entry, created = book.write(session, entry_id=entry_id, kind=kind, debit=debit, credit=credit,
                                amount_minor=amount_minor, currency=currency, reference=reference, booked_at=now,
                                now=now)
    if created:
        record_event(session, type="settlement.entry_recorded", subject_id=entry_id[:40],
                     merchant_id=sorted(named)[0] if named else None,
                     payload={"entry_id": entry_id, "kind": kind, "debit": debit, "credit": credit,
                              "amount_minor": amount_minor, "currency": currency, "reference": reference,
                              "merchant_ids": sorted(named)}, at=now)
    return entry


def list_entries(session: Session, *, principal: Principal, merchant_id: str | None, start: datetime | None = None,
                 end: datetime | None = None, limit: int = 500) -> list[LedgerEntry]:
    """Entries touching a merchant's payable (merchants: their own only; network admins: any or all)."""
    if not principal.is_network_admin:
        merchant_id = merchant_id or principal.merchant_id
        principal.ensure_merchant(merchant_id, "merchant", merchant_id or "")
    query = select(LedgerEntry).order_by(LedgerEntry.booked_at, LedgerEntry.id).limit(limit)
    if merchant_id is not None:
        account = p.merchant_account(merchant_id)
        query = query.where((LedgerEntry.debit_account == account) | (LedgerEntry.credit_account == account))
    if start is not None:
        query = query.where(LedgerEntry.booked_at >= start)
    if end is not None:
        query = query.where(LedgerEntry.booked_at < end)
    return list(session.scalars(query))
