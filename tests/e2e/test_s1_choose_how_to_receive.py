"""S1 — a shopper buying running shoes online chooses how to receive them."""

from datetime import datetime

from tests.e2e.networks import SHOPPER_HOME, build_s1
from tests.factories import auth

HOME = {"latitude": SHOPPER_HOME[0], "longitude": SHOPPER_HOME[1], "address": "Block 5, Jiangnan Avenue"}


def _quote(client, key, **extra):
    body = {"lines": [{"product_id": extra.pop("product_id"), "quantity": 1}], "destination": HOME, **extra}
    response = client.post("/api/v1/quotes", json=body, headers=auth(key))
    assert response.status_code == 201, response.text
    return response.json()


def _busy_sports_store(client, net, orders: int) -> None:
    """Other shoppers' deliveries already queue at the sports store."""
    for n in range(orders):
        quote = _quote(client, net.platform_key, product_id=net.shoes_id)
        delivery = next(o for o in quote["options"] if o["kind"] == "delivery")
        placed = client.post("/api/v1/orders", headers=auth(net.platform_key),
                             json={"quote_id": quote["id"], "option_id": delivery["id"],
                                   "payment_method": "pay_on_delivery", "customer": {"name": f"Shopper {n}"}})
        assert placed.status_code == 201, placed.text


def test_the_shopper_is_offered_the_pickup_point_then_door_delivery_then_warehouse_shipping(client, db):
    net = build_s1(db)
    _busy_sports_store(client, net, orders=4)

    quote = _quote(client, net.platform_key, product_id=net.shoes_id)
    options = quote["options"]
    times = [datetime.fromisoformat(o["arrive_at"]) for o in options]
    assert times == sorted(times), "options come sorted by arrival time"

    pickup = next(o for o in options if o["kind"] == "pickup" and o["pickup_location"]["id"] == net.corner_mart_id)
    door = next(o for o in options if o["kind"] == "delivery")
    parcel = next(o for o in options if o["kind"] == "shipping")
    at = {k: datetime.fromisoformat(o["arrive_at"]) for k, o in
          (("pickup", pickup), ("door", door), ("parcel", parcel))}
    assert at["pickup"] < at["door"] < at["parcel"]

    started = datetime.fromisoformat("2026-11-17T02:00:00+00:00")
    assert (at["pickup"] - started).total_seconds() <= 75 * 60, "the corner shop has it within about an hour"
    assert 60 * 60 <= (at["door"] - started).total_seconds() <= 100 * 60, "door delivery waits for the busy store"
    assert 5.5 * 3600 <= (at["parcel"] - started).total_seconds() <= 7 * 3600, "the warehouse takes about 6 h"

    assert pickup["involves_transfer"] is True and pickup["legs"][0]["transfer_to"] == net.corner_mart_id
    assert door["fee_minor"] == 800 and parcel["fee_minor"] == 1000
    assert door["legs"][0]["source"]["id"] == net.sports_store_id
    assert parcel["legs"][0]["source"]["id"] == net.warehouse_id
    for option in (pickup, door, parcel):
        assert option["explanation"] and option["explanation"].endswith(".")
        assert option["total_minor"] == option["subtotal_minor"] + option["fee_minor"]
        assert option["lines"][0]["unit_price_minor"] == 59900
    assert "QuickMart Block 5" in pickup["explanation"]


def test_she_picks_the_pickup_point_and_the_order_reserves_the_shoes_at_the_source(client, db):
    net = build_s1(db)
    quote = _quote(client, net.platform_key, product_id=net.shoes_id)
    pickup = next(o for o in quote["options"] if o["kind"] == "pickup")
    response = client.post("/api/v1/orders", headers={**auth(net.platform_key), "Idempotency-Key": "s1-order-1"},
                           json={"quote_id": quote["id"], "option_id": pickup["id"], "payment_method": "pay_at_pickup",
                                 "customer": {"name": "Chen Jing", "phone": "+86 138 0000 0000"}})
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "confirmed"
    assert order["total_minor"] == pickup["total_minor"]
    [leg] = order["fulfillments"]
    assert leg["status"] == "confirmed" and leg["pickup_location_id"] == net.corner_mart_id
    assert leg["transfer_id"], "goods for a partner pickup point travel on a transfer"

    source = pickup["legs"][0]["source"]["id"]
    stock = client.get(f"/api/v1/stock?location_id={source}&product_id={net.shoes_id}",
                       headers=auth(net.platform_key)).json()[0]
    assert stock["reserved"] == 1

    replay = client.post("/api/v1/orders", headers={**auth(net.platform_key), "Idempotency-Key": "s1-order-1"},
                         json={"quote_id": quote["id"], "option_id": pickup["id"], "payment_method": "pay_at_pickup",
                               "customer": {"name": "Chen Jing", "phone": "+86 138 0000 0000"}})
    assert replay.status_code == 201 and replay.json()["id"] == order["id"], "a retry returns the same order"
    stock = client.get(f"/api/v1/stock?location_id={source}&product_id={net.shoes_id}",
                       headers=auth(net.platform_key)).json()[0]
    assert stock["reserved"] == 1, "and reserves nothing twice"
