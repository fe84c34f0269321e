"""S1 on a phone: a shopper finds milk toast, sees which stores near her have it, chooses
how to receive it from options in plain words, pays with the wallet QR on the sandbox
wallet page, and watches her order page turn paid by itself."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NEAR_HUBIN = {"latitude": 30.2587, "longitude": 120.1664}  # by Daily Corner · Hubin, 88 Pinghai Road
PRODUCT = "Golden Wheat Sliced Milk Toast 400 g"


def test_s1_a_shopper_on_her_phone_chooses_pickup_pays_by_wallet_and_sees_her_order_confirmed(
        demo_server, phone, phone_errors, page, page_errors):
    url = demo_server.url
    phone.context.grant_permissions(["geolocation"], origin=url)
    phone.context.set_geolocation(NEAR_HUBIN)

    phone.goto(f"{url}/shop")
    expect(phone.get_by_role("heading", name="Shop by category")).to_be_visible()
    screenshot(phone, "shop-home-phone")
    phone.get_by_role("link", name="Set your location").click()
    phone.get_by_role("button", name="Use my location").click()
    expect(phone.locator(".shop-where")).to_contain_text("Near your location")

    search = phone.get_by_role("searchbox", name="Search products")
    search.fill("milk toast")
    search.press("Enter")
    expect(phone.get_by_role("heading", name="Results for “milk toast”")).to_be_visible()
    expect(phone.get_by_role("link", name=re.compile(PRODUCT))).to_contain_text(
        re.compile(r"In stock at \d+ stores? near you"))
    screenshot(phone, "shop-search-phone")

    phone.get_by_role("link", name=re.compile(PRODUCT)).click()
    expect(phone.get_by_role("heading", level=1)).to_have_text(PRODUCT)
    nearest = phone.locator(".store-row").first
    expect(nearest).to_contain_text("Daily Corner · Hubin")
    expect(nearest.locator(".distance")).to_have_text(re.compile(r"^0\.\d km$"))
    expect(nearest).to_contain_text("Open 24 hours")
    screenshot(phone, "shop-product-phone")

    phone.get_by_role("button", name="Add to cart").click()  # htmx: the page stays, the header counts it
    expect(phone.get_by_role("status")).to_contain_text(f"Added {PRODUCT}")
    expect(phone.locator("#cart-link [data-cart-count]")).to_have_text("1")
    phone.get_by_role("link", name="View cart (1)").click()
    expect(phone.get_by_role("spinbutton", name=f"Quantity of {PRODUCT}")).to_have_value("1")
    screenshot(phone, "shop-cart-phone")

    phone.get_by_role("link", name="Choose how to receive it").click()
    pickup = phone.get_by_role("radio", name=re.compile(r"Ready at Daily Corner · Hubin by \d\d:\d\d · free")).first
    expect(pickup).to_be_visible()
    expect(phone.get_by_role("radio", name=re.compile(r"Delivered to you by \d\d:\d\d"))).not_to_have_count(0)
    screenshot(phone, "shop-checkout-phone")
    pickup.check()
    phone.get_by_label("Name").fill("Li Hua")
    phone.get_by_label("Phone").fill("138 0000 1234")
    phone.get_by_role("radio", name=re.compile("Pay now with your wallet")).check()
    phone.get_by_role("button", name="Place order").click()

    expect(phone).to_have_url(re.compile(r"/shop/orders/ord_\w+\?t=.+"))
    expect(phone.get_by_role("heading", name="Waiting for your payment")).to_be_visible()
    expect(phone.get_by_label("Payment QR code").locator("svg")).to_be_visible()
    expect(phone.locator(".route-hint")).to_contain_text(
        re.compile(r"Daily Corner · Hubin, 88 Pinghai Road — 0\.\d km from you, about \d+ minutes on foot"))
    screenshot(phone, "shop-order-phone")
    order_link = phone.url

    # The sandbox wallet plays her phone's wallet app, in a second page.
    wallet = phone.context.new_page()
    wallet.goto(url + phone.get_by_role("link", name="Open in wallet").get_attribute("href"))
    wallet.get_by_role("link", name="Open in the sandbox wallet").click()
    wallet.get_by_role("button", name="Approve payment").click()
    expect(wallet.get_by_text("Paid. You can close this page.")).to_be_visible()
    wallet.close()

    # No reload: the order page polls and turns paid once the wallet's notification arrives.
    expect(phone.get_by_role("heading", name="Paid and confirmed")).to_be_visible(timeout=15_000)
    expect(phone.locator("#order-live")).to_have_attribute("data-status", "confirmed")
    expect(phone.get_by_text(re.compile(r"Paid ¥\d+\.\d\d with your wallet"))).to_be_visible()
    expect(phone.get_by_label("Payment QR code")).to_have_count(0)

    # The same pages on a counter-width screen.
    for path, name in (("/shop", "home"), ("/shop/search?q=milk+toast", "search")):
        page.goto(url + path)
        screenshot(page, f"shop-{name}-desktop")
    page.get_by_role("link", name=re.compile(PRODUCT)).click()
    expect(page.locator(".store-row").first).to_be_visible()
    screenshot(page, "shop-product-desktop")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator("#cart-link [data-cart-count]")).to_have_text("1")
    page.goto(f"{url}/shop/cart")
    screenshot(page, "shop-cart-desktop")
    page.get_by_role("link", name="Choose how to receive it").click()
    expect(page.get_by_role("radio").first).to_be_checked()
    screenshot(page, "shop-checkout-desktop")
    page.goto(order_link)
    expect(page.get_by_role("heading", name="Paid and confirmed")).to_be_visible()
    screenshot(page, "shop-order-desktop")
