"""The quote engine: every way to receive a cart, timed and priced, from a plain snapshot."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oao.fulfillment.quote import CartItem, QuoteParams, QuoteRequest, Site, Snapshot, quote

# Tuesday 17 November 2026, 10:00 in Hangzhou (UTC+8).
T0 = datetime(2026, 11, 17, 2, 0, tzinfo=UTC)
HZ = "Asia/Shanghai"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def daily(opens: str, closes: str) -> dict[str, list[list[str]]]:
    return {day: [[opens, closes]] for day in DAYS}


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A Hangzhou wall-clock time in November 2026, as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


# --- S1: choose how to receive it ------------------------------------------------------
# She lives in Binjiang, Hangzhou. Corner Mart (another brand) is at the foot of
# her building; the platform's dark store is 1.5 km away and its warehouse in
# Xiaoshan about 30 km; Stride, a running shop 2 km away, delivers but is busy.

HOME = (30.2084, 120.2110)
SHOES = "prd_shoes"


def s1_sites() -> dict[str, Site]:
    sites = [
        Site(id="loc_wh", merchant_id="mer_mall", name="Xiaoshan warehouse", kind="warehouse",
             latitude=30.0500, longitude=120.4500, timezone=HZ, pick_minutes=20,
             shipping_lead_hours=6, shipping_fee_minor=800),
        Site(id="loc_dark", merchant_id="mer_mall", name="Binjiang dark store", kind="dark_store",
             latitude=HOME[0] + 0.0135, longitude=HOME[1], timezone=HZ, pick_minutes=10),
        Site(id="loc_corner", merchant_id="mer_corner", name="Corner Mart Block 5", kind="store",
             latitude=HOME[0] + 0.0009, longitude=HOME[1], timezone=HZ, opening_hours=daily("07:00", "23:00"),
             accepts_pickups=True, accepts_partner_pickups=True),
        Site(id="loc_stride", merchant_id="mer_stride", name="Stride Binjiang", kind="store",
             latitude=HOME[0], longitude=HOME[1] + 0.0208, timezone=HZ, opening_hours=daily("10:00", "22:00"),
             delivery_radius_km=5, delivery_capacity_per_hour=8, open_delivery_orders=8, pick_minutes=10,
             delivery_fee_minor=600),
    ]
    return {s.id: s for s in sites}


def s1_snapshot(**changes) -> Snapshot:
    base = dict(sites=s1_sites(),
                stock={("loc_wh", SHOES): 50, ("loc_dark", SHOES): 3, ("loc_stride", SHOES): 2},
                sellable=frozenset({("mer_mall", SHOES), ("mer_stride", SHOES)}),
                pickup_partners=frozenset({("mer_corner", "mer_mall")}))
    return Snapshot(**{**base, **changes})


def shoes_request(**changes) -> QuoteRequest:
    return QuoteRequest(**{"items": (CartItem(SHOES, 1),), "at": T0, "destination": HOME, **changes})


def test_s1_she_is_offered_the_corner_store_pickup_then_door_delivery_then_warehouse_shipping():
    options = quote(shoes_request(), s1_snapshot(), QuoteParams())
    assert [(o.kind, o.merchant_id) for o in options] == [
        ("pickup", "mer_mall"), ("delivery", "mer_stride"), ("shipping", "mer_mall")]
    pickup, delivery, shipping = options

    # dark store: 10 min picking, 6.75 min ride, 30 min handling at the corner store
    assert pickup.pickup_location_id == "loc_corner"
    assert pickup.ready_at == pickup.arrive_at == local(17, 10, 47)
    assert pickup.involves_transfer and not pickup.is_split
    (leg,) = pickup.legs
    assert (leg.source_location_id, leg.transfer_to, leg.lines) == ("loc_dark", "loc_corner", ((SHOES, 1),))
    assert leg.ready_at == local(17, 10, 10) and leg.arrive_at == local(17, 10, 17)
    assert pickup.explanation == (
        "Ready for pickup at Corner Mart Block 5 by 10:47, sent over from Binjiang dark store.")

    # Stride: 8 orders ahead at 8 an hour, 10 min picking, 2 km ride: about 1 h 20
    assert delivery.legs[0].source_location_id == "loc_stride"
    assert delivery.arrive_at == local(17, 11, 19)
    assert delivery.fee_minor == 600 and delivery.destination == HOME
    assert delivery.explanation == (
        "Delivered to your door from Stride Binjiang by 11:19 (after the 8 orders already waiting there).")

    assert shipping.arrive_at == local(17, 16, 0) and shipping.fee_minor == 800
    assert shipping.explanation == "Shipped from Xiaoshan warehouse, arriving by 16:00."
    assert pickup.arrive_at - T0 < timedelta(hours=1) < delivery.arrive_at - T0 < shipping.arrive_at - T0


def test_the_same_quote_gives_the_same_option_ids():
    first = quote(shoes_request(), s1_snapshot(), QuoteParams())
    again = quote(shoes_request(at=T0 + timedelta(minutes=3)), s1_snapshot(), QuoteParams())
    assert [o.id for o in first] == [o.id for o in again]
    assert all(o.id.startswith("opt_") for o in first) and len({o.id for o in first}) == 3


def test_a_busier_store_delivers_later():
    sites = s1_sites()
    sites["loc_stride"] = replace(sites["loc_stride"], open_delivery_orders=16)
    delivery = next(o for o in quote(shoes_request(), s1_snapshot(sites=sites)) if o.kind == "delivery")
    assert delivery.arrive_at == local(17, 12, 19)


def test_a_door_outside_the_delivery_radius_gets_no_delivery():
    sites = s1_sites()
    sites["loc_stride"] = replace(sites["loc_stride"], delivery_radius_km=1.5)
    assert [o.kind for o in quote(shoes_request(), s1_snapshot(sites=sites))] == ["pickup", "shipping"]


def test_a_closed_store_delivers_after_it_opens_and_says_so():
    night = local(17, 23, 30)
    delivery = next(o for o in quote(shoes_request(at=night), s1_snapshot()) if o.kind == "delivery")
    assert delivery.arrive_at == local(18, 11, 19)
    assert delivery.explanation == (
        "Delivered to your door from Stride Binjiang by 11:19 tomorrow (the store opens at 10:00 tomorrow).")


def test_goods_sent_to_a_closed_pickup_store_are_ready_when_it_opens():
    options = quote(shoes_request(at=local(17, 22, 45)), s1_snapshot())
    pickup = next(o for o in options if o.kind == "pickup")
    assert pickup.ready_at == local(18, 7, 0)
    assert pickup.explanation == ("Ready for pickup at Corner Mart Block 5 by 07:00 tomorrow, sent over from "
                                  "Binjiang dark store (the store opens at 07:00 tomorrow).")


def test_without_stock_nearby_the_pickup_is_fed_from_the_warehouse():
    stock = {("loc_wh", SHOES): 50, ("loc_stride", SHOES): 2}
    pickup = next(o for o in quote(shoes_request(), s1_snapshot(stock=stock)) if o.kind == "pickup")
    assert pickup.legs[0].source_location_id == "loc_wh"
    assert "sent over from Xiaoshan warehouse" in pickup.explanation


def test_a_seller_the_shopper_did_not_choose_is_not_offered():
    request = QuoteRequest(items=(CartItem(SHOES, 1, merchant_id="mer_stride"),), at=T0, destination=HOME)
    assert [o.merchant_id for o in quote(request, s1_snapshot())] == ["mer_stride"]


def test_stock_of_a_merchant_without_an_offer_is_not_sold():
    snapshot = s1_snapshot(sellable=frozenset({("mer_mall", SHOES)}))
    assert {o.merchant_id for o in quote(shoes_request(), snapshot)} == {"mer_mall"}


def test_more_units_than_any_stock_holds_get_no_options():
    request = QuoteRequest(items=(CartItem(SHOES, 60),), at=T0, destination=HOME)
    assert quote(request, s1_snapshot()) == []


def test_the_list_is_capped_but_keeps_the_soonest_option_of_every_kind():
    sites = s1_sites()
    stock = {("loc_wh", SHOES): 50, ("loc_dark", SHOES): 3, ("loc_stride", SHOES): 2}
    for i in range(12):  # a dozen of the mall's own shops nearby, each with the shoes
        sites[f"loc_shop{i}"] = Site(id=f"loc_shop{i}", merchant_id="mer_mall", name=f"Mall shop {i}",
                                     kind="store", latitude=HOME[0] + 0.001 * i, longitude=HOME[1] - 0.002,
                                     timezone=HZ, opening_hours=daily("08:00", "22:00"), accepts_pickups=True,
                                     pick_minutes=5)
        stock[(f"loc_shop{i}", SHOES)] = 1
    options = quote(shoes_request(), s1_snapshot(sites=sites, stock=stock), QuoteParams(max_options=5))
    assert len(options) == 5
    assert Counter(o.kind for o in options) == {"pickup": 3, "delivery": 1, "shipping": 1}
    assert [o.arrive_at for o in options] == sorted(o.arrive_at for o in options)
    one = quote(shoes_request(), s1_snapshot(sites=sites, stock=stock), QuoteParams(max_options=1))
    assert [o.kind for o in one] == ["pickup"]


def test_a_pickup_where_the_goods_are_is_ready_after_picking_and_costs_nothing():
    sites = s1_sites()
    sites["loc_corner"] = replace(sites["loc_corner"], merchant_id="mer_mall")  # the mall's own shop now
    stock = {("loc_corner", SHOES): 1, ("loc_wh", SHOES): 5}
    options = quote(shoes_request(), s1_snapshot(sites=sites, stock=stock))
    pickup = options[0]
    assert (pickup.kind, pickup.pickup_location_id, pickup.fee_minor) == ("pickup", "loc_corner", 0)
    assert not pickup.involves_transfer
    assert pickup.ready_at == T0 + timedelta(minutes=15)
    assert pickup.explanation == "Ready for pickup at Corner Mart Block 5 by 10:15."


def test_a_cart_split_over_two_sources_is_offered_only_when_no_single_source_has_it_all():
    socks = "prd_socks"
    sellable = frozenset({("mer_mall", SHOES), ("mer_mall", socks)})
    request = QuoteRequest(items=(CartItem(SHOES, 1), CartItem(socks, 2)), at=T0, destination=HOME)
    together = {("loc_dark", SHOES): 1, ("loc_dark", socks): 2, ("loc_wh", SHOES): 1, ("loc_wh", socks): 2}
    options = quote(request, s1_snapshot(stock=together, sellable=sellable))
    assert not any(o.is_split for o in options)
    apart = {("loc_dark", SHOES): 1, ("loc_wh", socks): 5}
    options = quote(request, s1_snapshot(stock=apart, sellable=sellable))
    pickup = next(o for o in options if o.kind == "pickup")
    assert pickup.is_split and {leg.source_location_id for leg in pickup.legs} == {"loc_dark", "loc_wh"}
    assert pickup.ready_at == max(leg.arrive_at for leg in pickup.legs) + timedelta(minutes=30)
    # the warehouse supplies the larger share, so it is chosen first
    assert "sent over from Xiaoshan warehouse and Binjiang dark store" in pickup.explanation


def test_the_chosen_pickup_location_is_the_only_transfer_target():
    sites = s1_sites()
    sites["loc_kiosk"] = replace(sites["loc_corner"], id="loc_kiosk", name="Corner Mart Kiosk",
                                 latitude=HOME[0] - 0.02)  # 2.2 km south, outside the usual search
    options = quote(QuoteRequest(items=(CartItem(SHOES, 1),), at=T0, pickup_location_id="loc_kiosk"),
                    s1_snapshot(sites=sites))
    assert [(o.kind, o.pickup_location_id) for o in options] == [("pickup", "loc_kiosk")]


def test_bad_requests_are_refused():
    with pytest.raises(ValueError, match="empty"):
        quote(QuoteRequest(items=(), at=T0), s1_snapshot())
    with pytest.raises(ValueError, match="at least 1"):
        quote(QuoteRequest(items=(CartItem(SHOES, 0),), at=T0), s1_snapshot())
    with pytest.raises(ValueError, match="timezone-aware"):
        quote(QuoteRequest(items=(CartItem(SHOES, 1),), at=datetime(2026, 11, 17, 10)), s1_snapshot())
    with pytest.raises(ValueError, match="not in the snapshot"):
        quote(shoes_request(pickup_location_id="loc_nowhere"), s1_snapshot())
    with pytest.raises(ValueError, match="Unknown sourcing policy"):
        quote(shoes_request(), s1_snapshot(), QuoteParams(policy="cheapest"))


# --- S2: buy here, collect there --------------------------------------------------------
# The cake is only at the Sweet Bakery in the father's office tower (Wulin,
# about 9 km from home). Near home: the bakery's small Riverside branch and
# QuickStop, a round-the-clock convenience store of another brand.

CAKE = "prd_cake"
FAMILY_HOME = (30.2084, 120.2110)


def s2_snapshot(*, agreement: bool) -> Snapshot:
    sites = [
        Site(id="loc_office", merchant_id="mer_sweet", name="Sweet Bakery Office Tower", kind="store",
             latitude=30.2741, longitude=120.1551, timezone=HZ, opening_hours=daily("07:30", "19:00"),
             accepts_pickups=True, delivery_radius_km=2, delivery_capacity_per_hour=4,
             delivery_fee_minor=500),
        Site(id="loc_riverside", merchant_id="mer_sweet", name="Sweet Bakery Riverside", kind="store",
             latitude=FAMILY_HOME[0] + 0.0036, longitude=FAMILY_HOME[1], timezone=HZ,
             opening_hours=daily("08:00", "21:00"), accepts_pickups=True, delivery_radius_km=3,
             delivery_capacity_per_hour=4, open_delivery_orders=2, delivery_fee_minor=500),
        Site(id="loc_quick", merchant_id="mer_quick", name="QuickStop Riverside", kind="store",
             latitude=FAMILY_HOME[0] - 0.0018, longitude=FAMILY_HOME[1], timezone=HZ,
             opening_hours=daily("00:00", "24:00"), accepts_pickups=True, accepts_partner_pickups=True),
    ]
    return Snapshot(sites={s.id: s for s in sites}, stock={("loc_office", CAKE): 1},
                    sellable=frozenset({("mer_sweet", CAKE)}),
                    pickup_partners=frozenset({("mer_quick", "mer_sweet")}) if agreement else frozenset())


LUNCH = local(17, 12, 30)


def cake_request(**changes) -> QuoteRequest:
    return QuoteRequest(**{"items": (CartItem(CAKE, 1),), "at": LUNCH, "destination": FAMILY_HOME, **changes})


def test_s2_the_cake_can_be_collected_at_the_home_branch_or_the_partner_convenience_store():
    options = quote(cake_request(), s2_snapshot(agreement=True))
    pickups = {o.pickup_location_id: o for o in options if o.kind == "pickup"}
    assert set(pickups) == {"loc_riverside", "loc_quick"}
    for place, option in pickups.items():
        (leg,) = option.legs
        assert (leg.source_location_id, leg.transfer_to) == ("loc_office", place)
        assert option.involves_transfer and option.merchant_id == "mer_sweet"
        # picked by 12:45, about 9.4 km by courier, then 30 min to receive it
        assert local(17, 13, 40) < option.ready_at < local(17, 14, 15)
    assert pickups["loc_riverside"].explanation.startswith("Ready for pickup at Sweet Bakery Riverside by 1")
    assert pickups["loc_quick"].explanation.endswith(", sent over from Sweet Bakery Office Tower.")


def test_s2_without_a_pickup_agreement_the_partner_store_is_not_offered():
    options = quote(cake_request(), s2_snapshot(agreement=False))
    assert [o.pickup_location_id for o in options] == ["loc_riverside"]
    at_partner = cake_request(pickup_location_id="loc_quick", destination=None)
    assert quote(at_partner, s2_snapshot(agreement=False)) == []


def test_s2_the_office_branch_does_not_deliver_beyond_its_radius():
    assert not [o for o in quote(cake_request(), s2_snapshot(agreement=True)) if o.kind == "delivery"]


def test_s2_the_home_branch_can_deliver_the_cake_once_it_arrives():
    options = quote(cake_request(), s2_snapshot(agreement=True), QuoteParams(hub_delivery=True))
    delivery = next(o for o in options if o.kind == "delivery")
    assert delivery.delivered_from == "loc_riverside" and delivery.involves_transfer
    (leg,) = delivery.legs
    assert (leg.source_location_id, leg.transfer_to) == ("loc_office", "loc_riverside")
    at_home_branch = next(o for o in options if o.pickup_location_id == "loc_riverside").ready_at
    assert at_home_branch < delivery.arrive_at < at_home_branch + timedelta(minutes=5)
    assert delivery.explanation.startswith("Delivered to your door by Sweet Bakery Riverside by 1")
    assert delivery.explanation.endswith("once the goods arrive from Sweet Bakery Office Tower.")


def test_s2_ordered_after_the_bakery_closes_the_cake_leaves_the_next_morning():
    evening = local(17, 19, 30)
    riverside = next(o for o in quote(cake_request(at=evening), s2_snapshot(agreement=True))
                     if o.pickup_location_id == "loc_riverside")
    assert riverside.legs[0].ready_at == local(18, 7, 45)
    assert riverside.explanation.endswith("(Sweet Bakery Office Tower opens at 07:30 tomorrow).")


# --- properties -------------------------------------------------------------------------

PRODUCTS = ("p1", "p2", "p3")
MERCHANTS = ("m1", "m2")
HOURS = ({}, daily("00:00", "24:00"), daily("08:00", "20:00"), {"mon": [["18:00", "02:00"]]})


@st.composite
def scenarios(draw):
    n = draw(st.integers(1, 6))
    sites, stock = {}, {}
    for i in range(n):
        kind = draw(st.sampled_from(("store", "warehouse", "pickup_point", "dark_store")))
        site = Site(id=f"s{i}", merchant_id=draw(st.sampled_from(MERCHANTS)), name=f"Site {i}", kind=kind,
                    latitude=HOME[0] + draw(st.floats(-0.03, 0.03)),
                    longitude=HOME[1] + draw(st.floats(-0.03, 0.03)),
                    timezone=HZ, opening_hours=draw(st.sampled_from(HOURS)),
                    accepts_pickups=draw(st.booleans()), accepts_partner_pickups=draw(st.booleans()),
                    delivery_radius_km=draw(st.sampled_from((0.0, 2.0, 6.0))),
                    delivery_capacity_per_hour=draw(st.integers(0, 5)),
                    open_delivery_orders=draw(st.integers(0, 9)),
                    pick_minutes=draw(st.integers(0, 30)), delivery_fee_minor=draw(st.integers(0, 900)),
                    shipping_lead_hours=draw(st.sampled_from((None, 6.0, 24.0))))
        sites[site.id] = site
        for product in PRODUCTS:
            units = draw(st.integers(-1, 4))
            if units:
                stock[(site.id, product)] = units
    items = draw(st.lists(st.builds(CartItem, st.sampled_from(PRODUCTS), st.integers(1, 4),
                                    st.sampled_from((None, None, "m1"))), min_size=1, max_size=3))
    sellable = frozenset(draw(st.sets(st.tuples(st.sampled_from(MERCHANTS), st.sampled_from(PRODUCTS)))))
    partners = frozenset(draw(st.sets(st.tuples(st.sampled_from(MERCHANTS), st.sampled_from(MERCHANTS)))))
    destination = draw(st.one_of(st.none(), st.just(HOME)))
    pickup = draw(st.one_of(st.none(), st.sampled_from(sorted(sites))))
    at = T0 + timedelta(minutes=draw(st.integers(0, 7 * 24 * 60)))
    policy = draw(st.sampled_from(("nearest", "fewest_splits", "balance_load")))
    request = QuoteRequest(items=tuple(items), at=at, destination=destination, pickup_location_id=pickup)
    return request, Snapshot(sites=sites, stock=stock, sellable=sellable, pickup_partners=partners), policy


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.booleans())
def test_every_option_covers_exactly_the_cart_within_the_stock_and_options_come_soonest_first(case, hubs):
    request, snapshot, policy = case
    options = quote(request, snapshot, QuoteParams(policy=policy, hub_delivery=hubs))
    need = Counter()
    for item in request.items:
        need[item.product_id] += item.quantity
    for option in options:
        supplied, taken = Counter(), Counter()
        for leg in option.legs:
            assert snapshot.sites[leg.source_location_id].merchant_id == option.merchant_id == leg.merchant_id
            assert leg.ready_at <= leg.arrive_at
            for product, qty in leg.lines:
                assert qty > 0
                supplied[product] += qty
                taken[(leg.source_location_id, product)] += qty
        assert supplied == need
        assert all(qty <= snapshot.stock.get(key, 0) for key, qty in taken.items())
        assert option.is_split == (len(option.legs) > 1)
        assert option.arrive_at >= max(leg.arrive_at for leg in option.legs) or option.kind == "pickup"
        assert option.arrive_at >= request.at and option.explanation.endswith(".")
        if option.kind == "pickup":
            assert option.ready_at == option.arrive_at and option.pickup_location_id in snapshot.sites
        else:
            assert request.destination is not None
    assert [o.arrive_at for o in options] == sorted(o.arrive_at for o in options)
    assert len({o.id for o in options}) == len(options) <= QuoteParams().max_options


# --- speed -------------------------------------------------------------------------------

def big_city(seed: int = 7) -> Snapshot:
    """10,000 sites over greater Hangzhou, 1,000 products, 100,000 stock entries."""
    rng = random.Random(seed)
    hours = [daily("08:00", "22:00"), daily("00:00", "24:00"), daily("10:00", "21:00"), {}]
    merchants = [f"mer_{i}" for i in range(200)]
    products = [f"prd_{i}" for i in range(1000)]
    sites, stock, sellable = {}, {}, set()
    for i in range(10_000):
        kind = rng.choices(("store", "warehouse", "pickup_point", "dark_store"), (70, 5, 15, 10))[0]
        site = Site(id=f"loc_{i:05d}", merchant_id=rng.choice(merchants), name=f"Site {i}", kind=kind,
                    latitude=30.0 + rng.random() * 0.5, longitude=119.95 + rng.random() * 0.5, timezone=HZ,
                    opening_hours=rng.choice(hours), accepts_pickups=rng.random() < 0.4,
                    accepts_partner_pickups=rng.random() < 0.5, delivery_radius_km=rng.choice((0, 3, 5)),
                    delivery_capacity_per_hour=rng.choice((0, 6, 12)),
                    open_delivery_orders=rng.randint(0, 20),
                    shipping_lead_hours=6.0 if kind == "warehouse" else None)
        sites[site.id] = site
        for product in rng.sample(products, 10):
            stock[(site.id, product)] = rng.randint(0, 20)
            sellable.add((site.merchant_id, product))
    partners = frozenset((rng.choice(merchants), rng.choice(merchants)) for _ in range(400))
    return Snapshot(sites=sites, stock=stock, sellable=frozenset(sellable), pickup_partners=partners)


def test_a_city_of_ten_thousand_sites_still_gets_a_full_sorted_list_for_every_cart():
    """Speed is measured in benchmarks/quote_latency.py; here, that a big city gives real answers."""
    city = big_city()
    assert len(city.sites) == 10_000 and len(city.stock) == 100_000
    door = (30.25, 120.2)
    for request in (QuoteRequest(items=(CartItem("prd_1", 1), CartItem("prd_2", 1)), at=T0, destination=door),
                    QuoteRequest(items=(CartItem("prd_3", 2),), at=T0, destination=door)):
        options = quote(request, city)
        assert len(options) == 8
        assert [o.arrive_at for o in options] == sorted(o.arrive_at for o in options)
        assert all(o.legs and o.explanation for o in options)
