"""Counter sales through the API, on both databases: receipts, stock, resends, refusals."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from oao.core.auth import Principal, Role
from oao.core.errors import InvalidState
from oao.core.outbox import OutboxEvent
from oao.inventory import service as inventory
from oao.inventory.models import StockMovement
from oao.inventory.service import LineQty
from oao.network import service as network_service
from oao.payments import service as payments
from oao.payments.models import PaymentIntent
from oao.pos import service as pos
from oao.pos.models import PosSale, Register
from oao.pos.service import ScannedLine
from oao.pos.tenders import Tender
from tests import factories as f
from tests.conftest import T0

PROBLEM = "application/problem+json"


@dataclass
class Shop:
    merchant_id: str
    store_id: str
    other_store_id: str
    warehouse_id: str
    counter_id: str
    kiosk_id: str
    milk: str  # GTIN-13 of oat milk, 12.50 in store, 11.00 at the kiosk, 8 on the shelf
    bread: str  # GTIN-13 of rye bread, 6.00, 5 on the shelf
    tea: str  # GTIN-13 of a product in the catalog this merchant does not sell
    milk_id: str
    bread_id: str
    key: str
    staff_here: str
    staff_elsewhere: str
    rival_key: str
    rival_register_id: str


def _staff_token(s, *, email: str, merchant_id: str, location_id: str) -> str:
    network_service.create_staff_user(s, email=email, name=email.split("@")[0], password="correct horse 1",
                                      role=Role.STORE_STAFF, merchant_id=merchant_id, location_id=location_id,
                                      now=T0)
    s.flush()
    token, _, _ = network_service.log_in(s, email=email, password="correct horse 1", now=T0)
    return token


@pytest.fixture
def shop(db) -> Shop:
    with db.unit_of_work() as s:
        m = f.merchant(s, "Green Grocer", at=T0)
        store = f.location(s, m, "Xihu store", 30.25, 120.14, at=T0, address="1 Lakeside Road, Hangzhou")
        other = f.location(s, m, "Binjiang store", 30.21, 120.21, at=T0)
        warehouse = f.location(s, m, "Depot", 30.30, 120.10, at=T0, kind="warehouse")
        milk = f.product(s, 1, "Oat milk 1L", at=T0)
        bread = f.product(s, 2, "Rye bread", at=T0)
        tea = f.product(s, 3, "Jasmine tea", at=T0)
        f.offer(s, m, milk, 1250, at=T0, channel_prices={"kiosk": 1100})
        f.offer(s, m, bread, 600, at=T0)
        f.stock(s, store, milk, 8, at=T0)
        f.stock(s, store, bread, 5, at=T0)
        counter = Register(id="reg_counter1", merchant_id=m.id, location_id=store.id, name="Till 1",
                           kind="counter", created_at=T0)
        kiosk = Register(id="reg_kiosk1", merchant_id=m.id, location_id=store.id, name="Kiosk",
                         kind="self_checkout", created_at=T0)
        s.add_all([counter, kiosk])
        rival = f.merchant(s, "Rival Mart", at=T0)
        rival_store = f.location(s, rival, "Rival store", 30.26, 120.15, at=T0)
        rival_register = Register(id="reg_rival1", merchant_id=rival.id, location_id=rival_store.id,
                                  name="Rival till", kind="counter", created_at=T0)
        s.add(rival_register)
        s.flush()
        return Shop(merchant_id=m.id, store_id=store.id, other_store_id=other.id, warehouse_id=warehouse.id,
                    counter_id=counter.id, kiosk_id=kiosk.id, milk=milk.gtin, bread=bread.gtin, tea=tea.gtin,
                    milk_id=milk.id, bread_id=bread.id, key=f.api_key(s, m, at=T0),
                    staff_here=_staff_token(s, email="li@grocer.test", merchant_id=m.id, location_id=store.id),
                    staff_elsewhere=_staff_token(s, email="wu@grocer.test", merchant_id=m.id,
                                                 location_id=other.id),
                    rival_key=f.api_key(s, rival, at=T0), rival_register_id=rival_register.id)


def _sale(shop: Shop, **overrides):
    body = {"sale_id": "till1-000042", "register_id": shop.counter_id,
            "lines": [{"gtin": shop.milk, "quantity": 2}, {"gtin": shop.bread, "quantity": 1}],
            "tenders": [{"kind": "cash", "amount_minor": 5000}]}
    body.update(overrides)
    return body


def _on_hand(db, shop: Shop, product_id: str) -> int:
    with db.unit_of_work() as s:
        return inventory.get_level(s, location_id=shop.store_id, product_id=product_id).on_hand


def _count(db, model, *where) -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


# --- the happy path ---------------------------------------------------------------------------

def test_a_sale_of_two_scanned_items_paid_in_cash_returns_a_receipt_with_change(client, db, shop):
    r = client.post("/api/v1/pos/sales", json=_sale(shop, member_ref="mem_7"), headers=f.auth(shop.key))
    assert r.status_code == 201, r.text
    receipt = r.json()
    assert receipt["sale_id"] == "till1-000042"
    assert receipt["id"].startswith("pos_")
    assert receipt["receipt_number"].startswith("R-") and "-20261117-" in receipt["receipt_number"]
    assert receipt["store"] == {"location_id": shop.store_id, "name": "Xihu store",
                                "address": "1 Lakeside Road, Hangzhou"}
    assert receipt["register"] == {"id": shop.counter_id, "name": "Till 1", "kind": "counter"}
    assert receipt["sold_at"] == "2026-11-17T02:00:00Z"
    assert [(line["gtin"], line["title"], line["quantity"], line["unit_price_minor"], line["line_total_minor"])
            for line in receipt["lines"]] == [(shop.milk, "Oat milk 1L", 2, 1250, 2500),
                                              (shop.bread, "Rye bread", 1, 600, 600)]
    assert (receipt["currency"], receipt["total_minor"], receipt["tendered_minor"], receipt["change_minor"]) \
        == ("CNY", 3100, 5000, 1900)
    assert receipt["tenders"] == [{"kind": "cash", "amount_minor": 5000, "reference": None}]
    assert receipt["member_ref"] == "mem_7"
    assert receipt["payment"]["status"] == "succeeded"
    assert (receipt["payment"]["provider"], receipt["payment"]["method"]) == ("in_store", "cash")
    assert receipt["payment"]["amount_minor"] == 3100
    assert (_on_hand(db, shop, shop.milk_id), _on_hand(db, shop, shop.bread_id)) == (6, 4)
    with db.unit_of_work() as s:
        moves = s.scalars(select(StockMovement).where(StockMovement.reference == receipt["id"])).all()
        assert sorted((m.kind, m.product_id, m.quantity) for m in moves) == sorted(
            [("sale", shop.milk_id, -2), ("sale", shop.bread_id, -1)])
        event = s.scalar(select(OutboxEvent).where(OutboxEvent.type == "pos.sale_recorded"))
        assert event.subject_id == receipt["id"]
        assert [(line["gtin"], line["quantity"]) for line in event.payload["lines"]] == [(shop.milk, 2),
                                                                                        (shop.bread, 1)]
    fetched = client.get(f"/api/v1/pos/sales/{receipt['id']}", headers=f.auth(shop.key))
    assert fetched.status_code == 200
    assert fetched.json() == receipt


def test_the_same_item_scanned_twice_is_one_line_with_the_quantities_added(client, db, shop):
    gtin14 = "0" + shop.milk  # the same product scanned from its GTIN-14 carton label
    r = client.post("/api/v1/pos/sales", json=_sale(shop, lines=[
        {"gtin": shop.milk, "quantity": 1}, {"gtin": shop.bread, "quantity": 1}, {"gtin": gtin14, "quantity": 2}],
        tenders=[{"kind": "card", "amount_minor": 4350}]), headers=f.auth(shop.key))
    assert r.status_code == 201, r.text
    assert [(line["gtin"], line["quantity"]) for line in r.json()["lines"]] == [(shop.milk, 3), (shop.bread, 1)]
    assert (r.json()["change_minor"], r.json()["payment"]["method"]) == (0, "card")
    assert _on_hand(db, shop, shop.milk_id) == 5


def test_a_self_checkout_sells_at_the_kiosk_price(client, shop):
    r = client.post("/api/v1/pos/sales", json=_sale(shop, register_id=shop.kiosk_id,
                                                    lines=[{"gtin": shop.milk, "quantity": 1}],
                                                    tenders=[{"kind": "wallet", "amount_minor": 1100}]),
                    headers=f.auth(shop.key))
    assert r.status_code == 201, r.text
    assert (r.json()["lines"][0]["unit_price_minor"], r.json()["total_minor"]) == (1100, 1100)


def test_store_staff_record_sales_at_their_own_store(client, shop):
    r = client.post("/api/v1/pos/sales", json=_sale(shop), headers=f.auth(shop.staff_here))
    assert r.status_code == 201, r.text


def test_an_offline_sale_keeps_the_time_the_register_rang_it_up(client, shop):
    rung = (T0 - timedelta(hours=20)).isoformat()
    r = client.post("/api/v1/pos/sales", json=_sale(shop, sold_at=rung), headers=f.auth(shop.key))
    assert r.status_code == 201, r.text
    assert r.json()["sold_at"] == "2026-11-16T06:00:00Z"
    assert r.json()["recorded_at"] == "2026-11-17T02:00:00Z"
    # 14:00 in Shanghai on the 16th: the receipt carries the store's local date
    assert "-20261116-" in r.json()["receipt_number"]


# --- resends --------------------------------------------------------------------------------

def test_resending_the_same_sale_returns_the_original_receipt_and_sells_once(client, db, shop):
    first = client.post("/api/v1/pos/sales", json=_sale(shop), headers=f.auth(shop.key))
    again = client.post("/api/v1/pos/sales", json=_sale(shop), headers=f.auth(shop.key))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert _count(db, PosSale) == 1
    assert _count(db, PaymentIntent) == 1
    assert _count(db, OutboxEvent, OutboxEvent.type == "pos.sale_recorded") == 1
    assert (_on_hand(db, shop, shop.milk_id), _on_hand(db, shop, shop.bread_id)) == (6, 4)


def test_the_same_sale_id_for_a_different_sale_is_refused(client, db, shop):
    assert client.post("/api/v1/pos/sales", json=_sale(shop), headers=f.auth(shop.key)).status_code == 201
    r = client.post("/api/v1/pos/sales", json=_sale(shop, lines=[{"gtin": shop.milk, "quantity": 3}]),
                    headers=f.auth(shop.key))
    assert r.status_code == 409
    assert r.headers["content-type"] == PROBLEM
    assert "already used for a different sale" in r.json()["detail"]
    assert "different lines" in r.json()["detail"]
    assert _count(db, PosSale) == 1
    assert _on_hand(db, shop, shop.milk_id) == 6


def test_an_idempotency_key_replays_the_first_response(client, db, shop):
    headers = {**f.auth(shop.key), "Idempotency-Key": "k-1"}
    first = client.post("/api/v1/pos/sales", json=_sale(shop), headers=headers)
    again = client.post("/api/v1/pos/sales", json=_sale(shop), headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    other = client.post("/api/v1/pos/sales", json=_sale(shop, sale_id="till1-000043"), headers=headers)
    assert other.status_code == 422
    assert _count(db, PosSale) == 1


def test_racing_resends_from_eight_registers_threads_record_exactly_one_sale(db, shop):
    principal = Principal(kind="api_key", id="key_test", name="till", role=Role.MERCHANT_ADMIN,
                          merchant_id=shop.merchant_id)
    barrier = threading.Barrier(8)
    outcomes: list[tuple[str, bool]] = []
    errors: list[BaseException] = []

    def resend() -> None:
        try:
            barrier.wait()
            with db.unit_of_work() as s:
                sale, created = pos.record_sale(
                    s, principal=principal, sale_id="till1-race-0001", register_id=shop.counter_id,
                    lines=[ScannedLine(shop.milk, 2), ScannedLine(shop.bread, 1)],
                    tenders=[Tender("cash", 3100)], now=T0)
                outcomes.append((sale.id, created))
        except BaseException as exc:  # noqa: BLE001 - reported below, the thread must not swallow it
            errors.append(exc)

    threads = [threading.Thread(target=resend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(outcomes) == 8
    assert len({sale_id for sale_id, _ in outcomes}) == 1
    assert sum(created for _, created in outcomes) == 1
    assert _count(db, PosSale) == 1
    assert _count(db, PaymentIntent) == 1
    assert (_on_hand(db, shop, shop.milk_id), _on_hand(db, shop, shop.bread_id)) == (6, 4)


# --- refusals -------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "status", "message"), [
    (lambda shop: {"lines": [{"gtin": "6901234567892", "quantity": 1}]}, 422, "6901234567892 is not in the catalog"),
    (lambda shop: {"lines": [{"gtin": shop.tea, "quantity": 1}]}, 422, "no active offer"),
    (lambda shop: {"lines": [{"gtin": shop.milk[:-1] + str((int(shop.milk[-1]) + 1) % 10), "quantity": 1}]},
     422, "check digit"),
    (lambda shop: {"lines": [{"gtin": shop.milk, "quantity": 0}]}, 422, "lines.0.quantity"),
    (lambda shop: {"lines": [{"gtin": shop.milk, "quantity": 1.5}]}, 422, "lines.0.quantity"),
    (lambda shop: {"lines": []}, 422, "lines"),
    (lambda shop: {"tenders": [{"kind": "cash", "amount_minor": 3000}]}, 422, "1.00 CNY is still due"),
    (lambda shop: {"tenders": [{"kind": "card", "amount_minor": 5000}]}, 422, "only cash may exceed the total"),
    (lambda shop: {"tenders": [{"kind": "iou", "amount_minor": 3100}]}, 422, "tenders.0.kind"),
    (lambda shop: {"sale_id": "short"}, 422, "sale_id"),
    (lambda shop: {"sale_id": "till 1 / sale 42"}, 422, "sale_id may only contain"),
    (lambda shop: {"sold_at": (T0 + timedelta(hours=1)).isoformat()}, 422, "is in the future"),
    (lambda shop: {"sold_at": "2026-11-17T10:00:00"}, 422, "sold_at"),
    (lambda shop: {"register_id": "reg_nope"}, 404, "No register 'reg_nope'"),
])
def test_a_bad_sale_is_refused_with_a_problem_that_says_what_is_wrong(client, db, shop, change, status, message):
    r = client.post("/api/v1/pos/sales", json=_sale(shop, **change(shop)), headers=f.auth(shop.key))
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    assert message in r.json()["detail"]
    assert _count(db, PosSale) == 0
    assert _on_hand(db, shop, shop.milk_id) == 8


def test_another_merchant_s_register_is_not_found(client, shop):
    r = client.post("/api/v1/pos/sales", json=_sale(shop, register_id=shop.rival_register_id),
                    headers=f.auth(shop.key))
    assert r.status_code == 404
    assert r.headers["content-type"] == PROBLEM


def test_staff_of_another_store_may_not_sell_at_this_register(client, db, shop):
    r = client.post("/api/v1/pos/sales", json=_sale(shop), headers=f.auth(shop.staff_elsewhere))
    assert r.status_code == 403
    assert "own store" in r.json()["detail"]
    assert _count(db, PosSale) == 0


def test_units_reserved_for_online_orders_are_not_sold_at_the_counter(client, db, shop):
    with db.unit_of_work() as s:
        inventory.reserve(s, merchant_id=shop.merchant_id, location_id=shop.store_id,
                          lines=[LineQty(shop.milk_id, 7)], reference="ful_online", expires_at=None, now=T0)
    r = client.post("/api/v1/pos/sales", json=_sale(shop), headers=f.auth(shop.key))
    assert r.status_code == 409
    assert r.json()["type"] == "/problems/insufficient-stock"
    assert "Only 1 of 'Oat milk 1L'" in r.json()["detail"]
    assert r.json()["available"] == 1
    assert _count(db, PosSale) == 0
    assert (_on_hand(db, shop, shop.milk_id), _on_hand(db, shop, shop.bread_id)) == (8, 5)
    one = client.post("/api/v1/pos/sales", json=_sale(shop, lines=[{"gtin": shop.milk, "quantity": 1}],
                                                      tenders=[{"kind": "cash", "amount_minor": 1250}]),
                      headers=f.auth(shop.key))
    assert one.status_code == 201, one.text


def test_another_merchant_cannot_read_a_sale(client, shop):
    sale = client.post("/api/v1/pos/sales", json=_sale(shop), headers=f.auth(shop.key)).json()
    assert client.get(f"/api/v1/pos/sales/{sale['id']}", headers=f.auth(shop.rival_key)).status_code == 404


# --- registers ------------------------------------------------------------------------------

def test_a_merchant_admin_adds_registers_to_its_own_stores(client, shop):
    r = client.post("/api/v1/pos/registers", json={"location_id": shop.other_store_id, "name": " Till 2 ",
                                                   "kind": "kiosk"}, headers=f.auth(shop.key))
    assert r.status_code == 201, r.text
    assert (r.json()["name"], r.json()["kind"], r.json()["location_id"]) == ("Till 2", "kiosk", shop.other_store_id)
    listed = client.get("/api/v1/pos/registers", headers=f.auth(shop.key)).json()
    assert {reg["id"] for reg in listed} == {shop.counter_id, shop.kiosk_id, r.json()["id"]}
    here = client.get(f"/api/v1/pos/registers?location_id={shop.store_id}", headers=f.auth(shop.key)).json()
    assert {reg["id"] for reg in here} == {shop.counter_id, shop.kiosk_id}
    assert [reg["id"] for reg in client.get("/api/v1/pos/registers", headers=f.auth(shop.rival_key)).json()] \
        == [shop.rival_register_id]


@pytest.mark.parametrize(("who", "where", "kind", "status", "message"), [
    ("rival_key", "store_id", "counter", 404, "No location"),
    ("staff_here", "store_id", "counter", 403, "merchant admin"),
    ("key", "warehouse_id", "counter", 422, "does not sell in store"),
    ("key", "store_id", "drive_through", 422, "kind"),
])
def test_registers_are_refused_where_they_do_not_belong(client, shop, who, where, kind, status, message):
    r = client.post("/api/v1/pos/registers", json={"location_id": getattr(shop, where), "name": "Till 9",
                                                   "kind": kind}, headers=f.auth(getattr(shop, who)))
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    assert message in r.json()["detail"]


# --- the payment seam for pay-at-pickup orders ------------------------------------------------

def test_a_pay_at_pickup_intent_waits_for_capture_and_succeeds_at_handover(db, shop):
    with db.unit_of_work() as s:
        intent = payments.create_intent(s, merchant_id=shop.merchant_id, amount_minor=2500, currency="CNY",
                                        method="pay_in_store", order_id="ord_1", now=T0)
        assert intent.status == "requires_capture"
    with db.unit_of_work() as s:
        paid = payments.mark_succeeded(s, intent_id=intent.id, now=T0, method="card")
        assert (paid.status, paid.method) == ("succeeded", "card")
        assert payments.mark_succeeded(s, intent_id=intent.id, now=T0).status == "succeeded"
    with db.unit_of_work() as s:
        with pytest.raises(InvalidState, match="refund"):
            payments.cancel_intent(s, intent_id=intent.id, now=T0)
        types = s.scalars(select(OutboxEvent.type).where(OutboxEvent.subject_id == intent.id)).all()
        assert sorted(types) == ["payment.intent_created", "payment.succeeded"]


def test_a_cancelled_pay_at_pickup_intent_can_no_longer_be_paid(db, shop):
    with db.unit_of_work() as s:
        intent = payments.create_intent(s, merchant_id=shop.merchant_id, amount_minor=2500, currency="CNY",
                                        method="pay_in_store", order_id="ord_2", now=T0)
    with db.unit_of_work() as s:
        assert payments.cancel_intent(s, intent_id=intent.id, now=T0, reason="no-show").status == "canceled"
        assert payments.cancel_intent(s, intent_id=intent.id, now=T0).status == "canceled"
        with pytest.raises(InvalidState, match="canceled"):
            payments.mark_succeeded(s, intent_id=intent.id, now=T0)
        assert [i.id for i in payments.intents_for_order(s, order_id="ord_2")] == [intent.id]
