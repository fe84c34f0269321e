"""Time arithmetic of fulfillment: courier travel, store queues, picking, transfers, parcels."""

from datetime import UTC, datetime, timedelta

import pytest

from oao.fulfillment import eta
from oao.fulfillment.quote import QuoteParams, Site

T0 = datetime(2026, 11, 17, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Hangzhou
DAYTIME = {day: [["08:00", "21:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
PARAMS = QuoteParams()


def store(**fields) -> Site:
    defaults = dict(id="loc_store", merchant_id="mer_a", name="Corner Store", kind="store", latitude=30.2084,
                    longitude=120.2110, timezone="Asia/Shanghai", opening_hours=DAYTIME, pick_minutes=15)
    return Site(**{**defaults, **fields})


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def test_travel_time_follows_the_streets_not_the_crow():
    # 1.5 km as the crow flies is 2.025 km of streets; at 18 km/h that is 6.75 minutes
    assert eta.travel_minutes(1.5, PARAMS) == pytest.approx(6.75)
    slow_and_straight = QuoteParams(courier_speed_kmh=9.0, detour_factor=1.0)
    assert eta.travel_minutes(1.5, slow_and_straight) == pytest.approx(10.0)


def test_the_queue_wait_is_the_waiting_orders_over_the_hourly_capacity():
    busy = store(delivery_capacity_per_hour=8, open_delivery_orders=12)
    assert eta.queue_wait_minutes(busy) == pytest.approx(90)
    assert eta.queue_wait_minutes(store(delivery_capacity_per_hour=8, open_delivery_orders=0)) == 0


def test_a_site_without_delivery_capacity_has_no_queue_and_does_not_deliver():
    with pytest.raises(ValueError, match="does not deliver"):
        eta.queue_wait_minutes(store(delivery_capacity_per_hour=0))
    assert eta.delivery_arrival(store(delivery_capacity_per_hour=0), T0, (30.21, 120.21), PARAMS) is None


def test_an_open_store_is_ready_after_its_picking_time():
    assert eta.pick_ready_at(store(), T0) == T0 + minutes(15)


def test_a_closed_store_starts_picking_when_it_opens():
    night = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)  # 23:00 local
    assert eta.pick_ready_at(store(), night) == datetime(2026, 11, 18, 0, 15, tzinfo=UTC)  # 08:15 local


def test_goods_finished_after_closing_are_ready_when_the_store_opens_again():
    late = datetime(2026, 11, 17, 12, 50, tzinfo=UTC)  # 20:50 local, 15 minutes of picking ends after 21:00
    assert eta.pick_ready_at(store(), late) == datetime(2026, 11, 18, 0, 0, tzinfo=UTC)  # 08:00 local


def test_a_warehouse_without_published_hours_works_around_the_clock():
    warehouse = store(kind="warehouse", opening_hours={}, pick_minutes=20)
    three_am = datetime(2026, 11, 17, 19, 0, tzinfo=UTC)
    assert eta.site_is_open(warehouse, three_am)
    assert eta.pick_ready_at(warehouse, three_am) == three_am + minutes(20)


def test_a_store_without_hours_never_gets_goods_ready():
    assert eta.pick_ready_at(store(opening_hours={}), T0) is None


def test_delivery_waits_for_the_queue_then_picks_then_rides():
    busy = store(delivery_capacity_per_hour=8, open_delivery_orders=8, pick_minutes=10)
    door = (30.2084, 120.2110 + 0.0208)  # about 2 km east
    ready, arrive = eta.delivery_arrival(busy, T0, door, PARAMS)
    assert ready == T0 + minutes(60 + 10)
    km = eta.distance_km(busy, door)
    assert km == pytest.approx(2.0, abs=0.05)
    assert arrive == ready + minutes(eta.travel_minutes(km, PARAMS))


def test_a_transfer_arrives_after_the_ride_and_is_ready_after_handling():
    source = store(id="loc_src", latitude=30.2084 + 0.0135)  # 1.5 km north
    target = store(id="loc_dst", opening_hours={day: [["00:00", "24:00"]] for day in DAYTIME})
    ready = T0 + minutes(10)
    arrival, for_pickup = eta.transfer_arrival(source, ready, target, PARAMS)
    assert arrival - ready == minutes(eta.travel_minutes(eta.site_distance_km(source, target), PARAMS))
    assert for_pickup == arrival + minutes(30)


def test_a_transfer_to_a_closed_pickup_store_is_ready_when_it_opens():
    source = store(id="loc_src", kind="warehouse", opening_hours={})
    target = store(id="loc_dst")
    evening = datetime(2026, 11, 17, 12, 50, tzinfo=UTC)  # 20:50 local; + handling is after 21:00
    _, for_pickup = eta.transfer_arrival(source, evening, target, PARAMS)
    assert for_pickup == datetime(2026, 11, 18, 0, 0, tzinfo=UTC)


def test_a_parcel_arrives_after_the_sites_lead_time():
    warehouse = store(kind="warehouse", shipping_lead_hours=6)
    assert eta.shipping_arrival(warehouse, T0) == T0 + timedelta(hours=6)
    with pytest.raises(ValueError, match="does not ship"):
        eta.shipping_arrival(store(), T0)
