"""Reading the money ledger: statements, the settlement run for all merchants, and
the reconciliation of ledger proceeds against the payments domain.

The reconciliation reads the payments tables, not the outbox: it is an
independent cross-check of the ledger (an event lost, an entry edited by hand,
a posting rule gone wrong all show up as a difference).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, union_all
from sqlalchemy.orm import Session

from oao.core.outbox import OutboxEvent
from oao.network import service as network
from oao.payments.models import PaymentIntent, PaymentRefund
from oao.settlement import book, statements
from oao.settlement import postings as p
from oao.settlement.consumer import IN_STORE, unposted
from oao.settlement.models import LedgerEntry
from oao.settlement.statements import EntryRow, Position, Statement

E = LedgerEntry.__table__.c


@dataclass(slots=True)
class StatementCheck:
    """The statement against the ledger and against the payments captured in its period."""

    ledger_closing_minor: int   # an independent SUM over the account up to the end
    captured_minor: int         # wallet payments captured for the merchant in the period, net of refunds
    proceeds_minor: int         # sale − refund entries in the statement
    unposted_sources: int

    @property
    def reconciled(self) -> bool:
        return self.captured_minor == self.proceeds_minor


def statement(session: Session, *, merchant_id: str, start: datetime, end: datetime,
              currency: str | None = None) -> Statement:
    """One merchant's payable over [start, end): opening, each entry, totals by kind, closing."""
    merchant = network.get_merchant(session, merchant_id=merchant_id)
    currency = currency or merchant.currency
    account = p.merchant_account(merchant_id)
    opening = book.balance(session, account=account, currency=currency, before=start)
    # One indexed range per side, UNION ALL (an entry never has the same account on both sides): an OR
    # over the two columns would make SQLite scan the whole table.
    sides = [select(E.id, E.kind, E.debit_account, E.credit_account, E.amount_minor, E.reference, E.booked_at)
             .where(column == account, E.currency == currency, E.booked_at >= start, E.booked_at < end)
             for column in (E.debit_account, E.credit_account)]
    both = union_all(*sides).subquery()
    query = select(both).order_by(both.c.booked_at, both.c.id)
    rows = (EntryRow(*r) for r in session.execute(query))
    return statements.build(merchant_id=merchant_id, merchant_name=merchant.name, account=account, currency=currency,
                            start=start, end=end, opening_minor=opening, rows=rows)


def _captured_in(session: Session, *, merchant_id: str, currency: str, start: datetime, end: datetime) -> int:
    """Wallet money captured for the merchant in the period, net of wallet refunds (from the outbox)."""
    total = 0
    events = session.execute(select(OutboxEvent.type, OutboxEvent.payload).where(
        OutboxEvent.merchant_id == merchant_id, OutboxEvent.type.in_(("payment.succeeded",
                                                                      "payment.refund_succeeded")),
        OutboxEvent.occurred_at >= start, OutboxEvent.occurred_at < end))
    for type_, payload in events:
        if not isinstance(payload, dict) or payload.get("provider") == IN_STORE or payload.get("currency") != currency:
            continue
        if type_ == "payment.succeeded":
            total += int(payload.get("amount_minor") or 0)
        else:
            total -= int(payload.get("refund_amount_minor") or 0)
    return total


def check_statement(session: Session, st: Statement) -> StatementCheck:
    return StatementCheck(
        ledger_closing_minor=book.balance(session, account=p.merchant_account(st.merchant_id), currency=st.currency,
                                          before=st.end),
        captured_minor=_captured_in(session, merchant_id=st.merchant_id, currency=st.currency, start=st.start,
                                    end=st.end),
        proceeds_minor=st.proceeds_minor, unposted_sources=unposted(session))


# --- settlement run ---------------------------------------------------------------------------------------

@dataclass(slots=True)
class SettlementRun:
    start: datetime
    end: datetime
    positions: list[Position]
    entries_read: int
    mismatches: list[str] = field(default_factory=list)  # accounts whose closing differs from the ledger's SUM


def settlement_run(session: Session, *, start: datetime, end: datetime, verify: bool = True,
                   batch: int = 20_000) -> SettlementRun:
    """Every merchant's position for [start, end): opening, totals by kind, closing.

    Openings are one GROUP BY per side; the period's entries are streamed once in batches (memory stays
    bounded by the number of merchants × kinds, not the number of entries). With `verify`, each closing
    is checked against an independent SUM up to `end`.
    """
    openings = book.balances(session, before=start, prefix="merchant:")
    query = (select(E.kind, E.debit_account, E.credit_account, E.amount_minor, E.currency)
             .where(E.booked_at >= start, E.booked_at < end).execution_options(yield_per=batch))
    read = 0

    def rows():  # type: ignore[no-untyped-def]
        nonlocal read
        for row in session.execute(query):
            read += 1
            yield row

    positions = statements.run(((a, c, b) for (a, c), b in openings.items()), rows())
    result = SettlementRun(start, end, sorted(positions.values(), key=lambda x: (x.account, x.currency)), read)
    if verify:
        closing = book.balances(session, before=end, prefix="merchant:")
        for pos in result.positions:
            if closing.get((pos.account, pos.currency), 0) != pos.closing_minor:
                result.mismatches.append(f"{pos.account} {pos.currency}")
    return result


# --- reconciliation ---------------------------------------------------------------------------------------

@dataclass(slots=True)
class Difference:
    merchant_id: str
    currency: str
    captured_minor: int   # succeeded wallet payments
    refunded_minor: int   # succeeded refunds of them
    ledger_minor: int     # sale − refund entries posted for those payments (plus stray ones)
    intents: list[dict[str, Any]] = field(default_factory=list)  # the payments that differ (first 50)

    @property
    def expected_minor(self) -> int:
        return self.captured_minor - self.refunded_minor

    @property
    def difference_minor(self) -> int:
        return self.ledger_minor - self.expected_minor


@dataclass(slots=True)
class Reconciliation:
    rows: list[Difference]
    unposted_sources: int
    unbalanced_currencies: list[str]  # debits ≠ credits over all accounts (never, unless the table was edited)

    @property
    def differences(self) -> list[Difference]:
        return [r for r in self.rows if r.difference_minor != 0 or r.intents]

    @property
    def ok(self) -> bool:
        return not self.differences and not self.unbalanced_currencies


def reconciliation(session: Session, *, merchant_id: str | None = None) -> Reconciliation:
    """Ledger proceeds against captured payments, per merchant and currency, and payment by payment."""
    refunded = (select(PaymentRefund.intent_id, func.sum(PaymentRefund.amount_minor).label("refunded"))
                .where(PaymentRefund.status == "succeeded").group_by(PaymentRefund.intent_id).subquery())
    intents = (select(PaymentIntent.id, PaymentIntent.merchant_id, PaymentIntent.currency, PaymentIntent.amount_minor,
                      func.coalesce(refunded.c.refunded, 0))
               .outerjoin(refunded, refunded.c.intent_id == PaymentIntent.id)
               .where(PaymentIntent.status == "succeeded", PaymentIntent.provider != IN_STORE))
    if merchant_id is not None:
        intents = intents.where(PaymentIntent.merchant_id == merchant_id)
    expected = {row[0]: (row[1], row[2], int(row[3]), int(row[4])) for row in session.execute(intents)}

    signed = case((E.credit_account.like("merchant:%"), E.amount_minor), else_=-E.amount_minor)
    ledger_q = (select(E.reference, E.currency, func.min(E.credit_account), func.min(E.debit_account),
                       func.sum(signed)).where(E.kind.in_(p.PROCEEDS_KINDS)).group_by(E.reference, E.currency))
    ledger: dict[str, tuple[str, str, int]] = {}
    for reference, currency, credit, debit, amount in session.execute(ledger_q):
        owner = p.merchant_of(credit) or p.merchant_of(debit) or "?"
        if merchant_id is not None and reference not in expected and owner != merchant_id:
            continue
        ledger[reference] = (owner, currency, int(amount))

    rows: dict[tuple[str, str], Difference] = {}
    for intent_id in sorted(set(expected) | set(ledger)):
        if intent_id in expected:
            owner, currency, captured, refunds = expected[intent_id]
        else:
            owner, currency, captured, refunds = ledger[intent_id][0], ledger[intent_id][1], 0, 0
        posted = ledger.get(intent_id, (owner, currency, 0))[2]
        row = rows.setdefault((owner, currency), Difference(owner, currency, 0, 0, 0))
        row.captured_minor += captured
        row.refunded_minor += refunds
        row.ledger_minor += posted
        if posted != captured - refunds and len(row.intents) < 50:
            row.intents.append({"intent_id": intent_id, "expected_minor": captured - refunds, "ledger_minor": posted})
    totals = book.balances(session)
    by_currency: dict[str, int] = {}
    for (_, currency), amount in totals.items():
        by_currency[currency] = by_currency.get(currency, 0) + amount
    return Reconciliation(rows=sorted(rows.values(), key=lambda r: (r.merchant_id, r.currency)),
                          unposted_sources=unposted(session),
                          unbalanced_currencies=sorted(c for c, v in by_currency.items() if v != 0))


def reconciliation_text(session: Session, *, merchant_id: str | None = None) -> tuple[bool, str]:
    """The reconciliation as lines for a terminal (CLI, cron mail): (ok, text)."""
    rec = reconciliation(session, merchant_id=merchant_id)
    out = [f"settlement reconciliation: {'OK' if rec.ok else 'DIFFERENCES'} "
           f"({len(rec.rows)} merchant/currency rows, {rec.unposted_sources} sources not posted yet)"]
    for row in rec.rows:
        mark = "  " if row.difference_minor == 0 and not row.intents else "!!"
        out.append(f"{mark} {row.merchant_id} {row.currency}: captured {row.captured_minor} − refunded "
                   f"{row.refunded_minor} = {row.expected_minor}; ledger {row.ledger_minor}; "
                   f"difference {row.difference_minor}")
        for intent in row.intents:
            out.append(f"     payment {intent['intent_id']}: expected {intent['expected_minor']}, "
                       f"ledger {intent['ledger_minor']}")
    for currency in rec.unbalanced_currencies:
        out.append(f"!! {currency}: debits and credits differ")
    return rec.ok, "\n".join(out)
