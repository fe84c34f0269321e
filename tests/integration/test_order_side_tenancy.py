"""One merchant can never read or change another merchant's stock, transfers,
quotes, orders or fulfillments: the other's ids answer 404, lists leave them out."""

import pytest

from tests import factories as f
from tests.conftest import T0
from tests.factories import auth


@pytest.fixture
def two_shops(db, client):
    with db.unit_of_work() as s:
        a = f.merchant(s, "Alpha Bakery", at=T0)
        b = f.merchant(s, "Beta Books", at=T0)
        a_store = f.location(s, a, "Alpha Hubin", 30.2590, 120.1630, at=T0)
        a_other = f.location(s, a, "Alpha Xixi", 30.2700, 120.0800, at=T0)
        b_store = f.location(s, b, "Beta Hubin", 30.2595, 120.1635, at=T0)
        cake = f.product(s, 501, "Cheesecake slice", at=T0)
        f.offer(s, a, cake, 2800, at=T0)
        f.stock(s, a_store, cake, 10, at=T0)
        a_key, b_key = f.api_key(s, a, at=T0), f.api_key(s, b, at=T0)
    quote = client.post("/api/v1/quotes", headers=auth(a_key), json={
        "lines": [{"product_id": cake.id, "quantity": 1}], "pickup_location_id": a_store.id}).json()
    order = client.post("/api/v1/orders", headers=auth(a_key), json={
        "quote_id": quote["id"], "option_id": quote["options"][0]["id"], "payment_method": "pay_at_pickup"}).json()
    transfer = client.post("/api/v1/transfers", headers=auth(a_key), json={
        "from_location_id": a_store.id, "to_location_id": a_other.id, "lines": [{"product_id": cake.id, "quantity": 2}],
        "expected_arrival_at": "2026-11-17T08:00:00+00:00"}).json()
    return {"a_key": a_key, "b_key": b_key, "a_store": a_store.id, "b_store": b_store.id, "cake": cake.id,
            "quote": quote["id"], "order": order["id"], "fulfillment": order["fulfillments"][0]["id"],
            "transfer": transfer["id"]}


READS = [
    "/api/v1/quotes/{quote}",
    "/api/v1/orders/{order}",
    "/api/v1/fulfillments/{fulfillment}",
    "/api/v1/transfers/{transfer}",
    "/api/v1/stock?location_id={a_store}",
    "/api/v1/stock/movements?location_id={a_store}",
    "/api/v1/transfers?location_id={a_store}",
    "/api/v1/fulfillments?location_id={a_store}",
]
WRITES = [
    ("/api/v1/orders/{order}/cancel", {"reason": "sabotage"}),
    ("/api/v1/orders/{order}/pay", {"payment_method": "pay_at_pickup"}),
    ("/api/v1/fulfillments/{fulfillment}/pick", None),
    ("/api/v1/fulfillments/{fulfillment}/pack", None),
    ("/api/v1/fulfillments/{fulfillment}/deliver", None),
    ("/api/v1/transfers/{transfer}/ship", None),
    ("/api/v1/transfers/{transfer}/receive", None),
    ("/api/v1/stock/receipts", {"location_id": "{a_store}", "product_id": "{cake}", "quantity": 5}),
    ("/api/v1/stock/adjustments", {"location_id": "{a_store}", "product_id": "{cake}", "delta": -5,
                                   "reason": "theft"}),
    ("/api/v1/locations/{a_store}/handover", {"code": "ABCDEFGH"}),
]


@pytest.mark.parametrize("path", READS)
def test_another_merchant_cannot_read_it(client, two_shops, path):
    url = path.format(**two_shops)
    assert client.get(url, headers=auth(two_shops["a_key"])).status_code == 200
    response = client.get(url, headers=auth(two_shops["b_key"]))
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("path,body", WRITES)
def test_another_merchant_cannot_change_it(client, two_shops, path, body):
    url = path.format(**two_shops)
    payload = {k: (v.format(**two_shops) if isinstance(v, str) else v) for k, v in (body or {}).items()}
    response = client.post(url, headers=auth(two_shops["b_key"]), json=payload or None)
    assert response.status_code in (403, 404), response.text
    order = client.get(f"/api/v1/orders/{two_shops['order']}", headers=auth(two_shops["a_key"])).json()
    assert order["status"] == "confirmed" and order["fulfillments"][0]["status"] == "confirmed"
    stock = client.get(f"/api/v1/stock?location_id={two_shops['a_store']}", headers=auth(two_shops["a_key"])).json()
    assert stock[0]["on_hand"] == 10


def test_another_merchants_orders_are_not_listed(client, two_shops):
    assert [o["id"] for o in client.get("/api/v1/orders", headers=auth(two_shops["a_key"])).json()] == [
        two_shops["order"]]
    assert client.get("/api/v1/orders", headers=auth(two_shops["b_key"])).json() == []


def test_a_merchant_cannot_place_an_order_sold_by_another(client, two_shops):
    quote = client.post("/api/v1/quotes", headers=auth(two_shops["b_key"]), json={
        "lines": [{"product_id": two_shops["cake"], "quantity": 1}], "pickup_location_id": two_shops["a_store"]}).json()
    response = client.post("/api/v1/orders", headers=auth(two_shops["b_key"]), json={
        "quote_id": quote["id"], "option_id": quote["options"][0]["id"]})
    assert response.status_code == 403 and "Alpha Bakery" in response.json()["detail"]


def test_another_merchant_cannot_fetch_the_pickup_code_image(client, two_shops):
    leg = two_shops["fulfillment"]
    client.post(f"/api/v1/fulfillments/{leg}/pick", headers=auth(two_shops["a_key"]))
    client.post(f"/api/v1/fulfillments/{leg}/pack", headers=auth(two_shops["a_key"]))
    url = f"/api/v1/fulfillments/{leg}/pickup-code.svg"
    mine = client.get(url, headers=auth(two_shops["a_key"]))
    assert mine.status_code == 200 and mine.headers["content-type"].startswith("image/svg+xml")
    assert client.get(url, headers=auth(two_shops["b_key"])).status_code == 404
