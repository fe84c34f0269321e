"""S13 in Chromium on the demo network: a shop with no IT signs up on a phone, opens its store in
Hubin, adopts two products of the shared catalog with its prices and stock, prints its QR codes and
rings up its first cash sale at the till, the same morning, with nothing installed."""

from __future__ import annotations

import re

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import select

from oao.catalog.models import Offer, Product
from oao.inventory.models import StockLevel
from oao.network.models import Location, Merchant
from oao.pos.models import PosSale, PosSaleLine
from oao.web import onboarding as onboarding_web
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EMAIL = "lin@teahouse.example"
PASSWORD = "open-today-2026"
SHOP = "Lin's Tea House"


@pytest.fixture(scope="module")
def server(demo_server):
    """The demo server with the onboarding pages (mounted here until the lead mounts them in the app)."""
    app = demo_server.app
    if not any(getattr(route, "path", None) == "/join" for route in app.routes):
        app.include_router(onboarding_web.router)
    return demo_server


def _two_shared_products(server) -> list[tuple[str, str]]:
    """(GTIN, title) of two products Daily Corner already sells: the shared catalog has them."""
    with server.database.read() as s:
        corner = s.scalar(select(Merchant.id).where(Merchant.name.like("Daily Corner%")))
        rows = s.execute(select(Product.gtin, Product.title).join(Offer, Offer.product_id == Product.id)
                         .where(Offer.merchant_id == corner, Offer.active.is_(True))
                         .order_by(Product.title).limit(2)).all()
    assert len(rows) == 2
    return [(gtin, title) for gtin, title in rows]


def _decode(locator, tmp_path, name: str) -> str:
    path = tmp_path / f"{name}.png"
    locator.screenshot(path=str(path))
    found = zxingcpp.read_barcodes(Image.open(path))
    assert len(found) == 1 and found[0].format == zxingcpp.BarcodeFormat.QRCode
    return found[0].text


def test_a_shop_signs_up_opens_its_store_adopts_products_prints_its_qr_codes_and_sells(server, page, phone,
                                                                                       tmp_path):
    (gtin_a, title_a), (gtin_b, title_b) = _two_shared_products(server)

    # On her phone: the sign-up form.
    phone.goto(f"{server.url}/join")
    expect(phone.get_by_role("heading", name="Open your shop on OAO")).to_be_visible()
    phone.get_by_label("Shop name").fill(SHOP)
    phone.get_by_label("Your name").fill("Lin")
    phone.get_by_label("Email").fill(EMAIL)
    phone.get_by_label("Password").fill(PASSWORD)
    expect(phone.get_by_label("Currency")).to_have_value("CNY")
    expect(phone.get_by_label("Time zone")).to_have_value("Asia/Shanghai")
    screenshot(phone, "onboarding-join-phone")
    phone.get_by_role("button", name="Create my shop").click()
    expect(phone).to_have_url(re.compile(r"/join/steps$"))
    expect(phone.get_by_role("heading", name=f"Welcome, {SHOP}")).to_be_visible()
    expect(phone.get_by_text("0 of 4 steps done")).to_be_visible()

    # At the counter's computer: the same account.
    page.goto(f"{server.url}/staff/login?next=/join/steps")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/join/steps$"))
    page.get_by_role("link", name="Open my store").click()

    # Step 1: the store, in Hubin, with a till.
    expect(page.get_by_label("Store name")).to_have_value(SHOP)  # the shop's name, to complete
    page.get_by_label("Store name").fill("Lin's Tea · Hubin")
    page.get_by_label("Area", exact=True).select_option("hubin")
    page.get_by_label("Every day 09:00–22:00").check()
    page.get_by_role("button", name="Open my store").click()
    expect(page).to_have_url(re.compile(r"/join/products\?location=loc_"))
    expect(page.get_by_text("Your store is open, with a counter register")).to_be_visible()

    # Step 2: two products of the shared catalog, found by their barcodes, at her prices.
    page.get_by_label("Find by barcode or name").fill(f"{gtin_a}\n{gtin_b}")
    page.get_by_role("button", name="Search the shared catalog").click()
    for title, price, stock in ((title_a, "12.50", "20"), (title_b, "8", "5")):
        page.get_by_label(f"Sell {title}").check()
        page.get_by_label(f"Your price for {title}").fill(price)
        page.get_by_label(f"Opening stock of {title}").fill(stock)
    screenshot(page, "onboarding-products-desktop")
    page.get_by_role("button", name="Add the ticked products").click()
    expect(page.get_by_text("2 products added to Lin's Tea · Hubin")).to_be_visible()
    expect(page.get_by_text("you sell it")).to_have_count(2)

    # Step 3: the printable sheet with both QR codes.
    page.get_by_role("link", name="Back to the checklist").first.click()
    expect(page.get_by_text("2 of 4 steps done")).to_be_visible()
    page.get_by_role("link", name="Print my QR codes").click()
    expect(page.locator("#pickup-qr svg")).to_be_visible()
    expect(page.locator("#payment-qr svg")).to_be_visible()
    screenshot(page, "onboarding-qr-desktop")
    page.emulate_media(media="print")  # on paper: the sheet alone, both codes
    expect(page.locator(".app-header")).to_be_hidden()
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    expect(page.locator("#pickup-qr svg")).to_be_visible()
    expect(page.locator("#payment-qr svg")).to_be_visible()
    page.emulate_media(media="screen")
    with server.database.read() as s:
        store = s.scalar(select(Location).where(Location.name == "Lin's Tea · Hubin"))
        store_id, merchant_id = store.id, store.merchant_id
    assert _decode(page.locator("#pickup-qr svg"), tmp_path, "pickup") == f"{server.url}/shop/at/{store_id}"
    assert _decode(page.locator("#payment-qr svg"), tmp_path, "payment").startswith("000201")  # EMVCo
    page.get_by_role("button", name="I have printed them").click()
    expect(page.get_by_text("3 of 4 steps done")).to_be_visible()

    # Step 4: the till; a cash sale typed at the keyboard.
    page.get_by_role("link", name="Open the till").click()
    expect(page).to_have_url(re.compile(r"/store/pos$"))
    scan = page.get_by_label("Scan or type a barcode")
    expect(scan).to_be_focused()
    page.keyboard.type(gtin_a)
    page.keyboard.press("Enter")
    expect(page.locator("#pos-lines tr")).to_have_count(1)
    expect(page.locator("#pos-total")).to_have_text("¥12.50")
    page.get_by_role("button", name="Cash").click()
    page.get_by_label("Cash given").fill("20")
    page.get_by_role("button", name="Take cash and finish").click()
    expect(page.get_by_role("heading", name="Sale complete")).to_be_visible()
    with server.database.read() as s:
        sales = list(s.scalars(select(PosSale).where(PosSale.merchant_id == merchant_id)))
        assert [(sale.location_id, sale.total_minor, sale.change_minor) for sale in sales] == [(store_id, 1250, 750)]
        assert s.scalar(select(PosSaleLine.gtin).where(PosSaleLine.sale_id == sales[0].id)) == gtin_a
        levels = sorted(s.scalars(select(StockLevel.on_hand).where(StockLevel.location_id == store_id)))
        assert levels == [5, 19]

    page.goto(f"{server.url}/join/steps")
    expect(page.get_by_text("4 of 4 steps done")).to_be_visible()
    screenshot(page, "onboarding-steps-desktop")
