"""The storefront's pages over HTTP on the demo network: search, nearby stock, the shopper's
location, the signed cart, checkout and the order page's access rule."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from oao.catalog.models import Product
from oao.demo.load import load_demo
from oao.orders.models import Order
from oao.web.shop.shopper import CART_COOKIE


@pytest.fixture
def demo(db, clock):
    with db.unit_of_work() as session:
        load_demo(session, now=clock.now())


@pytest.fixture
def shop(client, demo):
    return client


def _product_id(db, title: str) -> str:
    with db.read() as session:
        return session.scalar(select(Product.id).where(Product.title == title))


def _orders(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Order))


def _checkout_form(page: str) -> dict[str, str]:
    quote_id = re.search(r'name="quote_id" value="([^"]+)"', page).group(1)
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    options = re.findall(r'name="option_id" value="([^"]+)"', page)
    return {"quote_id": quote_id, "token": token, "option_id": options[0]}


def test_search_finds_products_with_prices_and_nearby_stock_and_says_when_nothing_matches(shop):
    page = shop.get("/shop/search", params={"q": "milk toast"})
    assert page.status_code == 200
    assert "Golden Wheat Sliced Milk Toast 400 g" in page.text
    assert "¥9.90" in page.text
    assert re.search(r"In stock at \d+ stores? near you", page.text)

    nothing = shop.get("/shop/search", params={"q": "snorkel"})
    assert nothing.status_code == 200 and "Nothing matches “snorkel”" in nothing.text

    cakes = shop.get("/shop/search", params={"category": "cakes"})
    assert cakes.status_code == 200 and "Cakes" in cakes.text and "Golden Wheat Sliced Milk Toast" not in cakes.text


def test_the_home_page_shows_categories_and_products_in_stock_near_the_shopper(shop):
    page = shop.get("/shop")
    assert page.status_code == 200
    assert 'href="/shop/search?category=bakery"' in page.text
    assert page.text.count('class="product-card"') == 8
    assert "Set your location" in page.text  # not chosen yet: says whose distances these are


def test_the_product_page_lists_the_nearest_stores_with_stock_distance_and_opening(shop, db):
    product_id = _product_id(db, "Golden Wheat Sliced Milk Toast 400 g")
    r = shop.post("/shop/location", data={"address": "Pinghai Road", "next": f"/shop/products/{product_id}"},
                  follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/shop/products/{product_id}"

    page = shop.get(f"/shop/products/{product_id}")
    assert page.status_code == 200
    nearby = page.text.split("Available near you")[1].split("Product details")[0]
    stores = re.findall(r"<strong>([^<]+)</strong>", nearby)
    distances = [float(d) for d in re.findall(r'class="distance num">([\d.]+) km<', nearby)]
    assert stores[0] == "Daily Corner · Hubin" and distances[0] < 0.5  # 88 Pinghai Road itself
    assert distances == sorted(distances) and 1 < len(distances) <= 5
    assert "Open 24 hours" in nearby
    assert "sold by" in page.text and "Near <strong>Hubin</strong>" in page.text


def test_a_product_without_a_rating_shows_no_stars_and_an_unknown_product_is_a_404_page(shop, db):
    product_id = _product_id(db, "Golden Wheat Sliced Milk Toast 400 g")
    assert "★" not in shop.get(f"/shop/products/{product_id}").text
    missing = shop.get("/shop/products/prd_nope")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]


def test_the_location_can_be_an_area_from_the_list_or_coordinates_and_nonsense_is_refused_with_a_message(shop):
    page = shop.get("/shop/location")
    assert 'value="wulin-square"' in page.text
    assert shop.post("/shop/location", data={"area": "wulin-square"}, follow_redirects=False).status_code == 303
    assert "Near <strong>Wulin Square</strong>" in shop.get("/shop").text
    assert shop.post("/shop/location", data={"latitude": "30.2700", "longitude": "120.1600"},
                     follow_redirects=False).status_code == 303
    assert "Near <strong>your location</strong>" in shop.get("/shop").text

    unknown = shop.post("/shop/location", data={"address": "Atlantis Boulevard"})
    assert unknown.status_code == 422 and "could not find “Atlantis Boulevard”" in unknown.text
    bad = shop.post("/shop/location", data={"latitude": "999", "longitude": "1"})
    assert bad.status_code == 422
    assert shop.post("/shop/location", data={"next": "https://evil.example"}).status_code == 422
    r = shop.post("/shop/location", data={"area": "hubin", "next": "//evil.example"}, follow_redirects=False)
    assert r.headers["location"] == "/shop"


def test_the_cart_adds_updates_and_removes_lines_and_a_tampered_cookie_is_an_empty_cart(shop, db):
    toast = _product_id(db, "Golden Wheat Sliced Milk Toast 400 g")
    r = shop.post("/shop/cart/add", data={"product_id": toast, "quantity": "2"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/shop/cart"
    cart = shop.get("/shop/cart")
    assert "Golden Wheat Sliced Milk Toast 400 g" in cart.text and 'value="2"' in cart.text
    assert re.search(r'data-cart-count>2<', cart.text)

    fragment = shop.post("/shop/cart/add", data={"product_id": toast}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "Added Golden Wheat Sliced Milk Toast" in fragment.text
    assert 'hx-swap-oob="true"' in fragment.text and "data-cart-count>3<" in fragment.text

    shop.post("/shop/cart/update", data={"product_id": toast, "quantity": "5"})
    assert 'value="5"' in shop.get("/shop/cart").text
    shop.post("/shop/cart/update", data={"product_id": toast, "remove": "1"})
    assert "Your cart is empty" in shop.get("/shop/cart").text

    shop.post("/shop/cart/add", data={"product_id": toast})
    value = shop.cookies.get(CART_COOKIE)
    payload, tag = value.split(".")
    for forged in (payload + "A." + tag, payload + "." + tag[:-2] + "xx", "garbage", "a.b.c", "%%%.%%%"):
        shop.cookies.set(CART_COOKIE, forged)
        page = shop.get("/shop/cart")
        assert page.status_code == 200 and "Your cart is empty" in page.text
    assert shop.post("/shop/cart/add", data={"product_id": "prd_nope"}).status_code == 404


def test_a_post_from_another_site_is_refused(shop, db):
    toast = _product_id(db, "Golden Wheat Sliced Milk Toast 400 g")
    r = shop.post("/shop/cart/add", data={"product_id": toast}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403


def test_checkout_shows_the_options_in_words_and_refuses_a_form_without_name_or_phone(shop, db):
    assert shop.get("/shop/checkout", follow_redirects=False).headers["location"] == "/shop/cart"
    shop.post("/shop/location", data={"area": "hubin"})
    shop.post("/shop/cart/add", data={"product_id": _product_id(db, "Golden Wheat Sliced Milk Toast 400 g")})
    page = shop.get("/shop/checkout")
    assert page.status_code == 200
    assert re.search(r"Ready at Daily Corner · Hubin (tomorrow )?by \d\d:\d\d</strong> · <span class=\"fee free\">free",
                     page.text)
    assert re.search(r"Delivered to you (tomorrow )?by \d\d:\d\d", page.text)
    form = _checkout_form(page.text)

    r = shop.post("/shop/checkout", data={**form, "name": "", "phone": "12", "payment": "in_person"})
    assert r.status_code == 422
    assert "Tell us your name" in r.text and "Enter a phone number" in r.text
    r = shop.post("/shop/checkout", data={**form, "option_id": "", "name": "Li", "phone": "13800001234",
                                          "payment": "in_person"})
    assert r.status_code == 422 and "Choose how you want to receive your order." in r.text
    r = shop.post("/shop/checkout", data={**form, "name": "Li", "phone": "13800001234", "payment": "cheque"})
    assert r.status_code == 422 and "Choose how you want to pay." in r.text
    assert _orders(db) == 0


def test_placing_an_order_twice_with_one_form_makes_one_order_whose_page_needs_its_signed_link(shop, db):
    shop.post("/shop/location", data={"area": "hubin"})
    shop.post("/shop/cart/add", data={"product_id": _product_id(db, "Golden Wheat Sliced Milk Toast 400 g")})
    form = {**_checkout_form(shop.get("/shop/checkout").text), "name": "Li Hua", "phone": "138 0000 1234",
            "payment": "in_person"}
    first = shop.post("/shop/checkout", data=form, follow_redirects=False)
    again = shop.post("/shop/checkout", data=form, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert _orders(db) == 1
    link = first.headers["location"]
    assert "Your cart is empty" in shop.get("/shop/cart").text

    page = shop.get(link)
    assert page.status_code == 200
    assert "Confirmed" in page.text and "to pay when you collect" in page.text
    assert "Ready at Daily Corner · Hubin" in page.text and "88 Pinghai Road" in page.text
    assert 'hx-trigger="every 3s"' in page.text
    live = shop.get(link.replace("?t=", "/live?t="))
    assert live.status_code == 200 and 'id="order-live"' in live.text and "<html" not in live.text

    order_path = link.split("?")[0]
    assert shop.get(order_path).status_code == 404
    assert shop.get(order_path + "?t=forged").status_code == 404
    assert shop.post(order_path + "/cancel", data={"t": "forged"}).status_code == 404

    tag = link.split("t=")[1]
    r = shop.post(order_path + "/cancel", data={"t": tag}, follow_redirects=False)
    assert r.status_code == 303
    cancelled = shop.get(link)
    assert "Cancelled" in cancelled.text and 'hx-trigger="every 3s"' not in cancelled.text
    assert "Cancel order" not in cancelled.text


def test_when_the_store_has_packed_it_the_order_page_shows_the_pickup_code_as_text_and_qr(shop, db, clock):
    from oao.fulfillment import lifecycle
    from oao.orders import service as orders
    from oao.web.common import STOREFRONT

    shop.post("/shop/location", data={"area": "hubin"})
    shop.post("/shop/cart/add", data={"product_id": _product_id(db, "Golden Wheat Sliced Milk Toast 400 g")})
    form = {**_checkout_form(shop.get("/shop/checkout").text), "name": "Li Hua", "phone": "13800001234",
            "payment": "in_person"}
    link = shop.post("/shop/checkout", data=form, follow_redirects=False).headers["location"]
    order_id = link.split("/")[-1].split("?")[0]
    with db.unit_of_work() as session:
        for leg in lifecycle.of_order(session, order_id=order_id):
            lifecycle.start_picking(session, fulfillment=leg, principal=STOREFRONT, now=clock.now())
            lifecycle.mark_packed(session, fulfillment=leg, principal=STOREFRONT, now=clock.now(), hold_hours=48)
        orders.sync_status(session, order_id=order_id, now=clock.now())
        code = lifecycle.of_order(session, order_id=order_id)[0].pickup_code

    page = shop.get(link)
    assert "Ready for pickup" in page.text
    assert f'<span class="pickup-code num">{code}</span>' in page.text
    assert "<svg" in page.text and f"Pickup code {code}" in page.text
    assert "We keep it for you until" in page.text
