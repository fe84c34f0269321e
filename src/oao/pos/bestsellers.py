"""What a store sells most: the kiosk's suggestions until the insights service exists.

A store's best sellers are counted from both of its channels over a recent
window: units rung up at its registers (POS sales) and units of paid online
orders it fulfils (their fulfillments leave from this store). Only products
the store can sell right now count: in stock here (on hand minus what online
orders hold) and offered by the store's merchant. With no sales in the window
the kiosk falls back to the store's in-stock assortment, and says so.

Read-only queries over other domains' tables: these are page reads, nothing is
written, and the insights service (issue 6) will replace them with its own
aggregates. The ranking itself is a pure function, tested without a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oao.catalog import service as catalog
from oao.fulfillment.models import Fulfillment
from oao.inventory.models import StockLevel
from oao.orders.models import Order, OrderLine
from oao.pos.models import PosSale, PosSaleLine

WINDOW = timedelta(days=30)
# Orders still waiting for their money are not sales yet; cancelled ones never were.
SOLD_ORDER_STATUSES = ("confirmed", "completed")
POPULAR = "popular"
IN_STOCK = "in_stock"


@dataclass(frozen=True, slots=True)
class Suggestion:
    product_id: str
    gtin: str
    title: str
    brand: str
    category: str
    unit_price_minor: int  # at the channel asked for (a kiosk's price may differ from the till's)
    currency: str
    available: int  # units that may be sold here now
    sold: int  # units sold here in the window (0 in the in-stock list)


@dataclass(frozen=True, slots=True)
class StoreSuggestions:
    kind: str  # POPULAR (best sellers in the window) or IN_STOCK (no sales yet: the assortment)
    popular: list[Suggestion]
    in_stock: list[Suggestion]  # the rest of what is on the shelf, for browsing


def rank(sold: Mapping[str, int], available: Mapping[str, int], titles: Mapping[str, str],
         limit: int) -> tuple[list[str], list[str]]:
    """(best sellers that can be sold now, the rest of the sellable assortment), each in display order.

    Best sellers by units sold, ties by title so the list does not shuffle
    between two page loads; the rest by title.
    """
    sellable = [pid for pid, units in available.items() if units > 0]
    popular = sorted((pid for pid in sellable if sold.get(pid, 0) > 0),
                     key=lambda pid: (-sold[pid], titles.get(pid, ""), pid))[:limit]
    chosen = set(popular)
    rest = sorted((pid for pid in sellable if pid not in chosen), key=lambda pid: (titles.get(pid, ""), pid))
    return popular, rest


def units_sold(session: Session, *, location_id: str, since: datetime) -> dict[str, int]:
    """product_id -> units this store sold since `since`, at its registers and for online orders it fulfilled."""
    sold: dict[str, int] = {}
    at_registers = session.execute(
        select(PosSaleLine.product_id, func.sum(PosSaleLine.quantity))
        .join(PosSale, PosSale.id == PosSaleLine.sale_id)
        .where(PosSale.location_id == location_id, PosSale.sold_at >= since)
        .group_by(PosSaleLine.product_id))
    online = session.execute(
        select(OrderLine.product_id, func.sum(OrderLine.quantity))
        .join(Fulfillment, Fulfillment.id == OrderLine.fulfillment_id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Fulfillment.source_location_id == location_id, Order.status.in_(SOLD_ORDER_STATUSES),
               Order.created_at >= since)
        .group_by(OrderLine.product_id))
    for product_id, units in [*at_registers, *online]:
        sold[product_id] = sold.get(product_id, 0) + int(units or 0)  # PostgreSQL sums as numeric
    return sold


def available_here(session: Session, *, location_id: str) -> dict[str, int]:
    """product_id -> units available to sell at this store now (on hand minus what online orders hold)."""
    rows = session.execute(select(StockLevel.product_id, StockLevel.on_hand - StockLevel.reserved)
                           .where(StockLevel.location_id == location_id,
                                  StockLevel.on_hand > StockLevel.reserved))
    return {product_id: int(units) for product_id, units in rows}


def store_suggestions(session: Session, *, location_id: str, merchant_id: str, channel: str, now: datetime,
                      limit: int = 8, browse_limit: int = 48) -> StoreSuggestions:
    """This store's best sellers of the last 30 days that are in stock here, else its in-stock products."""
    available = available_here(session, location_id=location_id)
    offers = catalog.active_offers(session, product_ids=list(available), merchant_ids=[merchant_id])
    available = {pid: units for pid, units in available.items() if (merchant_id, pid) in offers}
    products = catalog.products_by_ids(session, product_ids=list(available))
    titles = {pid: p.title for pid, p in products.items()}
    sold = units_sold(session, location_id=location_id, since=now - WINDOW)
    popular, rest = rank(sold, available, titles, limit)

    def suggestion(pid: str) -> Suggestion:
        product, offer = products[pid], offers[(merchant_id, pid)]
        return Suggestion(product_id=pid, gtin=product.gtin, title=product.title, brand=product.brand,
                          category=product.category, unit_price_minor=catalog.price_for(offer, channel),
                          currency=offer.currency, available=available[pid], sold=sold.get(pid, 0))

    return StoreSuggestions(kind=POPULAR if popular else IN_STOCK, popular=[suggestion(p) for p in popular],
                            in_stock=[suggestion(p) for p in rest[:browse_limit]])
