"""The counter till (/store/pos) in Chromium on the demo network: a keyboard-only sale with a member
paying part in points and the rest by wallet, and a till that loses its connection and catches up."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from oao.catalog.models import Product
from oao.inventory.models import StockLevel
from oao.members import service as members
from oao.network.models import Location
from oao.pos.models import PosSale
from oao.pos.till import price_list
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STAFF = "staff.kaixuan@blueharbour.example"
STORE = "Blue Harbour Fresh · Kaixuan"


@dataclass(frozen=True)
class Item:
    gtin: str
    title: str
    price_minor: int


def _store(demo_server) -> Location:
    with demo_server.database.read() as s:
        location = s.scalar(select(Location).where(Location.name == STORE))
        s.expunge(location)
        return location


def _items_in_stock(demo_server, count: int) -> list[Item]:
    """Products of this store's price list with plenty on the shelf, cheapest first."""
    store = _store(demo_server)
    with demo_server.database.read() as s:
        stocked = set(s.scalars(select(Product.gtin14).join(StockLevel, StockLevel.product_id == Product.id)
                                .where(StockLevel.location_id == store.id, StockLevel.on_hand >= 10)))
        listed = [p for p in price_list(s, merchant_id=store.merchant_id) if p.gtin14 in stocked]
    items = sorted((Item(p.gtin, p.title, p.store_price_minor) for p in listed), key=lambda i: (i.price_minor, i.gtin))
    return items[:count]


def _sale_count(demo_server) -> int:
    with demo_server.database.read() as s:
        return s.scalar(select(func.count()).select_from(PosSale))


def _mei_code(demo_server, *, share_name_with: str | None = None) -> str:
    settings = demo_server.app.state.settings
    with demo_server.database.unit_of_work() as s:
        member_id = members.find_member_id(s, login="mei@example.com")
        if share_name_with:
            members.grant_consents(s, member_id=member_id, merchant_id=share_name_with,
                                   data_classes=["profile.name"], now=demo_server.clock.now())
        return members.issue_member_code(s, member_id=member_id, now=demo_server.clock.now(),
                                         settings=settings).code


def _yuan(minor: int) -> str:
    return f"¥{minor // 100:,}.{minor % 100:02d}"


def _scan(page, code: str) -> None:
    """What a keyboard-wedge scanner does: type the code into whatever has focus, then Enter."""
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def test_a_member_pays_a_scanned_sale_with_points_and_the_wallet_and_gets_a_receipt(demo_server, page,
                                                                                    browser_context):
    first, second = _items_in_stock(demo_server, 2)
    store = _store(demo_server)
    before = _sale_count(demo_server)
    demo_server.log_in_staff(page, STAFF, "/store/pos")
    expect(page).to_have_url(re.compile(r"/store/pos$"))
    scan = page.get_by_label("Scan or type a barcode")
    expect(scan).to_be_focused()

    # Keyboard only: the scan field has the focus, the scanner types and presses Enter.
    _scan(page, first.gtin)
    _scan(page, second.gtin)
    _scan(page, second.gtin)
    lines = page.locator("#pos-lines tr")
    expect(lines).to_have_count(2)
    expect(lines.nth(0)).to_contain_text(first.title)
    expect(page.get_by_label(f"Quantity of {second.title}")).to_have_value("2")
    total = first.price_minor + 2 * second.price_minor
    expect(page.locator("#pos-total")).to_have_text(_yuan(total))

    _scan(page, "4006381333931")  # a valid EAN-13 that this store does not sell
    expect(page.get_by_role("status").filter(has_text="Unknown barcode 4006381333931")).to_be_visible()
    expect(lines).to_have_count(2)

    page.get_by_label(f"Quantity of {second.title}").fill("1")
    page.keyboard.press("Enter")
    expect(scan).to_be_focused()
    total = first.price_minor + second.price_minor
    expect(page.locator("#pos-total")).to_have_text(_yuan(total))

    _scan(page, _mei_code(demo_server, share_name_with=store.merchant_id))
    expect(page.locator("#pos-member-name")).to_have_text("Mei")
    expect(page.locator("#pos-member-balances")).to_contain_text("5,000 points")

    # Split: points pay ¥1.00, the wallet takes the rest.
    points_part = 100
    page.get_by_role("button", name="Points").click()
    page.get_by_label("Amount to pay with points").fill("1.00")
    page.get_by_role("button", name="Use points").click()
    expect(page.locator("#pos-tenders")).to_contain_text("100 points")
    expect(page.locator("#pos-sum-due")).to_have_text(_yuan(total - points_part))

    page.get_by_role("button", name="Wallet QR").click()
    expect(page.get_by_label("Amount by wallet").first).to_have_value(f"{(total - points_part) / 100:.2f}")
    page.get_by_role("button", name="Show QR to the shopper").click()
    expect(page.get_by_label("Wallet QR for the shopper to scan").locator("svg")).to_be_visible()
    pay_url = page.get_by_role("link", name="Open payment page").get_attribute("href")
    screenshot(page, "store-pos-desktop")

    # The shopper's phone: the payment page, then the sandbox wallet approves.
    phone = browser_context.new_page()
    phone.goto(demo_server.url + pay_url)
    phone.get_by_role("link", name="Open in the sandbox wallet").click()
    phone.get_by_role("button", name="Approve payment").click()
    expect(phone.get_by_text("Paid.")).to_be_visible()
    phone.close()

    expect(page.get_by_role("heading", name="Sale complete")).to_be_visible()
    assert _sale_count(demo_server) == before + 1
    page.get_by_role("link", name="Print receipt").click()

    expect(page).to_have_url(re.compile(r"/store/pos/receipts/pos_"))
    receipt = page.locator("article.receipt")
    expect(receipt).to_contain_text(STORE)
    expect(receipt).to_contain_text(first.title)
    expect(receipt).to_contain_text(re.compile(r"Receipt\s+R-"))
    tenders = receipt.locator(".receipt-tenders").first
    expect(tenders).to_contain_text("Points (100 points)")
    expect(tenders).to_contain_text(_yuan(points_part))
    expect(tenders).to_contain_text("Wallet")
    expect(tenders).to_contain_text(_yuan(total - points_part))
    expect(receipt.locator("[data-points=spent]")).to_have_text("100")
    # 1 point per yuan, credited by the loyalty worker a moment after the sale.
    expect(receipt.locator("[data-points=earned]")).to_have_text(f"{total // 100:,}")
    screenshot(page, "store-receipt-desktop")


def test_an_offline_till_queues_cash_sales_and_sends_each_exactly_once_when_back_online(demo_server, page,
                                                                                         browser_context):
    [item] = _items_in_stock(demo_server, 1)
    before = _sale_count(demo_server)
    with demo_server.database.read() as s:
        earlier = set(s.scalars(select(PosSale.id)))
    demo_server.log_in_staff(page, STAFF, "/store/pos")
    expect(page.locator("#pos-connection")).to_have_text("Online")

    browser_context.set_offline(True)
    expect(page.locator("#pos-connection")).to_have_text("Offline — 0 sales queued")
    for _ in range(2):
        _scan(page, item.gtin)
        expect(page.locator("#pos-lines tr")).to_have_count(1)
        expect(page.get_by_role("button", name="Wallet QR")).to_be_disabled()
        expect(page.get_by_role("button", name="Points")).to_be_disabled()
        page.get_by_role("button", name="Cash").click()
        page.get_by_label("Cash given").fill("20")
        page.get_by_role("button", name="Take cash and finish").click()
        expect(page.get_by_role("heading", name="Sale queued")).to_be_visible()
        expect(page.locator("#pos-lines tr")).to_have_count(0)
    expect(page.locator("#pos-connection")).to_have_text("Offline — 2 sales queued")
    expect(page.get_by_text("wallet and points payments need the connection")).to_be_visible()
    assert _sale_count(demo_server) == before

    browser_context.set_offline(False)
    expect(page.locator("#pos-connection")).to_have_text("Online")
    assert _sale_count(demo_server) == before + 2

    # Coming back again (a reload, another online event) sends nothing twice.
    page.reload()
    expect(page.locator("#pos-connection")).to_have_text("Online")
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("#pos-connection")).to_have_text("Online")
    with demo_server.database.read() as s:
        sales = [sale for sale in s.scalars(select(PosSale)) if sale.id not in earlier]
        assert len(sales) == 2
        assert len({sale.client_sale_id for sale in sales}) == 2
        assert all(sale.total_minor == item.price_minor and sale.change_minor == 2000 - item.price_minor
                   for sale in sales)


def test_the_till_fits_a_tablet_and_keeps_the_scan_field_first(demo_server, page):
    [item] = _items_in_stock(demo_server, 1)
    page.set_viewport_size({"width": 768, "height": 1024})
    demo_server.log_in_staff(page, STAFF, "/store/pos")
    _scan(page, item.gtin)
    expect(page.locator("#pos-lines tr")).to_have_count(1)
    page.get_by_role("button", name="Cash").click()
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 768, f"the till scrolls sideways on a tablet ({scroll_width} px)"
    screenshot(page, "store-pos-tablet")
    page.set_viewport_size({"width": 390, "height": 844})
    # The till itself fits a phone (the console's header is the shell's business).
    widest = "Math.max(...[...document.querySelectorAll('#pos *')].map(e => e.getBoundingClientRect().right))"
    assert page.evaluate(widest) <= 390
    screenshot(page, "store-pos-phone")
    page.get_by_role("button", name="Cancel sale").click()
    expect(page.locator("#pos-lines tr")).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="Sale cancelled")).to_be_visible()
