"""Read-only figures about online orders for the merchant dashboard.

Counted from the order rows themselves (no cached totals), so a figure can
always be traced back to the orders behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oao.orders.models import Order, OrderLine

# Orders that count as sales: paid or agreed to pay at pickup/door (confirmed), and handed over
# (completed). Unpaid orders may still expire, and cancelled ones never became a sale.
SOLD_STATUSES = ("confirmed", "completed")


@dataclass(frozen=True, slots=True)
class OrderSale:
    order_id: str
    placed_at: datetime
    channel: str  # Order.channel as recorded ("online" unless placed through a partner or a kiosk)
    goods_minor: int  # subtotal: the goods, without delivery fees, comparable with a till sale
    currency: str


@dataclass(frozen=True, slots=True)
class ProductSales:
    product_id: str
    title: str
    quantity: int
    amount_minor: int


def sold_orders(session: Session, *, merchant_id: str, start: datetime, end: datetime) -> list[OrderSale]:
    """The merchant's orders placed in [start, end) that became sales, oldest first."""
    rows = session.execute(
        select(Order.id, Order.created_at, Order.channel, Order.subtotal_minor, Order.currency)
        .where(Order.merchant_id == merchant_id, Order.created_at >= start, Order.created_at < end,
               Order.status.in_(SOLD_STATUSES))
        .order_by(Order.created_at, Order.id))
    return [OrderSale(order_id=r[0], placed_at=r[1], channel=r[2] or "online", goods_minor=r[3], currency=r[4])
            for r in rows]


def top_products(session: Session, *, merchant_id: str, start: datetime, end: datetime,
                 limit: int = 50) -> list[ProductSales]:
    """Units and goods value per product over the merchant's sold orders placed in [start, end)."""
    amount = func.sum(OrderLine.quantity * OrderLine.unit_price_minor)
    rows = session.execute(
        select(OrderLine.product_id, func.max(OrderLine.title), func.sum(OrderLine.quantity), amount)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.merchant_id == merchant_id, Order.created_at >= start, Order.created_at < end,
               Order.status.in_(SOLD_STATUSES))
        .group_by(OrderLine.product_id)
        .order_by(amount.desc(), OrderLine.product_id)
        .limit(limit))
    return [ProductSales(product_id=r[0], title=r[1], quantity=int(r[2]), amount_minor=int(r[3])) for r in rows]
