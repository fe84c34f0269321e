"""The endless aisle: what the network sells that this store cannot hand over today.

A kiosk offers, for home delivery, products of the store's own kind (the
categories it carries) that another merchant of the network, or this
merchant's other sites, have in stock while this store has none to sell:
S3's lip gloss that the cosmetics shop does not carry but the online partner
does. One offer per product, the cheapest online price, so the shopper sees
one price; the fulfillment quote then picks how it reaches her door.

Read-only page queries, like `bestsellers`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from oao.catalog import service as catalog
from oao.catalog.models import Offer, Product
from oao.inventory.models import StockLevel
from oao.network import service as network
from oao.pos.bestsellers import available_here


@dataclass(frozen=True, slots=True)
class PartnerProduct:
    product_id: str
    gtin: str
    title: str
    brand: str
    category: str
    merchant_id: str  # who sells it (and delivers it)
    merchant_name: str
    unit_price_minor: int  # online price: that is the channel the order is placed on
    currency: str


def store_categories(session: Session, *, location_id: str) -> list[str]:
    """The categories this store carries (anything it has ever held stock of)."""
    rows = session.scalars(select(Product.category).join(StockLevel, StockLevel.product_id == Product.id)
                           .where(StockLevel.location_id == location_id, Product.category != "").distinct())
    return sorted(set(rows))


def partner_products(session: Session, *, location_id: str, merchant_id: str, limit: int = 24,
                     product_id: str | None = None) -> list[PartnerProduct]:
    """Products of this store's categories that others in the network can sell and this store cannot now."""
    categories = store_categories(session, location_id=location_id)
    if not categories:
        return []
    here = set(available_here(session, location_id=location_id))
    query = (select(Offer, Product).join(Product, Product.id == Offer.product_id)
             .join(StockLevel, (StockLevel.product_id == Offer.product_id)
                   & (StockLevel.merchant_id == Offer.merchant_id))
             .where(Offer.active.is_(True), Product.category.in_(categories),
                    StockLevel.location_id != location_id, StockLevel.on_hand > StockLevel.reserved)
             .order_by(Product.category, Product.title, Offer.merchant_id))
    if product_id is not None:
        query = query.where(Product.id == product_id)
    cheapest: dict[str, tuple[Offer, Product]] = {}
    for offer, product in session.execute(query).tuples():
        if product.id in here:
            continue
        best = cheapest.get(product.id)
        if best is None or catalog.price_for(offer, "online") < catalog.price_for(best[0], "online"):
            cheapest[product.id] = (offer, product)
    names = {m.id: m.name for m in network.list_merchants(session, merchant_id=None)}
    out = [PartnerProduct(product_id=p.id, gtin=p.gtin, title=p.title, brand=p.brand, category=p.category,
                          merchant_id=o.merchant_id, merchant_name=names.get(o.merchant_id, ""),
                          unit_price_minor=catalog.price_for(o, "online"), currency=o.currency)
               for o, p in cheapest.values()]
    # Other merchants' products first: they are what this shop cannot offer at all (S3's partner).
    out.sort(key=lambda item: (item.merchant_id == merchant_id, item.category, item.title))
    return out[:limit]
