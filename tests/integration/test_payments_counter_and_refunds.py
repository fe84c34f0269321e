"""Counter wallet payments (timeouts, cancels) and refunds (partial, capped, idempotent, concurrent)."""

import threading

from sqlalchemy import select

from oao.config import Settings
from oao.payments import gateway
from oao.payments.sandbox_models import SandboxTrade
from oao.worker import Worker
from tests.factories import auth
from tests.integration.test_payments_kit import approve, events, place_wallet_order, shop, wire_wallet


def _code(client, mode):
    phone = client.post("/sandbox-wallet/codes", data={"mode": mode}, follow_redirects=False)
    return phone.headers["location"].rsplit("/", 1)[1]


def _counter(client, sh, amount=5000, **body):
    response = client.post("/api/v1/payments/counter", headers=auth(sh.key),
                           json={"location_id": sh.store_id, "amount_minor": amount, **body})
    assert response.status_code == 201, response.text
    return response.json()


def _trade(db, out_trade_no):
    with db.read() as s:
        t = s.scalar(select(SandboxTrade).where(SandboxTrade.out_trade_no == out_trade_no))
        return t.status, t.refunded_minor


def test_a_user_paying_code_that_is_never_confirmed_is_cancelled_after_the_timeout(app, client, db, clock):
    wallet = wire_wallet(app)
    sh = shop(db)
    intent = _counter(client, sh, flow="payment_code", auth_code=_code(client, "confirm"))
    assert intent["status"] == "processing"
    clock.advance(seconds=30)
    assert wallet.poll(clock) >= 1
    assert client.get(f"/api/v1/payments/intents/{intent['id']}", headers=auth(sh.key)).json()["status"] == \
        "processing"
    clock.advance(seconds=app.state.settings.payment_code_timeout_seconds)
    wallet.poll(clock)
    gone = client.get(f"/api/v1/payments/intents/{intent['id']}", headers=auth(sh.key)).json()
    assert gone["status"] == "canceled"
    assert _trade(db, intent["id"]) == ("closed", 0)
    assert events(db, "payment.succeeded", intent["id"]) == 0


def test_instant_refused_and_reused_payment_codes(app, client, db):
    wire_wallet(app)
    sh = shop(db)
    code = _code(client, "instant")
    assert _counter(client, sh, flow="payment_code", auth_code=code)["status"] == "succeeded"
    reused = _counter(client, sh, flow="payment_code", auth_code=code)
    assert reused["status"] == "canceled" and "invalid, used or expired" in reused["last_error"]
    poor = _counter(client, sh, flow="payment_code", auth_code=_code(client, "insufficient"))
    assert poor["status"] == "canceled" and "insufficient" in poor["last_error"]
    missing = client.post("/api/v1/payments/counter", headers=auth(sh.key), json={
        "location_id": sh.store_id, "amount_minor": 100, "flow": "payment_code"})
    assert missing.status_code == 400


def test_a_cashier_cancels_an_open_counter_payment_and_the_wallet_closes_it(app, client, db):
    wire_wallet(app)
    sh = shop(db)
    intent = _counter(client, sh, flow="merchant_qr")
    cancelled = client.post(f"/api/v1/payments/intents/{intent['id']}/cancel", headers=auth(sh.key), json={})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "canceled"
    assert _trade(db, intent["id"]) == ("closed", 0)
    late = client.post(httpx_path(intent["qr_content"]))
    assert late.status_code == 409


def httpx_path(url):
    import httpx

    return httpx.URL(url).path


def test_partial_refunds_are_capped_at_what_was_paid_and_idempotent_by_refund_id(app, client, db):
    wire_wallet(app)
    sh = shop(db)
    intent = _counter(client, sh, amount=5000, flow="payment_code", auth_code=_code(client, "instant"))
    url = f"/api/v1/payments/intents/{intent['id']}/refunds"
    first = client.post(url, headers=auth(sh.key), json={"refund_id": "rf-1", "amount_minor": 2000, "reason": "a"})
    assert first.status_code == 201 and first.json()["status"] == "succeeded"
    replay = client.post(url, headers=auth(sh.key), json={"refund_id": "rf-1", "amount_minor": 2000, "reason": "a"})
    assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
    clash = client.post(url, headers=auth(sh.key), json={"refund_id": "rf-1", "amount_minor": 100, "reason": "a"})
    assert clash.status_code == 409
    second = client.post(url, headers=auth(sh.key), json={"refund_id": "rf-2", "amount_minor": 2500, "reason": "b"})
    assert second.status_code == 201
    too_much = client.post(url, headers=auth(sh.key), json={"refund_id": "rf-3", "amount_minor": 501,
                                                            "reason": "c"})
    assert too_much.status_code == 409 and too_much.json()["refundable_minor"] == 500
    assert client.post(url, headers=auth(sh.key), json={"refund_id": "rf-3", "amount_minor": 500,
                                                        "reason": "c"}).status_code == 201
    assert _trade(db, intent["id"]) == ("succeeded", 5000)
    assert len(client.get(url, headers=auth(sh.key)).json()) == 3
    for bad in ({"refund_id": "", "amount_minor": 1, "reason": "x"}, {"refund_id": "x", "amount_minor": 0,
                                                                      "reason": "x"},
                {"refund_id": "x", "amount_minor": 2**40, "reason": "x"}):
        assert client.post(url, headers=auth(sh.key), json=bad).status_code == 422


def test_concurrent_refunds_never_exceed_the_paid_amount(app, client, db, clock):
    wallet = wire_wallet(app)
    sh = shop(db)
    intent = _counter(client, sh, amount=1000, flow="payment_code", auth_code=_code(client, "instant"))
    results: list[str] = []

    def refund(n):
        try:
            row, _ = gateway.refund(db, intent_id=intent["id"], refund_id=f"race-{n}", amount_minor=300,
                                    reason="race", now=clock.now(), provider_factory=wallet.factory())
            results.append(row.status)
        except Exception as exc:  # noqa: BLE001 - the losers are refused
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=refund, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("succeeded") == 3 and results.count("Conflict") == 3
    got = client.get(f"/api/v1/payments/intents/{intent['id']}", headers=auth(sh.key)).json()
    assert got["amount_refunded_minor"] == 900
    assert _trade(db, intent["id"]) == ("succeeded", 900)


def test_an_in_store_payment_is_refunded_in_cash_without_a_provider(app, client, db):
    sh = shop(db)
    quote = client.post("/api/v1/quotes", headers=auth(sh.key), json={
        "lines": [{"product_id": sh.product_id, "quantity": 1}], "pickup_location_id": sh.store_id}).json()
    order = client.post("/api/v1/orders", headers=auth(sh.key), json={
        "quote_id": quote["id"], "option_id": quote["options"][0]["id"], "payment_method": "pay_at_pickup"}).json()
    intent = client.get(f"/api/v1/payments/intents?order_id={order['id']}", headers=auth(sh.key)).json()[0]
    url = f"/api/v1/payments/intents/{intent['id']}/refunds"
    early = client.post(url, headers=auth(sh.key), json={"refund_id": "c1", "amount_minor": 100, "reason": "x"})
    assert early.status_code == 409  # not taken yet
    leg = order["fulfillments"][0]
    client.post(f"/api/v1/fulfillments/{leg['id']}/pick", headers=auth(sh.key))
    code = client.post(f"/api/v1/fulfillments/{leg['id']}/pack", headers=auth(sh.key)).json()["pickup_code"]
    assert client.post(f"/api/v1/locations/{sh.store_id}/handover", headers=auth(sh.key),
                       json={"code": code}).status_code == 200
    cash = client.post(url, headers=auth(sh.key), json={"refund_id": "c1", "amount_minor": 100, "reason": "x"})
    assert cash.status_code == 201 and cash.json()["status"] == "succeeded" and cash.json()["provider"] == "in_store"


def test_an_unpaid_wallet_order_expires_and_a_payment_made_just_before_is_given_back(app, client, db, clock):
    wallet = wire_wallet(app)
    sh = shop(db)
    order = place_wallet_order(client, sh)
    clock.advance(minutes=14, seconds=50)
    approve(client, order["payment"]["qr_content"])  # paid, but every notification is still on its way
    clock.advance(seconds=20)
    worker = Worker(db=db, clock=clock, settings=Settings(database_url=db.url, embedded_worker=False))
    assert worker.run_once()["expire_unpaid_orders"] == 1
    wallet.poll(clock)  # closes the charge at the wallet, which reverses the payment
    for _ in range(8):
        clock.advance(seconds=30)
        wallet.deliver(clock)
    got = client.get(f"/api/v1/orders/{order['id']}", headers=auth(sh.key)).json()
    assert got["status"] == "cancelled" and got["payment"]["status"] == "canceled"
    assert _trade(db, order["id"]) == ("closed", got["total_minor"])
    intent = client.get(f"/api/v1/payments/intents/{order['payment']['intent_id']}", headers=auth(sh.key)).json()
    assert intent["reversed_minor"] == got["total_minor"]
    assert events(db, "order.confirmed", order["id"]) == 0
    assert events(db, "payment.reversed", intent["id"]) == 1


def test_a_paid_wallet_order_cancelled_later_is_refunded_in_full(app, client, db, clock):
    wallet = wire_wallet(app)
    sh = shop(db)
    order = place_wallet_order(client, sh)
    approve(client, order["payment"]["qr_content"])
    wallet.poll(clock)
    assert client.get(f"/api/v1/orders/{order['id']}", headers=auth(sh.key)).json()["status"] == "confirmed"
    cancelled = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=auth(sh.key), json={})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    refunds = client.get(f"/api/v1/payments/intents/{order['payment']['intent_id']}/refunds",
                         headers=auth(sh.key)).json()
    assert [(r["status"], r["amount_minor"]) for r in refunds] == [("succeeded", order["total_minor"])]
    assert _trade(db, order["id"]) == ("succeeded", order["total_minor"])


def test_choosing_to_pay_at_pickup_after_asking_for_a_qr_closes_the_wallet_charge(app, client, db):
    wire_wallet(app)
    sh = shop(db)
    order = place_wallet_order(client, sh)
    paid = client.post(f"/api/v1/orders/{order['id']}/pay", headers=auth(sh.key),
                       json={"payment_method": "pay_at_pickup"})
    assert paid.status_code == 200 and paid.json()["status"] == "confirmed"
    assert paid.json()["payment"]["status"] == "canceled"
    assert _trade(db, order["id"]) == ("closed", 0)
    late = client.post(httpx_path(order["payment"]["qr_content"]))
    assert late.status_code == 409


def test_a_stall_prints_a_static_emvco_qr_that_decodes_to_its_location_without_an_amount(app, client, db):
    from oao.payments import emvco

    sh = shop(db)
    answer = client.get(f"/api/v1/payments/stall-qr/{sh.store_id}", headers=auth(sh.key))
    assert answer.status_code == 200, answer.text
    parsed = emvco.parse_payload(answer.json()["payload"])
    assert parsed.amount_minor is None, "the shopper types the amount at a static stall QR"
    assert sh.store_id in answer.json()["payload"]
    svg = client.get(answer.json()["svg_url"], headers=auth(sh.key))
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert client.get(f"/api/v1/payments/stall-qr/{sh.store_id}?mcc=12", headers=auth(sh.key)).status_code == 422
