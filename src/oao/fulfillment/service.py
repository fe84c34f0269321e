"""Fulfillment use cases: build a quote from the database, run the state machine
of each fulfillment (one per source/destination leg), pickup codes.

The quote itself is computed by the pure engine in quote.py; this module only
gathers its inputs (spatial pre-filter, stock, offers, workload) and stores
what it answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oao.catalog import service as catalog
from oao.config import Settings
from oao.core.auth import Principal
from oao.core.errors import Gone, InvalidInput, NotFound
from oao.core.geo import cells_within
from oao.core.ids import new_id
from oao.fulfillment.models import Fulfillment, Quote
from oao.fulfillment.quote import CartItem, Option, QuoteParams, QuoteRequest, Site, Snapshot, quote
from oao.inventory import service as inventory
from oao.network import service as network
from oao.network.models import Location

# How far around the shopper (or the chosen pickup store) sources are looked for.
SEARCH_RADIUS_KM = 25.0
OPEN_DELIVERY_STATUSES = ("confirmed", "picking")


@dataclass(frozen=True, slots=True)
class ItemIn:
    quantity: int
    product_id: str | None = None
    gtin: str | None = None
    merchant_id: str | None = None


# --- quoting --------------------------------------------------------------------------

def _resolve_items(session: Session, items: list[ItemIn]) -> list[CartItem]:
    merged: dict[tuple[str, str | None], int] = {}
    for item in items:
        if item.quantity <= 0:
            raise InvalidInput("Every cart line needs a quantity of at least 1.")
        if item.product_id:
            product_id = catalog.get_product(session, product_id=item.product_id).id
        elif item.gtin:
            product_id = catalog.product_by_gtin(session, gtin=item.gtin).id
        else:
            raise InvalidInput("Every cart line needs a product_id or a gtin.")
        key = (product_id, item.merchant_id)
        merged[key] = merged.get(key, 0) + item.quantity
    return [CartItem(product_id=p, quantity=q, merchant_id=m) for (p, m), q in merged.items()]


def _site(loc: Location, workload: dict[str, int]) -> Site:
    return Site(id=loc.id, merchant_id=loc.merchant_id, name=loc.name, kind=loc.kind, latitude=loc.latitude,
                longitude=loc.longitude, timezone=loc.timezone, opening_hours=loc.opening_hours,
                closures=tuple(loc.closures or ()), address=loc.address, sells_in_store=loc.sells_in_store,
                accepts_pickups=loc.accepts_pickups, accepts_partner_pickups=loc.accepts_partner_pickups,
                delivery_radius_km=loc.delivery_radius_km, pick_minutes=loc.pick_minutes,
                delivery_capacity_per_hour=loc.delivery_capacity_per_hour,
                open_delivery_orders=workload.get(loc.id, 0), delivery_fee_minor=loc.delivery_fee_minor,
                shipping_lead_hours=loc.shipping_lead_hours, shipping_fee_minor=loc.shipping_fee_minor)


def _workload(session: Session, location_ids: list[str]) -> dict[str, int]:
    if not location_ids:
        return {}
    rows = session.execute(select(Fulfillment.source_location_id, func.count())
                           .where(Fulfillment.kind == "delivery",
                                  Fulfillment.status.in_(OPEN_DELIVERY_STATUSES),
                                  Fulfillment.source_location_id.in_(location_ids))
                           .group_by(Fulfillment.source_location_id))
    return {loc: int(n) for loc, n in rows}


def _candidates(session: Session, *, product_ids: list[str], anchors: list[tuple[float, float]],
                pickup: Location | None) -> list[Location]:
    """Spatial pre-filter: locations in the H3 cells around the anchors, plus parcel shippers."""
    stocked = inventory.locations_with_stock(session, product_ids=product_ids)
    found: dict[str, Location] = {}
    if anchors:
        cells: set[str] = set()
        for lat, lon in anchors:
            cells.update(cells_within(lat, lon, SEARCH_RADIUS_KM))
        for loc in network.locations_in_cells(session, cells=sorted(cells)):
            # keep pickup-capable places even without stock: goods can be sent there
            if loc.id in stocked or loc.accepts_pickups:
                found[loc.id] = loc
        for loc in network.shipping_locations(session, location_ids=sorted(stocked)):
            found[loc.id] = loc
    else:
        for loc in network.locations_by_ids(session, location_ids=sorted(stocked)):
            found[loc.id] = loc
    if pickup is not None:
        found[pickup.id] = pickup
    return [loc for loc in found.values() if loc.active]


def build_quote(session: Session, *, principal: Principal, items: list[ItemIn],
                destination: dict[str, Any] | None, pickup_location_id: str | None, at: datetime | None,
                now: datetime, settings: Settings) -> Quote:
    """Every way to receive this cart, priced and timed, stored so an order can be placed from it."""
    if not items:
        raise InvalidInput("The cart is empty.")
    cart = _resolve_items(session, items)
    when = at or now
    pickup = None
    if pickup_location_id is not None:
        pickup = network.get_location(session, location_id=pickup_location_id)
        if not pickup.accepts_pickups or not pickup.active:
            raise InvalidInput(f"{pickup.name} does not accept pickups; choose another pickup location.")
    anchors: list[tuple[float, float]] = []
    if destination is not None:
        anchors.append((destination["latitude"], destination["longitude"]))
    if pickup is not None:
        anchors.append((pickup.latitude, pickup.longitude))
    product_ids = sorted({c.product_id for c in cart})
    locations = _candidates(session, product_ids=product_ids, anchors=anchors, pickup=pickup)
    by_id = {loc.id: loc for loc in locations}
    workload = _workload(session, list(by_id))
    offers = catalog.active_offers(session, product_ids=product_ids,
                                   merchant_ids=sorted({loc.merchant_id for loc in locations}))
    snapshot = Snapshot(
        sites={loc.id: _site(loc, workload) for loc in locations},
        stock=inventory.available_map(session, location_ids=list(by_id), product_ids=product_ids),
        sellable=frozenset(offers),
        pickup_partners=frozenset(network.pickup_partners(session)),
    )
    params = QuoteParams(courier_speed_kmh=settings.courier_speed_kmh, detour_factor=settings.detour_factor,
                         transfer_handling_minutes=settings.transfer_handling_minutes,
                         policy=settings.sourcing_policy, hub_delivery=True)
    request = QuoteRequest(items=tuple(cart), at=when,
                           destination=(anchors[0] if destination is not None else None),
                           pickup_location_id=pickup_location_id)
    try:
        options = quote(request, snapshot, params)
    except ValueError as exc:  # the engine's own input checks
        raise InvalidInput(str(exc)) from None
    products = catalog.products_by_ids(session, product_ids=product_ids)
    merchants = {m: network.get_merchant(session, merchant_id=m).name for m in {o.merchant_id for o in options}}
    priced = [_price_option(o, offers, products, by_id, merchants, destination) for o in options]
    record = Quote(id=new_id("quo"), requested_by=principal.id,
                   request={"items": [{"product_id": c.product_id, "quantity": c.quantity,
                                       "merchant_id": c.merchant_id} for c in cart],
                            "destination": destination, "pickup_location_id": pickup_location_id,
                            "at": when.isoformat()},
                   options=priced, created_at=now,
                   expires_at=now + timedelta(minutes=settings.quote_ttl_minutes))
    session.add(record)
    session.flush()
    return record


def _place(loc: Location) -> dict[str, Any]:
    return {"id": loc.id, "name": loc.name, "address": loc.address, "kind": loc.kind,
            "merchant_id": loc.merchant_id, "latitude": loc.latitude, "longitude": loc.longitude}


def _price_option(option: Option, offers: dict[tuple[str, str], Any], products: dict[str, Any],
                  locations: dict[str, Location], merchants: dict[str, str],
                  destination: dict[str, Any] | None) -> dict[str, Any]:
    quantities: dict[str, int] = {}
    for leg in option.legs:
        for product_id, qty in leg.lines:
            quantities[product_id] = quantities.get(product_id, 0) + qty
    lines, currency = [], None
    for product_id, qty in sorted(quantities.items()):
        offer = offers[(option.merchant_id, product_id)]
        currency = currency or offer.currency
        unit = catalog.price_for(offer, "online")
        lines.append({"product_id": product_id, "gtin": products[product_id].gtin,
                      "title": products[product_id].title, "quantity": qty, "unit_price_minor": unit,
                      "line_total_minor": unit * qty})
    subtotal = sum(line["line_total_minor"] for line in lines)
    pickup = locations.get(option.pickup_location_id) if option.pickup_location_id else None
    return {
        "id": option.id, "kind": option.kind,
        "merchant": {"id": option.merchant_id, "name": merchants[option.merchant_id]},
        "legs": [{"source": _place(locations[leg.source_location_id]),
                  "lines": [{"product_id": p, "quantity": q} for p, q in leg.lines],
                  "ready_at": leg.ready_at.isoformat(), "arrive_at": leg.arrive_at.isoformat(),
                  "transfer_to": leg.transfer_to} for leg in option.legs],
        "pickup_location": _place(pickup) if pickup is not None else None,
        "delivered_from": _place(locations[option.delivered_from]) if option.delivered_from else None,
        "destination": destination if option.kind != "pickup" else None,
        "ready_at": option.ready_at.isoformat() if option.ready_at else None,
        "arrive_at": option.arrive_at.isoformat(),
        "currency": currency, "lines": lines, "subtotal_minor": subtotal, "fee_minor": option.fee_minor,
        "total_minor": subtotal + option.fee_minor, "involves_transfer": option.involves_transfer,
        "is_split": option.is_split, "explanation": option.explanation,
    }


def get_quote(session: Session, *, quote_id: str, principal: Principal) -> Quote:
    record = session.get(Quote, quote_id)
    if record is None or (record.requested_by != principal.id and not principal.is_network_admin):
        raise NotFound(f"No quote {quote_id!r}.")
    return record


def quote_option(record: Quote, *, option_id: str, now: datetime) -> dict[str, Any]:
    """The chosen option of a still-valid quote."""
    if record.expires_at <= now:
        raise Gone(f"Quote {record.id} expired at {record.expires_at.isoformat()}; ask for a new quote.")
    for option in record.options:
        if option["id"] == option_id:
            return option
    raise InvalidInput(f"Quote {record.id} has no option {option_id!r}.")
