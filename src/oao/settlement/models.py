"""Tables of the settlement domain: the money ledger between merchants.

`settlement_entries` is append-only: one row moves a positive amount from a
debit account to a credit account (codes, see postings.py), so debits equal
credits by construction; the id is chosen by the caller and makes a retry a
no-op. `settlement_sources` remembers every business fact that fed the ledger
(an outbox event, a loyalty settlement entry), even when it posted nothing, so
the points scan never reads a row twice and returns can be summed per order.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from oao.core.db import Base


class LedgerEntry(Base):
    __tablename__ = "settlement_entries"
    __table_args__ = (
        # A statement reads one account over a period, from either side of the entry.
        Index("ix_settlement_entries_debit", "debit_account", "currency", "booked_at"),
        Index("ix_settlement_entries_credit", "credit_account", "currency", "booked_at"),
        Index("ix_settlement_entries_booked", "booked_at"),
    )

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    debit_account: Mapped[str] = mapped_column(String(100))
    credit_account: Mapped[str] = mapped_column(String(100))
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # always > 0
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(120), index=True)  # payment intent, order, hold…
    source_id: Mapped[str | None] = mapped_column(String(120))  # the event or loyalty entry it came from
    reverses_id: Mapped[str | None] = mapped_column(String(120), index=True)
    basis_minor: Mapped[int | None] = mapped_column(BigInteger)  # what the amount was computed on
    booked_at: Mapped[datetime]  # when the business fact happened: decides the statement period
    created_at: Mapped[datetime]


class Source(Base):
    __tablename__ = "settlement_sources"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    reference: Mapped[str | None] = mapped_column(String(120), index=True)
    basis_minor: Mapped[int | None] = mapped_column(BigInteger)  # returned goods for a return
    booked_at: Mapped[datetime]
    created_at: Mapped[datetime]
