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
from oao.core.ids import new_id
from oao.fulfillment.models import Fulfillment, Quote
from oao.fulfillment.quote import CartItem, Option, QuoteParams, QuoteRequest, Site, Snapshot, quote
from oao.inventory import service as inventory
from oao.network import service as network
from oao.network.models import Location

# How far around the shopper (or the chosen pickup store) sources are looked for,
# and how many of the nearest candidates of each sort reach the quoting engine.
SEARCH_RADIUS_KM = 25.0
WHOLE_CART_SOURCES = 12
ANY_LINE_SOURCES = 30
PER_PRODUCT_SOURCES = 8
PICKUP_TARGETS = 30
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


def _candidates(session: Session, *, quantities: dict[str, int], destination: tuple[float, float] | None,
                pickup: Location | None, pickup_search_km: float) -> list[Location]:
    """Spatial pre-filter: only what can take part in an answer reaches the engine.

    Sources, around the shopper and the chosen pickup store: the nearest places
    holding the whole cart (so no split is proposed when one place could
    serve), the nearest holding any of it (alternatives and splits) and, when
    nobody holds everything, the nearest for each product. Targets: the nearest
    pickup-accepting places around the shopper, and the chosen store. Plus
    stocked parcel shippers anywhere. Ranking and limits happen in SQL, so a
    dense city costs no more than a small one.
    """
    product_ids = sorted(quantities)
    found: dict[str, Location] = {}

    def add(locations: list[Location]) -> None:
        for loc in locations:
            found[loc.id] = loc

    anchors = [a for a in (destination, (pickup.latitude, pickup.longitude) if pickup else None) if a]
    if not anchors:
        add(network.locations_by_ids(session, location_ids=inventory.locations_with_stock(
            session, product_ids=product_ids)))
    for lat, lon in anchors:
        def near(ids: Any, limit: int, lat: float = lat, lon: float = lon) -> list[Location]:
            return network.locations_near(session, latitude=lat, longitude=lon, radius_km=SEARCH_RADIUS_KM,
                                          location_ids=ids, limit=limit)

        whole = near(inventory.locations_holding(quantities), WHOLE_CART_SOURCES)
        add(whole)
        add(near(inventory.stocked_location_ids(product_ids), ANY_LINE_SOURCES))
        if not whole and len(quantities) > 1:
            for product_id, quantity in quantities.items():
                add(near(inventory.locations_holding({product_id: quantity}), PER_PRODUCT_SOURCES))
    if destination is not None:
        add(network.locations_near(session, latitude=destination[0], longitude=destination[1],
                                   radius_km=pickup_search_km, pickups_only=True, limit=PICKUP_TARGETS))
        add(network.shipping_locations(session, location_ids=inventory.stocked_location_ids(product_ids)))
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
    door = (destination["latitude"], destination["longitude"]) if destination is not None else None
    params = QuoteParams(courier_speed_kmh=settings.courier_speed_kmh, detour_factor=settings.detour_factor,
                         transfer_handling_minutes=settings.transfer_handling_minutes,
                         policy=settings.sourcing_policy, hub_delivery=True)
    product_ids = sorted({c.product_id for c in cart})
    quantities: dict[str, int] = {}
    for c in cart:
        quantities[c.product_id] = quantities.get(c.product_id, 0) + c.quantity
    locations = _candidates(session, quantities=quantities, destination=door, pickup=pickup,
                            pickup_search_km=params.pickup_search_km)
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
    request = QuoteRequest(items=tuple(cart), at=when, destination=door,
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


def parcels_for_code(session: Session, *, location_id: str, code: str) -> list[Fulfillment]:
    """Every leg a pickup code opens at this store, whatever its state (the counter says why it is not ready).

    A read for the store console: handing over goes through lifecycle.hand_over."""
    from oao.fulfillment.lifecycle import normalise_code  # the same reading of a code as the handover

    return list(session.scalars(select(Fulfillment).where(
        Fulfillment.pickup_code == normalise_code(code), Fulfillment.pickup_location_id == location_id)
        .order_by(Fulfillment.id)))
