"""Time arithmetic of fulfillment: travel, store workload, picking, transfers, shipping.

Pure functions over the quote engine's plain dataclasses. Every instant is an
aware UTC datetime; opening hours are read in each site's own time zone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from oao.core.geo import haversine_km

if TYPE_CHECKING:
    from oao.fulfillment.quote import QuoteParams, Site

# Back rooms that do not serve the public: without published hours they are
# staffed around the clock, so they can pick and send goods at any time.
ALWAYS_WORKING_KINDS = frozenset({"warehouse", "dark_store"})


def works_around_the_clock(site: Site) -> bool:
    return site.kind in ALWAYS_WORKING_KINDS and not site.opening_hours


def site_is_open(site: Site, at: datetime) -> bool:
    if works_around_the_clock(site):
        return True
    return site.calendar.is_open(at)


def site_next_open(site: Site, at: datetime) -> datetime | None:
    """`at` if the site is working then, else its next opening; None if it does not open soon."""
    if works_around_the_clock(site):
        return at
    return site.calendar.next_open(at)


def distance_km(site: Site, point: tuple[float, float]) -> float:
    return haversine_km(site.latitude, site.longitude, point[0], point[1])


def site_distance_km(a: Site, b: Site) -> float:
    return haversine_km(a.latitude, a.longitude, b.latitude, b.longitude)


def travel_minutes(km: float, params: QuoteParams) -> float:
    """Courier time for a straight-line distance: streets are longer than the crow flies."""
    if params.courier_speed_kmh <= 0:
        raise ValueError("courier_speed_kmh must be positive")
    return km * params.detour_factor / params.courier_speed_kmh * 60.0


def queue_wait_minutes(site: Site) -> float:
    """How long the delivery orders already waiting at the site take to clear."""
    if site.delivery_capacity_per_hour <= 0:
        raise ValueError(f"{site.name} does not deliver (no delivery capacity)")
    return max(0, site.open_delivery_orders) / site.delivery_capacity_per_hour * 60.0


def pick_ready_at(site: Site, at: datetime, *, extra_minutes: float = 0.0) -> datetime | None:
    """When goods ordered at `at` are picked at the site, ready to hand over.

    Work starts at `at`, or at the next opening if closed; `extra_minutes` of
    waiting (a delivery queue) come before the picking. Goods finished after
    closing time are handed over when the site opens again. None when the
    site does not open within the hours search window.
    """
    start = site_next_open(site, at)
    if start is None:
        return None
    ready = start + timedelta(minutes=extra_minutes + site.pick_minutes)
    return site_next_open(site, ready)


def delivery_arrival(site: Site, at: datetime, destination: tuple[float, float],
                     params: QuoteParams) -> tuple[datetime, datetime] | None:
    """(ready at the site, arrival at the door) for a delivery ordered at `at`; None if it cannot."""
    if site.delivery_capacity_per_hour <= 0:
        return None
    ready = pick_ready_at(site, at, extra_minutes=queue_wait_minutes(site))
    if ready is None:
        return None
    return ready, ready + timedelta(minutes=travel_minutes(distance_km(site, destination), params))


def transfer_arrival(source: Site, source_ready: datetime, target: Site,
                     params: QuoteParams) -> tuple[datetime, datetime] | None:
    """(arrival at the target, ready for the shopper there) for goods sent from source to target.

    The target needs transfer_handling_minutes to receive and shelve the
    goods; if it is closed by then, they are ready when it opens.
    """
    arrival = source_ready + timedelta(minutes=travel_minutes(site_distance_km(source, target), params))
    handled = arrival + timedelta(minutes=params.transfer_handling_minutes)
    ready = site_next_open(target, handled)
    if ready is None:
        return None
    return arrival, ready


def shipping_arrival(site: Site, at: datetime) -> datetime:
    """Parcel arrival: the site's published lead time from the order."""
    if site.shipping_lead_hours is None:
        raise ValueError(f"{site.name} does not ship parcels")
    return at + timedelta(hours=site.shipping_lead_hours)
