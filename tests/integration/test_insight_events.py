"""The insight event log, on SQLite and PostgreSQL: POS sales, completed orders and returns become one row
per line exactly once (twice run, two workers racing), storefront product views are logged, and
`lines_frame` reads the log back as the frame every model trains on.

POS sales go through the real API; `order.completed` / `order.returned` are recorded with the payloads
orders.service and orders.returns write (partner_facts + _sale_facts, the return's lines)."""

import threading
from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import func, select

from oao.core.outbox import OutboxConsumption, record_event
from oao.insights import events
from oao.insights.models import InsightEvent
from oao.members.models import Member
from oao.pos.models import Register
from oao.worker import JOBS
from tests import factories as f
from tests.conftest import T0


@pytest.fixture
def shop(db):
    with db.unit_of_work() as s:
        m = f.merchant(s, "Green Grocer", at=T0)
        partner = f.merchant(s, "Daily Corner", at=T0)
        store = f.location(s, m, "Xihu store", 30.25, 120.14, at=T0)
        milk, bread = f.product(s, 1, "Oat milk 1L", at=T0), f.product(s, 2, "Rye bread", at=T0)
        f.offer(s, m, milk, 1250, at=T0, channel_prices={"kiosk": 1100})
        f.offer(s, m, bread, 600, at=T0)
        f.stock(s, store, milk, 20, at=T0)
        f.stock(s, store, bread, 20, at=T0)
        s.add_all([Register(id="reg_till", merchant_id=m.id, location_id=store.id, name="Till 1", kind="counter",
                            created_at=T0),
                   Register(id="reg_self", merchant_id=m.id, location_id=store.id, name="Self", kind="self_checkout",
                            created_at=T0)])
        s.flush()
        return {"merchant": m.id, "partner": partner.id, "store": store.id, "milk": milk.id, "bread": bread.id,
                "milk_gtin": milk.gtin, "bread_gtin": bread.gtin, "key": f.api_key(s, m, at=T0)}


def completed(s, shop, order_id, *, at, lines, member_id=None, pickup_merchant=None, referrer=None):
    """order.completed as orders.service.sync_status writes it: partner_facts then _sale_facts."""
    record_event(s, type="order.completed", subject_id=order_id, merchant_id=shop["merchant"], at=at, payload={
        "order_id": order_id, "status": "completed", "total_minor": sum(a for _, _, a in lines), "currency": "CNY",
        "merchant_id": shop["merchant"], "referrer_merchant_id": referrer, "referral_commission_bps": None,
        "checkout_id": None, "pickup_location_id": None, "pickup_merchant_id": pickup_merchant,
        "subtotal_minor": 0, "fees_minor": 0, "pickup_fee_minor": None, "pickup_agreement_id": None,
        "sale_ref": order_id, "member_id": member_id, "channel": "online", "location_id": shop["store"],
        "lines": [{"product_id": p, "category": None, "quantity": q, "amount_minor": a} for p, q, a in lines]})


def returned(s, shop, return_id, order_id, *, at, lines):
    record_event(s, type="order.returned", subject_id=return_id, merchant_id=shop["merchant"], at=at, payload={
        "return_id": return_id, "order_id": order_id, "sale_ref": order_id, "member_id": "mem_ann",
        "location_id": shop["store"], "channel": "online", "currency": "CNY", "goods_minor": 1250,
        "money_refund_minor": 1250, "refund_minor": 1250, "merchant_id": shop["merchant"],
        "referrer_merchant_id": None, "referral_commission_bps": None, "checkout_id": None,
        "order_total_minor": 2500, "points_reversed": 0, "points_restored": 0,
        "lines": [{"product_id": p, "quantity": q, "amount_minor": a} for p, q, a in lines]})


def consume(db, now=T0):
    with db.unit_of_work() as s:
        return events.record_from_outbox(s, now=now)


def log_rows(db):
    with db.read() as s:
        return [(e.kind, e.channel, e.product_id, e.quantity, e.amount_minor, e.member_id, e.basket_ref,
                 e.source_line, e.occurred_at) for e in s.scalars(select(InsightEvent).order_by(InsightEvent.id))]


def test_pos_sales_become_one_row_per_line_with_the_register_channel_exactly_once(client, db, shop):
    sold_offline = T0 - timedelta(minutes=30)  # sent after the connection came back
    till = client.post("/api/v1/pos/sales", headers=f.auth(shop["key"]), json={
        "sale_id": "till1-000001", "register_id": "reg_till", "sold_at": sold_offline.isoformat(),
        "lines": [{"gtin": shop["milk_gtin"], "quantity": 2}, {"gtin": shop["bread_gtin"], "quantity": 1}],
        "tenders": [{"kind": "cash", "amount_minor": 5000}]})
    kiosk = client.post("/api/v1/pos/sales", headers=f.auth(shop["key"]), json={
        "sale_id": "self1-000001", "register_id": "reg_self", "lines": [{"gtin": shop["milk_gtin"], "quantity": 1}],
        "tenders": [{"kind": "card", "amount_minor": 1100}]})
    assert till.status_code == 201 and kiosk.status_code == 201, (till.text, kiosk.text)

    assert consume(db) == 2
    assert consume(db) == 0  # the second run finds nothing new
    till_id, kiosk_id = till.json()["id"], kiosk.json()["id"]
    assert log_rows(db) == [
        ("sale", "pos", shop["milk"], 2, 2500, None, till_id, 0, sold_offline),
        ("sale", "pos", shop["bread"], 1, 600, None, till_id, 1, sold_offline),
        ("sale", "self_checkout", shop["milk"], 1, 1100, None, kiosk_id, 0, T0)]
    with db.read() as s:
        assert {e.location_id for e in s.scalars(select(InsightEvent))} == {shop["store"]}
        assert {e.merchant_id for e in s.scalars(select(InsightEvent))} == {shop["merchant"]}


def test_completed_orders_and_returns_are_logged_with_online_partner_and_return_kinds(db, shop):
    with db.unit_of_work() as s:
        completed(s, shop, "ord_1", at=T0, member_id="mem_ann",
                  lines=[(shop["milk"], 2, 2500), (shop["bread"], 1, 600)])
        completed(s, shop, "ord_own_pickup", at=T0, lines=[(shop["bread"], 3, 1800)],
                  pickup_merchant=shop["merchant"])  # picked up at its own store: still online
        completed(s, shop, "ord_2", at=T0, lines=[(shop["milk"], 1, 1250)], pickup_merchant=shop["partner"])
        completed(s, shop, "ord_3", at=T0, lines=[(shop["bread"], 1, 600)], referrer=shop["partner"])
        returned(s, shop, "ret_1", "ord_1", at=T0 + timedelta(days=1), lines=[(shop["milk"], 1, 1250)])
    assert consume(db) == 5
    assert consume(db) == 0
    rows = log_rows(db)
    assert [(r[0], r[1], r[6], r[3], r[4]) for r in rows] == [
        ("sale", "online", "ord_1", 2, 2500), ("sale", "online", "ord_1", 1, 600),
        ("sale", "online", "ord_own_pickup", 3, 1800),
        ("sale", "partner", "ord_2", 1, 1250), ("sale", "partner", "ord_3", 1, 600),
        ("return", "online", "ord_1", 1, 1250)]
    assert rows[0][5] == "mem_ann" and rows[-1][8] == T0 + timedelta(days=1)


def test_a_bad_event_is_skipped_and_the_ones_behind_it_are_still_logged(db, shop):
    with db.unit_of_work() as s:
        record_event(s, type="order.completed", subject_id="ord_bad", merchant_id=shop["merchant"], at=T0,
                     payload={"order_id": "ord_bad", "merchant_id": shop["merchant"], "currency": "CNY",
                              "lines": "not a list"})
        record_event(s, type="pos.sale_recorded", subject_id="pos_bad", merchant_id=shop["merchant"], at=T0,
                     payload={"merchant_id": shop["merchant"], "currency": "CNY", "channel": "till",
                              "lines": [{"product_id": shop["milk"], "quantity": -1, "amount_minor": 5}]})
        completed(s, shop, "ord_ok", at=T0, lines=[(shop["milk"], 1, 1250)])
    assert consume(db) == 3
    assert [r[6] for r in log_rows(db)] == ["ord_ok"]
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(OutboxConsumption)
                        .where(OutboxConsumption.consumer == "insights")) == 3


def test_two_workers_racing_for_the_same_events_log_each_line_once(db, shop):
    with db.unit_of_work() as s:
        for i in range(30):
            completed(s, shop, f"ord_{i:02d}", at=T0, lines=[(shop["milk"], 1, 1250), (shop["bread"], 2, 1200)])
    barrier, handled, errors = threading.Barrier(2), [], []

    def work():
        barrier.wait()
        try:
            handled.append(consume(db))
        except Exception as exc:  # shown by the assertion below
            errors.append(repr(exc))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and sum(handled) == 30
    assert consume(db) == 0
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(InsightEvent)) == 60
        assert s.scalar(select(func.count(func.distinct(InsightEvent.source))).select_from(InsightEvent)) == 30


def test_the_worker_runs_the_log_job(db, shop, clock):
    with db.unit_of_work() as s:
        completed(s, shop, "ord_w", at=T0, lines=[(shop["milk"], 1, 1250)])
        assert JOBS["record_insight_events"](s, clock) == 1


def test_a_storefront_product_page_view_is_logged_with_the_shopper_only_when_logged_in(client, db, shop):
    assert client.get(f"/shop/products/{shop['milk']}").status_code == 200
    signup = client.post("/shop/signup", data={"name": "Ann", "login": "ann@example.com",
                                               "password": "long-enough-1"}, follow_redirects=False)
    assert signup.status_code == 303, signup.text
    assert client.get(f"/shop/products/{shop['bread']}").status_code == 200
    assert client.get("/shop/products/prd_nope").status_code == 404
    with db.read() as s:
        views = [(v.kind, v.product_id, v.member_id, v.merchant_id, v.channel, v.quantity, v.source_line,
                  v.source[:5]) for v in s.scalars(select(InsightEvent).order_by(InsightEvent.id))]
        ann = s.scalar(select(Member.id).where(Member.email == "ann@example.com"))
    assert views == [("view", shop["milk"], None, shop["merchant"], "online", 0, 0, "view_"),
                     ("view", shop["bread"], ann, shop["merchant"], "online", 0, 0, "view_")]


def test_lines_frame_reads_the_log_back_typed_oldest_first_and_filtered(db, shop):
    with db.unit_of_work() as s:
        completed(s, shop, "ord_late", at=T0 + timedelta(hours=2), member_id="mem_ann",
                  lines=[(shop["milk"], 2, 2500)])
        completed(s, shop, "ord_early", at=T0, lines=[(shop["bread"], 1, 600)])
        returned(s, shop, "ret_1", "ord_late", at=T0 + timedelta(hours=3), lines=[(shop["milk"], 1, 1250)])
        events.record_product_view(s, merchant_id=shop["merchant"], product_id=shop["milk"], location_id=None,
                                   member_id=None, at=T0)
        events.record_product_view(s, merchant_id=shop["partner"], product_id=shop["milk"], location_id=None,
                                   member_id=None, at=T0)
    consume(db)
    with db.read() as s:
        sales = events.lines_frame(s, merchant_id=shop["merchant"])
        everything = events.lines_frame(s, merchant_id=shop["merchant"], kinds=("sale", "return", "view"))
        window = events.lines_frame(s, merchant_id=shop["merchant"], kinds=("sale", "return"),
                                    since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3))
        nothing = events.lines_frame(s, merchant_id="mer_nobody")
    assert list(sales.columns) == list(events.FRAME_COLUMNS)
    assert str(sales["occurred_at"].dtype) == "datetime64[ns, UTC]"
    assert str(sales["quantity"].dtype) == "int64" and str(sales["amount_minor"].dtype) == "int64"
    assert sales[["basket_ref", "product_id", "quantity", "amount_minor", "member_id", "location_id"]].values.tolist() \
        == [["ord_early", shop["bread"], 1, 600, None, shop["store"]],
            ["ord_late", shop["milk"], 2, 2500, "mem_ann", shop["store"]]]
    assert sales["occurred_at"].tolist() == [pd.Timestamp(T0), pd.Timestamp(T0 + timedelta(hours=2))]
    assert sorted(everything["kind"]) == ["return", "sale", "sale", "view"]
    assert window["basket_ref"].tolist() == ["ord_late"]  # until is exclusive: the return at +3h is out
    assert len(nothing) == 0 and list(nothing.columns) == list(events.FRAME_COLUMNS)
    with pytest.raises(ValueError):
        events.lines_frame(None, merchant_id=shop["merchant"], kinds=("refund",))
