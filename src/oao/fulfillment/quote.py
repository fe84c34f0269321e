"""The fulfillment quote: every way to receive a cart, each with a time and a fee.

Pure: plain frozen dataclasses in, a sorted list of options out; no database.
The caller (fulfillment.service) loads a Snapshot of the sites around the
shopper plus parcel shippers, their available stock for the cart's products,
which merchants sell those products and which pickup agreements exist.

Kinds of option, per seller merchant that sells the whole cart:
- pickup where it is stocked: a pickup location of the seller holding the cart;
- pickup elsewhere: goods sent from the seller's locations to a pickup
  location of its own or of a partner that accepts its orders;
- delivery: a seller's site whose delivery radius covers the door, after the
  orders already waiting there;
- shipping: a parcel from a site that ships, arriving after its lead time.
A cart is split over several sources only when no single one can serve it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property, partial
from math import cos, radians
from typing import Any

from oao.core.geo import haversine_km
from oao.fulfillment import eta
from oao.fulfillment.explain import names, opens, parcels, queue_remark
from oao.fulfillment.sourcing import Allocation, choose_sources, policy_named
from oao.network.hours import Calendar, wall_clock

KINDS = ("pickup", "delivery", "shipping")
_KM_PER_DEGREE = 111.195


@dataclass(frozen=True)
class Site:
    """A location as the engine sees it: place, hours, capabilities and current workload."""

    id: str
    merchant_id: str
    name: str
    kind: str  # store | warehouse | pickup_point | dark_store
    latitude: float
    longitude: float
    timezone: str = "UTC"
    opening_hours: Mapping[str, Any] = field(default_factory=dict)
    closures: tuple[str, ...] = ()
    address: str = ""
    sells_in_store: bool = True
    accepts_pickups: bool = False
    accepts_partner_pickups: bool = False
    delivery_radius_km: float = 0.0
    pick_minutes: int = 15
    delivery_capacity_per_hour: int = 0
    open_delivery_orders: int = 0
    delivery_fee_minor: int = 0
    shipping_lead_hours: float | None = None  # None: does not ship parcels
    shipping_fee_minor: int = 0

    @cached_property
    def calendar(self) -> Calendar:
        """The parsed opening hours, kept with the site so a quote parses them once."""
        return Calendar(self.opening_hours, self.closures, self.timezone)


@dataclass(frozen=True)
class CartItem:
    product_id: str
    quantity: int
    merchant_id: str | None = None  # None: any merchant that sells it


@dataclass(frozen=True)
class Snapshot:
    sites: Mapping[str, Site]
    stock: Mapping[tuple[str, str], int]  # (location_id, product_id) -> available units
    sellable: frozenset[tuple[str, str]] = frozenset()  # (merchant_id, product_id) with an active offer
    # (host_merchant_id, guest_merchant_id): the host's partner pickup points accept the guest's orders
    pickup_partners: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class QuoteParams:
    courier_speed_kmh: float = 18.0
    detour_factor: float = 1.35
    transfer_handling_minutes: int = 30
    pickup_search_km: float = 3.0
    max_pickup_points: int = 3
    max_options: int = 8
    policy: str = "nearest"
    transfer_fee_minor: int = 0  # what the shopper pays when goods are sent to a pickup location
    # Delivery by a seller's site that first receives the goods by transfer,
    # offered only when no stocked site can deliver. The service turns it on;
    # the order lifecycle sends such legs to the delivering site first.
    hub_delivery: bool = False


@dataclass(frozen=True)
class QuoteRequest:
    items: tuple[CartItem, ...]
    at: datetime  # aware UTC
    destination: tuple[float, float] | None = None  # (latitude, longitude) of the door
    pickup_location_id: str | None = None


@dataclass(frozen=True)
class Leg:
    """What one source supplies and when it gets where it is going."""

    source_location_id: str
    merchant_id: str
    lines: tuple[tuple[str, int], ...]  # (product_id, quantity)
    ready_at: datetime  # picked at the source
    transfer_to: str | None  # the location the goods are sent to, if they move before the shopper gets them
    arrive_at: datetime  # at transfer_to when set, else at the door (delivery, shipping) or ready (pickup)


@dataclass(frozen=True)
class Option:
    id: str
    kind: str  # pickup | delivery | shipping
    merchant_id: str  # the seller; every leg's source belongs to it
    legs: tuple[Leg, ...]
    pickup_location_id: str | None
    destination: tuple[float, float] | None
    ready_at: datetime  # pickup: when the shopper can collect; otherwise when the last leg is picked
    arrive_at: datetime  # at the door; for a pickup, same as ready_at
    fee_minor: int
    involves_transfer: bool
    is_split: bool
    explanation: str
    delivered_from: str | None = None  # the site that delivers goods it received by transfer


# --- helpers ------------------------------------------------------------------------

def _ceil_minute(when: datetime) -> datetime:
    """Promises are made in whole minutes, rounded up so they are kept."""
    if when.second or when.microsecond:
        return when.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return when


def _option_id(kind: str, seller: str, pickup: str | None, hub: str | None,
               destination: tuple[float, float] | None, legs: Sequence[Leg]) -> str:
    """Derived from what the option is (not when), so the same quote yields the same ids."""
    dest = None if destination is None else (round(destination[0], 6), round(destination[1], 6))
    content = repr((kind, seller, pickup, hub, dest,
                    tuple((leg.source_location_id, leg.transfer_to, leg.lines) for leg in legs)))
    return "opt_" + hashlib.sha256(content.encode()).hexdigest()[:16]


def _cart(request: QuoteRequest) -> tuple[dict[str, int], dict[str, set[str]]]:
    """Units per product, and the merchants a product is restricted to by the shopper."""
    if not request.items:
        raise ValueError("The cart is empty.")
    if request.at.tzinfo is None:
        raise ValueError("The quote time must be timezone-aware.")
    need: dict[str, int] = {}
    only: dict[str, set[str]] = {}
    for item in request.items:
        if item.quantity <= 0:
            raise ValueError(f"Quantity of {item.product_id} must be at least 1, got {item.quantity}.")
        need[item.product_id] = need.get(item.product_id, 0) + item.quantity
        if item.merchant_id is not None:
            only.setdefault(item.product_id, set()).add(item.merchant_id)
    return need, only


@dataclass
class _Pick:
    ready: datetime  # goods picked at the site
    opening: datetime | None  # the opening the shopper waits for, if any


@dataclass
class _Draft:
    """An option whose sentence is written only if it makes the final list."""

    option: Option
    explain: Callable[[], str]

    def final(self) -> Option:
        return replace(self.option, explanation=self.explain())


class _Run:
    """One quote computation: indexes built once, then options per seller."""

    def __init__(self, request: QuoteRequest, snapshot: Snapshot, params: QuoteParams) -> None:
        self.request, self.snapshot, self.params = request, snapshot, params
        self.at = request.at.astimezone(UTC)
        self.need, self.only = _cart(request)
        self.rank = policy_named(params.policy)
        self.lines = tuple(self.need.items())
        self.pickup: Site | None = None
        if request.pickup_location_id is not None:
            self.pickup = snapshot.sites.get(request.pickup_location_id)
            if self.pickup is None:
                raise ValueError(f"Pickup location {request.pickup_location_id!r} is not in the snapshot.")
        self._holdings()
        self._geography()
        self._picks: dict[tuple[str, float], _Pick | None] = {}

    # indexes ---------------------------------------------------------------------------

    def _holdings(self) -> None:
        """Cart-product stock per site, for sites whose merchant sells the whole cart."""
        sites, stock = self.snapshot.sites, self.snapshot.stock
        held: dict[str, dict[str, int]] = {}
        # Look up whichever side is smaller: sites x cart products, or the stock entries.
        if len(sites) * len(self.need) <= len(stock):
            get = stock.get
            for product_id in self.need:
                for site_id in [i for i in sites if get((i, product_id), 0) > 0]:
                    held.setdefault(site_id, {})[product_id] = get((site_id, product_id), 0)
        else:
            wanted = self.need
            for (site_id, product_id), units in stock.items():
                if units > 0 and product_id in wanted and site_id in sites:
                    held.setdefault(site_id, {})[product_id] = units
        verdict: dict[str, bool] = {}
        self.held: dict[str, dict[str, int]] = {}
        self.by_seller: dict[str, list[Site]] = {}
        for site_id in sorted(held):
            site = sites[site_id]
            m = site.merchant_id
            if m not in verdict:
                verdict[m] = self._sells_cart(m)
            if verdict[m]:
                self.held[site_id] = held[site_id]
                self.by_seller.setdefault(m, []).append(site)
        self.sellers = sorted(self.by_seller)

    def _sells_cart(self, merchant_id: str) -> bool:
        sellable = self.snapshot.sellable
        return all((merchant_id, p) in sellable and self.only.get(p, {merchant_id}) == {merchant_id}
                   for p in self.need)

    def _geography(self) -> None:
        """Pickup places near the door and sites that deliver there, among the sites that matter."""
        self.near_pickups: dict[str, list[tuple[float, Site]]] = {}  # by merchant, nearest first
        self.near_pickup_ids: set[str] = set()
        self.deliverers: dict[str, float] = {}
        self.hosts: dict[str, list[str]] = {}  # seller -> merchants whose pickup places take its orders
        dest = self.request.destination
        if dest is None or not self.sellers:
            return
        sellers, sites = set(self.sellers), self.snapshot.sites
        # Only sellers' places and those of their pickup partners can receive goods.
        for host, guest in sorted(self.snapshot.pickup_partners):
            if guest in sellers and host != guest:
                self.hosts.setdefault(guest, []).append(host)
        receivers = sellers | {h for hosts in self.hosts.values() for h in hosts}
        lat0, lon0 = dest
        lon_km = _KM_PER_DEGREE * max(cos(radians(lat0)), 0.01)
        search = self.params.pickup_search_km
        margin = search * 1.02 + 0.05  # a cheap bounding box first, with room for the curvature
        hubs = self.params.hub_delivery
        for site in sites.values():
            if hubs and site.merchant_id in sellers and site.delivery_capacity_per_hour > 0:
                self._may_deliver(site, dest)
            if not site.accepts_pickups or site.merchant_id not in receivers:
                continue
            if (abs(site.latitude - lat0) * _KM_PER_DEGREE > margin
                    or abs(site.longitude - lon0) * lon_km > margin):
                continue
            km = haversine_km(site.latitude, site.longitude, lat0, lon0)
            if km <= search:
                self.near_pickups.setdefault(site.merchant_id, []).append((km, site))
                self.near_pickup_ids.add(site.id)
        for places in self.near_pickups.values():
            places.sort(key=lambda pair: (pair[0], pair[1].id))
        if not hubs:
            for site_id in self.held:
                self._may_deliver(sites[site_id], dest)

    def _may_deliver(self, site: Site, dest: tuple[float, float]) -> None:
        if site.delivery_capacity_per_hour > 0 and site.delivery_radius_km > 0:
            km = haversine_km(site.latitude, site.longitude, dest[0], dest[1])
            if km <= site.delivery_radius_km:
                self.deliverers[site.id] = km

    def holds_cart(self, site: Site) -> bool:
        held = self.held.get(site.id, {})
        return all(held.get(p, 0) >= q for p, q in self.need.items())

    def may_host(self, target: Site, seller: str) -> bool:
        """Whether the target location accepts pickups of the seller's orders."""
        if not target.accepts_pickups:
            return False
        return target.merchant_id == seller or (
            target.accepts_partner_pickups and (target.merchant_id, seller) in self.snapshot.pickup_partners)

    # timing ------------------------------------------------------------------------------

    def pick(self, site: Site, extra_minutes: float = 0.0) -> _Pick | None:
        key = (site.id, extra_minutes)
        if key not in self._picks:
            start = eta.site_next_open(site, self.at)
            ready = eta.pick_ready_at(site, self.at, extra_minutes=extra_minutes)
            if start is None or ready is None:
                self._picks[key] = None
            else:
                pushed = ready > start + timedelta(minutes=extra_minutes + site.pick_minutes)
                opening = start if start > self.at else (ready if pushed else None)
                self._picks[key] = _Pick(ready, opening)
        return self._picks[key]

    def plan(self, candidates: Sequence[Site], anchor: tuple[float, float],
             works: Callable[[Site], _Pick | None]) -> list[tuple[Allocation, _Pick]] | None:
        """Sources chosen by the policy, each with its timing; a source that cannot work is dropped."""
        pool = list(candidates)
        while pool:
            allocations = choose_sources(self.need, pool, self.snapshot.stock, anchor, self.rank)
            if allocations is None:
                return None
            timed = [(a, works(a.site)) for a in allocations]
            dead = {a.site.id for a, t in timed if t is None}
            if not dead:
                return [(a, t) for a, t in timed if t is not None]
            pool = [s for s in pool if s.id not in dead]
        return None

    # options -------------------------------------------------------------------------------

    def draft(self, *, kind: str, seller: str, legs: list[Leg], pickup: str | None, ready: datetime,
              arrive: datetime, fee: int, explain: Callable[[], str], hub: str | None = None) -> _Draft:
        legs = [Leg(leg.source_location_id, leg.merchant_id, leg.lines, _ceil_minute(leg.ready_at),
                    leg.transfer_to, _ceil_minute(leg.arrive_at)) for leg in legs]
        destination = self.request.destination if kind != "pickup" else None
        involves_transfer = any(leg.transfer_to is not None for leg in legs)
        option = Option(id=_option_id(kind, seller, pickup, hub, destination, legs), kind=kind,
                        merchant_id=seller, legs=tuple(legs), pickup_location_id=pickup,
                        destination=destination, ready_at=_ceil_minute(ready), arrive_at=_ceil_minute(arrive),
                        fee_minor=fee, involves_transfer=involves_transfer, is_split=len(legs) > 1,
                        explanation="", delivered_from=hub)
        return _Draft(option, explain)

    def clock(self, when: datetime, site: Site) -> str:
        return wall_clock(_ceil_minute(when), site.timezone, self.at)

    def ride(self, site: Site) -> timedelta:
        """Courier time from a delivering site to the door."""
        return timedelta(minutes=eta.travel_minutes(self.deliverers[site.id], self.params))

    def in_pickup_scope(self, site: Site) -> bool:
        request = self.request
        if request.destination is None and request.pickup_location_id is None:
            return True
        return site.id == request.pickup_location_id or site.id in self.near_pickup_ids

    def stocked_pickups(self, seller: str) -> list[_Draft]:
        out = []
        for site in self.by_seller[seller]:
            if not site.accepts_pickups or not self.holds_cart(site) or not self.in_pickup_scope(site):
                continue
            pick = self.pick(site)
            if pick is None:
                continue
            leg = Leg(site.id, seller, self.lines, pick.ready, None, pick.ready)
            out.append(self.draft(kind="pickup", seller=seller, legs=[leg], pickup=site.id, ready=pick.ready,
                                  arrive=pick.ready, fee=0, explain=partial(self._stocked_text, site, pick)))
        return out

    def _stocked_text(self, site: Site, pick: _Pick) -> str:
        remark = opens(site, pick.opening, self.at)
        return f"Ready for pickup at {site.name} by {self.clock(pick.ready, site)}{remark}."

    def pickup_targets(self, seller: str) -> list[Site]:
        """The chosen pickup location, or the nearest places near the door that take the seller's orders."""
        if self.pickup is not None:
            usable = self.may_host(self.pickup, seller) and not (
                self.pickup.merchant_id == seller and self.holds_cart(self.pickup))
            return [self.pickup] if usable else []
        places = [p for p in self.near_pickups.get(seller, []) if not self.holds_cart(p[1])]
        for host in self.hosts.get(seller, []):
            places += [p for p in self.near_pickups.get(host, []) if p[1].accepts_partner_pickups]
        places.sort(key=lambda pair: (pair[0], pair[1].id))
        return [site for _, site in places[: self.params.max_pickup_points]]

    def transfer_pickups(self, seller: str) -> list[_Draft]:
        out = []
        for target in self.pickup_targets(seller):
            found = self.plan(self.by_seller[seller], (target.latitude, target.longitude), self.pick)
            if found is None:
                continue
            draft = self._transfer_draft(seller, target, found)
            if draft is not None:
                out.append(draft)
        return out

    def _transfer_draft(self, seller: str, target: Site,
                        found: list[tuple[Allocation, _Pick]]) -> _Draft | None:
        legs, readies, sent_from = [], [], []
        waited_for_opening = own_shelf = False
        source_opening: tuple[Site, datetime] | None = None
        for allocation, pick in found:
            source = allocation.site
            if source.id == target.id:
                own_shelf = True
                legs.append(Leg(source.id, seller, allocation.lines, pick.ready, None, pick.ready))
                readies.append(pick.ready)
                continue
            moved = eta.transfer_arrival(source, pick.ready, target, self.params)
            if moved is None:
                return None
            arrival, ready = moved
            waited_for_opening |= ready > arrival + timedelta(minutes=self.params.transfer_handling_minutes)
            if pick.opening is not None and source_opening is None:
                source_opening = (source, pick.opening)
            sent_from.append(source)
            legs.append(Leg(source.id, seller, allocation.lines, pick.ready, target.id, arrival))
            readies.append(ready)
        ready = max(readies)

        def explain() -> str:
            if waited_for_opening:
                remark = opens(target, ready, self.at)
            elif source_opening is not None:
                remark = opens(source_opening[0], source_opening[1], self.at, by_name=True)
            else:
                remark = ""
            head = f"Ready for pickup at {target.name} by {self.clock(ready, target)}"
            if own_shelf:
                head += ", part from its own shelves and the rest"
                return f"{head} sent over from {names(sent_from)}{remark}."
            return f"{head}, sent over from {names(sent_from)}{remark}."

        fee = self.params.transfer_fee_minor if sent_from else 0
        return self.draft(kind="pickup", seller=seller, legs=legs, pickup=target.id, ready=ready,
                          arrive=ready, fee=fee, explain=explain)

    def deliveries(self, seller: str) -> list[_Draft]:
        dest = self.request.destination
        assert dest is not None
        candidates = [s for s in self.by_seller[seller] if s.id in self.deliverers]
        found = None
        if candidates:
            found = self.plan(candidates, dest, lambda s: self.pick(s, eta.queue_wait_minutes(s)))
        if found is None:
            return self._hub_delivery(seller) if self.params.hub_delivery else []
        legs, arrivals = [], []
        for allocation, pick in found:
            source = allocation.site
            arrive = pick.ready + self.ride(source)
            legs.append(Leg(source.id, seller, allocation.lines, pick.ready, None, arrive))
            arrivals.append(arrive)
        arrive = max(arrivals)
        sources = [a.site for a, _ in found]

        def explain() -> str:
            first, first_pick = sources[0], found[0][1]
            when = self.clock(arrive, first)
            if len(sources) > 1:
                return f"Delivered to your door in {parcels(sources)}, the last by {when}."
            remark = opens(first, first_pick.opening, self.at) or queue_remark(first.open_delivery_orders)
            return f"Delivered to your door from {first.name} by {when}{remark}."

        return [self.draft(kind="delivery", seller=seller, legs=legs, pickup=None,
                           ready=max(p.ready for _, p in found), arrive=arrive,
                           fee=sum(s.delivery_fee_minor for s in sources), explain=explain)]

    def _hub_delivery(self, seller: str) -> list[_Draft]:
        """Goods sent to a seller's site near the door, which delivers them."""
        dest = self.request.destination
        assert dest is not None
        sites = self.snapshot.sites
        hubs = [sites[i] for i in sorted(self.deliverers) if sites[i].merchant_id == seller]
        for hub in self.rank(hubs, self.need, self.snapshot.stock, dest):
            found = self.plan(self.by_seller[seller], (hub.latitude, hub.longitude), self.pick)
            queue = self.pick(hub, eta.queue_wait_minutes(hub))
            if found is None or queue is None or all(a.site.id == hub.id for a, _ in found):
                continue  # (a hub holding everything but unable to deliver it has nothing to wait for)
            legs, at_hub, sent_from = [], [], []
            for allocation, pick in found:
                source = allocation.site
                if source.id == hub.id:
                    at_hub.append(pick.ready)
                    continue
                moved = eta.transfer_arrival(source, pick.ready, hub, self.params)
                if moved is None:
                    break
                at_hub.append(moved[1])
                sent_from.append(source)
                legs.append(Leg(source.id, seller, allocation.lines, pick.ready, hub.id, moved[0]))
            else:
                # the hub's own queue is worked through while the goods travel
                dispatch = eta.site_next_open(hub, max(max(at_hub), queue.ready))
                if dispatch is None:
                    continue
                arrive = dispatch + self.ride(hub)
                for allocation, pick in found:
                    if allocation.site.id == hub.id:
                        legs.append(Leg(hub.id, seller, allocation.lines, pick.ready, None, arrive))
                text = (f"Delivered to your door by {hub.name} by {self.clock(arrive, hub)}, "
                        f"once the goods arrive from {names(sent_from)}.")
                return [self.draft(kind="delivery", seller=seller, legs=legs, pickup=None, ready=dispatch,
                                   arrive=arrive, fee=hub.delivery_fee_minor + self.params.transfer_fee_minor,
                                   explain=lambda text=text: text, hub=hub.id)]
        return []

    def shipments(self, seller: str) -> list[_Draft]:
        dest = self.request.destination
        assert dest is not None
        candidates = [s for s in self.by_seller[seller] if s.shipping_lead_hours is not None]
        found = self.plan(candidates, dest, self.pick) if candidates else None
        if found is None:
            return []
        legs = []
        for allocation, pick in found:
            arrive = max(eta.shipping_arrival(allocation.site, self.at), pick.ready)
            legs.append(Leg(allocation.site.id, seller, allocation.lines, pick.ready, None, arrive))
        arrive = max(leg.arrive_at for leg in legs)
        sources = [a.site for a, _ in found]

        def explain() -> str:
            when = self.clock(arrive, sources[0])
            if len(sources) > 1:
                return f"Shipped in {parcels(sources)}, the last arriving by {when}."
            return f"Shipped from {sources[0].name}, arriving by {when}."

        return [self.draft(kind="shipping", seller=seller, legs=legs, pickup=None,
                           ready=max(p.ready for _, p in found), arrive=arrive,
                           fee=sum(s.shipping_fee_minor for s in sources), explain=explain)]


def _order(draft: _Draft) -> tuple[datetime, int, int, str]:
    option = draft.option
    return option.arrive_at, option.fee_minor, len(option.legs), option.id


def _same_offer(option: Option) -> tuple[Any, ...]:
    return (option.kind, option.pickup_location_id, option.delivered_from,
            frozenset((leg.source_location_id, leg.transfer_to) for leg in option.legs))


def _finish(drafts: list[_Draft], limit: int) -> list[Option]:
    """Sorted, without repeats, at most `limit` long; the best of each kind is always kept."""
    unique, seen = [], set()
    for draft in sorted(drafts, key=_order):
        key = _same_offer(draft.option)
        if key not in seen:
            seen.add(key)
            unique.append(draft)
    if len(unique) > limit:
        # the soonest option of each kind first, so a long list of nearby pickup
        # places cannot push delivery or shipping out of the shopper's choice
        firsts = sorted(i for i in (next((i for i, d in enumerate(unique) if d.option.kind == kind), None)
                                    for kind in KINDS) if i is not None)
        keep = firsts[:limit]
        for i in range(len(unique)):
            if len(keep) >= limit:
                break
            if i not in keep:
                keep.append(i)
        unique = [unique[i] for i in sorted(keep)]
    return [draft.final() for draft in unique]


def quote(request: QuoteRequest, snapshot: Snapshot, params: QuoteParams | None = None) -> list[Option]:
    """Every way to receive the cart, soonest first (then cheapest, then fewest legs).

    Each option is served by one seller merchant selling the whole cart; a
    cart no single seller sells entirely gets no options (split it by seller
    first). Raises ValueError for an empty cart, a naive time, a quantity
    below 1, an unknown policy or a pickup location missing from the snapshot.
    """
    params = params or QuoteParams()
    run = _Run(request, snapshot, params)
    drafts: list[_Draft] = []
    for seller in run.sellers:
        drafts += run.stocked_pickups(seller)
        drafts += run.transfer_pickups(seller)
        if request.destination is not None:
            drafts += run.deliveries(seller)
            drafts += run.shipments(seller)
    return _finish(drafts, params.max_options)
