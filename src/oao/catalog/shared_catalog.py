"""The shared catalog as a new merchant sees it: products already in the network, to adopt.

A product is one row per GTIN for the whole network, so a shop that opens
today does not retype what its neighbours already described: it finds the
products by GTIN (typed, scanned or pasted as a list) or by title, and gives
its own price. These are reads only; adopting (offer + opening stock) is a
use case of onboarding (`oao.network.onboarding.adopt_products`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oao.catalog import service as catalog
from oao.catalog.gtin import InvalidGtin, normalise_gtin
from oao.catalog.models import Offer, Product

SEARCH_LIMIT = 30
MAX_GTINS = 50  # a pasted list longer than this is cut (a page of results stays a page)
_SEPARATORS = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class SharedProduct:
    """A catalog product with what helps a merchant decide: who sells it and for how much."""

    id: str
    gtin: str
    title: str
    brand: str
    category: str
    sellers: int  # merchants with an active offer
    lowest_price_minor: int | None  # among active offers in the asking merchant's currency
    mine: bool  # the asking merchant already has an active offer


@dataclass(frozen=True)
class SharedSearch:
    products: list[SharedProduct]
    unknown_gtins: list[str]  # well-formed GTINs of the query that no product has
    invalid: list[str]  # digit strings of the query that are not GTINs (bad check digit, length)


def gtins_in(text: str) -> tuple[dict[str, str], list[str]] | None:
    """({gtin14: as typed}, invalid) when the text is only digit strings (a scanned or pasted list), else None."""
    tokens = [t for t in _SEPARATORS.split(text.strip()) if t]
    if not tokens or not all(t.replace("-", "").isdigit() for t in tokens):
        return None
    found: dict[str, str] = {}
    invalid: list[str] = []
    for token in tokens[:MAX_GTINS]:
        try:
            found.setdefault(normalise_gtin(token), token)
        except InvalidGtin:
            invalid.append(token)
    return found, invalid


def _describe(session: Session, products: list[Product], *, merchant_id: str, currency: str) -> list[SharedProduct]:
    ids = [p.id for p in products]
    sellers: dict[str, int] = {}
    lowest: dict[str, int] = {}
    mine: set[str] = set()
    for batch in catalog.chunked(ids):
        for product_id, count in session.execute(
                select(Offer.product_id, func.count(func.distinct(Offer.merchant_id)))
                .where(Offer.product_id.in_(batch), Offer.active.is_(True)).group_by(Offer.product_id)):
            sellers[product_id] = int(count)
        for product_id, price in session.execute(
                select(Offer.product_id, func.min(Offer.price_minor))
                .where(Offer.product_id.in_(batch), Offer.active.is_(True), Offer.currency == currency)
                .group_by(Offer.product_id)):
            lowest[product_id] = int(price)
        mine.update(session.scalars(select(Offer.product_id).where(
            Offer.product_id.in_(batch), Offer.merchant_id == merchant_id, Offer.active.is_(True))))
    return [SharedProduct(id=p.id, gtin=p.gtin, title=p.title, brand=p.brand, category=p.category,
                          sellers=sellers.get(p.id, 0), lowest_price_minor=lowest.get(p.id), mine=p.id in mine)
            for p in products]


def search_shared(session: Session, *, q: str, merchant_id: str, currency: str,
                  limit: int = SEARCH_LIMIT) -> SharedSearch:
    """Products for a query: a list of GTINs (each looked up exactly), or words of a title or brand.

    An empty query lists the products most merchants sell, the likeliest first picks of a new shop."""
    q = q.strip()
    if not q:
        return SharedSearch(popular(session, merchant_id=merchant_id, currency=currency, limit=limit), [], [])
    listed = gtins_in(q)
    if listed is not None:
        gtin14s, invalid = listed
        by_gtin = {p.gtin14: p for batch in catalog.chunked(gtin14s)
                   for p in session.scalars(select(Product).where(Product.gtin14.in_(batch)))}
        products = [by_gtin[g] for g in gtin14s if g in by_gtin]
        unknown = [typed for g, typed in gtin14s.items() if g not in by_gtin]
        return SharedSearch(_describe(session, products, merchant_id=merchant_id, currency=currency), unknown,
                            invalid)
    products, _ = catalog.search_products(session, q=q, limit=limit)
    described = _describe(session, products, merchant_id=merchant_id, currency=currency)
    # The products more shops sell first: the one a shopper means is usually the common one.
    described.sort(key=lambda p: (-p.sellers, p.title.lower(), p.id))
    return SharedSearch(described, [], [])


def popular(session: Session, *, merchant_id: str, currency: str, limit: int = SEARCH_LIMIT) -> list[SharedProduct]:
    """The products with the most merchants offering them (ties by title)."""
    counted = (select(Offer.product_id, func.count(func.distinct(Offer.merchant_id)).label("n"))
               .where(Offer.active.is_(True)).group_by(Offer.product_id).subquery())
    rows = session.execute(select(Product).join(counted, counted.c.product_id == Product.id)
                           .order_by(counted.c.n.desc(), Product.title, Product.id).limit(limit)).scalars()
    return _describe(session, list(rows), merchant_id=merchant_id, currency=currency)


def shared_products(session: Session, *, product_ids: list[str]) -> dict[str, Product]:
    """The catalog products among these ids (what an adoption form names), by id."""
    return catalog.products_by_ids(session, product_ids=product_ids)
