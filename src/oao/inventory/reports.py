"""Read-only stock figures for the merchant dashboard: alerts and per-location listings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oao.inventory.models import StockLevel


@dataclass(frozen=True, slots=True)
class LevelRow:
    location_id: str
    product_id: str
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


def low_stock(session: Session, *, merchant_id: str, threshold: int, limit: int = 50) -> tuple[list[LevelRow], int]:
    """Stock levels whose available units (on hand minus reserved) are at or below `threshold`,
    sold out first; and how many there are in all."""
    available = StockLevel.on_hand - StockLevel.reserved
    where = (StockLevel.merchant_id == merchant_id, available <= threshold)
    count = session.scalar(select(func.count()).select_from(StockLevel).where(*where)) or 0
    rows = session.execute(select(StockLevel.location_id, StockLevel.product_id, StockLevel.on_hand,
                                  StockLevel.reserved)
                           .where(*where).order_by(available, StockLevel.location_id, StockLevel.product_id)
                           .limit(limit))
    return [LevelRow(*r) for r in rows], int(count)


def levels_at(session: Session, *, location_id: str, product_ids: list[str] | None = None,
              offset: int = 0, limit: int = 50) -> tuple[list[LevelRow], int]:
    """One page of a location's stock levels, fewest available first (optionally only these products),
    and the total count."""
    where = [StockLevel.location_id == location_id]
    if product_ids is not None:
        where.append(StockLevel.product_id.in_(product_ids or ["-"]))
    count = session.scalar(select(func.count()).select_from(StockLevel).where(*where)) or 0
    rows = session.execute(select(StockLevel.location_id, StockLevel.product_id, StockLevel.on_hand,
                                  StockLevel.reserved)
                           .where(*where)
                           .order_by(StockLevel.on_hand - StockLevel.reserved, StockLevel.product_id)
                           .offset(offset).limit(limit))
    return [LevelRow(*r) for r in rows], int(count)
