"""Read-only figures about till, kiosk and self-checkout sales for the merchant dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oao.pos.models import PosSale, PosSaleLine, Register


@dataclass(frozen=True, slots=True)
class TillSale:
    sale_id: str
    sold_at: datetime
    register_kind: str  # counter | kiosk | self_checkout
    total_minor: int  # the goods rung up (what the tenders paid, points included)
    currency: str


@dataclass(frozen=True, slots=True)
class ProductSales:
    product_id: str
    title: str
    quantity: int
    amount_minor: int


def sales(session: Session, *, merchant_id: str, start: datetime, end: datetime) -> list[TillSale]:
    """The merchant's in-store sales rung up in [start, end) (by the register's sold_at), oldest first.

    sold_at, not recorded_at: a sale rung up offline yesterday and synced today was yesterday's sale.
    """
    rows = session.execute(
        select(PosSale.id, PosSale.sold_at, Register.kind, PosSale.total_minor, PosSale.currency)
        .join(Register, Register.id == PosSale.register_id)
        .where(PosSale.merchant_id == merchant_id, PosSale.sold_at >= start, PosSale.sold_at < end)
        .order_by(PosSale.sold_at, PosSale.id))
    return [TillSale(sale_id=r[0], sold_at=r[1], register_kind=r[2], total_minor=r[3], currency=r[4]) for r in rows]


def top_products(session: Session, *, merchant_id: str, start: datetime, end: datetime,
                 limit: int = 50) -> list[ProductSales]:
    """Units and goods value per product over the merchant's in-store sales in [start, end)."""
    amount = func.sum(PosSaleLine.quantity * PosSaleLine.unit_price_minor)
    rows = session.execute(
        select(PosSaleLine.product_id, func.max(PosSaleLine.title), func.sum(PosSaleLine.quantity), amount)
        .join(PosSale, PosSale.id == PosSaleLine.sale_id)
        .where(PosSale.merchant_id == merchant_id, PosSale.sold_at >= start, PosSale.sold_at < end)
        .group_by(PosSaleLine.product_id)
        .order_by(amount.desc(), PosSaleLine.product_id)
        .limit(limit))
    return [ProductSales(product_id=r[0], title=r[1], quantity=int(r[2]), amount_minor=int(r[3])) for r in rows]
