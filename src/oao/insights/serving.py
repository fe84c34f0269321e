"""Recommendations served from the precomputed insight tables: SQLAlchemy only, no pandas.

One answer is a short list of products a shopper can actually get, each with the
reason it is there ("bought with Rose Toner", "popular here", "fits dry skin").

What she can get: the product has an active offer of the merchant and either
- units available (on hand minus reserved) at the location she is at, or
- units at another active location of the same merchant that ships parcels
  (`shipping_lead_hours` set: a parcel reaches anyone), or that delivers
  (`delivery_radius_km` > 0) with the asked location inside its radius.
  We do not know her home address here, so the place she asks from stands in
  for it: a kiosk shopper lives near the shop she walks into far more often than
  not, and checkout quotes the real delivery once she gives an address.
Without a location (the member area) a product counts when any active location of
the merchant has it, since she may walk in, pick up or have it sent.

Consent, read on every request so a withdrawal counts at once: without her
`purchase_history` consent for this merchant, the personal kinds (for_you,
due_soon) answer nothing and the blend holds only non-personal items. Popular in
her age band needs `profile.age_band` consent (and exists only for groups of at
least k buyers, see training). Attribute matches use a reading sent with the
request (the kiosk's sensor, for this request only); OAO keeps no device
readings yet, so there is no stored reading to consult (that would need
`device_readings` consent).

Reads of catalog, stock and locations go through those domains' services; the
one exception is the attribute search, a read-only query over products, offers
and stock levels together (like the kiosk's best sellers in pos.bestsellers):
asked through the services it would load every matching product to keep ten.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, exists, select
from sqlalchemy.orm import Session

from oao.catalog import service as catalog
from oao.catalog.models import Offer, Product
from oao.core.errors import InvalidInput, NotFound
from oao.core.geo import haversine_km
from oao.insights.models import DueItem, ItemNeighbour, MemberRecommendation, PopularItem
from oao.inventory import service as inventory
from oao.inventory.models import StockLevel
from oao.members import service as members
from oao.members.consents import age_band
from oao.network import service as network
from oao.network.models import Location

KINDS = ("for_you", "bought_together", "popular_here", "popular_age_band", "due_soon", "attributes")
PERSONAL_KINDS = ("for_you", "due_soon")
BLEND = "blend"
MAX_LIMIT = 50
DUE_WITHIN = timedelta(days=14)  # "due soon": expected within two weeks, or already overdue
MAX_BASKET = 20
MAX_READING_PAIRS = 5
OVERALL = ""  # PopularItem.location_id / segment for "all locations" / "everyone"


def segment_for_band(band: str) -> str:
    """The PopularItem segment of an age band (training writes it, serving reads it)."""
    return f"age:{band}"


@dataclass(frozen=True, slots=True)
class Suggestion:
    product_id: str
    gtin: str
    title: str
    brand: str
    category: str
    price_minor: int
    currency: str
    kind: str
    reason: str
    score: float
    reach: str  # here | delivery | shipping | elsewhere (no location asked: some store of the merchant has it)
    reach_text: str  # "In stock here (12)", "Delivered from Kaixuan", "Ships from Xiaoshan Warehouse"
    available_here: int
    from_location_id: str | None


@dataclass(frozen=True)
class Answer:
    kind: str  # one of KINDS, or BLEND
    location_id: str | None
    personal: bool  # whether her purchase history shaped the answer
    items: list[Suggestion]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Candidate:
    product_id: str
    kind: str
    reason: str
    score: float


# --- parameters -----------------------------------------------------------------------------------

def check_kind(kind: str | None) -> str | None:
    if kind is None or kind == "" or kind == BLEND:
        return None
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)} (or leave it out for a blend), not {kind!r}.")
    return kind


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}, got {limit}.")
    return limit


def parse_basket(product: str | None, basket: str | None) -> list[str]:
    """Product ids from `product=` and/or `basket=p1,p2`, in order, without repeats."""
    ids = [p.strip() for p in ([product] if product else []) + (basket.split(",") if basket else [])]
    ids = list(dict.fromkeys(p for p in ids if p))
    if len(ids) > MAX_BASKET:
        raise InvalidInput(f"A basket for bought_together holds up to {MAX_BASKET} products.")
    if any(len(p) > 40 for p in ids):
        raise InvalidInput("Product ids are at most 40 characters.")
    return ids


def parse_reading(raw: str | None) -> dict[str, str]:
    """`skin_type:dry,concern:acne` -> {"skin_type": "dry", "concern": "acne"} (keys and values lower case)."""
    if raw is None or not raw.strip():
        return {}
    out: dict[str, str] = {}
    for part in raw.split(","):
        key, sep, value = part.partition(":")
        key, value = key.strip().lower(), value.strip().lower()
        if not sep or not key or not value or len(key) > 40 or len(value) > 60:
            raise InvalidInput(f"reading must look like `skin_type:dry` or `skin_type:dry,concern:acne`; "
                               f"{part.strip()!r} is not key:value.")
        out[key] = value
    if len(out) > MAX_READING_PAIRS:
        raise InvalidInput(f"A reading has at most {MAX_READING_PAIRS} key:value pairs.")
    return out


def reading_words(reading: dict[str, str]) -> str:
    """{"skin_type": "dry"} -> "dry skin"; {"concern": "acne"} -> "concern acne"."""
    words = []
    for key, value in reading.items():
        if key.endswith("_type"):
            words.append(f"{value} {key[:-5].replace('_', ' ')}")
        else:
            words.append(f"{key.replace('_', ' ')} {value}")
    return ", ".join(words)


def attributes_match(attributes: dict[str, Any] | None, reading: dict[str, str]) -> bool:
    """Every key of the reading is an attribute equal to (or, for a list, containing) its value."""
    attributes = attributes or {}
    for key, value in reading.items():
        have = attributes.get(key)
        if isinstance(have, list):
            if value not in {str(v).lower() for v in have}:
                return False
        elif have is None or str(have).lower() != value:
            return False
    return True


# --- where she can get it ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Reach:
    here: Location | None
    others: list[tuple[Location, str]]  # (location, "delivery" | "shipping" | "elsewhere"), best first


def _reach(session: Session, merchant_id: str, here: Location | None) -> _Reach:
    """The merchant's other locations that can get goods to her, best first (delivery before parcels)."""
    others: list[tuple[Location, str]] = []
    for loc in network.list_locations(session, merchant_id=merchant_id):
        if here is not None and loc.id == here.id:
            continue
        if here is None:
            if loc.sells_in_store or loc.delivery_radius_km > 0 or loc.shipping_lead_hours is not None:
                others.append((loc, "elsewhere"))
        elif loc.delivery_radius_km > 0 and haversine_km(loc.latitude, loc.longitude, here.latitude,
                                                         here.longitude) <= loc.delivery_radius_km:
            others.append((loc, "delivery"))
        elif loc.shipping_lead_hours is not None:
            others.append((loc, "shipping"))
    order = {"delivery": 0, "shipping": 1, "elsewhere": 2}
    others.sort(key=lambda pair: (order[pair[1]], pair[0].name, pair[0].id))
    return _Reach(here=here, others=others)


def _reach_words(kind: str, loc: Location | None, units: int) -> str:
    if kind == "here":
        return f"In stock here ({units})" if units <= 5 else "In stock here"
    assert loc is not None
    if kind == "delivery":
        return f"Delivered from {loc.name}"
    if kind == "shipping":
        return f"Ships from {loc.name}"
    return f"At {loc.name}"


def _gettable(session: Session, reach: _Reach, product_ids: list[str]) -> dict[str, tuple[str, str, int, str | None]]:
    """product_id -> (reach, words, units here, from location) for those she can get."""
    location_ids = ([reach.here.id] if reach.here is not None else []) + [loc.id for loc, _ in reach.others]
    units = inventory.available_map(session, location_ids=location_ids, product_ids=product_ids)
    out: dict[str, tuple[str, str, int, str | None]] = {}
    for pid in product_ids:
        here_units = units.get((reach.here.id, pid), 0) if reach.here is not None else 0
        if here_units > 0:
            out[pid] = ("here", _reach_words("here", None, here_units), here_units, reach.here.id)  # type: ignore[union-attr]
            continue
        for loc, kind in reach.others:
            if units.get((loc.id, pid), 0) > 0:
                out[pid] = (kind, _reach_words(kind, loc, 0), 0, loc.id)
                break
    return out


# --- candidates per kind -------------------------------------------------------------------------

def _for_you(session: Session, merchant_id: str, member_id: str, n: int) -> list[_Candidate]:
    rows = session.execute(select(MemberRecommendation.product_id, MemberRecommendation.score)
                           .where(MemberRecommendation.merchant_id == merchant_id,
                                  MemberRecommendation.member_id == member_id)
                           .order_by(MemberRecommendation.rank).limit(n))
    return [_Candidate(pid, "for_you", "Picked for you from what you buy here", float(score))
            for pid, score in rows]


def _days_words(days: int) -> str:
    if days == 0:
        return "due today"
    if days > 0:
        return f"due in {days} day{'s' if days != 1 else ''}"
    return f"due {-days} day{'s' if days != -1 else ''} ago"


def _due_soon(session: Session, merchant_id: str, member_id: str, now: datetime, n: int) -> list[_Candidate]:
    rows = session.execute(select(DueItem.product_id, DueItem.interval_days, DueItem.due_at, DueItem.confidence)
                           .where(DueItem.merchant_id == merchant_id, DueItem.member_id == member_id,
                                  DueItem.due_at <= now + DUE_WITHIN)
                           .order_by(DueItem.due_at, DueItem.product_id).limit(n))
    out = []
    for pid, interval, due_at, confidence in rows:
        days = math.floor((due_at - now).total_seconds() / 86400 + 0.5)
        out.append(_Candidate(pid, "due_soon", f"You buy this every ~{max(1, round(interval))} days, "
                                               f"{_days_words(days)}", float(confidence)))
    return out


def _popular(session: Session, merchant_id: str, location_id: str, segment: str, n: int) -> list[tuple[str, float]]:
    rows = session.execute(select(PopularItem.product_id, PopularItem.score)
                           .where(PopularItem.merchant_id == merchant_id, PopularItem.location_id == location_id,
                                  PopularItem.segment == segment)
                           .order_by(PopularItem.rank).limit(n))
    return [(pid, float(score)) for pid, score in rows]


def _popular_here(session: Session, merchant_id: str, here: Location | None, n: int) -> list[_Candidate]:
    if here is not None:
        found = _popular(session, merchant_id, here.id, OVERALL, n)
        if found:
            return [_Candidate(pid, "popular_here", "Popular here", score) for pid, score in found]
    # A new store (or the member area) has no list of its own yet: the merchant's best sellers.
    return [_Candidate(pid, "popular_here", "Popular at this shop" if here is None else "Popular with our shoppers",
                       score) for pid, score in _popular(session, merchant_id, OVERALL, OVERALL, n)]


def _popular_band(session: Session, merchant_id: str, band: str | None, n: int) -> list[_Candidate]:
    if band is None:
        return []
    return [_Candidate(pid, "popular_age_band", f"Popular with shoppers aged {band}", score)
            for pid, score in _popular(session, merchant_id, OVERALL, segment_for_band(band), n)]


def _bought_together(session: Session, merchant_id: str, basket: list[str], n: int) -> list[_Candidate]:
    if not basket:
        return []
    rows = session.execute(select(ItemNeighbour.product_id, ItemNeighbour.neighbour_id, ItemNeighbour.score)
                           .where(ItemNeighbour.merchant_id == merchant_id, ItemNeighbour.product_id.in_(basket))
                           .order_by(ItemNeighbour.product_id, ItemNeighbour.rank))
    score: dict[str, float] = {}
    because: dict[str, tuple[float, str]] = {}  # neighbour -> (its best score, the basket product behind it)
    for source, neighbour, s in rows:
        if neighbour in basket:
            continue
        score[neighbour] = score.get(neighbour, 0.0) + float(s)
        if neighbour not in because or float(s) > because[neighbour][0]:
            because[neighbour] = (float(s), source)
    ranked = sorted(score, key=lambda pid: (-score[pid], pid))[:n]
    titles = {p.id: p.title for p in catalog.products_by_ids(session, product_ids={because[p][1] for p in ranked})
              .values()}
    return [_Candidate(pid, "bought_together", f"Bought with {titles.get(because[pid][1], 'your basket')}",
                       score[pid]) for pid in ranked]


def _attribute_matches(session: Session, merchant_id: str, here: Location | None, reach: _Reach,
                       reading: dict[str, str], n: int) -> list[_Candidate]:
    """Products whose attributes fit the reading, offered by the merchant and in stock where she can get them:
    this store's best sellers among them first, then the rest in a stable order, read in pages."""
    location_ids = ([here.id] if here is not None else []) + [loc.id for loc, _ in reach.others]
    if not location_ids:
        return []
    in_stock = exists().where(StockLevel.product_id == Product.id, StockLevel.location_id.in_(location_ids),
                              StockLevel.on_hand > StockLevel.reserved)
    query = (select(Product.id, Product.attributes)
             .join(Offer, (Offer.product_id == Product.id) & (Offer.merchant_id == merchant_id)
                   & Offer.active.is_(True))
             .where(in_stock))
    text = cast(Product.attributes, String)
    for key, value in reading.items():
        # A coarse text pre-filter the database can run (JSON text holds the key and the value); the exact
        # check is `attributes_match`. Non-ASCII text may be escaped in the stored JSON: no pre-filter then.
        if key.isascii() and value.isascii():
            query = query.where(text.contains(f'"{key}"', autoescape=True), text.contains(value, autoescape=True))
    ranked = [pid for pid, _ in _popular(session, merchant_id, here.id if here else OVERALL, OVERALL, 200)]
    found = dict(session.execute(query.where(Product.id.in_(ranked))).all()) if ranked else {}
    matching = [pid for pid in ranked if pid in found and attributes_match(found[pid], reading)]
    seen, after, page = set(matching), "", 2 * n
    while len(matching) < n:
        # Paged along the offers' (merchant, product) index, so the database stops after one page.
        rows = session.execute(query.where(Offer.product_id > after).order_by(Offer.product_id).limit(page)).all()
        matching += [pid for pid, attributes in rows if pid not in seen and attributes_match(attributes, reading)]
        if len(rows) < page:
            break
        after = rows[-1][0]
    words = f"Fits {reading_words(reading)}"
    return [_Candidate(pid, "attributes", words, 1.0 / (1 + i)) for i, pid in enumerate(matching[:n])]


# --- the answer ----------------------------------------------------------------------------------

def merchant_location(session: Session, *, location_id: str, merchant_id: str | None = None) -> Location:
    """An active location (of this merchant when given); 404 otherwise, so another merchant's does not leak."""
    try:
        found = network.get_location(session, location_id=location_id)
    except NotFound:
        found = None
    if found is None or not found.active or (merchant_id is not None and found.merchant_id != merchant_id):
        raise NotFound(f"No location {location_id!r}.") from None
    return found


def recommend(session: Session, *, merchant_id: str, location: Location | None, member_id: str | None,
              kind: str | None, limit: int, now: datetime, channel: str = "store",
              basket: Sequence[str] = (), reading: dict[str, str] | None = None) -> Answer:
    """What to suggest to this member (or an anonymous shopper) at this merchant, best first."""
    kind = check_kind(kind)
    limit = check_limit(limit)
    basket = list(basket)
    reading = reading or {}
    if kind == "bought_together" and not basket:
        raise InvalidInput("bought_together needs `product=<product id>` or `basket=<id>,<id>`.")
    if kind == "attributes" and not reading:
        raise InvalidInput("attributes needs a reading, e.g. `reading=skin_type:dry`.")
    consented: set[str] = set()
    if member_id is not None:
        consented = members.consented_classes(session, member_id=member_id, merchant_id=merchant_id, now=now)
    history = "purchase_history" in consented
    band = None
    if member_id is not None and "profile.age_band" in consented:
        band = age_band(members.get_member(session, member_id=member_id).birth_year, now)
    notes: list[str] = []
    if member_id is not None and not history and kind in (None, *PERSONAL_KINDS):
        notes.append("She does not share her purchase history with this merchant: only non-personal suggestions.")
    n = min(3 * limit + 10, 160)  # room for what the availability filter removes
    reach = _reach(session, merchant_id, location)

    candidates: list[_Candidate] = []
    if kind is None:
        if history and member_id is not None:
            candidates += _for_you(session, merchant_id, member_id, n)
            candidates += _due_soon(session, merchant_id, member_id, now, n)
        candidates += _popular_band(session, merchant_id, band, n)
        candidates += _popular_here(session, merchant_id, location, n)
    elif kind == "for_you":
        candidates = _for_you(session, merchant_id, member_id, n) if history and member_id else []
    elif kind == "due_soon":
        candidates = _due_soon(session, merchant_id, member_id, now, n) if history and member_id else []
    elif kind == "popular_here":
        candidates = _popular_here(session, merchant_id, location, n)
    elif kind == "popular_age_band":
        if band is None:
            notes.append("Popular in her age band needs her age band (profile.age_band consent and a birth year).")
        candidates = _popular_band(session, merchant_id, band, n)
    elif kind == "bought_together":
        candidates = _bought_together(session, merchant_id, basket, n)
    else:
        candidates = _attribute_matches(session, merchant_id, location, reach, reading, n)

    unique: dict[str, _Candidate] = {}
    for c in candidates:  # the blend keeps each product once, under its first (strongest) kind
        unique.setdefault(c.product_id, c)
    items = _finish(session, merchant_id, reach, list(unique.values()), limit, channel)
    personal = any(i.kind in PERSONAL_KINDS for i in items)
    return Answer(kind=kind or BLEND, location_id=location.id if location else None, personal=personal,
                  items=items, notes=notes)


def _finish(session: Session, merchant_id: str, reach: _Reach, candidates: list[_Candidate],
            limit: int, channel: str) -> list[Suggestion]:
    """Keep what she can get and the merchant offers, up to `limit`, with titles and prices.

    Candidates are checked in small batches, best first: most answers are settled by the first batch,
    and a request then costs two small IN queries instead of two over every candidate."""
    if not candidates:
        return []
    batch = max(2 * limit, 10)
    chosen: list[_Candidate] = []
    offers: dict[tuple[str, str], Any] = {}
    gettable: dict[str, tuple[str, str, int, str | None]] = {}
    for start in range(0, len(candidates), batch):
        part = candidates[start:start + batch]
        found = catalog.active_offers(session, product_ids=[c.product_id for c in part], merchant_ids=[merchant_id])
        offers.update(found)
        got = _gettable(session, reach, [c.product_id for c in part if (merchant_id, c.product_id) in found])
        gettable.update(got)
        chosen += [c for c in part if c.product_id in got]
        if len(chosen) >= limit:
            break
    chosen = chosen[:limit]
    products = catalog.products_by_ids(session, product_ids=[c.product_id for c in chosen])
    out = []
    for c in chosen:
        product, offer = products[c.product_id], offers[(merchant_id, c.product_id)]
        reach_kind, words, units, source = gettable[c.product_id]
        out.append(Suggestion(product_id=product.id, gtin=product.gtin, title=product.title, brand=product.brand,
                              category=product.category, price_minor=catalog.price_for(offer, channel),
                              currency=offer.currency, kind=c.kind, reason=c.reason, score=round(c.score, 6),
                              reach=reach_kind, reach_text=words, available_here=units, from_location_id=source))
    return out


def bought_together_anywhere(session: Session, *, product_id: str, limit: int = 6,
                             channel: str = "online") -> list[Suggestion]:
    """The storefront's "Often bought together": every selling merchant's neighbours of this product that
    the same merchant offers and holds somewhere, strongest first (one entry per product)."""
    rows = list(session.execute(select(ItemNeighbour.merchant_id, ItemNeighbour.neighbour_id, ItemNeighbour.score)
                                .where(ItemNeighbour.product_id == product_id)
                                .order_by(ItemNeighbour.score.desc()).limit(100)))
    best: dict[str, tuple[str, float]] = {}
    for merchant_id, neighbour, score in rows:
        if neighbour != product_id and (neighbour not in best or float(score) > best[neighbour][1]):
            best[neighbour] = (merchant_id, float(score))
    by_merchant: dict[str, list[_Candidate]] = {}
    for neighbour, (merchant_id, score) in sorted(best.items(), key=lambda kv: (-kv[1][1], kv[0])):
        by_merchant.setdefault(merchant_id, []).append(_Candidate(neighbour, "bought_together",
                                                                  "Often bought together", score))
    found: list[Suggestion] = []
    for merchant_id, candidates in by_merchant.items():
        found += _finish(session, merchant_id, _reach(session, merchant_id, None), candidates, limit, channel)
    found.sort(key=lambda s: (-s.score, s.product_id))
    return found[:limit]


def member_merchants_with_suggestions(session: Session, *, member_id: str, now: datetime) -> list[str]:
    """Merchants she shares her purchase history with and that have personal suggestions for her."""
    shared = [c.merchant_id for c in members.list_consents(session, member_id=member_id, now=now)
              if c.data_class == "purchase_history"]
    if not shared:
        return []
    have = set(session.scalars(select(MemberRecommendation.merchant_id).where(
        MemberRecommendation.member_id == member_id, MemberRecommendation.merchant_id.in_(shared)).distinct()))
    have |= set(session.scalars(select(DueItem.merchant_id).where(
        DueItem.member_id == member_id, DueItem.merchant_id.in_(shared)).distinct()))
    return [m for m in shared if m in have]


def require_merchant(session: Session, *, merchant_id: str) -> None:
    network.get_merchant(session, merchant_id=merchant_id)


def resolve_member(session: Session, *, merchant_id: str, member_ref: str) -> str:
    """The member behind the ref this merchant knows her by (404 when it is not one of its refs)."""
    return members.require_member_ref(session, merchant_id=merchant_id, member_ref=member_ref)
