"""S8 replenishment over the API, on both databases: forecasts + stock + goods on order become a
suggested purchase order with hand-checked quantities; staff accept it (edited) once, and its lines
become expected receipts that add stock when received; leftovers at closing get a decision.

The network: a bakery store open 08:00-21:00 (Asia/Shanghai; T0 is 10:00 there), lead time 1 day,
review 1 day, service level 0.95 (z = 1.6449).
- Rice 5 kg (keeps, case pack 10): 10 a day, error sd 2, 5 on hand and 4 on order -> position 9;
  order-up-to S = 20 + 1.6449·2·√2 = 24.65 -> 25, needs 16 -> two cases = 20.
- Fresh bread (shelf life 1 day: newsvendor): price 10.00, assumed cost 6.00, markdown 5.00 selling
  half the leftovers -> salvage 2.50, critical ratio 4/7.5 = 0.5333; tomorrow's forecast 20, sd 5:
  quantile 20.42 -> 21; today's bread will not last until the delivery -> order 21.
- Milk (shelf life 7 days: order-up-to): 3 a day, sd 0, 10 on hand -> S = 6, nothing to order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from oao.core.auth import Role
from oao.insights.models import Forecast, ForecastSeries
from oao.inventory.models import ExpectedReceipt, StockLevel, StockMovement
from oao.network.models import Merchant
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth

TODAY = date(2026, 11, 17)  # T0 in Asia/Shanghai


@dataclass
class Net:
    key: str
    other_key: str
    store: str
    other_store: str
    rice: str
    bread: str
    milk: str


def forecast(s, loc, product, means: list[float], sd: float) -> None:
    s.add(ForecastSeries(merchant_id=loc.merchant_id, location_id=loc.id, product_id=product.id, model="ets",
                         rmsse=0.8, error_sd=sd, mean_daily=sum(means) / len(means), run_id="irun_test"))
    for d, mean in enumerate(means):
        s.add(Forecast(merchant_id=loc.merchant_id, location_id=loc.id, product_id=product.id,
                       day=TODAY + timedelta(days=d), mean=mean, model="ets", run_id="irun_test"))


@pytest.fixture
def net(db) -> Net:
    with db.unit_of_work() as s:
        m = f.merchant(s, "Fresh Corner", at=T0)
        other = f.merchant(s, "Rival Fresh", at=T0)
        store = f.location(s, m, "Fresh Corner Binjiang", 30.21, 120.21, at=T0, hours=f.DAYTIME)
        other_store = f.location(s, other, "Rival Store", 30.22, 120.22, at=T0)
        rice = f.product(s, 1, "Rice 5 kg", at=T0, attributes={"case_pack": 10})
        bread = f.product(s, 2, "Fresh bread", at=T0, perishable=True, shelf_life_days=1)
        milk = f.product(s, 3, "Milk 1 l", at=T0, perishable=True, shelf_life_days=7)
        for p, price in ((rice, 4500), (bread, 1000), (milk, 1200)):
            f.offer(s, m, p, price, at=T0)
        f.stock(s, store, rice, 5, at=T0)
        f.stock(s, store, bread, 10, at=T0)
        f.stock(s, store, milk, 10, at=T0)
        s.add(ExpectedReceipt(id="erc_rice_earlier", merchant_id=m.id, location_id=store.id, product_id=rice.id,
                              quantity=4, expected_at=T0 + timedelta(hours=20), status="expected",
                              reference="supplier-77", created_at=T0 - timedelta(days=1), received_at=None,
                              received_quantity=None))
        forecast(s, store, rice, [10, 10], 2)
        forecast(s, store, bread, [26, 20], 5)
        forecast(s, store, milk, [3, 3], 0)
        return Net(key=f.api_key(s, m, at=T0), other_key=f.api_key(s, other, at=T0), store=store.id,
                   other_store=other_store.id, rice=rice.id, bread=bread.id, milk=milk.id)


def build(client, net: Net, **extra) -> dict:
    r = client.post("/api/v1/insights/purchase-suggestions", headers=auth(net.key),
                    json={"location_id": net.store, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def lines_by_product(suggestion: dict) -> dict[str, dict]:
    return {line["product_id"]: line for line in suggestion["lines"]}


def test_forecasts_stock_and_goods_on_order_give_the_hand_checked_quantities(client, net):
    [suggestion] = build(client, net)["suggestions"]
    assert suggestion["status"] == "proposed" and suggestion["location_id"] == net.store
    lines = lines_by_product(suggestion)
    assert set(lines) == {net.rice, net.bread}  # milk is well stocked
    assert [line["title"] for line in suggestion["lines"]] == ["Fresh bread", "Rice 5 kg"]
    rice, bread = lines[net.rice], lines[net.bread]
    assert rice["suggested_quantity"] == rice["quantity"] == 20
    assert rice["reason"]["policy"] == "order_up_to"
    assert (rice["reason"]["on_hand"], rice["reason"]["on_order"], rice["reason"]["position"]) == (5, 4, 9)
    assert rice["reason"]["order_up_to"] == pytest.approx(24.652, abs=1e-3)
    assert rice["reason"]["reorder_point"] == pytest.approx(10 + 1.6449 * 2, abs=1e-3)
    assert rice["reason"]["case_pack"] == 10
    assert bread["suggested_quantity"] == 21
    assert bread["reason"]["policy"] == "newsvendor"
    assert bread["reason"]["critical_ratio"] == pytest.approx(0.533, abs=1e-3)
    assert (bread["reason"]["cost_minor"], bread["reason"]["salvage_minor"]) == (600, 250)
    assert bread["reason"]["economics"]["cost_source"].startswith("assumed")
    assert suggestion["expected_at"].startswith("2026-11-18T02:00")  # created + one day of lead time


def test_building_again_supersedes_the_stores_previous_proposal(client, net):
    first = build(client, net)["suggestions"][0]
    second = build(client, net)
    assert second["superseded"] == [first["id"]]
    old = client.get(f"/api/v1/insights/purchase-suggestions/{first['id']}", headers=auth(net.key)).json()
    assert old["status"] == "superseded"
    r = client.post(f"/api/v1/insights/purchase-suggestions/{first['id']}/accept", headers=auth(net.key))
    assert r.status_code == 409


def test_an_accepted_suggestion_with_edits_becomes_expected_receipts_once(client, net, db):
    suggestion = build(client, net)["suggestions"][0]
    lines = lines_by_product(suggestion)
    url = f"/api/v1/insights/purchase-suggestions/{suggestion['id']}/accept"
    body = {"quantities": {lines[net.bread]["id"]: 18}}
    r = client.post(url, headers={**auth(net.key), "Idempotency-Key": "accept-1"}, json=body)
    assert r.status_code == 200, r.text
    accepted = r.json()
    assert accepted["status"] == "accepted" and accepted["decided_by"]
    assert lines_by_product(accepted)[net.bread]["quantity"] == 18
    assert lines_by_product(accepted)[net.bread]["suggested_quantity"] == 21
    got = {rc["product_id"]: rc for rc in accepted["receipts"]}
    assert {p: rc["quantity"] for p, rc in got.items()} == {net.bread: 18, net.rice: 20}
    assert all(rc["expected_at"] == accepted["expected_at"] and rc["status"] == "expected" for rc in got.values())

    replay = client.post(url, headers={**auth(net.key), "Idempotency-Key": "accept-1"}, json=body)
    assert replay.status_code == 200 and replay.json() == accepted
    again = client.post(url, headers=auth(net.key), json=body)
    assert again.status_code == 409 and "already accepted" in again.json()["detail"]
    with db.read() as s:
        refs = s.scalars(select(ExpectedReceipt.reference).where(ExpectedReceipt.location_id == net.store)).all()
    assert sorted(refs) == sorted(["supplier-77", *(line["id"] for line in suggestion["lines"])])

    listed = client.get("/api/v1/stock/expected-receipts", headers=auth(net.key), params={"location_id": net.store})
    assert {rc["quantity"] for rc in listed.json()} == {4, 18, 20}
    # Goods on order now count: rice's position is 5 + 24 = 29 >= 25, so only bread is suggested again.
    rebuilt = build(client, net)["suggestions"][0]
    assert set(lines_by_product(rebuilt)) == {net.bread}


def test_receiving_an_expected_receipt_adds_its_goods_to_stock_once(client, net, db):
    suggestion = build(client, net)["suggestions"][0]
    accepted = client.post(f"/api/v1/insights/purchase-suggestions/{suggestion['id']}/accept",
                           headers=auth(net.key)).json()
    bread = next(rc for rc in accepted["receipts"] if rc["product_id"] == net.bread)
    url = f"/api/v1/stock/expected-receipts/{bread['id']}/receive"
    r = client.post(url, headers=auth(net.key), json={"quantity": 19})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["received_quantity"]) == ("received", 19)
    assert client.post(url, headers=auth(net.key)).status_code == 409
    with db.read() as s:
        on_hand = s.scalar(select(StockLevel.on_hand).where(StockLevel.location_id == net.store,
                                                            StockLevel.product_id == net.bread))
        movement = s.execute(select(StockMovement.kind, StockMovement.quantity)
                             .where(StockMovement.reference == bread["id"])).all()
    assert on_hand == 10 + 19
    assert movement == [("receipt", 19)]

    cancel = client.post("/api/v1/stock/expected-receipts/erc_rice_earlier/cancel", headers=auth(net.key))
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"
    open_ = client.get("/api/v1/stock/expected-receipts", headers=auth(net.key), params={"location_id": net.store})
    assert [rc["product_id"] for rc in open_.json()] == [net.rice]  # the accepted rice line only


def test_a_rejected_suggestion_creates_nothing_and_cannot_be_decided_again(client, net, db):
    suggestion = build(client, net)["suggestions"][0]
    url = f"/api/v1/insights/purchase-suggestions/{suggestion['id']}"
    r = client.post(f"{url}/reject", headers=auth(net.key))
    assert r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["receipts"] == []
    assert client.post(f"{url}/reject", headers=auth(net.key)).status_code == 409
    assert client.post(f"{url}/accept", headers=auth(net.key)).status_code == 409
    with db.read() as s:
        assert s.scalars(select(ExpectedReceipt.id)).all() == ["erc_rice_earlier"]
    listed = client.get("/api/v1/insights/purchase-suggestions", headers=auth(net.key),
                        params={"location": net.store, "status": "rejected"})
    assert [x["id"] for x in listed.json()] == [suggestion["id"]]


def test_another_merchant_gets_404_for_the_suggestion_its_receipts_and_the_store(client, net):
    suggestion = build(client, net)["suggestions"][0]
    url = f"/api/v1/insights/purchase-suggestions/{suggestion['id']}"
    other = auth(net.other_key)
    assert client.get(url, headers=other).status_code == 404
    assert client.post(f"{url}/accept", headers=other).status_code == 404
    assert client.post(f"{url}/reject", headers=other).status_code == 404
    assert client.post("/api/v1/stock/expected-receipts/erc_rice_earlier/receive", headers=other).status_code == 404
    assert client.post("/api/v1/insights/purchase-suggestions", headers=other,
                       json={"location_id": net.store}).status_code == 404
    assert client.get("/api/v1/insights/leftovers", headers=other, params={"location": net.store}).status_code == 404
    assert client.get("/api/v1/insights/purchase-suggestions", headers=other).json() == []
    # ...and the suggestion is still there to accept for its own merchant.
    assert client.post(f"{url}/accept", headers=auth(net.key)).status_code == 200


def test_bad_quantities_are_refused_with_a_problem_and_nothing_is_decided(client, net):
    suggestion = build(client, net)["suggestions"][0]
    line = suggestion["lines"][0]["id"]
    url = f"/api/v1/insights/purchase-suggestions/{suggestion['id']}/accept"
    for body, field in (({"quantities": {line: -3}}, f"quantities.{line}"),
                        ({"quantities": {"sgl_nope": 2}}, "quantities.sgl_nope")):
        r = client.post(url, headers=auth(net.key), json=body)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"][0]["field"] == field
    r = client.post(url, headers=auth(net.key), json={"quantities": {line: "lots"}})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert client.post("/api/v1/insights/purchase-suggestions", headers=auth(net.key),
                       json={"location_id": net.store, "service_level": 1.2}).status_code == 422
    check = client.get(f"/api/v1/insights/purchase-suggestions/{suggestion['id']}", headers=auth(net.key)).json()
    assert check["status"] == "proposed"


def test_economics_that_make_a_leftover_worth_more_than_its_cost_are_refused(client, net):
    r = client.post("/api/v1/insights/purchase-suggestions", headers=auth(net.key),
                    json={"location_id": net.store, "cost_share": 0.3, "markdown_share": 0.8})
    assert r.status_code == 422 and "worth more than its cost" in r.json()["detail"]
    # At cost there is no margin to protect: the newsvendor bakes nothing extra, the rice is still ordered.
    [at_cost] = build(client, net, cost_share=1.0)["suggestions"]
    assert set(lines_by_product(at_cost)) == {net.rice}


def test_leftovers_near_closing_are_marked_down_or_kept(client, net, clock):
    clock.set(T0 + timedelta(hours=10))  # 20:00 in Hangzhou: 1 of today's 13 opening hours left
    r = client.get("/api/v1/insights/leftovers", headers=auth(net.key), params={"location": net.store})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["open_share_left"] == pytest.approx(1 / 13, abs=1e-4)
    decisions = {d["product_id"]: d for d in report["decisions"]}
    assert set(decisions) == {net.bread, net.milk}  # rice is not perishable
    bread = decisions[net.bread]
    # Today's bread forecast is 26: 2 more at full price, a markdown sells 4 of the other 8.
    assert (bread["action"], bread["full_price_units"], bread["markdown_units"], bread["waste_units"]) == (
        "markdown", 2, 4, 4)
    assert bread["markdown_price_minor"] == 500 and bread["expected_revenue_minor"] == 2 * 1000 + 4 * 500
    assert decisions[net.milk]["action"] == "keep" and "tomorrow" in decisions[net.milk]["explanation"]

    outlet = client.get("/api/v1/insights/leftovers", headers=auth(net.key),
                        params={"location": net.store, "channel": "food-rescue partner", "channel_share": 0.2})
    bread = next(d for d in outlet.json()["decisions"] if d["product_id"] == net.bread)
    assert (bread["action"], bread["markdown_units"], bread["move_units"], bread["waste_units"]) == (
        "markdown", 4, 4, 0)
    assert bread["channel"] == "food-rescue partner"


def test_the_console_page_shows_the_suggestion_and_accepts_an_edited_quantity(client, net, db):
    with db.unit_of_work() as s:
        merchant = s.scalar(select(Merchant).where(Merchant.name == "Fresh Corner"))
        f.staff_user(s, merchant, "admin@fresh.test", at=T0, password="pw-long-enough", role=Role.MERCHANT_ADMIN)
    suggestion = build(client, net)["suggestions"][0]
    bread_line = lines_by_product(suggestion)[net.bread]["id"]
    assert client.post("/staff/login", data={"email": "admin@fresh.test", "password": "pw-long-enough"},
                       follow_redirects=False).status_code == 303
    page = client.get("/console/replenishment")
    assert page.status_code == 200, page.text
    assert 'aria-label="Quantity to order of Fresh bread"' not in page.text  # the label is on its own element
    assert "Quantity to order of Fresh bread" in page.text and 'value="21"' in page.text
    assert "Goods on order" in page.text and "supplier-77" in page.text
    assert "Fresh leftovers today" in page.text and "Keep" in page.text  # 10:00: the day's demand covers it
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    form = {"csrf": csrf, "line": [line["id"] for line in suggestion["lines"]], "qty": ["15", "20"]}
    bad = client.post(f"/console/replenishment/{suggestion['id']}/accept", data={**form, "qty": ["-1", "20"]})
    assert bad.status_code == 422 and "whole number" in bad.text
    ok = client.post(f"/console/replenishment/{suggestion['id']}/accept", data=form, follow_redirects=False)
    assert ok.status_code == 303
    with db.read() as s:
        got = dict(s.execute(select(ExpectedReceipt.reference, ExpectedReceipt.quantity)
                             .where(ExpectedReceipt.reference == bread_line)).all())
    assert got == {bread_line: 15}
    again = client.post(f"/console/replenishment/{suggestion['id']}/accept", data=form)
    assert again.status_code == 409 and "already accepted" in again.text
    assert client.post(f"/console/replenishment/{suggestion['id']}/accept",
                       data={**form, "csrf": "forged"}).status_code == 403
