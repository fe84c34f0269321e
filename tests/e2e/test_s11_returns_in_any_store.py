"""S11 — an online order returned in any of the seller's stores: money back to the
original payment in proportion, stock back on that store's shelf, all at once and
once only, whatever the store resends."""

from __future__ import annotations

from sqlalchemy import select

from oao.inventory.models import StockLevel
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth
from tests.integration.test_payments_kit import approve, place_wallet_order, shop, wire_wallet


def _second_store(db, sh):
    with db.unit_of_work() as s:
        from oao.network.models import Merchant

        m = s.get(Merchant, sh.merchant_id)
        return f.location(s, m, "Lakeside Noodles Wulin", 30.2750, 120.1620, at=T0).id


def _on_hand(db, location_id, product_id) -> int:
    with db.read() as s:
        level = s.scalar(select(StockLevel).where(StockLevel.location_id == location_id,
                                                  StockLevel.product_id == product_id))
        return level.on_hand if level else 0


def _collected_wallet_order(client, wallet, sh, clock, qty=2) -> dict:
    order = place_wallet_order(client, sh, qty=qty)
    approve(client, order["payment"]["qr_content"])
    for _ in range(6):
        clock.advance(seconds=20)
        wallet.deliver(clock)
    leg = client.get(f"/api/v1/orders/{order['id']}", headers=auth(sh.key)).json()["fulfillments"][0]
    client.post(f"/api/v1/fulfillments/{leg['id']}/pick", headers=auth(sh.key))
    ready = client.post(f"/api/v1/fulfillments/{leg['id']}/pack", headers=auth(sh.key)).json()
    handed = client.post(f"/api/v1/locations/{sh.store_id}/handover", headers=auth(sh.key),
                         json={"code": ready["pickup_code"]})
    assert handed.status_code == 200, handed.text
    done = client.get(f"/api/v1/orders/{order['id']}", headers=auth(sh.key)).json()
    assert done["status"] == "completed"
    return done


def test_an_online_order_returned_at_another_store_refunds_the_wallet_and_restocks_that_store(app, client, db, clock):
    wallet = wire_wallet(app)
    sh = shop(db, units=5, price=3600)
    other_store = _second_store(db, sh)
    order = _collected_wallet_order(client, wallet, sh, clock, qty=2)
    line = order["lines"][0]

    body = {"return_id": "RET-0001-A", "location_id": other_store, "reason": "too spicy",
            "lines": [{"order_line_id": line["id"], "quantity": 1}]}
    returned = client.post(f"/api/v1/orders/{order['id']}/returns", headers=auth(sh.key), json=body)
    assert returned.status_code == 201, returned.text
    ret = returned.json()
    assert ret["goods_minor"] == 3600 and ret["money_refund_minor"] == 3600 and ret["points_refund_minor"] == 0
    [refund] = ret["refunds"]
    assert refund["intent_id"] == order["payment"]["intent_id"] and refund["amount_minor"] == 3600
    assert refund["status"] == "succeeded"  # the sandbox wallet confirmed the refund right after the commit
    assert _on_hand(db, other_store, sh.product_id) == 1
    intent = client.get(f"/api/v1/payments/intents/{refund['intent_id']}", headers=auth(sh.key)).json()
    assert intent["amount_refunded_minor"] == 3600

    resent = client.post(f"/api/v1/orders/{order['id']}/returns", headers=auth(sh.key), json=body)
    assert resent.status_code == 200 and resent.json()["id"] == ret["id"]
    assert _on_hand(db, other_store, sh.product_id) == 1

    changed = client.post(f"/api/v1/orders/{order['id']}/returns", headers=auth(sh.key),
                          json={**body, "lines": [{"order_line_id": line["id"], "quantity": 2}]})
    assert changed.status_code == 409 and "different return" in changed.json()["detail"]

    too_many = client.post(f"/api/v1/orders/{order['id']}/returns", headers=auth(sh.key),
                           json={**body, "return_id": "RET-0002-A", "lines": [{"order_line_id": line["id"],
                                                                                "quantity": 2}]})
    assert too_many.status_code == 422 and "only 1 of 2" in too_many.json()["detail"]

    rest = client.post(f"/api/v1/orders/{order['id']}/returns", headers=auth(sh.key),
                       json={**body, "return_id": "RET-0003-A"})
    assert rest.status_code == 201 and rest.json()["money_refund_minor"] == 3600
    intent = client.get(f"/api/v1/payments/intents/{refund['intent_id']}", headers=auth(sh.key)).json()
    assert intent["amount_refunded_minor"] == 7200
    listed = client.get(f"/api/v1/orders/{order['id']}/returns", headers=auth(sh.key)).json()
    assert [r["return_id"] for r in listed] == ["RET-0001-A", "RET-0003-A"]


def test_a_pay_at_pickup_order_is_refunded_in_cash_at_the_counter(app, client, db, clock):
    sh = shop(db, units=5, price=1250)
    quote = client.post("/api/v1/quotes", headers=auth(sh.key), json={
        "lines": [{"product_id": sh.product_id, "quantity": 3}], "pickup_location_id": sh.store_id}).json()
    order = client.post("/api/v1/orders", headers=auth(sh.key), json={
        "quote_id": quote["id"], "option_id": quote["options"][0]["id"], "payment_method": "pay_at_pickup"}).json()
    leg = order["fulfillments"][0]
    client.post(f"/api/v1/fulfillments/{leg['id']}/pick", headers=auth(sh.key))
    ready = client.post(f"/api/v1/fulfillments/{leg['id']}/pack", headers=auth(sh.key)).json()
    client.post(f"/api/v1/locations/{sh.store_id}/handover", headers=auth(sh.key), json={"code": ready["pickup_code"]})

    ret = client.post(f"/api/v1/orders/{order['id']}/returns", headers=auth(sh.key), json={
        "return_id": "RET-CASH-01", "location_id": sh.store_id,
        "lines": [{"order_line_id": order["lines"][0]["id"], "quantity": 2}]})
    assert ret.status_code == 201, ret.text
    [refund] = ret.json()["refunds"]
    assert refund["amount_minor"] == 2500 and refund["provider"] == "in_store" and refund["status"] == "succeeded"
    assert _on_hand(db, sh.store_id, sh.product_id) == 2 + 2


def test_a_return_is_refused_before_the_goods_were_collected_and_at_another_merchants_store(app, client, db, clock):
    sh = shop(db, units=5)
    quote = client.post("/api/v1/quotes", headers=auth(sh.key), json={
        "lines": [{"product_id": sh.product_id, "quantity": 1}], "pickup_location_id": sh.store_id}).json()
    order = client.post("/api/v1/orders", headers=auth(sh.key), json={
        "quote_id": quote["id"], "option_id": quote["options"][0]["id"], "payment_method": "pay_at_pickup"}).json()
    body = {"return_id": "RET-EARLY-1", "location_id": sh.store_id,
            "lines": [{"order_line_id": order["lines"][0]["id"], "quantity": 1}]}
    early = client.post(f"/api/v1/orders/{order['id']}/returns", headers=auth(sh.key), json=body)
    assert early.status_code == 409 and "cancel" in early.json()["detail"]

    with db.unit_of_work() as s:
        rival = f.merchant(s, "Rival Mart", at=T0)
        rival_store = f.location(s, rival, "Rival Mart Hubin", 30.2591, 120.1631, at=T0).id
    foreign = client.post(f"/api/v1/orders/{order['id']}/returns", headers=auth(sh.key),
                          json={**body, "location_id": rival_store})
    assert foreign.status_code in (404, 409, 422)
