"""A member pays all or part of an online order with her points: held when the
order is placed, spent when it is confirmed, given back exactly once when it is
cancelled or expires unpaid, and never spent twice by racing orders."""

from __future__ import annotations

import threading

from oao.config import Settings
from oao.core.auth import Principal, Role
from oao.core.errors import Conflict
from oao.loyalty import service as loyalty
from oao.members import service as members
from oao.orders import points as order_points
from oao.orders import service as orders
from oao.worker import Worker
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth
from tests.integration.test_payments_kit import approve, body_of, notify, queued_notifications, wire_wallet

OPERATOR = Principal(kind="api_key", id="key_operator", name="operator", role=Role.NETWORK_ADMIN, merchant_id=None)
PRICE = 3600  # two kits make an order of ¥72.00


class Shop:
    def __init__(self, db, points: int = 10_000, units: int = 10) -> None:
        with db.unit_of_work() as s:
            m = f.merchant(s, "Lakeside Noodles", at=T0)
            store = f.location(s, m, "Lakeside Noodles Hubin", 30.2590, 120.1630, at=T0, pick_minutes=10)
            p = f.product(s, 611, "Hand-pulled beef noodles kit", at=T0, category="food")
            f.offer(s, m, p, PRICE, at=T0)
            f.stock(s, store, p, units, at=T0)
            self.key, self.merchant_id, self.store_id, self.product_id = f.api_key(s, m, at=T0), m.id, store.id, p.id
            member = members.sign_up(s, email="mei@example.com", phone=None, password="demo-password", name="Mei",
                                     now=T0)
            self.member_id = member.id
            self.member_ref = members.member_ref_for(s, merchant_id=m.id, member_id=member.id)
            self.programme_id = loyalty.network_programme(s).id
            loyalty.grant_points(s, principal=OPERATOR, grant_id="welcome", member_id=member.id,
                                 programme_id=self.programme_id, points=points, reason="welcome", now=T0)

    def quote(self, client, qty: int = 2) -> dict:
        return client.post("/api/v1/quotes", headers=auth(self.key), json={
            "lines": [{"product_id": self.product_id, "quantity": qty}], "pickup_location_id": self.store_id}).json()

    def order(self, client, *, amount: int, qty: int = 2, headers: dict | None = None, **body):
        quote = self.quote(client, qty)
        return client.post("/api/v1/orders", headers={**auth(self.key), **(headers or {})}, json={
            "quote_id": quote["id"], "option_id": quote["options"][0]["id"], "member_ref": self.member_ref,
            "points": {"programme_id": self.programme_id, "amount_minor": amount}, **body})

    def available(self, db) -> int:
        with db.read() as s:
            return next(b.available for b in loyalty.balances(s, member_id=self.member_id)
                        if b.programme_id == self.programme_id)

    def read(self, client, order_id: str) -> dict:
        return client.get(f"/api/v1/orders/{order_id}", headers=auth(self.key)).json()


def _worker(db, clock):
    return Worker(db=db, clock=clock, settings=Settings(database_url=db.url, embedded_worker=False))


def test_points_that_cover_the_total_confirm_the_order_at_once_and_are_spent(client, db):
    shop = Shop(db)
    r = shop.order(client, amount=2 * PRICE, payment_method="pay_at_pickup")
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "confirmed" and order["payment_method"] == "points"
    assert order["points"]["status"] == "spent" and order["points"]["points"] == 7200
    assert order["points"]["amount_minor"] == 7200 and order["money_due_minor"] == 0
    assert order["payment"] is None
    assert shop.available(db) == 10_000 - 7200


def test_points_pay_part_and_the_wallet_pays_the_rest(app, client, db):
    wire_wallet(app)
    shop = Shop(db)
    order = shop.order(client, amount=2000, payment_method="wallet_qr").json()
    assert order["status"] == "pending_payment" and order["points"]["status"] == "held"
    assert order["payment"]["amount_minor"] == 7200 - 2000 == order["money_due_minor"]
    assert shop.available(db) == 8000  # held points are not spendable elsewhere

    approve(client, order["payment"]["qr_content"])
    paid = next(r for r in queued_notifications(db) if body_of(r)["status"] == "succeeded")
    assert notify(client, paid).status_code == 200
    confirmed = shop.read(client, order["id"])
    assert confirmed["status"] == "confirmed" and confirmed["payment_method"] == "wallet_qr"
    assert confirmed["points"]["status"] == "spent" and shop.available(db) == 8000
    with db.read() as s:
        assert loyalty.get_hold(s, hold_id=order["points"]["hold_id"]).sale_ref == order["id"]


def test_points_with_pay_at_pickup_confirm_and_only_the_rest_is_taken_at_the_counter(client, db):
    shop = Shop(db)
    order = shop.order(client, amount=1500, payment_method="pay_at_pickup").json()
    assert order["status"] == "confirmed" and order["points"]["status"] == "spent"
    assert order["money_due_minor"] == 5700
    with db.read() as s:
        intents = orders.payments.intents_for_order(s, order_id=order["id"])
        assert [(i.amount_minor, i.status) for i in intents] == [(5700, "requires_capture")]


def test_cancelling_before_payment_voids_the_hold_and_restores_the_balance(app, client, db):
    wire_wallet(app)
    shop = Shop(db)
    order = shop.order(client, amount=3000, payment_method="wallet_qr").json()
    assert shop.available(db) == 7000
    cancelled = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=auth(shop.key), json={})
    assert cancelled.status_code == 200 and cancelled.json()["points"]["status"] == "released"
    assert cancelled.json()["money_due_minor"] == 7200
    assert shop.available(db) == 10_000
    again = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=auth(shop.key), json={})
    assert again.status_code == 200 and shop.available(db) == 10_000


def test_an_order_that_expires_unpaid_gives_its_points_back_once(client, db, clock):
    shop = Shop(db)
    order = shop.order(client, amount=3000).json()  # no payment method yet: waits for /pay
    assert order["status"] == "pending_payment" and shop.available(db) == 7000
    clock.advance(minutes=16)
    done = _worker(db, clock).run_once()
    assert done["expire_unpaid_orders"] == 1
    expired = shop.read(client, order["id"])
    assert expired["status"] == "cancelled" and expired["points"]["status"] == "released"
    assert shop.available(db) == 10_000
    clock.advance(hours=2)  # the hold's own timeout passes too: nothing is given back twice
    _worker(db, clock).run_once()
    assert shop.available(db) == 10_000


def test_paying_the_rest_later_spends_the_held_points(client, db):
    shop = Shop(db)
    order = shop.order(client, amount=1000).json()
    paid = client.post(f"/api/v1/orders/{order['id']}/pay", headers=auth(shop.key),
                       json={"payment_method": "pay_at_pickup"}).json()
    assert paid["status"] == "confirmed" and paid["points"]["status"] == "spent" and paid["money_due_minor"] == 6200


def test_cancelling_a_confirmed_order_paid_with_points_gives_the_points_back(client, db):
    shop = Shop(db)
    order = shop.order(client, amount=7200).json()
    assert shop.available(db) == 2800
    cancelled = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=auth(shop.key), json={}).json()
    assert cancelled["status"] == "cancelled" and cancelled["points"]["status"] == "restored"
    assert shop.available(db) == 10_000
    client.post(f"/api/v1/orders/{order['id']}/cancel", headers=auth(shop.key), json={})
    assert shop.available(db) == 10_000


def test_returning_goods_of_an_order_paid_with_points_restores_the_points(client, db):
    shop = Shop(db)
    order = shop.order(client, amount=7200).json()
    leg = order["fulfillments"][0]
    client.post(f"/api/v1/fulfillments/{leg['id']}/pick", headers=auth(shop.key))
    ready = client.post(f"/api/v1/fulfillments/{leg['id']}/pack", headers=auth(shop.key)).json()
    handed = client.post(f"/api/v1/locations/{shop.store_id}/handover", headers=auth(shop.key),
                         json={"code": ready["pickup_code"]})
    assert handed.status_code == 200, handed.text
    assert shop.read(client, order["id"])["status"] == "completed"
    line = order["lines"][0]
    ret = client.post(f"/api/v1/orders/{order['id']}/returns", headers=auth(shop.key), json={
        "return_id": "ret-counter-0001", "location_id": shop.store_id,
        "lines": [{"order_line_id": line["id"], "quantity": 1}]})
    assert ret.status_code == 201, ret.text
    out = ret.json()
    assert out["money_refund_minor"] == 0 and out["points_refund_minor"] == PRICE
    assert out["points_restored"] == PRICE and out["refunds"] == []
    assert shop.available(db) == 10_000 - 7200 + PRICE


def test_the_same_idempotency_key_places_one_order_and_holds_once(client, db):
    shop = Shop(db)
    quote = shop.quote(client)
    body = {"quote_id": quote["id"], "option_id": quote["options"][0]["id"], "member_ref": shop.member_ref,
            "points": {"programme_id": shop.programme_id, "amount_minor": 2500}}
    headers = {**auth(shop.key), "Idempotency-Key": "checkout-42"}
    first = client.post("/api/v1/orders", headers=headers, json=body)
    second = client.post("/api/v1/orders", headers=headers, json=body)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert shop.available(db) == 7500


def test_refusals_are_clear_problems(client, db):
    shop = Shop(db, points=1000)
    quote = shop.quote(client)
    base = {"quote_id": quote["id"], "option_id": quote["options"][0]["id"]}
    points = {"programme_id": shop.programme_id, "amount_minor": 500}

    def place(**body):
        return client.post("/api/v1/orders", headers=auth(shop.key), json={**base, **body})

    no_member = place(points=points)
    assert no_member.status_code == 422 and no_member.json()["type"] == "/problems/points-need-member"
    over = place(member_ref=shop.member_ref, points={**points, "amount_minor": 7201})
    assert over.status_code == 422 and over.json()["type"] == "/problems/points-over-total"
    unknown = place(member_ref=shop.member_ref, points={**points, "programme_id": "lpg_nope"})
    assert unknown.status_code == 422 and unknown.json()["type"] == "/problems/points-programme-mismatch"
    short = place(member_ref=shop.member_ref, points={**points, "amount_minor": 5000})
    assert short.status_code == 409 and short.json()["type"] == "/problems/insufficient-points"
    assert "you have 1,000" in short.json()["detail"]
    zero = place(member_ref=shop.member_ref, points={**points, "amount_minor": 0})
    assert zero.status_code == 422
    with db.unit_of_work() as s:
        usd = loyalty.create_programme(s, principal=OPERATOR, merchant_id=shop.merchant_id, name="Noodle Dollars",
                                       currency="USD", value_minor=1, value_points=1, expiry_days=None, tiers=[],
                                       now=T0)
    foreign = place(member_ref=shop.member_ref, points={**points, "programme_id": usd.id})
    assert foreign.status_code == 422 and "USD" in foreign.json()["detail"]
    assert shop.available(db) == 1000  # nothing refused kept a hold


def test_racing_orders_cannot_spend_more_points_than_the_member_has(client, db, settings):
    shop = Shop(db, points=5000)
    quotes = [shop.quote(client, qty=1) for _ in range(4)]
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(quotes))

    def place(quote):
        barrier.wait()
        try:
            with db.unit_of_work() as s:
                orders.place_order(s, principal=OPERATOR, quote_id=quote["id"], option_id=quote["options"][0]["id"],
                                   member_ref=shop.member_ref, customer={}, payment_method="pay_at_pickup", now=T0,
                                   settings=settings,
                                   points=order_points.PointsRequest(programme_id=shop.programme_id,
                                                                     amount_minor=3000))
            result = "ok"
        except Conflict as exc:
            result = "refused" if exc.slug == "insufficient-points" else repr(exc)
        except Exception as exc:  # noqa: BLE001 - anything else is a bug the assertion shows
            result = repr(exc)
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=place, args=(q,)) for q in quotes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]
    assert shop.available(db) == 2000


def test_a_wallet_payment_after_the_points_were_released_is_refunded_not_confirmed(app, client, db, clock):
    wire_wallet(app)
    shop = Shop(db)
    order = shop.order(client, amount=2000, payment_method="wallet_qr").json()
    with db.unit_of_work() as s:  # the hold's own timeout fired first (a worker far behind)
        loyalty.void_hold(s, hold_id=order["points"]["hold_id"], now=clock.now())
    approve(client, order["payment"]["qr_content"])
    paid = next(r for r in queued_notifications(db) if body_of(r)["status"] == "succeeded")
    assert notify(client, paid).status_code == 200
    after = shop.read(client, order["id"])
    assert after["status"] == "pending_payment" and after["points"]["status"] == "released"
    with db.read() as s:
        refunds = orders.payments.refunds_of(s, intent_id=order["payment"]["intent_id"])
        assert [r.amount_minor for r in refunds] == [5200]  # the wallet money goes back
    assert shop.available(db) == 10_000
