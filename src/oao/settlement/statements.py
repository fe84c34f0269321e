"""Settlement statements, as pure functions: lines with a running balance, totals
by kind, and the CSV and printable HTML a merchant downloads.

A statement covers one merchant's payable in one currency over [start, end):
opening balance (every entry before start), each entry in the period, closing
balance. Amounts are signed from the merchant's side: + the operator owes it
more, − it owes more (or was paid out). closing = opening + sum(lines) =
opening + sum(totals by kind), all in integers, so it reconciles to the cent.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from oao.settlement.postings import PROCEEDS_KINDS, signed_for


@dataclass(frozen=True, slots=True)
class EntryRow:
    id: str
    kind: str
    debit: str
    credit: str
    amount_minor: int
    reference: str
    booked_at: datetime


@dataclass(frozen=True, slots=True)
class Line:
    entry_id: str
    booked_at: datetime
    kind: str
    reference: str
    counterpart: str
    amount_minor: int  # signed, the merchant's side
    balance_minor: int


@dataclass(slots=True)
class Statement:
    merchant_id: str
    merchant_name: str
    currency: str
    start: datetime
    end: datetime
    opening_minor: int
    lines: list[Line] = field(default_factory=list)
    totals_by_kind: dict[str, int] = field(default_factory=dict)
    closing_minor: int = 0

    @property
    def proceeds_minor(self) -> int:
        """Sale proceeds net of refunds in the period: what reconciles to captured payments."""
        return sum(v for k, v in self.totals_by_kind.items() if k in PROCEEDS_KINDS)


def build(*, merchant_id: str, merchant_name: str, account: str, currency: str, start: datetime, end: datetime,
          opening_minor: int, rows: Iterable[EntryRow]) -> Statement:
    """The statement of `account` from its opening balance and the period's entries (in booking order)."""
    statement = Statement(merchant_id=merchant_id, merchant_name=merchant_name, currency=currency, start=start,
                          end=end, opening_minor=opening_minor)
    balance = opening_minor
    for row in rows:
        amount = signed_for(account, debit=row.debit, credit=row.credit, amount=row.amount_minor)
        balance += amount
        counterpart = row.debit if row.credit == account else row.credit
        statement.lines.append(Line(row.id, row.booked_at, row.kind, row.reference, counterpart, amount, balance))
        statement.totals_by_kind[row.kind] = statement.totals_by_kind.get(row.kind, 0) + amount
    statement.closing_minor = balance
    return statement


def money(minor: int) -> str:
    """Minor units as a decimal string with two places (CNY fen, USD cents), exact: no float on the way."""
    sign = "-" if minor < 0 else ""
    whole, part = divmod(abs(minor), 100)
    return f"{sign}{whole}.{part:02d}"


def to_csv(statement: Statement) -> str:
    """One row per entry, then the opening, totals by kind and closing rows (amounts in minor units)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["row", "booked_at", "entry_id", "kind", "reference", "counterpart", "amount_minor",
                     "balance_minor", "currency"])
    writer.writerow(["opening", statement.start.isoformat(), "", "", "", "", "", statement.opening_minor,
                     statement.currency])
    for line in statement.lines:
        writer.writerow(["entry", line.booked_at.isoformat(), line.entry_id, line.kind, line.reference,
                         line.counterpart, line.amount_minor, line.balance_minor, statement.currency])
    for kind, total in sorted(statement.totals_by_kind.items()):
        writer.writerow(["total", "", "", kind, "", "", total, "", statement.currency])
    writer.writerow(["closing", statement.end.isoformat(), "", "", "", "", "", statement.closing_minor,
                     statement.currency])
    return out.getvalue()


_STYLE = ("body{font-family:system-ui,sans-serif;margin:2rem;color:#111}table{border-collapse:collapse;width:100%}"
          "th,td{border-bottom:1px solid #ccc;padding:.3rem .5rem;text-align:left}td.n,th.n{text-align:right;"
          "font-variant-numeric:tabular-nums}tfoot td{font-weight:600}@media print{body{margin:0}}")


def to_html(statement: Statement, *, operator_name: str = "OAO network") -> str:
    """A printable page (print to PDF from the browser); every value escaped."""
    e = html.escape
    cur = e(statement.currency)
    rows = "".join(
        f"<tr><td>{e(l.booked_at.strftime('%Y-%m-%d %H:%M'))}</td><td>{e(l.kind)}</td><td>{e(l.reference)}</td>"
        f"<td>{e(l.counterpart)}</td><td class=n>{money(l.amount_minor)}</td><td class=n>{money(l.balance_minor)}"
        f"</td></tr>" for l in statement.lines)
    totals = "".join(f"<tr><td>{e(k)}</td><td class=n>{money(v)}</td></tr>"
                     for k, v in sorted(statement.totals_by_kind.items()))
    period = f"{statement.start.date().isoformat()} – {statement.end.date().isoformat()} (end exclusive)"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Settlement statement {e(statement.merchant_name)} {e(period)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>Settlement statement</h1><p>{e(operator_name)} · <strong>{e(statement.merchant_name)}</strong>"
        f" ({e(statement.merchant_id)}) · {e(period)} · {cur}</p>"
        f"<p>Opening balance: <strong>{money(statement.opening_minor)} {cur}</strong></p>"
        "<table><thead><tr><th>booked (UTC)</th><th>kind</th><th>reference</th><th>counterpart</th>"
        f"<th class=n>amount</th><th class=n>balance</th></tr></thead><tbody>{rows}</tbody></table>"
        f"<h2>Totals by kind</h2><table><tbody>{totals}</tbody><tfoot><tr><td>closing balance</td>"
        f"<td class=n>{money(statement.closing_minor)} {cur}</td></tr></tfoot></table>"
        "<p>A positive balance is owed to the merchant by the operator; a negative one is owed by the merchant."
        "</p></body></html>")


@dataclass(slots=True)
class Position:
    """One account's settlement for a period, without its lines (the settlement run)."""

    account: str
    currency: str
    opening_minor: int = 0
    totals_by_kind: dict[str, int] = field(default_factory=dict)
    entries: int = 0

    @property
    def closing_minor(self) -> int:
        return self.opening_minor + sum(self.totals_by_kind.values())


def run(openings: Iterable[tuple[str, str, int]], rows: Iterable[tuple[str, str, str, int, str]],
        *, accounts_of_interest: str = "merchant:") -> dict[tuple[str, str], Position]:
    """Positions of every account starting with `accounts_of_interest` from opening balances
    (account, currency, balance) and the period's entries (kind, debit, credit, amount, currency)."""
    positions: dict[tuple[str, str], Position] = {}
    for account, currency, balance in openings:
        if account.startswith(accounts_of_interest):
            positions[(account, currency)] = Position(account, currency, opening_minor=balance)
    for kind, debit, credit, amount, currency in rows:
        for account, signed in ((debit, -amount), (credit, amount)):
            if not account.startswith(accounts_of_interest):
                continue
            pos = positions.get((account, currency))
            if pos is None:
                pos = positions[(account, currency)] = Position(account, currency)
            pos.totals_by_kind[kind] = pos.totals_by_kind.get(kind, 0) + signed
            pos.entries += 1
    return positions
