"""The storefront with a cart no single shop sells whole: one option list per seller, one checkout,
one order per seller and one wallet payment for everything."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from oao.orders.models import Checkout, Order
from oao.payments.models import PaymentIntent
from tests.integration.test_checkouts import GLOSS, TART, network
from tests.integration.test_payments_kit import wire_wallet


def _split_form(page: str) -> dict[str, str]:
    form = {"token": re.search(r'name="token" value="([^"]+)"', page).group(1),
            "quote_ids": re.search(r'name="quote_ids" value="([^"]+)"', page).group(1)}
    for index in (0, 1):
        form[f"leg_{index}"] = re.findall(rf'name="leg_{index}" value="([^"]+)"', page)[0]
    return form


def test_a_cart_of_two_shops_checks_out_as_one_checkout_paid_once(app, client, db):
    wire_wallet(app)
    net = network(db)
    client.post("/shop/cart/add", data={"product_id": net.tart, "quantity": "2"})
    client.post("/shop/cart/add", data={"product_id": net.gloss, "quantity": "1"})

    page = client.get("/shop/checkout")
    assert page.status_code == 200, page.text
    assert "From Sweet Lane Bakery" in page.text and "From Qiantang Online" in page.text
    assert "You pay once for everything" in page.text
    form = {**_split_form(page.text), "name": "Mei", "phone": "13800001234", "payment": "wallet_qr"}

    missing = client.post("/shop/checkout", data={**form, "leg_1": ""})
    assert missing.status_code == 422 and "Choose how you want to receive" in missing.text

    placed = client.post("/shop/checkout", data=form, follow_redirects=False)
    assert placed.status_code == 303, placed.text
    again = client.post("/shop/checkout", data=form, follow_redirects=False)
    assert again.headers["location"] == placed.headers["location"], "a double tap lands on the same checkout"
    with db.read() as s:
        [checkout] = s.scalars(select(Checkout)).all()
        orders = list(s.scalars(select(Order).where(Order.checkout_id == checkout.id)))
        assert sorted((o.merchant_id, o.total_minor) for o in orders) == sorted(
            [(net.bakery, 2 * TART), (net.online, GLOSS)])
        assert s.scalar(select(func.count()).select_from(PaymentIntent)) == 1
        assert s.scalar(select(PaymentIntent.amount_minor)) == 2 * TART + GLOSS

    order_page = client.get(placed.headers["location"])
    assert order_page.status_code == 200
    assert "Also in this checkout" in order_page.text
    assert "¥160.00 (all your orders of this checkout)" in order_page.text  # 2 x ¥36 + ¥88, one QR
    assert "<svg" in order_page.text


def test_a_cart_one_shop_sells_whole_keeps_the_single_option_list(client, db):
    net = network(db)
    client.post("/shop/cart/add", data={"product_id": net.tart, "quantity": "1"})
    page = client.get("/shop/checkout")
    assert 'name="option_id"' in page.text and 'name="quote_ids"' not in page.text
