"""Catalog use cases: the network's shared products (one per GTIN) and merchants' offers.

Keyword-only functions over a Session; they never commit. A product is shared
by the whole network; an offer is one merchant's price for it, the same on
every channel unless a channel price is set on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oao.catalog.gtin import InvalidGtin, normalise_gtin
from oao.catalog.models import Offer, Product
from oao.catalog.schemas import CHANNELS, check_channel_prices, check_currency, check_price
from oao.core.db import get_or_404
from oao.core.errors import Conflict, InvalidInput, NotFound
from oao.core.ids import new_id
from oao.core.outbox import record_event

# Stays far below SQLite's and PostgreSQL's bound-parameter limits.
IN_CHUNK = 1000
MAX_PAGE = 200

T = TypeVar("T")


def chunked(items: Iterable[T], size: int = IN_CHUNK) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def gtin14_or_invalid(gtin: str) -> str:
    """The lookup form of a GTIN, or InvalidInput saying what is wrong with it."""
    try:
        return normalise_gtin(gtin)
    except InvalidGtin as exc:
        raise InvalidInput(str(exc)) from None


# --- products -----------------------------------------------------------------------------

def _product_payload(product: Product) -> dict[str, Any]:
    return {"gtin": product.gtin, "title": product.title, "brand": product.brand, "category": product.category}


def create_product(session: Session, *, gtin: str, title: str, now: datetime, brand: str = "",
                   category: str = "", attributes: dict[str, Any] | None = None, perishable: bool = False,
                   shelf_life_days: int | None = None, created_by_merchant_id: str | None = None) -> Product:
    """Add a product to the shared catalog; a GTIN can be there only once."""
    gtin14 = gtin14_or_invalid(gtin)
    existing = session.scalar(select(Product.id).where(Product.gtin14 == gtin14))
    if existing is not None:
        raise Conflict(f"GTIN {gtin} is already in the catalog as product {existing}.", product_id=existing)
    if not title.strip():
        raise InvalidInput("A product needs a title.")
    if shelf_life_days is not None and shelf_life_days < 1:
        raise InvalidInput(f"shelf_life_days must be at least 1, got {shelf_life_days}.")
    product = Product(id=new_id("prd"), gtin=gtin.strip().replace(" ", "").replace("-", ""), gtin14=gtin14,
                      title=title.strip(), brand=brand, category=category, attributes=attributes or {},
                      perishable=perishable, shelf_life_days=shelf_life_days,
                      created_by_merchant_id=created_by_merchant_id, created_at=now)
    try:
        # A savepoint, so a twin request that won the race becomes a 409, not a 500.
        with session.begin_nested():
            session.add(product)
            session.flush()
    except IntegrityError:
        winner = session.scalar(select(Product.id).where(Product.gtin14 == gtin14))
        raise Conflict(f"GTIN {gtin} is already in the catalog as product {winner}.", product_id=winner) from None
    record_event(session, type="product.created", subject_id=product.id, merchant_id=created_by_merchant_id,
                 payload=_product_payload(product), at=now)
    return product


def get_product(session: Session, *, product_id: str) -> Product:
    return get_or_404(session, Product, product_id, "product")


def product_by_gtin(session: Session, *, gtin: str) -> Product:
    """The product a scanned or typed GTIN (8, 12, 13 or 14 digits) stands for."""
    gtin14 = gtin14_or_invalid(gtin)
    product = session.scalar(select(Product).where(Product.gtin14 == gtin14))
    if product is None:
        raise NotFound(f"No product with GTIN {gtin.strip()} in the catalog.")
    return product


def products_by_ids(session: Session, *, product_ids: Iterable[str]) -> dict[str, Product]:
    out: dict[str, Product] = {}
    for batch in chunked(set(product_ids)):
        out.update((p.id, p) for p in session.scalars(select(Product).where(Product.id.in_(batch))))
    return out


def product_ids_by_gtin14(session: Session, *, gtin14s: Iterable[str]) -> dict[str, str]:
    """gtin14 -> product id for those in the catalog, in a few queries (imports)."""
    out: dict[str, str] = {}
    for batch in chunked(set(gtin14s)):
        rows = session.execute(select(Product.gtin14, Product.id).where(Product.gtin14.in_(batch)))
        out.update((gtin14, product_id) for gtin14, product_id in rows)
    return out


def search_products(session: Session, *, q: str | None = None, category: str | None = None,
                    limit: int = 50, cursor: str | None = None) -> tuple[list[Product], str | None]:
    """Products whose title or brand contains q (any case), or whose GTIN is q; one page by id."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}, got {limit}.")
    query = select(Product).order_by(Product.id).limit(limit + 1)
    if q and q.strip():
        needle = q.strip().lower()
        matches = [func.lower(Product.title).contains(needle, autoescape=True),
                   func.lower(Product.brand).contains(needle, autoescape=True)]
        try:
            matches.append(Product.gtin14 == normalise_gtin(needle))
        except InvalidGtin:
            pass  # not a GTIN: a text search only
        query = query.where(or_(*matches))
    if category:
        query = query.where(Product.category == category)
    if cursor:
        query = query.where(Product.id > cursor)
    found = list(session.scalars(query))
    if len(found) > limit:
        return found[:limit], found[limit - 1].id
    return found, None


# --- offers -----------------------------------------------------------------------------

def price_for(offer: Offer, channel: str) -> int:
    """What the offer costs on a channel: its channel price if set on purpose, else the one price."""
    if channel not in CHANNELS:
        raise InvalidInput(f"{channel!r} is not a sales channel; use {', '.join(CHANNELS)}.")
    price = (offer.channel_prices or {}).get(channel)
    return int(price) if price is not None else offer.price_minor


def _checked_offer(price_minor: Any, currency: str, channel_prices: Any) -> tuple[int, str, dict[str, int]]:
    try:
        return (check_price("price_minor", price_minor), check_currency(currency),
                check_channel_prices(channel_prices or {}))
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def _offer_payload(offer: Offer) -> dict[str, Any]:
    return {"product_id": offer.product_id, "price_minor": offer.price_minor, "currency": offer.currency,
            "channel_prices": offer.channel_prices, "active": offer.active}


def upsert_offer(session: Session, *, merchant_id: str, product_id: str, price_minor: int, currency: str,
                 now: datetime, channel_prices: dict[str, int] | None = None,
                 active: bool = True) -> tuple[Offer, bool]:
    """Set a merchant's price for a product; returns (offer, created)."""
    price_minor, currency, channel_prices = _checked_offer(price_minor, currency, channel_prices)
    get_product(session, product_id=product_id)
    offer = session.scalar(select(Offer).where(Offer.merchant_id == merchant_id, Offer.product_id == product_id))
    created = offer is None
    if offer is None:
        offer = Offer(id=new_id("ofr"), merchant_id=merchant_id, product_id=product_id, price_minor=price_minor,
                      currency=currency, channel_prices=channel_prices, active=active, updated_at=now)
        try:
            with session.begin_nested():
                session.add(offer)
                session.flush()
        except IntegrityError:
            raise Conflict("Another request set this offer at the same moment; retry.") from None
    elif (offer.price_minor, offer.currency, offer.channel_prices, offer.active) == (
            price_minor, currency, channel_prices, active):
        return offer, False  # nothing changed: no event, no new updated_at
    else:
        offer.price_minor, offer.currency, offer.channel_prices, offer.active = (
            price_minor, currency, channel_prices, active)
        offer.updated_at = now
        session.flush()
    record_event(session, type="offer.updated", subject_id=offer.id, merchant_id=merchant_id,
                 payload=_offer_payload(offer), at=now)
    return offer, created


def get_offer(session: Session, *, offer_id: str) -> Offer:
    return get_or_404(session, Offer, offer_id, "offer")


def list_offers(session: Session, *, merchant_id: str | None, product_id: str | None = None,
                limit: int = 50, cursor: str | None = None) -> tuple[list[Offer], str | None]:
    """One page of offers (one merchant's, or every merchant's when merchant_id is None)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}, got {limit}.")
    query = select(Offer).order_by(Offer.id).limit(limit + 1)
    if merchant_id is not None:
        query = query.where(Offer.merchant_id == merchant_id)
    if product_id is not None:
        query = query.where(Offer.product_id == product_id)
    if cursor:
        query = query.where(Offer.id > cursor)
    found = list(session.scalars(query))
    if len(found) > limit:
        return found[:limit], found[limit - 1].id
    return found, None


def offers_for(session: Session, *, merchant_id: str, product_ids: Iterable[str]) -> dict[str, Offer]:
    """product_id -> this merchant's offer (active or not), in a few queries (imports)."""
    out: dict[str, Offer] = {}
    for batch in chunked(set(product_ids)):
        rows = session.scalars(select(Offer).where(Offer.merchant_id == merchant_id, Offer.product_id.in_(batch)))
        out.update((o.product_id, o) for o in rows)
    return out


def active_offers(session: Session, *, product_ids: list[str],
                  merchant_ids: list[str] | None = None) -> dict[tuple[str, str], Offer]:
    """(merchant_id, product_id) -> active offer, for quoting and checkout."""
    out: dict[tuple[str, str], Offer] = {}
    for batch in chunked(set(product_ids)):
        query = select(Offer).where(Offer.product_id.in_(batch), Offer.active.is_(True))
        if merchant_ids is not None:
            query = query.where(Offer.merchant_id.in_(merchant_ids))
        out.update(((o.merchant_id, o.product_id), o) for o in session.scalars(query))
    return out


# --- storefront reads -----------------------------------------------------------------------

def categories_with_counts(session: Session) -> list[tuple[str, int]]:
    """Every non-empty category with its number of products, by name (the storefront's browse list)."""
    rows = session.execute(select(Product.category, func.count()).where(Product.category != "")
                           .group_by(Product.category).order_by(Product.category))
    return [(category, int(count)) for category, count in rows]


def cheapest_offers(session: Session, *, product_ids: Iterable[str], channel: str = "online") -> dict[str, Offer]:
    """product_id -> the active offer with the lowest price on `channel` (ties: the oldest offer id)."""
    best: dict[str, tuple[int, str, Offer]] = {}
    for (_, product_id), offer in active_offers(session, product_ids=list(product_ids)).items():
        rank = (price_for(offer, channel), offer.id)
        if product_id not in best or rank < best[product_id][:2]:
            best[product_id] = (*rank, offer)
    return {product_id: ranked[2] for product_id, ranked in best.items()}
