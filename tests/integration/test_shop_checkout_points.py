"""The storefront checkout with points: a logged-in member pays all or part of an order with her
Hangzhou Card points; too many points are refused beside the points field and nothing is placed."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from oao.catalog.models import Product
from oao.demo.load import load_demo
from oao.orders.models import Order


@pytest.fixture
def member_shop(client, db, clock):
    with db.unit_of_work() as session:
        load_demo(session, now=clock.now())
    r = client.post("/shop/login", data={"login": "mei@example.com", "password": "demo-password", "next": "/shop"},
                    follow_redirects=False)
    assert r.status_code == 303
    client.post("/shop/location", data={"area": "hubin"})
    with db.read() as session:
        toast = session.scalar(select(Product.id).where(Product.title == "Golden Wheat Sliced Milk Toast 400 g"))
    client.post("/shop/cart/add", data={"product_id": toast, "quantity": "2"})
    return client


def _form(page: str) -> dict[str, str]:
    return {"quote_id": re.search(r'name="quote_id" value="([^"]+)"', page).group(1),
            "token": re.search(r'name="token" value="([^"]+)"', page).group(1),
            "option_id": re.findall(r'name="option_id" value="([^"]+)"', page)[0],
            "name": "Mei", "phone": "13800001234",
            "points_programme": re.search(r'name="points_programme" value="(lpg_[^"]+)"', page).group(1)}


def _orders(db) -> list[tuple[str, str, int]]:
    """(status, payment method, total) of every order."""
    with db.read() as session:
        return [(o.status, o.payment_method, o.total_minor) for o in session.scalars(select(Order))]


def test_a_member_sees_her_points_at_checkout_and_pays_the_whole_order_with_them(member_shop, db):
    page = member_shop.get("/shop/checkout")
    assert page.status_code == 200 and "Use your points" in page.text and "5,000 points" in page.text
    form = _form(page.text)
    r = member_shop.post("/shop/checkout", data={**form, "payment": "", "points_amount": "50"},
                         follow_redirects=False)
    assert r.status_code == 303, r.text
    [(status, method, total)] = _orders(db)
    assert (status, method) == ("confirmed", "points") and total < 5000
    shown = member_shop.get(r.headers["location"]).text
    assert f"{total:,} Hangzhou Card points paid ¥{total / 100:.2f}" in shown


def test_points_pay_part_and_the_wallet_pays_the_rest(member_shop, db):
    form = _form(member_shop.get("/shop/checkout").text)
    r = member_shop.post("/shop/checkout", data={**form, "payment": "wallet_qr", "points_amount": "5.00"},
                         follow_redirects=False)
    assert r.status_code == 303, r.text
    [(status, method, total)] = _orders(db)
    assert (status, method) == ("pending_payment", "wallet_qr")
    shown = member_shop.get(r.headers["location"]).text
    rest = (total - 500) / 100
    assert re.search(rf"500 Hangzhou Card points held for ¥5.00 · ¥{rest:.2f} to pay with your wallet", shown), \
        re.search(r'class="payment-state">([^<]*)<', shown).group(1)


def test_a_malformed_points_amount_is_refused_beside_the_points_and_nothing_is_placed(member_shop, db):
    form = _form(member_shop.get("/shop/checkout").text)
    r = member_shop.post("/shop/checkout", data={**form, "payment": "wallet_qr", "points_amount": "lots"})
    assert r.status_code == 422
    assert "Type the amount to pay with points" in r.text
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 0
