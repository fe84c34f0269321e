"""Every state change writes its event in the same transaction: what happened is in
the outbox, and what was rolled back left no event behind."""

from sqlalchemy import select

from oao.core.outbox import OutboxEvent
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth


def _events(db) -> list[str]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(OutboxEvent.type).order_by(OutboxEvent.id)))


def test_an_order_from_quote_to_handover_leaves_a_trail_of_events(client, db):
    with db.unit_of_work() as s:
        m = f.merchant(s, "Corner Bakery", at=T0)
        store = f.location(s, m, "Corner Bakery Hubin", 30.2590, 120.1630, at=T0)
        p = f.product(s, 801, "Pineapple bun", at=T0)
        f.offer(s, m, p, 800, at=T0)
        key = f.api_key(s, m, at=T0)
    received = client.post("/api/v1/stock/receipts", headers=auth(key),
                           json={"location_id": store.id, "product_id": p.id, "quantity": 6})
    assert received.status_code == 201
    quote = client.post("/api/v1/quotes", headers=auth(key), json={
        "lines": [{"product_id": p.id, "quantity": 2}], "pickup_location_id": store.id}).json()
    order = client.post("/api/v1/orders", headers=auth(key), json={
        "quote_id": quote["id"], "option_id": quote["options"][0]["id"], "payment_method": "pay_at_pickup"}).json()
    leg = order["fulfillments"][0]["id"]
    client.post(f"/api/v1/fulfillments/{leg}/pick", headers=auth(key))
    code = client.post(f"/api/v1/fulfillments/{leg}/pack", headers=auth(key)).json()["pickup_code"]
    handed = client.post(f"/api/v1/locations/{store.id}/handover", headers=auth(key), json={"code": code})
    assert handed.status_code == 200

    assert _events(db) == [
        "stock.received", "fulfillment.created", "order.placed", "payment.intent_created",
        "fulfillment.confirmed", "order.confirmed", "fulfillment.picking", "fulfillment.ready_for_pickup",
        "fulfillment.completed", "payment.succeeded", "order.completed",
    ]


def test_a_refused_order_leaves_no_event(client, db):
    with db.unit_of_work() as s:
        m = f.merchant(s, "Corner Bakery", at=T0)
        store = f.location(s, m, "Corner Bakery Hubin", 30.2590, 120.1630, at=T0)
        p = f.product(s, 802, "Egg tart", at=T0)
        f.offer(s, m, p, 600, at=T0)
        f.stock(s, store, p, 1, at=T0)
        key = f.api_key(s, m, at=T0)
    quote = client.post("/api/v1/quotes", headers=auth(key), json={
        "lines": [{"product_id": p.id, "quantity": 1}], "pickup_location_id": store.id}).json()
    client.post("/api/v1/stock/adjustments", headers=auth(key),
                json={"location_id": store.id, "product_id": p.id, "delta": -1, "reason": "dropped on the floor"})
    before = _events(db)
    refused = client.post("/api/v1/orders", headers=auth(key), json={
        "quote_id": quote["id"], "option_id": quote["options"][0]["id"]})
    assert refused.status_code == 409
    assert _events(db) == before == ["stock.adjusted"]
