"""S6 — Pay by QR, anywhere: an online order paid by scanning the merchant's QR with the
(sandbox) wallet, and a counter payment where the cashier scans the shopper's code.
Notifications arrive late, several times and out of order (chaos on): nothing is
charged twice, nothing is lost, nothing unpaid is marked paid."""

import httpx

from tests.factories import auth
from tests.integration.test_payments_kit import approve, events, place_wallet_order, shop, wire_wallet


def _order(client, sh, order_id):
    return client.get(f"/api/v1/orders/{order_id}", headers=auth(sh.key)).json()


def test_an_order_paid_by_scanning_the_merchants_qr_is_confirmed_once_despite_chaotic_notifications(
        app, client, db, clock):
    wallet = wire_wallet(app)
    sh = shop(db)
    order = place_wallet_order(client, sh)
    payment = order["payment"]
    assert order["status"] == "pending_payment" and payment["status"] == "requires_payment_method"
    assert payment["qr_content"].startswith("http://127.0.0.1:8000/sandbox-wallet/qr/")
    assert payment["expires_at"] == order["payment_due_at"]
    svg = client.get(payment["qr_svg_url"], headers=auth(sh.key))
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    page = client.get(f"/pay/{payment['intent_id']}")
    assert page.status_code == 200 and payment["qr_content"] in page.text

    paid = approve(client, payment["qr_content"])
    assert paid.status_code == 200 and "Paid" in paid.text
    assert _order(client, sh, order["id"])["status"] == "pending_payment"  # nothing delivered yet

    for _ in range(8):  # the worker's rounds while the late, duplicated notifications trickle in
        clock.advance(seconds=20)
        wallet.deliver(clock)
    confirmed = _order(client, sh, order["id"])
    assert confirmed["status"] == "confirmed" and confirmed["payment"]["status"] == "succeeded"
    assert confirmed["payment_due_at"] is None
    assert events(db, "payment.succeeded", payment["intent_id"]) == 1
    assert events(db, "order.confirmed", order["id"]) == 1
    wallet.poll(clock)  # the fallback finds nothing more to do
    assert events(db, "payment.succeeded", payment["intent_id"]) == 1

    again = approve_again = client.post(httpx.URL(payment["qr_content"]).path)
    assert approve_again.status_code == 409 and "succeeded" in again.text


def test_a_counter_payment_by_the_shoppers_code_that_needs_confirming_is_polled_until_paid(app, client, db, clock):
    wallet = wire_wallet(app)
    sh = shop(db)
    phone = client.post("/sandbox-wallet/codes", data={"mode": "confirm"}, follow_redirects=False)
    assert phone.status_code == 303
    code = phone.headers["location"].rsplit("/", 1)[1]
    assert code in client.get(phone.headers["location"]).text

    opened = client.post("/api/v1/payments/counter", headers=auth(sh.key), json={
        "location_id": sh.store_id, "amount_minor": 2350, "flow": "payment_code", "auth_code": code})
    assert opened.status_code == 201, opened.text
    intent = opened.json()
    assert intent["status"] == "processing" and intent["out_trade_no"] == intent["id"]

    clock.advance(seconds=5)
    polled = client.post(f"/api/v1/payments/intents/{intent['id']}/refresh", headers=auth(sh.key)).json()
    assert polled["status"] == "processing"

    home = client.get("/sandbox-wallet").text
    assert "Confirm payment" in home
    trade_no = home.split('data-trade="', 1)[1].split('"', 1)[0]
    assert client.post(f"/sandbox-wallet/trades/{trade_no}/confirm", follow_redirects=False).status_code == 303

    clock.advance(seconds=5)
    polled = client.post(f"/api/v1/payments/intents/{intent['id']}/refresh", headers=auth(sh.key)).json()
    assert polled["status"] == "succeeded" and polled["provider_trade_no"] == trade_no
    for _ in range(8):  # the late notifications change nothing more
        clock.advance(seconds=20)
        wallet.deliver(clock)
    assert events(db, "payment.succeeded", intent["id"]) == 1


def test_a_counter_payment_shown_as_a_qr_on_the_registers_screen_is_paid_from_the_phone(app, client, db, clock):
    wire_wallet(app)
    sh = shop(db)
    opened = client.post("/api/v1/payments/counter", headers=auth(sh.key), json={
        "location_id": sh.store_id, "amount_minor": 1200, "flow": "merchant_qr"}).json()
    assert opened["status"] == "requires_payment_method" and opened["qr_content"]
    approve(client, opened["qr_content"])
    polled = client.post(f"/api/v1/payments/intents/{opened['id']}/refresh", headers=auth(sh.key)).json()
    assert polled["status"] == "succeeded"
