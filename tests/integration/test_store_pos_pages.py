"""The till's page and JSON endpoints (/store/pos), on both databases: who may use them, CSRF,
idempotent sales by the browser's sale id, registers of other stores, receipts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from oao.inventory import service as inventory
from oao.pos.models import PosSale, Register
from tests import factories as f
from tests.conftest import T0

PASSWORD = "correct horse battery"


@dataclass
class Till:
    store_id: str
    counter_id: str
    other_store_counter_id: str
    rival_counter_id: str
    milk: str
    milk_id: str
    bread: str


@pytest.fixture
def till(db) -> Till:
    with db.unit_of_work() as s:
        m = f.merchant(s, "Green Grocer", at=T0)
        store = f.location(s, m, "Xihu store", 30.25, 120.14, at=T0, address="1 Lakeside Road, Hangzhou")
        other = f.location(s, m, "Binjiang store", 30.21, 120.21, at=T0)
        milk = f.product(s, 1, "Oat milk 1L", at=T0)
        bread = f.product(s, 2, "Rye bread", at=T0)
        f.offer(s, m, milk, 1250, at=T0, channel_prices={"kiosk": 1100})
        f.offer(s, m, bread, 600, at=T0)
        f.stock(s, store, milk, 8, at=T0)
        f.stock(s, store, bread, 5, at=T0)
        rival = f.merchant(s, "Rival Mart", at=T0)
        rival_store = f.location(s, rival, "Rival store", 30.26, 120.15, at=T0)
        s.add_all([Register(id="reg_counter1", merchant_id=m.id, location_id=store.id, name="Till 1", kind="counter",
                            created_at=T0),
                   Register(id="reg_binjiang", merchant_id=m.id, location_id=other.id, name="Binjiang till",
                            kind="counter", created_at=T0),
                   Register(id="reg_rival1", merchant_id=rival.id, location_id=rival_store.id, name="Rival till",
                            kind="counter", created_at=T0)])
        f.staff_user(s, m, "li@grocer.test", at=T0, location=store)
        s.flush()
        return Till(store_id=store.id, counter_id="reg_counter1", other_store_counter_id="reg_binjiang",
                    rival_counter_id="reg_rival1", milk=milk.gtin, milk_id=milk.id, bread=bread.gtin)


def _log_in(client, email: str = "li@grocer.test") -> str:
    """Log in through the staff form; returns the page's CSRF token."""
    r = client.post("/staff/login", data={"email": email, "password": PASSWORD, "next": "/store/pos"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/store/pos")
    assert page.status_code == 200, page.text
    return re.search(r'data-csrf="([^"]+)"', page.text).group(1)


def _json(csrf: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if csrf:
        headers["X-CSRF-Token"] = csrf
    return headers


def _sale(till: Till, **overrides):
    body = {"sale_id": "pos-7f0c2a8e-5b1d-4c3e-9a55-0d1f2e3c4b5a", "register_id": till.counter_id,
            "lines": [{"gtin": till.milk, "quantity": 2}, {"gtin": till.bread, "quantity": 1}],
            "tenders": [{"kind": "cash", "amount_minor": 5000}],
            "sold_at": (T0 - timedelta(minutes=40)).isoformat()}
    body.update(overrides)
    return body


def _sales(db) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(PosSale))


def test_the_till_page_sends_a_stranger_to_the_staff_login(client, till):
    r = client.get("/store/pos", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/staff/login?next=%2Fstore%2Fpos")


def test_the_till_page_carries_the_price_list_and_this_stores_registers(client, till):
    _log_in(client)
    page = client.get("/store/pos").text
    assert "Oat milk 1L" in page and '"0' + till.milk in page  # keyed by GTIN-14
    assert "Till 1" in page
    assert "Binjiang till" not in page and "Rival till" not in page
    assert 'href="/static/oao/pos.css"' in page and 'src="/static/oao/pos.js"' in page


def test_the_sale_endpoint_refuses_a_request_without_the_csrf_token(client, db, till):
    _log_in(client)
    r = client.post("/store/pos/sales", json=_sale(till), headers=_json(None))
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    r = client.post("/store/pos/sales", json=_sale(till), headers=_json("not-the-token"))
    assert r.status_code == 403
    assert _sales(db) == 0


def test_the_json_endpoints_answer_401_problem_json_without_a_staff_session(client, till):
    r = client.post("/store/pos/sales", json=_sale(till), headers=_json("anything"))
    assert r.status_code == 401
    assert r.json()["type"] == "/problems/unauthorized"


def test_a_sale_sent_twice_with_the_same_client_sale_id_is_recorded_once(client, db, till):
    csrf = _log_in(client)
    first = client.post("/store/pos/sales", json=_sale(till), headers=_json(csrf))
    assert first.status_code == 201, first.text
    again = client.post("/store/pos/sales", json=_sale(till), headers=_json(csrf))
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["receipt_number"] == first.json()["receipt_number"]
    assert first.json()["total_minor"] == 3100 and first.json()["change_minor"] == 1900
    assert _sales(db) == 1
    with db.read() as s:
        assert inventory.get_level(s, location_id=till.store_id, product_id=till.milk_id).on_hand == 6
        sale = s.scalar(select(PosSale))
        # The queued sale keeps the time it was rung up, not the time it reached the server.
        assert sale.sold_at == T0 - timedelta(minutes=40)


def test_the_same_client_sale_id_for_a_different_sale_is_a_conflict(client, db, till):
    csrf = _log_in(client)
    assert client.post("/store/pos/sales", json=_sale(till), headers=_json(csrf)).status_code == 201
    r = client.post("/store/pos/sales", json=_sale(till, lines=[{"gtin": till.bread, "quantity": 1}],
                                                    tenders=[{"kind": "cash", "amount_minor": 600}]),
                    headers=_json(csrf))
    assert r.status_code == 409
    assert r.json()["pos_sale_id"]  # what the till reads as "this sale id is taken already"
    assert _sales(db) == 1


# Another merchant's register is not even shown to exist (404), like every other tenant's record.
@pytest.mark.parametrize(("register", "status"), [("other_store_counter_id", 403), ("rival_counter_id", 404)])
def test_a_register_of_another_store_is_refused(client, db, till, register, status):
    csrf = _log_in(client)
    r = client.post("/store/pos/sales", json=_sale(till, register_id=getattr(till, register)), headers=_json(csrf))
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert _sales(db) == 0


def test_an_invalid_sale_is_a_problem_with_a_message_for_the_cashier(client, db, till):
    csrf = _log_in(client)
    r = client.post("/store/pos/sales", json=_sale(till, tenders=[{"kind": "cash", "amount_minor": 1000}]),
                    headers=_json(csrf))
    assert r.status_code == 422
    assert "still due" in r.json()["detail"]
    r = client.post("/store/pos/sales", json=_sale(till, sold_at=(T0 + timedelta(hours=1)).isoformat()),
                    headers=_json(csrf))
    assert r.status_code == 422
    assert "future" in r.json()["detail"]
    assert _sales(db) == 0


def test_the_receipt_page_shows_store_lines_tenders_and_receipt_number(client, till):
    csrf = _log_in(client)
    sale = client.post("/store/pos/sales", json=_sale(till), headers=_json(csrf)).json()
    page = client.get(sale["receipt_url"])
    assert page.status_code == 200
    for text in ("Xihu store", "1 Lakeside Road", "Till 1", sale["receipt_number"], "Oat milk 1L", "¥25.00",
                 "¥31.00", "Cash", "¥50.00", "Change", "¥19.00", "this sale earned no points"):
        assert text in page.text, text
    assert client.get("/store/pos/receipts/pos_nope").status_code == 404


def test_a_member_code_that_does_not_check_out_is_refused_with_a_reason(client, till):
    csrf = _log_in(client)
    r = client.post("/store/pos/member", json={"code": "AB12CD34EF56GH78IJ"}, headers=_json(csrf))
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"]
