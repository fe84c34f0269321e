"""Checkouts across merchants: one order per merchant, all placed or none, paid with ONE wallet payment
that confirms them all, cancels them all when it is not paid, and gives back only one order's share
when that order is returned or cancelled."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from oao.config import Settings
from oao.core.outbox import OutboxEvent
from oao.orders.models import Checkout, Order
from oao.payments.models import PaymentIntent, PaymentRefund
from oao.worker import Worker
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth
from tests.integration.test_payments_kit import approve, wire_wallet

TART, GLOSS = 3600, 8800


@dataclass
class Net:
    admin: str
    bakery_key: str
    online_key: str
    bakery: str
    online: str
    bakery_store: str
    online_store: str
    tart: str
    gloss: str


def network(db, *, tarts: int = 5, glosses: int = 5) -> Net:
    """Two merchants in Hubin, each the only seller of its product."""
    with db.unit_of_work() as s:
        bakery = f.merchant(s, "Sweet Lane Bakery", at=T0)
        online = f.merchant(s, "Qiantang Online", at=T0)
        bakery_store = f.location(s, bakery, "Sweet Lane Hubin", 30.2590, 120.1630, at=T0, pick_minutes=10)
        online_store = f.location(s, online, "Qiantang Hubin depot", 30.2610, 120.1650, at=T0, pick_minutes=10)
        tart = f.product(s, 931, "Egg tart, box of 6", at=T0, category="bakery")
        gloss = f.product(s, 932, "Lip gloss, rose", at=T0, category="cosmetics")
        f.offer(s, bakery, tart, TART, at=T0)
        f.offer(s, online, gloss, GLOSS, at=T0)
        f.stock(s, bakery_store, tart, tarts, at=T0)
        f.stock(s, online_store, gloss, glosses, at=T0)
        return Net(admin=f.api_key(s, None, at=T0), bakery_key=f.api_key(s, bakery, at=T0),
                   online_key=f.api_key(s, online, at=T0), bakery=bakery.id, online=online.id,
                   bakery_store=bakery_store.id, online_store=online_store.id, tart=tart.id, gloss=gloss.id)


def quote_leg(client, key: str, product: str, qty: int, store: str) -> dict:
    """One merchant's lines quoted on their own, collected at that merchant's store."""
    quote = client.post("/api/v1/quotes", headers=auth(key), json={
        "lines": [{"product_id": product, "quantity": qty}], "pickup_location_id": store})
    assert quote.status_code == 201, quote.text
    body = quote.json()
    option = next(o for o in body["options"] if o["pickup_location"] and o["pickup_location"]["id"] == store)
    return {"quote_id": body["id"], "option_id": option["id"]}


def place(client, key: str, legs: list[dict], idem: str | None = None, **body):
    headers = {**auth(key), **({"Idempotency-Key": idem} if idem else {})}
    return client.post("/api/v1/checkouts", headers=headers, json={
        "legs": legs, "customer": {"name": "Mei", "phone": "13800000000"}, "payment_method": "wallet_qr", **body})


def two_merchant_checkout(client, net: Net, *, tarts: int = 2, idem: str | None = None) -> dict:
    legs = [quote_leg(client, net.admin, net.tart, tarts, net.bakery_store),
            quote_leg(client, net.admin, net.gloss, 1, net.online_store)]
    response = place(client, net.admin, legs, idem=idem)
    assert response.status_code == 201, response.text
    return {**response.json(), "_legs": legs}


def available(client, key: str, store: str, product: str) -> int:
    return client.get(f"/api/v1/stock?location_id={store}&product_id={product}", headers=auth(key)).json()[0][
        "available"]


def pay(client, wallet, clock, checkout: dict) -> None:
    assert approve(client, checkout["payment"]["qr_content"]).status_code == 200
    for _ in range(6):
        clock.advance(seconds=20)
        wallet.deliver(clock)


def events(db, type_: str) -> list[dict]:
    with db.read() as s:
        return [e.payload for e in s.scalars(select(OutboxEvent).where(OutboxEvent.type == type_)
                                             .order_by(OutboxEvent.occurred_at, OutboxEvent.id))]


def collect(client, key: str, store: str, order: dict) -> dict:
    leg = order["fulfillments"][0]
    client.post(f"/api/v1/fulfillments/{leg['id']}/pick", headers=auth(key))
    ready = client.post(f"/api/v1/fulfillments/{leg['id']}/pack", headers=auth(key)).json()
    handed = client.post(f"/api/v1/locations/{store}/handover", headers=auth(key), json={"code": ready["pickup_code"]})
    assert handed.status_code == 200, handed.text
    done = client.get(f"/api/v1/orders/{order['id']}", headers=auth(key)).json()
    assert done["status"] == "completed"
    return done


def test_a_two_merchant_checkout_paid_once_by_wallet_confirms_both_orders(app, client, db, clock):
    wallet = wire_wallet(app)
    net = network(db)
    checkout = two_merchant_checkout(client, net, idem="chk-mei-0001")

    assert checkout["status"] == "pending_payment" and checkout["total_minor"] == 2 * TART + GLOSS
    by_seller = {o["merchant_id"]: o for o in checkout["orders"]}
    assert set(by_seller) == {net.bakery, net.online}
    assert by_seller[net.bakery]["total_minor"] == 2 * TART and by_seller[net.online]["total_minor"] == GLOSS
    assert all(o["status"] == "pending_payment" and o["checkout_id"] == checkout["id"] for o in checkout["orders"])
    # ONE payment for the sum, known to the wallet by the checkout id.
    payment = checkout["payment"]
    assert payment["amount_minor"] == 2 * TART + GLOSS and payment["qr_content"]
    with db.read() as s:
        intents = list(s.scalars(select(PaymentIntent)))
        assert len(intents) == 1 and intents[0].out_trade_no == checkout["id"]
    assert available(client, net.bakery_key, net.bakery_store, net.tart) == 3
    assert available(client, net.online_key, net.online_store, net.gloss) == 4

    again = place(client, net.admin, checkout["_legs"], idem="chk-mei-0001")  # a resend replays it
    assert again.status_code == 201 and again.json()["id"] == checkout["id"]
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Checkout)) == 1
        assert s.scalar(select(func.count()).select_from(Order)) == 2

    pay(client, wallet, clock, checkout)
    paid = client.get(f"/api/v1/checkouts/{checkout['id']}", headers=auth(net.admin)).json()
    assert paid["status"] == "confirmed" and paid["payment"]["status"] == "succeeded"
    assert {o["status"] for o in paid["orders"]} == {"confirmed"}
    for key, order in ((net.bakery_key, by_seller[net.bakery]), (net.online_key, by_seller[net.online])):
        seen = client.get(f"/api/v1/orders/{order['id']}", headers=auth(key)).json()
        assert seen["status"] == "confirmed" and seen["payment"]["intent_id"] == payment["intent_id"]
    assert len(events(db, "order.confirmed")) == 2
    [succeeded] = events(db, "payment.succeeded")
    assert succeeded["checkout_id"] == checkout["id"]
    assert sorted((a["merchant_id"], a["amount_minor"]) for a in succeeded["allocations"]) == sorted(
        [(net.bakery, 2 * TART), (net.online, GLOSS)])
    # Each seller sees its own order of the checkout, never the other's.
    mine = client.get(f"/api/v1/checkouts/{checkout['id']}", headers=auth(net.online_key)).json()
    assert [o["merchant_id"] for o in mine["orders"]] == [net.online]
    other = client.get(f"/api/v1/orders/{by_seller[net.bakery]['id']}", headers=auth(net.online_key))
    assert other.status_code == 404
    paying_one_alone = client.post(f"/api/v1/orders/{by_seller[net.online]['id']}/pay", headers=auth(net.admin),
                                   json={"payment_method": "pay_at_pickup"})
    assert paying_one_alone.status_code == 409


def test_an_unpaid_checkout_expires_whole_and_gives_every_reservation_back(app, client, db, clock):
    wire_wallet(app)
    net = network(db)
    checkout = two_merchant_checkout(client, net)
    assert available(client, net.bakery_key, net.bakery_store, net.tart) == 3

    clock.advance(minutes=16)
    ran = Worker(db=db, clock=clock, settings=Settings(database_url=db.url, embedded_worker=False)).run_once()
    assert ran["expire_unpaid_orders"] == 2
    gone = client.get(f"/api/v1/checkouts/{checkout['id']}", headers=auth(net.admin)).json()
    assert gone["status"] == "cancelled"
    assert {o["status"] for o in gone["orders"]} == {"cancelled"}
    assert gone["payment"]["status"] == "canceled"
    assert available(client, net.bakery_key, net.bakery_store, net.tart) == 5
    assert available(client, net.online_key, net.online_store, net.gloss) == 5
    assert len(events(db, "order.cancelled")) == 2 and len(events(db, "checkout.cancelled")) == 1


def test_a_failed_checkout_payment_cancels_every_order_at_once(app, client, db, clock):
    """What the wallet notification does when the provider closes the payment unpaid (see report)."""
    from oao.orders import service as orders
    from oao.payments import service as payments

    wire_wallet(app)
    net = network(db)
    checkout = two_merchant_checkout(client, net)
    with db.unit_of_work() as s:
        intent = payments.mark_provider_closed(s, intent_id=checkout["payment"]["intent_id"], now=clock.now(),
                                               message="declined")
        assert orders.payment_closed(s, order_id=intent.order_id, intent_id=intent.id, now=clock.now())
        assert not orders.payment_closed(s, order_id=intent.order_id, intent_id=intent.id, now=clock.now())
    after = client.get(f"/api/v1/checkouts/{checkout['id']}", headers=auth(net.admin)).json()
    assert after["status"] == "cancelled" and {o["status"] for o in after["orders"]} == {"cancelled"}
    assert available(client, net.bakery_key, net.bakery_store, net.tart) == 5
    assert available(client, net.online_key, net.online_store, net.gloss) == 5


def test_cancelling_one_unpaid_order_cancels_the_whole_checkout_and_its_payment(app, client, db, clock):
    wire_wallet(app)
    net = network(db)
    checkout = two_merchant_checkout(client, net)
    gloss_order = next(o for o in checkout["orders"] if o["merchant_id"] == net.online)
    cancelled = client.post(f"/api/v1/orders/{gloss_order['id']}/cancel", headers=auth(net.online_key),
                            json={"reason": "out of rose colour"})
    assert cancelled.status_code == 200, cancelled.text
    after = client.get(f"/api/v1/checkouts/{checkout['id']}", headers=auth(net.admin)).json()
    assert after["status"] == "cancelled" and {o["status"] for o in after["orders"]} == {"cancelled"}
    assert after["payment"]["status"] == "canceled"
    assert available(client, net.bakery_key, net.bakery_store, net.tart) == 5


def test_one_order_out_of_stock_places_nothing(app, client, db, clock):
    wire_wallet(app)
    net = network(db, glosses=1)
    legs = [quote_leg(client, net.admin, net.tart, 2, net.bakery_store),
            quote_leg(client, net.admin, net.gloss, 1, net.online_store)]
    # Someone else buys the last gloss between the quote and the checkout.
    rival = quote_leg(client, net.online_key, net.gloss, 1, net.online_store)
    assert client.post("/api/v1/orders", headers=auth(net.online_key), json={**rival}).status_code == 201

    refused = place(client, net.admin, legs)
    assert refused.status_code == 409, refused.text
    assert available(client, net.bakery_key, net.bakery_store, net.tart) == 5
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Checkout)) == 0
        assert s.scalar(select(func.count()).select_from(Order).where(Order.merchant_id == net.bakery)) == 0
        assert s.scalar(select(func.count()).select_from(PaymentIntent)) == 0


def test_two_legs_of_one_seller_or_a_reused_quote_are_refused(app, client, db):
    net = network(db)
    first = quote_leg(client, net.admin, net.tart, 1, net.bakery_store)
    second = quote_leg(client, net.admin, net.tart, 2, net.bakery_store)
    same_seller = place(client, net.admin, [first, second])
    assert same_seller.status_code == 422 and "same merchant" in same_seller.json()["detail"]
    same_quote = place(client, net.admin, [first, first])
    assert same_quote.status_code == 422 and "own quote" in same_quote.json()["detail"]
    assert client.get("/api/v1/checkouts/chk_nope", headers=auth(net.admin)).status_code == 404


def test_a_return_of_one_order_refunds_only_its_share_of_the_one_payment(app, client, db, clock):
    wallet = wire_wallet(app)
    net = network(db)
    checkout = two_merchant_checkout(client, net, tarts=2)
    pay(client, wallet, clock, checkout)
    intent_id = checkout["payment"]["intent_id"]
    tart_order = next(o for o in checkout["orders"] if o["merchant_id"] == net.bakery)
    gloss_order = next(o for o in checkout["orders"] if o["merchant_id"] == net.online)
    done = collect(client, net.bakery_key, net.bakery_store,
                   client.get(f"/api/v1/orders/{tart_order['id']}", headers=auth(net.bakery_key)).json())

    returned = client.post(f"/api/v1/orders/{done['id']}/returns", headers=auth(net.bakery_key), json={
        "return_id": "RET-TART-0001", "location_id": net.bakery_store,
        "lines": [{"order_line_id": done["lines"][0]["id"], "quantity": 1}]})
    assert returned.status_code == 201, returned.text
    [refund] = returned.json()["refunds"]
    assert refund["intent_id"] == intent_id and refund["amount_minor"] == TART and refund["status"] == "succeeded"
    [event] = events(db, "order.returned")
    assert event["refund_minor"] == TART and event["checkout_id"] == checkout["id"]

    # The gloss (not collected yet) is cancelled: exactly its share goes back, the tart kept is still paid.
    cancelled = client.post(f"/api/v1/orders/{gloss_order['id']}/cancel", headers=auth(net.online_key),
                            json={"reason": "changed her mind"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.get(f"/api/v1/orders/{done['id']}", headers=auth(net.bakery_key)).json()["status"] == "completed"
    with db.read() as s:
        intent = s.get(PaymentIntent, intent_id)
        assert intent.amount_refunded_minor == TART + GLOSS
        shares = {r.order_id: r.amount_minor for r in s.scalars(select(PaymentRefund))}
        assert shares == {tart_order["id"]: TART, gloss_order["id"]: GLOSS}
    [gloss_cancelled] = [e for e in events(db, "order.cancelled") if e["order_id"] == gloss_order["id"]]
    assert gloss_cancelled["checkout_id"] == checkout["id"] and gloss_cancelled["total_minor"] == GLOSS
    # The other tart cannot be refunded beyond its share either: what is left of the payment is exactly it.
    second = client.post(f"/api/v1/orders/{done['id']}/returns", headers=auth(net.bakery_key), json={
        "return_id": "RET-TART-0002", "location_id": net.bakery_store,
        "lines": [{"order_line_id": done["lines"][0]["id"], "quantity": 1}]})
    assert second.status_code == 201 and second.json()["money_refund_minor"] == TART
    with db.read() as s:
        assert s.get(PaymentIntent, intent_id).amount_refunded_minor == 2 * TART + GLOSS


def test_an_in_person_checkout_confirms_each_order_to_be_paid_at_its_own_pickup(app, client, db):
    net = network(db)
    legs = [quote_leg(client, net.admin, net.tart, 1, net.bakery_store),
            quote_leg(client, net.admin, net.gloss, 1, net.online_store)]
    response = place(client, net.admin, legs, payment_method="in_person")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "confirmed" and body["payment"] is None
    assert {(o["status"], o["payment_method"]) for o in body["orders"]} == {("confirmed", "pay_at_pickup")}
