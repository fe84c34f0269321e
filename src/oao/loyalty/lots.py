"""Earn lots on the database: what of a member's balance came from where, and when it expires.

Every credit to a member account adds a lot and every debit takes from lots, so
the unspent remainders of a member's lots always equal the account's available
balance. Callers take from lots *after* the ledger UPDATE of the member account
succeeded: that UPDATE holds the account's row lock, so lot takers of one member
are serialised and lock in the same order (account, then lots).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from oao.core.ids import new_id
from oao.loyalty import ledger
from oao.loyalty.models import Lot
from oao.loyalty.transfers import InsufficientPoints

LOTS = Lot.__table__
_FAR = datetime.max.replace(year=9999)


@dataclass(frozen=True, slots=True)
class Taken:
    lot_id: str
    points: int
    issuer_merchant_id: str | None
    expires_at: datetime | None


def add(session: Session, *, account_id: str, programme_id: str, member_id: str, issuer_merchant_id: str | None,
        points: int, earned_at: datetime, expires_at: datetime | None, transfer_id: str) -> str:
    """A new lot of `points` on the member's account."""
    lot_id = new_id("lot")
    session.execute(LOTS.insert().values(
        id=lot_id, account_id=account_id, programme_id=programme_id, member_id=member_id,
        issuer_merchant_id=issuer_merchant_id, points=points, remaining=points, earned_at=earned_at,
        expires_at=expires_at, transfer_id=transfer_id))
    return lot_id


def take(session: Session, *, account_id: str, points: int, first: str | None = None) -> list[Taken]:
    """Take `points` from the account's lots, soonest to expire first (lot `first` before all)."""
    rows = session.execute(select(LOTS.c.id, LOTS.c.remaining, LOTS.c.issuer_merchant_id, LOTS.c.expires_at,
                                  LOTS.c.earned_at).where(LOTS.c.account_id == account_id, LOTS.c.remaining > 0)).all()
    by_id = {r.id: r for r in rows}
    open_lots = [ledger.Lot(r.id, r.remaining, ((r.expires_at or _FAR).replace(tzinfo=None), r.earned_at.replace(
        tzinfo=None), r.id)) for r in rows]
    try:
        plan = ledger.allocate(open_lots, points, first=first)
    except ledger.LedgerError as exc:
        raise InsufficientPoints(str(exc)) from None
    taken = []
    for lot_id, n in plan:
        done = session.execute(update(LOTS).where(LOTS.c.id == lot_id, LOTS.c.remaining >= n)
                               .values(remaining=LOTS.c.remaining - n)).rowcount
        if done != 1:
            raise InsufficientPoints("The points were spent or expired meanwhile; try again.")
        row = by_id[lot_id]
        taken.append(Taken(lot_id, n, row.issuer_merchant_id, row.expires_at))
    return taken


def give_back(session: Session, *, lot_id: str, points: int) -> None:
    """Return held points to the lot they came from (a void, or the unused part of a post)."""
    if points > 0:
        session.execute(update(LOTS).where(LOTS.c.id == lot_id).values(remaining=LOTS.c.remaining + points))
