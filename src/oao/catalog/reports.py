"""Read-only catalog listings for the merchant dashboard: a merchant's offered products, searched and paged."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from oao.catalog.gtin import InvalidGtin, normalise_gtin
from oao.catalog.models import Offer, Product


@dataclass(frozen=True, slots=True)
class OfferedProduct:
    product_id: str
    gtin: str
    title: str
    brand: str
    category: str
    offer_id: str
    price_minor: int
    currency: str
    channel_prices: dict[str, int]
    active: bool


def _matches(q: str | None) -> list:  # noqa: ANN401 - SQL expressions
    if not q or not q.strip():
        return []
    needle = q.strip().lower()
    found = [func.lower(Product.title).contains(needle, autoescape=True),
             func.lower(Product.brand).contains(needle, autoescape=True),
             func.lower(Product.category).contains(needle, autoescape=True)]
    try:
        found.append(Product.gtin14 == normalise_gtin(needle))
    except InvalidGtin:
        pass  # not a GTIN: a text search only
    return [or_(*found)]


def _row(o: Offer, p: Product) -> OfferedProduct:
    return OfferedProduct(product_id=p.id, gtin=p.gtin, title=p.title, brand=p.brand, category=p.category,
                          offer_id=o.id, price_minor=o.price_minor, currency=o.currency,
                          channel_prices=dict(o.channel_prices or {}), active=o.active)


def offered_product(session: Session, *, offer_id: str) -> OfferedProduct | None:
    """One offer with its product, as a catalog row."""
    row = session.execute(select(Offer, Product).join(Product, Product.id == Offer.product_id)
                          .where(Offer.id == offer_id)).first()
    return _row(*row) if row else None


def offered_products(session: Session, *, merchant_id: str, q: str | None = None, offset: int = 0,
                     limit: int = 25) -> tuple[list[OfferedProduct], int]:
    """One page of the products this merchant offers (title order), matching q; and how many match."""
    where = [Offer.merchant_id == merchant_id, *_matches(q)]
    base = select(Offer, Product).join(Product, Product.id == Offer.product_id).where(*where)
    total = session.scalar(select(func.count()).select_from(Offer).join(Product, Product.id == Offer.product_id)
                           .where(*where)) or 0
    rows = session.execute(base.order_by(Product.title, Product.id).offset(offset).limit(limit))
    return [_row(o, p) for o, p in rows], int(total)


def matching_product_ids(session: Session, *, q: str, limit: int = 1000) -> list[str]:
    """Ids of products whose title, brand or category contains q, or whose GTIN is q (stock search)."""
    return list(session.scalars(select(Product.id).where(*_matches(q)).order_by(Product.id).limit(limit)))
