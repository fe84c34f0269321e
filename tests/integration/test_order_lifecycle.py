"""Orders hold stock only while they should: unpaid orders and uncollected pickups
give it back through the worker; cancellations release it at once."""

from oao.config import Settings
from oao.worker import Worker
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth


def _shop(db, units=5):
    with db.unit_of_work() as s:
        m = f.merchant(s, "Corner Bakery", at=T0)
        store = f.location(s, m, "Corner Bakery Hubin", 30.2590, 120.1630, at=T0, pick_minutes=10)
        p = f.product(s, 401, "Egg tart, box of 6", at=T0, category="bakery", perishable=True, shelf_life_days=1)
        f.offer(s, m, p, 3600, at=T0)
        f.stock(s, store, p, units, at=T0)
        return f.api_key(s, m, at=T0), store.id, p.id


def _order(client, key, store, product, qty=2, **body):
    quote = client.post("/api/v1/quotes", headers=auth(key), json={
        "lines": [{"product_id": product, "quantity": qty}], "pickup_location_id": store}).json()
    option = quote["options"][0]
    response = client.post("/api/v1/orders", headers=auth(key),
                           json={"quote_id": quote["id"], "option_id": option["id"], **body})
    assert response.status_code == 201, response.text
    return response.json()


def _available(client, key, store, product):
    row = client.get(f"/api/v1/stock?location_id={store}&product_id={product}", headers=auth(key)).json()[0]
    return row["available"]


def _worker(db, clock):
    return Worker(db=db, clock=clock, settings=Settings(database_url=db.url, embedded_worker=False))


def test_an_unpaid_order_releases_its_stock_when_the_payment_window_closes(client, db, clock):
    key, store, product = _shop(db)
    order = _order(client, key, store, product)
    assert order["status"] == "pending_payment" and _available(client, key, store, product) == 3

    clock.advance(minutes=14)
    _worker(db, clock).run_once()
    assert client.get(f"/api/v1/orders/{order['id']}", headers=auth(key)).json()["status"] == "pending_payment"

    clock.advance(minutes=2)
    assert _worker(db, clock).run_once()["expire_unpaid_orders"] == 1
    expired = client.get(f"/api/v1/orders/{order['id']}", headers=auth(key)).json()
    assert expired["status"] == "cancelled" and expired["cancel_reason"] == "not paid in time"
    assert _available(client, key, store, product) == 5
    late = client.post(f"/api/v1/orders/{order['id']}/pay", headers=auth(key),
                       json={"payment_method": "pay_at_pickup"})
    assert late.status_code == 409 and "cancelled" in late.json()["detail"]


def test_paying_in_time_keeps_the_stock_past_the_payment_window(client, db, clock):
    key, store, product = _shop(db)
    order = _order(client, key, store, product)
    paid = client.post(f"/api/v1/orders/{order['id']}/pay", headers=auth(key), json={"payment_method": "pay_at_pickup"})
    assert paid.status_code == 200 and paid.json()["status"] == "confirmed"
    clock.advance(hours=2)
    _worker(db, clock).run_once()
    assert client.get(f"/api/v1/orders/{order['id']}", headers=auth(key)).json()["status"] == "confirmed"
    assert _available(client, key, store, product) == 3


def test_a_pickup_nobody_collects_is_cancelled_after_the_hold_period_and_the_stock_returns(client, db, clock):
    key, store, product = _shop(db)
    order = _order(client, key, store, product, payment_method="pay_at_pickup")
    leg = order["fulfillments"][0]
    client.post(f"/api/v1/fulfillments/{leg['id']}/pick", headers=auth(key))
    ready = client.post(f"/api/v1/fulfillments/{leg['id']}/pack", headers=auth(key)).json()
    assert ready["status"] == "ready_for_pickup" and ready["pickup_code"]

    clock.advance(hours=47)
    _worker(db, clock).run_once()
    assert client.get(f"/api/v1/orders/{order['id']}", headers=auth(key)).json()["status"] == "confirmed"
    clock.advance(hours=2)
    assert _worker(db, clock).run_once()["expire_uncollected_pickups"] == 1
    gone = client.get(f"/api/v1/orders/{order['id']}", headers=auth(key)).json()
    assert gone["status"] == "cancelled"
    assert gone["fulfillments"][0]["cancel_reason"] == "not collected within the hold period"
    assert _available(client, key, store, product) == 5
    late = client.post(f"/api/v1/locations/{store}/handover", headers=auth(key), json={"code": ready["pickup_code"]})
    assert late.status_code == 409


def test_cancelling_a_confirmed_order_releases_its_stock_and_cancels_the_payment(client, db):
    key, store, product = _shop(db)
    order = _order(client, key, store, product, payment_method="pay_at_pickup")
    cancelled = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=auth(key),
                            json={"reason": "changed my mind"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert _available(client, key, store, product) == 5
    again = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=auth(key), json={"reason": "twice"})
    assert again.status_code == 200 and again.json()["cancel_reason"] == "changed my mind"


def test_a_delivered_order_cannot_be_cancelled_and_completes_on_delivery(client, db):
    with db.unit_of_work() as s:
        m = f.merchant(s, "FreshHub", at=T0)
        store = f.location(s, m, "FreshHub Qianjiang", 30.2460, 120.2120, at=T0, delivery_radius_km=5,
                           delivery_capacity_per_hour=20, delivery_fee_minor=500, pick_minutes=10)
        p = f.product(s, 402, "Organic milk, 1 L", at=T0, category="dairy")
        f.offer(s, m, p, 1590, at=T0)
        f.stock(s, store, p, 4, at=T0)
        key = f.api_key(s, m, at=T0)
    quote = client.post("/api/v1/quotes", headers=auth(key), json={
        "lines": [{"product_id": p.id, "quantity": 1}],
        "destination": {"latitude": 30.2500, "longitude": 120.2150}}).json()
    delivery = next(o for o in quote["options"] if o["kind"] == "delivery")
    order = client.post("/api/v1/orders", headers=auth(key), json={
        "quote_id": quote["id"], "option_id": delivery["id"], "payment_method": "pay_on_delivery"}).json()
    leg = order["fulfillments"][0]
    client.post(f"/api/v1/fulfillments/{leg['id']}/pick", headers=auth(key))
    out = client.post(f"/api/v1/fulfillments/{leg['id']}/pack", headers=auth(key)).json()
    assert out["status"] == "out_for_delivery"
    refused = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=auth(key), json={"reason": "late"})
    assert refused.status_code == 409 and "left" in refused.json()["detail"]
    client.post(f"/api/v1/fulfillments/{leg['id']}/deliver", headers=auth(key))
    assert client.get(f"/api/v1/orders/{order['id']}", headers=auth(key)).json()["status"] == "completed"


def test_an_expired_quote_cannot_be_ordered(client, db, clock):
    key, store, product = _shop(db)
    quote = client.post("/api/v1/quotes", headers=auth(key), json={
        "lines": [{"product_id": product, "quantity": 1}], "pickup_location_id": store}).json()
    clock.advance(minutes=11)
    response = client.post("/api/v1/orders", headers=auth(key),
                           json={"quote_id": quote["id"], "option_id": quote["options"][0]["id"]})
    assert response.status_code == 410 and "new quote" in response.json()["detail"]


def test_a_price_change_after_the_quote_is_reported_and_nothing_is_reserved(client, db):
    key, store, product = _shop(db)
    quote = client.post("/api/v1/quotes", headers=auth(key), json={
        "lines": [{"product_id": product, "quantity": 1}], "pickup_location_id": store}).json()
    changed = client.put("/api/v1/offers", headers=auth(key),
                         json={"product_id": product, "price_minor": 3900, "currency": "CNY"})
    assert changed.status_code in (200, 201), changed.text
    response = client.post("/api/v1/orders", headers=auth(key),
                           json={"quote_id": quote["id"], "option_id": quote["options"][0]["id"]})
    assert response.status_code == 409 and "changed from 3600 to 3900" in response.json()["detail"]
    assert _available(client, key, store, product) == 5
