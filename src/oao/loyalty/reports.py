"""Read-only figures about a merchant's points for the merchant dashboard.

Issued: points members earned on this merchant's sales (earnings, net of
points taken back on returns). Redeemed: points members spent at this
merchant (posted holds, net of points given back on returns). Both are the
records the ledger transfers were written from, one row per earning or hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from oao.loyalty.models import Earning, Hold


@dataclass(frozen=True, slots=True)
class PointsMove:
    at: datetime
    points: int


def points_issued(session: Session, *, merchant_id: str, start: datetime, end: datetime) -> list[PointsMove]:
    """Points earned on the merchant's sales in [start, end), net of reversals."""
    rows = session.execute(select(Earning.earned_at, Earning.points, Earning.points_reversed)
                           .where(Earning.merchant_id == merchant_id, Earning.earned_at >= start,
                                  Earning.earned_at < end))
    return [PointsMove(at=r[0], points=int(r[1]) - int(r[2] or 0)) for r in rows]


def points_redeemed(session: Session, *, merchant_id: str, start: datetime, end: datetime) -> list[PointsMove]:
    """Points spent at the merchant (holds posted in [start, end)), net of points restored on returns."""
    rows = session.execute(select(Hold.resolved_at, Hold.posted_points, Hold.points_restored)
                           .where(Hold.accepting_merchant_id == merchant_id, Hold.status == "posted",
                                  Hold.resolved_at >= start, Hold.resolved_at < end))
    return [PointsMove(at=r[0], points=int(r[1] or 0) - int(r[2] or 0)) for r in rows]
