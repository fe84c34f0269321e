"""Stock visibility across a link (capability `stock_visibility`).

Owner side: the merchant chooses, per link, which products it shows (a list of
GTINs, or every product it offers) and how precisely (quantity bands or exact
figures). The partner asks for availability per GTIN; the answer goes through
the owner's data-sharing policy (class `stock_levels`, purpose `fulfillment`),
so a merchant who never permitted stock levels for the partner shows nothing.

Asking side: answers are cached per (link, GTIN, partner location) with the
partner's timestamp; `who_has` answers "who on a linked instance has GTIN g
near (lat, lon)" from that cache (the quote or product page calls it; the HTTP
refresh lives in client.py, outside any transaction).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from oao.catalog import service as catalog
from oao.catalog.gtin import InvalidGtin, normalise_gtin
from oao.catalog.models import Offer
from oao.core.auth import Principal
from oao.core.errors import InvalidInput, InvalidState
from oao.core.geo import haversine_km, valid_coordinates
from oao.federation import capabilities as caps
from oao.federation import service as federation
from oao.federation.models import FederationLink, FederationStockShare, RemoteStock
from oao.inventory import service as inventory
from oao.network import service as network

PAYLOAD_KIND = "federation.stock_levels"  # registered in oao.sharing.kinds
PURPOSE = "fulfillment"
SCOPES = ("gtins", "all")
PRECISIONS = ("bands", "exact")
MAX_GTINS_PER_SHARE = 5000
MAX_GTINS_PER_REQUEST = 100
# Bands rather than numbers by default: enough to say "go there", not enough to read a competitor's stock.
BANDS: tuple[tuple[str, int], ...] = (("none", 0), ("few", 1), ("some", 5), ("many", 20))
STALE_AFTER = timedelta(minutes=15)  # candidate setting OAO_FEDERATION_STOCK_CACHE_MINUTES
DEFAULT_RADIUS_KM = 10.0


def band_of(quantity: int) -> str:
    """none (0), few (1-4), some (5-19), many (20+)."""
    name = BANDS[0][0]
    for band, floor in BANDS:
        if quantity >= floor:
            name = band
    return name


def normalised(gtin: str) -> str:
    """The GTIN-14 form of a GTIN (422 when it is not one)."""
    return _gtin14(gtin)


def _gtin14(gtin: str) -> str:
    try:
        return normalise_gtin(str(gtin))
    except InvalidGtin as exc:
        raise InvalidInput(f"GTIN {str(gtin)[:20]!r}: {exc}", errors=[{"loc": ["gtins"], "msg": str(exc)}]) from None


# --- owner side ----------------------------------------------------------------------------------

def get_share(session: Session, *, link_id: str, principal: Principal) -> FederationStockShare | None:
    link = federation.get_link(session, link_id=link_id, principal=principal)
    return session.get(FederationStockShare, link.id)


def set_share(session: Session, *, link_id: str, principal: Principal, scope: str, gtins: Iterable[str],
              precision: str, now: datetime) -> FederationStockShare:
    """Choose which products this link's partner may see the stock of, and how precisely."""
    link = federation.get_link(session, link_id=link_id, principal=principal)
    principal.ensure_admin_of(link.merchant_id)
    federation.require_capability(link, "stock_visibility")
    if scope not in SCOPES or precision not in PRECISIONS:
        raise InvalidInput(f"scope is one of {', '.join(SCOPES)}; precision one of {', '.join(PRECISIONS)}.")
    listed = sorted({_gtin14(g) for g in gtins}) if scope == "gtins" else []
    if len(listed) > MAX_GTINS_PER_SHARE:
        raise InvalidInput(f"At most {MAX_GTINS_PER_SHARE} GTINs per link; share all products instead.")
    share = session.get(FederationStockShare, link.id)
    if share is None:
        share = FederationStockShare(link_id=link.id, scope=scope, gtins=listed, precision=precision, updated_at=now)
        session.add(share)
    else:
        share.scope, share.gtins, share.precision, share.updated_at = scope, listed, precision, now
    session.flush()
    federation.link_event(session, link, "federation.stock_share_updated", now)
    return share


def _shared_products(session: Session, *, share: FederationStockShare, merchant_id: str,
                     asked: list[str]) -> dict[str, str]:
    """gtin14 -> product id, for the asked GTINs the owner shares and offers (all shared ones if none asked)."""
    offered = select(Offer.product_id).where(Offer.merchant_id == merchant_id, Offer.active.is_(True))
    if share.scope == "gtins":
        wanted = [g for g in asked if g in set(share.gtins)] if asked else list(share.gtins)[:MAX_GTINS_PER_REQUEST]
        by_gtin = catalog.product_ids_by_gtin14(session, gtin14s=wanted)
        ours = set(session.scalars(offered.where(Offer.product_id.in_(list(by_gtin.values())))))
        return {g: p for g, p in by_gtin.items() if p in ours}
    if asked:
        by_gtin = catalog.product_ids_by_gtin14(session, gtin14s=asked)
        ours = set(session.scalars(offered.where(Offer.product_id.in_(list(by_gtin.values())))))
        return {g: p for g, p in by_gtin.items() if p in ours}
    ids = list(session.scalars(offered.order_by(Offer.product_id).limit(MAX_GTINS_PER_REQUEST)))
    return {p.gtin14: p.id for p in catalog.products_by_ids(session, product_ids=ids).values()}


def stock_payload(session: Session, *, link: FederationLink, gtins: Iterable[str], now: datetime) -> dict[str, Any]:
    """Availability of the asked (shared) products at our active locations, as the partner may see it."""
    asked = list(dict.fromkeys(_gtin14(g) for g in gtins))
    if len(asked) > MAX_GTINS_PER_REQUEST:
        raise InvalidInput(f"Ask for at most {MAX_GTINS_PER_REQUEST} GTINs at a time.")
    merchant = network.get_merchant(session, merchant_id=link.merchant_id)
    share = session.get(FederationStockShare, link.id)
    products = _shared_products(session, share=share, merchant_id=link.merchant_id, asked=asked) if share else {}
    locations = [loc for loc in network.list_locations(session, merchant_id=link.merchant_id)
                 if loc.active and loc.kind != "warehouse"]
    available = inventory.available_map(session, location_ids=[loc.id for loc in locations],
                                        product_ids=list(products.values()))
    exact = share is not None and share.precision == "exact"
    items = []
    for gtin14, product_id in sorted(products.items()):
        availability = []
        for loc in locations:
            quantity = available.get((loc.id, product_id), 0)
            row: dict[str, Any] = {"location_id": loc.id, "location_name": loc.name, "latitude": loc.latitude,
                                   "longitude": loc.longitude, "band": band_of(quantity)}
            if exact:
                row["quantity"] = quantity
            availability.append(row)
        items.append({"gtin": gtin14, "availability": availability})
    payload = {"merchant": {"id": merchant.id, "name": merchant.name}, "as_of": now.isoformat(),
               "precision": share.precision if share else "bands", "items": items}
    out = federation.project(session, link=link, purpose=PURPOSE, payload_kind=PAYLOAD_KIND, payload=payload,
                             now=now)
    if items and not all(isinstance(i, Mapping) and i.get("gtin") and i.get("availability")
                         for i in out.get("items") or [None]):
        raise InvalidState(f"Your data-sharing policy for link {link.id} withholds stock_levels (purpose "
                           f"{PURPOSE}); permit it to show the partner the stock you chose to share.")
    if not items:
        out["items"] = []  # the projection drops empty containers; "nothing shared" is an answer, not data
    return out


# --- asking side ---------------------------------------------------------------------------------

def _when(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else None


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def store_remote_stock(session: Session, *, link_id: str, asked: Iterable[str], payload: Mapping[str, Any],
                       now: datetime) -> list[RemoteStock]:
    """Replace the cache for the asked GTINs (all answered ones if none asked) with the partner's answer."""
    items = [i for i in payload.get("items") or [] if isinstance(i, Mapping)]
    answered = {str(i.get("gtin")) for i in items}
    replaced = set(asked) | answered
    if replaced:
        session.execute(delete(RemoteStock).where(RemoteStock.link_id == link_id,
                                                  RemoteStock.gtin14.in_(sorted(replaced))))
    as_of = _when(payload.get("as_of"))
    rows = []
    for item in items:
        gtin = str(item.get("gtin") or "")
        if len(gtin) != 14 or not gtin.isdigit():
            continue
        for raw in item.get("availability") or []:
            if not isinstance(raw, Mapping) or not raw.get("location_id"):
                continue
            quantity = raw.get("quantity")
            band = str(raw.get("band") or "")
            if isinstance(quantity, int) and quantity >= 0:
                band = band if band in dict(BANDS) else band_of(quantity)
            elif band not in dict(BANDS):
                continue  # neither a figure nor a band we understand: nothing to tell a shopper
            row = RemoteStock(link_id=link_id, gtin14=gtin, remote_location_id=str(raw["location_id"])[:80],
                              location_name=str(raw.get("location_name") or "")[:200],
                              latitude=_number(raw.get("latitude")), longitude=_number(raw.get("longitude")),
                              quantity=quantity if isinstance(quantity, int) and quantity >= 0 else None,
                              band=band, as_of=as_of, fetched_at=now)
            session.merge(row)
            rows.append(row)
    session.flush()
    return rows


@dataclass(frozen=True)
class RemoteAvailability:
    link_id: str
    partner: dict[str, Any]  # the partner merchant as it names itself
    remote_url: str
    gtin14: str
    location_id: str
    location_name: str
    latitude: float | None
    longitude: float | None
    distance_km: float | None
    band: str
    quantity: int | None
    as_of: datetime | None
    fetched_at: datetime
    stale: bool


def stock_links(session: Session, *, merchant_id: str | None) -> list[FederationLink]:
    """Active links of this merchant (None: any) on which stock visibility was negotiated."""
    query = select(FederationLink).where(FederationLink.status == "active").order_by(FederationLink.id)
    if merchant_id is not None:
        query = query.where(FederationLink.merchant_id == merchant_id)
    return [link for link in session.scalars(query) if caps.allows(link.capabilities, "stock_visibility")]


def who_has(session: Session, *, merchant_id: str | None, gtin: str, latitude: float, longitude: float,
            now: datetime, radius_km: float = DEFAULT_RADIUS_KM, max_age: timedelta | None = None,
            include_stale: bool = False) -> list[RemoteAvailability]:
    """Who on a linked instance has this product near (lat, lon): partner locations with stock, nearest
    first, from the cache. Entries older than `max_age` (default STALE_AFTER) are marked stale and left
    out unless asked for; refresh them with client.refresh_remote_stock."""
    if not valid_coordinates(latitude, longitude) or radius_km <= 0:
        raise InvalidInput("Give valid coordinates and a positive radius.")
    gtin14, limit = _gtin14(gtin), max_age if max_age is not None else STALE_AFTER
    links = {link.id: link for link in stock_links(session, merchant_id=merchant_id)}
    if not links:
        return []
    rows = session.scalars(select(RemoteStock).where(RemoteStock.gtin14 == gtin14,
                                                     RemoteStock.link_id.in_(list(links))))
    out = []
    for row in rows:
        if row.band == "none" or (row.quantity is not None and row.quantity <= 0):
            continue
        distance = (haversine_km(latitude, longitude, row.latitude, row.longitude)
                    if row.latitude is not None and row.longitude is not None else None)
        if distance is None or distance > radius_km:
            continue
        stale = now - row.fetched_at > limit
        if stale and not include_stale:
            continue
        link = links[row.link_id]
        out.append(RemoteAvailability(
            link_id=link.id, partner=dict(link.remote_merchant), remote_url=link.remote_url, gtin14=gtin14,
            location_id=row.remote_location_id, location_name=row.location_name, latitude=row.latitude,
            longitude=row.longitude, distance_km=round(distance, 3), band=row.band, quantity=row.quantity,
            as_of=row.as_of, fetched_at=row.fetched_at, stale=stale))
    return sorted(out, key=lambda a: (a.distance_km, a.link_id, a.location_id))


def stale_gtins(session: Session, *, link_id: str, gtins: Iterable[str], now: datetime,
                max_age: timedelta = STALE_AFTER) -> list[str]:
    """The asked GTINs whose cached answer on this link is missing or older than max_age."""
    wanted = [_gtin14(g) for g in gtins]
    fresh = {g for g, at in session.execute(select(RemoteStock.gtin14, RemoteStock.fetched_at).where(
        RemoteStock.link_id == link_id, RemoteStock.gtin14.in_(wanted))) if now - at <= max_age}
    return [g for g in wanted if g not in fresh]
