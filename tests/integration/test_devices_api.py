"""S9's connected devices through the API: a member registers a washing machine (its credential shown
once), sets a reorder rule, and a low detergent reading orders through the normal order path with the
stock reserved, exactly once per device event id, within her spend cap and never while the last reorder
is still on its way. A one-press button reorders with her points."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from oao.core.auth import Principal, Role
from oao.core.idempotency import IdempotencyRecord
from oao.core.outbox import OutboxEvent
from oao.devices.models import Device
from oao.inventory.models import StockLevel
from oao.loyalty import service as loyalty
from oao.members import service as members
from oao.orders.models import Order
from oao.sharing.classes import payload_kind
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth

OPERATOR = Principal(kind="api_key", id="key_operator", name="operator", role=Role.NETWORK_ADMIN, merchant_id=None)
PRICE = 4500  # a bottle of detergent, ¥45.00
FEE = 500  # delivery fee
HOME = {"address": "Pinghai Road 12", "latitude": 30.2600, "longitude": 120.1650}


class Home:
    """Mei, her shop (one store that delivers within 5 km), detergent on its shelf, and her points."""

    def __init__(self, db, *, units: int = 10, points: int = 0) -> None:
        with db.unit_of_work() as s:
            m = f.merchant(s, "Blue Harbour Fresh", at=T0)
            store = f.location(s, m, "Blue Harbour Hubin", 30.2590, 120.1630, at=T0, delivery_radius_km=5.0,
                               delivery_capacity_per_hour=20, delivery_fee_minor=FEE)
            detergent = f.product(s, 901, "Laundry detergent 2 L", at=T0, category="household")
            softener = f.product(s, 902, "Fabric softener 1 L", at=T0, category="household")
            elsewhere = f.product(s, 903, "Espresso beans 1 kg", at=T0, category="coffee")
            f.offer(s, m, detergent, PRICE, at=T0)
            f.offer(s, m, softener, 2000, at=T0)
            f.stock(s, store, detergent, units, at=T0)
            f.stock(s, store, softener, units, at=T0)
            self.key = f.api_key(s, m, at=T0)
            self.merchant_id, self.store_id = m.id, store.id
            self.detergent, self.softener, self.not_sold = detergent.id, softener.id, elsewhere.id
            mei = members.sign_up(s, email="mei@example.com", phone="+8613800000001", password="demo-password",
                                  name="Mei", now=T0)
            token, _ = members.start_session(s, member_id=mei.id, now=T0)
            self.member_id, self.member = mei.id, auth(token)
            other = members.sign_up(s, email="bo@example.com", phone=None, password="demo-password", name="Bo",
                                    now=T0)
            self.other = auth(members.start_session(s, member_id=other.id, now=T0)[0])
            self.programme_id = loyalty.network_programme(s).id
            if points:
                loyalty.grant_points(s, principal=OPERATOR, grant_id="welcome", member_id=mei.id,
                                     programme_id=self.programme_id, points=points, reason="welcome", now=T0)

    def device(self, client, kind: str = "washing_machine", name: str = "Washing machine", **extra) -> dict:
        r = client.post("/api/v1/me/devices", headers=self.member,
                        json={"name": name, "kind": kind, "merchant_id": self.merchant_id, **extra})
        assert r.status_code == 201, r.text
        return r.json()

    def rule(self, client, device: dict, **fields) -> dict:
        body = {"product_id": self.detergent, "quantity": 2, "threshold": 20, "fulfillment": "delivery", **HOME,
                **fields}
        r = client.post(f"/api/v1/me/devices/{device['id']}/rules", headers=self.member, json=body)
        assert r.status_code == 201, r.text
        return r.json()

    def reserved(self, db, product_id: str | None = None) -> int:
        with db.read() as s:
            return s.scalar(select(StockLevel.reserved).where(StockLevel.location_id == self.store_id,
                                                              StockLevel.product_id == (product_id or self.detergent)))

    def order_count(self, db) -> int:
        with db.read() as s:
            return len(list(s.scalars(select(Order.id).where(Order.member_id == self.member_id))))


def reading(client, device: dict, event_id: str, *, level: int | None = None, consumed: int | None = None,
            at=T0, **extra):
    body = {"event_id": event_id, "at": at.isoformat(), **extra}
    body.update({"level": level} if level is not None else {"consumed": consumed})
    return client.post("/api/v1/devices/readings", headers=auth(device["credential"]), json=body)


def press(client, device: dict, event_id: str, at=T0):
    return client.post("/api/v1/devices/press", headers=auth(device["credential"]),
                       json={"event_id": event_id, "at": at.isoformat()})


# --- devices and their credentials ----------------------------------------------------------------------

def test_a_member_registers_a_device_and_sees_its_credential_only_once(client, db):
    home = Home(db)
    r = client.post("/api/v1/me/devices", headers={**home.member, "Idempotency-Key": "add-washer"},
                    json={"name": "Washing machine", "kind": "washing_machine", "merchant_id": home.merchant_id})
    assert r.status_code == 201, r.text
    device = r.json()
    assert device["credential"].startswith("oao_dv_") and device["unit"] == "percent"
    assert device["secret_hint"] == device["credential"][:12]
    again = client.post("/api/v1/me/devices", headers={**home.member, "Idempotency-Key": "add-washer"},
                        json={"name": "Washing machine", "kind": "washing_machine", "merchant_id": home.merchant_id})
    assert again.status_code == 201 and again.json()["id"] == device["id"] and again.json()["credential"] is None
    listed = client.get("/api/v1/me/devices", headers=home.member).json()
    assert [d["id"] for d in listed] == [device["id"]] and "credential" not in listed[0]
    with db.read() as s:  # only the hash is kept, nowhere the secret itself
        stored = s.get(Device, device["id"])
        assert stored.secret_hash != device["credential"] and len(stored.secret_hash) == 64
        bodies = [str(r.response_body) for r in s.scalars(select(IdempotencyRecord))]
        assert not any(device["credential"] in b for b in bodies)
    renamed = client.patch(f"/api/v1/me/devices/{device['id']}", headers=home.member, json={"name": "Washer"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Washer"
    # Another member cannot even see it.
    assert client.get(f"/api/v1/me/devices/{device['id']}", headers=home.other).status_code == 404
    assert client.get("/api/v1/me/devices", headers=home.other).json() == []


def test_registering_a_device_for_an_unknown_shop_or_kind_is_a_clear_422(client, db):
    home = Home(db)
    r = client.post("/api/v1/me/devices", headers=home.member,
                    json={"name": "Washer", "kind": "washing_machine", "merchant_id": "mer_nope"})
    assert r.status_code == 422 and "No shop" in r.json()["detail"]
    assert r.headers["content-type"].startswith("application/problem+json")
    r = client.post("/api/v1/me/devices", headers=home.member,
                    json={"name": "Toaster", "kind": "toaster", "merchant_id": home.merchant_id})
    assert r.status_code == 422
    assert client.post("/api/v1/me/devices", json={"name": "x", "kind": "button",
                                                   "merchant_id": home.merchant_id}).status_code == 401


def test_a_revoked_device_is_refused_with_a_401_problem(client, db):
    home = Home(db)
    device = home.device(client)
    home.rule(client, device)
    assert reading(client, device, "r-1", level=80).status_code == 201
    revoked = client.delete(f"/api/v1/me/devices/{device['id']}", headers=home.member)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    r = reading(client, device, "r-2", level=5)
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    assert "revoked" in r.json()["detail"]
    assert press(client, device, "p-1").status_code == 401
    assert reading(client, {"credential": "oao_dv_made-up"}, "r-3", level=5).status_code == 401
    assert client.post("/api/v1/devices/readings", json={"event_id": "x", "level": 1,
                                                         "at": T0.isoformat()}).status_code == 401
    # A member session is not a device credential either.
    assert client.post("/api/v1/devices/readings", headers=home.member,
                       json={"event_id": "x", "level": 1, "at": T0.isoformat()}).status_code == 401
    assert home.order_count(db) == 0
    rules = client.get(f"/api/v1/me/devices/{device['id']}/rules", headers=home.member).json()
    assert [r["enabled"] for r in rules] == [False]  # its rules stop with it


# --- rules ---------------------------------------------------------------------------------------

def test_rule_edits_are_validated_with_clear_problems(client, db):
    home = Home(db)
    device = home.device(client)
    url = f"/api/v1/me/devices/{device['id']}/rules"
    base = {"product_id": home.detergent, "quantity": 2, "threshold": 20, **HOME}
    cases = [
        ({**base, "product_id": home.not_sold}, "does not sell"),
        ({**base, "threshold": None}, "at which level to reorder"),
        ({**base, "threshold": 50, "capacity": 40}, "must be below the full level"),
        ({**base, "fulfillment": "pickup"}, "Choose the store"),
        ({**base, "latitude": None, "longitude": None}, "address to deliver to"),
        ({**base, "payment": "points", "points_programme_id": "lpg_nope"}, "No points programme"),
    ]
    for body, words in cases:
        r = client.post(url, headers=home.member, json=body)
        assert r.status_code == 422, (body, r.text)
        assert words in r.json()["detail"] and r.json()["errors"][0]["field"]
    for bad in ({**base, "quantity": 0}, {**base, "payment": "wallet_qr"}, {**base, "monthly_cap_minor": -5},
                {**base, "surprise": 1}):
        assert client.post(url, headers=home.member, json=bad).status_code == 422
    rule = home.rule(client, device, monthly_cap_minor=20_000)
    assert rule["product_title"] == "Laundry detergent 2 L" and rule["currency"] == "CNY"
    assert rule["payment"] == "in_person" and rule["min_gap_hours"] == 24 and rule["enabled"] is True
    patched = client.patch(f"{url}/{rule['id']}", headers=home.member,
                           json={"threshold": 10, "quantity": 1, "fulfillment": "pickup",
                                 "pickup_location_id": home.store_id, "monthly_cap_minor": None, "enabled": False})
    assert patched.status_code == 200, patched.text
    got = patched.json()
    assert (got["threshold"], got["quantity"], got["fulfillment"], got["pickup_location_id"]) == (
        10, 1, "pickup", home.store_id)
    assert got["monthly_cap_minor"] is None and got["enabled"] is False and got["address"] is None
    bad = client.patch(f"{url}/{rule['id']}", headers=home.member, json={"quantity": None})
    assert bad.status_code == 422 and "cannot be cleared" in bad.json()["detail"]
    assert client.patch(f"{url}/{rule['id']}", headers=home.other, json={"quantity": 3}).status_code == 404
    assert client.delete(f"{url}/{rule['id']}", headers=home.member).status_code == 204
    assert client.get(url, headers=home.member).json() == []


# --- readings place orders -------------------------------------------------------------------------

def test_a_low_reading_places_exactly_one_order_through_the_normal_path_with_stock_reserved(client, db):
    home = Home(db)
    device = home.device(client)
    home.rule(client, device)
    high = reading(client, device, "r-1", level=60)
    assert high.status_code == 201 and high.json()["outcome"] == "skipped"
    assert high.json()["reason"] == "above_threshold" and home.reserved(db) == 0

    low = reading(client, device, "r-2", level=15)
    assert low.status_code == 201, low.text
    event = low.json()
    assert event["outcome"] == "ordered" and event["reason"] == "ordered"
    assert event["total_minor"] == 2 * PRICE + FEE and event["currency"] == "CNY"
    order = client.get(f"/api/v1/orders/{event['order_id']}", headers=auth(home.key)).json()
    assert order["status"] == "confirmed" and order["payment_method"] == "pay_on_delivery"
    assert order["member_ref"] and order["customer"]["name"] == "Mei"
    assert [(l["product_id"], l["quantity"]) for l in order["lines"]] == [(home.detergent, 2)]
    assert order["fulfillments"][0]["kind"] == "delivery"
    assert home.reserved(db) == 2

    # Lower still, while the first is on its way: no second order.
    lower = reading(client, device, "r-3", level=5)
    assert lower.json()["outcome"] == "skipped" and lower.json()["reason"] == "order_open"
    assert home.order_count(db) == 1 and home.reserved(db) == 2
    with db.read() as s:
        types = [e.type for e in s.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]
    # The placed reorder and the refused one are announced; the reading above the threshold is not.
    assert types.count("device.reorder_placed") == 1 and types.count("device.reorder_skipped") == 1
    assert "order.placed" in types and "order.confirmed" in types
    assert payload_kind("event:device.reorder_placed") is not None  # webhooks may deliver it
    events = client.get(f"/api/v1/me/devices/{device['id']}/events", headers=home.member).json()
    assert [e["event_id"] for e in events] == ["r-3", "r-2", "r-1"]
    assert events[1]["order_id"] == event["order_id"]


def test_the_same_event_id_twice_answers_the_first_outcome_and_orders_once(client, db):
    home = Home(db)
    device = home.device(client)
    home.rule(client, device)
    first = reading(client, device, "low-1", level=10)
    assert first.status_code == 201 and first.json()["outcome"] == "ordered"
    again = reading(client, device, "low-1", level=10)
    assert again.status_code == 200 and again.json() == first.json()
    assert home.order_count(db) == 1 and home.reserved(db) == 2
    changed = reading(client, device, "low-1", level=3)
    assert changed.status_code == 422 and "already used for a different report" in changed.json()["detail"]
    assert home.order_count(db) == 1


def _race(n, work):
    barrier = threading.Barrier(n)
    results: list = []
    lock = threading.Lock()

    def run(i):
        barrier.wait()
        try:
            result = work(i)
        except Exception as exc:  # noqa: BLE001 - shown by the assertion
            result = repr(exc)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.slow
def test_concurrent_identical_readings_place_one_order(client, db):
    home = Home(db)
    device = home.device(client)
    home.rule(client, device)
    answers = _race(4, lambda i: reading(client, device, "same-event", level=8))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201], [a.text for a in answers]
    assert len({a.json()["order_id"] for a in answers}) == 1
    assert home.order_count(db) == 1 and home.reserved(db) == 2


@pytest.mark.slow
def test_concurrent_different_low_readings_place_one_order(client, db):
    home = Home(db)
    device = home.device(client)
    home.rule(client, device)
    answers = _race(4, lambda i: reading(client, device, f"low-{i}", level=8))
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    assert sorted(a.json()["reason"] for a in answers) == ["order_open"] * 3 + ["ordered"]
    assert home.order_count(db) == 1 and home.reserved(db) == 2


def test_a_cancelled_reorder_no_longer_blocks_the_next_one(client, db):
    home = Home(db)
    device = home.device(client)
    home.rule(client, device, min_gap_hours=0)
    first = reading(client, device, "r-1", level=10).json()
    assert first["outcome"] == "ordered"
    cancel = client.post(f"/api/v1/orders/{first['order_id']}/cancel", headers=auth(home.key),
                         json={"reason": "customer phoned"})
    assert cancel.status_code == 200 and home.reserved(db) == 0
    second = reading(client, device, "r-2", level=9).json()
    assert second["outcome"] == "ordered" and second["order_id"] != first["order_id"]
    assert home.reserved(db) == 2


def test_the_monthly_cap_counts_all_her_device_orders_this_utc_month(client, db, clock):
    home = Home(db)
    washer = home.device(client)
    home.rule(client, washer)  # orders 2 × 45 + 5 = ¥95
    dryer = home.device(client, name="Dryer", kind="other")
    home.rule(client, dryer, product_id=home.softener, quantity=1, monthly_cap_minor=10_000)  # ¥20 + ¥5 more
    assert reading(client, washer, "w-1", level=5).json()["outcome"] == "ordered"
    capped = reading(client, dryer, "d-1", level=5).json()
    assert capped["outcome"] == "skipped" and capped["reason"] == "cap_reached"
    assert "over the cap of 10000" in capped["detail"] and capped["order_id"] is None
    assert home.reserved(db, home.softener) == 0
    clock.advance(days=14)  # 1 December 2026: a new month, the cap starts again
    later = reading(client, dryer, "d-2", level=5, at=clock.now()).json()
    assert later["outcome"] == "ordered" and home.reserved(db, home.softener) == 1


def test_nothing_in_stock_and_a_switched_off_rule_are_reported_not_ordered(client, db):
    home = Home(db, units=1)
    device = home.device(client)
    rule = home.rule(client, device)
    r = reading(client, device, "r-1", level=5).json()
    assert (r["outcome"], r["reason"]) == ("skipped", "out_of_stock")
    client.patch(f"/api/v1/me/devices/{device['id']}/rules/{rule['id']}", headers=home.member,
                 json={"enabled": False, "quantity": 1})
    r = reading(client, device, "r-2", level=5).json()
    assert (r["outcome"], r["reason"]) == ("skipped", "rule_disabled")
    assert home.order_count(db) == 0 and home.reserved(db) == 0


def test_consumption_reports_count_down_from_the_full_level(client, db):
    home = Home(db)
    device = home.device(client, kind="dishwasher", name="Dishwasher", unit="doses")
    home.rule(client, device, threshold=5, capacity=30, quantity=1)
    first = reading(client, device, "c-1", consumed=20).json()
    assert (first["reason"], first["level"]) == ("above_threshold", 10)
    second = reading(client, device, "c-2", consumed=6).json()
    assert (second["outcome"], second["level"]) == ("ordered", 4)


def test_a_device_with_two_rules_says_which_one_a_reading_is_about(client, db):
    home = Home(db)
    device = home.device(client)
    home.rule(client, device)
    softener = home.rule(client, device, product_id=home.softener, quantity=1)
    r = reading(client, device, "r-1", level=5)
    assert r.status_code == 422 and "say which one" in r.json()["detail"]
    r = reading(client, device, "r-1", level=5, rule_id=softener["id"])
    assert r.status_code == 201 and r.json()["outcome"] == "ordered"
    assert home.reserved(db, home.softener) == 1 and home.reserved(db) == 0


# --- the one-press button ---------------------------------------------------------------------------

def test_a_button_press_reorders_with_her_points_and_a_second_press_waits(client, db):
    home = Home(db, points=20_000)
    button = home.device(client, kind="button", name="Detergent button", unit="items")
    home.rule(client, button, threshold=None, quantity=1, payment="points")
    first = press(client, button, "press-1")
    assert first.status_code == 201 and first.json()["outcome"] == "ordered", first.text
    order = client.get(f"/api/v1/orders/{first.json()['order_id']}", headers=auth(home.key)).json()
    assert order["status"] == "confirmed" and order["payment_method"] == "points"
    assert order["money_due_minor"] == 0 and order["points"]["status"] == "spent"
    with db.read() as s:
        [balance] = loyalty.balances(s, member_id=home.member_id)
        assert balance.available == 20_000 - (PRICE + FEE)
    assert press(client, button, "press-1").json() == first.json()  # the same press, resent
    assert press(client, button, "press-2").json()["reason"] == "order_open"
    assert home.order_count(db) == 1 and home.reserved(db) == 1


def test_a_press_without_enough_points_is_not_ordered_unless_she_allows_paying_in_person(client, db):
    home = Home(db, points=100)
    button = home.device(client, kind="button", name="Detergent button", unit="items")
    rule = home.rule(client, button, threshold=None, quantity=1, payment="points", min_gap_hours=0)
    r = press(client, button, "press-1").json()
    assert (r["outcome"], r["reason"]) == ("skipped", "not_enough_points") and "you have 100" in r["detail"]
    assert home.order_count(db) == 0 and home.reserved(db) == 0
    client.patch(f"/api/v1/me/devices/{button['id']}/rules/{rule['id']}", headers=home.member,
                 json={"payment": "points_or_in_person"})
    r = press(client, button, "press-2").json()
    assert r["outcome"] == "ordered"
    order = client.get(f"/api/v1/orders/{r['order_id']}", headers=auth(home.key)).json()
    assert order["payment_method"] == "pay_on_delivery" and order["points"] is None
    with db.read() as s:
        assert loyalty.balances(s, member_id=home.member_id)[0].available == 100


MALFORMED = [
    {"event_id": "x", "at": T0.isoformat()},  # neither level nor consumed
    {"event_id": "x", "at": T0.isoformat(), "level": 3, "consumed": 1},
    {"event_id": "x", "at": "2026-11-17T10:00:00", "level": 3},  # no timezone
    {"event_id": "", "at": T0.isoformat(), "level": 3},
    {"event_id": "x", "at": T0.isoformat(), "level": -1},
    {"event_id": "x", "at": "2026-11-18T10:00:00+00:00", "level": 3},  # tomorrow: the device's clock is wrong
]


def test_malformed_readings_are_422_problems_and_order_nothing(client, db):
    home = Home(db)
    device = home.device(client)
    home.rule(client, device)
    for body in MALFORMED:
        r = client.post("/api/v1/devices/readings", headers=auth(device["credential"]), json=body)
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), body
    assert client.get(f"/api/v1/me/devices/{device['id']}/events", headers=home.member).json() == []
    assert home.order_count(db) == 0
