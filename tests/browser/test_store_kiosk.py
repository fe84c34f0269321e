"""S3 in a real browser: the Jade Petal kiosk recognises Mei by her member code, suggests what
sells here, takes her basket through self-checkout with the wallet (approved on a second page,
her phone), records exactly one kiosk sale and earns her the points the screen promised."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from oao.loyalty import service as loyalty
from oao.members import service as members
from oao.pos.models import PosSale, Register
from oao.pos.service import SALES_CHANNEL
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STAFF = "staff.hubin@jadepetal.example"


def _mei(demo_server) -> str:
    with demo_server.database.read() as session:
        member_id = members.find_member_id(session, login="mei@example.com")
    assert member_id is not None
    return member_id


def _member_code(demo_server, member_id: str) -> str:
    with demo_server.database.unit_of_work() as session:
        return members.issue_member_code(session, member_id=member_id, now=demo_server.clock.now(),
                                         settings=demo_server.app.state.settings).code


def _card_points(demo_server, member_id: str) -> int:
    with demo_server.database.read() as session:
        [card] = [b for b in loyalty.balances(session, member_id=member_id) if b.merchant_id is None]
        return card.available


def _open_kiosk(demo_server, page) -> None:
    demo_server.log_in_staff(page, STAFF, next_path="/store/kiosk")
    expect(page.get_by_role("heading", name="Run this screen as a kiosk")).to_be_visible()
    page.get_by_label(re.compile("Skin scan kiosk")).check()
    page.get_by_role("button", name="Start kiosk mode").click()
    expect(page.get_by_role("heading", name="Scan your member code")).to_be_visible()


def test_mei_checks_out_at_the_kiosk_with_her_wallet_and_earns_the_points_it_promised(demo_server, page,
                                                                                          browser_context):
    mei = _mei(demo_server)
    points_before = _card_points(demo_server, mei)
    _open_kiosk(demo_server, page)
    expect(page.get_by_label("Member code")).to_be_focused()
    screenshot(page, "store-kiosk-attract-desktop")

    page.get_by_label("Member code").fill(_member_code(demo_server, mei))
    page.get_by_label("Member code").press("Enter")
    # Mei shares no name with Jade Petal in the demo, so the kiosk greets without one.
    expect(page.get_by_role("heading", name="Welcome back")).to_be_visible()
    expect(page.get_by_text(f"{points_before:,} points on your Hangzhou Card")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"(Popular at|In stock at) Jade Petal · Hubin"))).to_be_visible()

    tiles = page.get_by_role("button", name=re.compile(r"^Add .+ to basket$"))
    first, second = tiles.nth(0), tiles.nth(1)
    first_name = first.get_attribute("aria-label")[4:-10]
    second_name = second.get_attribute("aria-label")[4:-10]
    first.click()
    basket = page.locator("#basket")
    expect(basket.get_by_text(first_name)).to_be_visible()
    second.click()
    expect(basket.get_by_text(second_name)).to_be_visible()
    basket.get_by_role("button", name=f"One more {second_name}").click()
    expect(basket.get_by_role("heading", name="Your basket")).to_contain_text("3 items")

    total_text = basket.locator("[data-basket-total]").inner_text()
    total_minor = int(round(float(total_text.lstrip("¥").replace(",", "")) * 100))
    with demo_server.database.read() as session:
        register = session.scalar(select(Register).where(Register.name == "Skin scan kiosk"))
        register_id, channel = register.id, SALES_CHANNEL[register.kind]
    # The demo's Hangzhou Card: 1 point per yuan, times the rule's multiplier for this register's channel.
    expected = _expected_points(demo_server, total_minor, channel)
    earn = basket.locator("[data-earn-points]")
    expect(earn).to_have_attribute("data-earn-points", str(expected))
    expect(earn).to_contain_text(f"You earn {expected:,} points")
    if expected == 2 * (total_minor // 100):
        expect(earn).to_contain_text("double at self-checkout")
    screenshot(page, "store-kiosk-basket-desktop")

    page.get_by_role("button", name="Pay with wallet").click()
    expect(page.get_by_role("heading", name=f"Scan to pay {total_text}")).to_be_visible()
    expect(page.get_by_role("figure", name="QR code to scan with your wallet app")).to_be_visible()
    pay_link = page.locator("[data-pay-link]").get_attribute("href")

    phone = browser_context.new_page()  # her phone: the payment page, then the sandbox wallet
    phone.goto(demo_server.url + pay_link)
    phone.get_by_role("link", name="Open in the sandbox wallet").click()
    phone.get_by_role("button", name="Approve payment").click()
    expect(phone.get_by_text("Paid. You can close this page.")).to_be_visible()

    expect(page.get_by_role("heading", name="Thank you!")).to_be_visible(timeout=20_000)
    expect(page.get_by_text(f"You paid {total_text} for 3 items.")).to_be_visible()
    earned = page.locator("[data-points-earned]")
    expect(earned).to_have_attribute("data-points-earned", str(expected))

    with demo_server.database.read() as session:
        sales = [(sale.total_minor, sale.member_ref, [t["kind"] for t in sale.tenders]) for sale in
                 session.scalars(select(PosSale).where(PosSale.register_id == register_id))]
    assert len(sales) == 1, "one checkout records one sale"
    [(sale_total, member_ref, tenders)] = sales
    assert sale_total == total_minor and member_ref is not None and tenders == ["wallet"]

    deadline = time.monotonic() + 15
    while _card_points(demo_server, mei) != points_before + expected and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _card_points(demo_server, mei) == points_before + expected, "the worker credits what the kiosk showed"

    page.get_by_role("button", name="Done").click()
    expect(page.get_by_role("heading", name="Scan your member code")).to_be_visible()


def _expected_points(demo_server, total_minor: int, channel: str) -> int:
    from oao.loyalty.programmes import rules_for_merchant
    from oao.network.models import Merchant

    with demo_server.database.read() as session:
        merchant = session.scalar(select(Merchant).where(Merchant.name.like("Jade Petal%")))
        [(rule, _)] = rules_for_merchant(session, merchant_id=merchant.id)
        multiplier = rule.channel_multipliers.get(channel, 100)
        return total_minor * rule.points * multiplier // (rule.per_minor * 100)


def test_the_demo_kiosk_earns_double_points_at_self_checkout(demo_server):
    """S3: 'double points for self-checkout' at the kiosk's self-checkout."""
    assert _expected_points(demo_server, 10_000, SALES_CHANNEL["kiosk"]) == 200


def test_a_guest_orders_the_lip_gloss_this_shop_does_not_carry_for_home_delivery(demo_server, page,
                                                                                 browser_context):
    _open_kiosk(demo_server, page)
    page.get_by_role("button", name="Continue as guest").click()
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    page.get_by_role("link", name=re.compile("Order from our partner")).click()
    expect(page.get_by_role("heading", name="Not on our shelves? Delivered to your home")).to_be_visible()
    gloss = page.get_by_role("link", name=re.compile(r"Petal Kiss Lip Gloss .* from Qiantang Online")).first
    expect(gloss).to_be_visible()
    screenshot(page, "store-kiosk-partner-desktop")
    gloss.click()

    page.get_by_label("Your area").select_option(label="Wulin Square, Gongshu District")
    page.get_by_label("Street address").fill("Building 3, 88 Yan'an Road")
    page.get_by_role("button", name="See delivery options").click()
    first_option = page.get_by_role("radio").first
    expect(first_option).to_be_checked()
    option_text = page.locator(".kiosk-options label.choice").first.inner_text()
    assert re.search(r"Delivered to you (today|tomorrow|on \w+ \d+ \w+) by \d\d:\d\d · (¥\d+\.\d\d|free delivery)",
                     option_text), option_text
    page.get_by_role("button", name="Order and pay with wallet").click()

    expect(page.get_by_role("heading", name=re.compile(r"Scan to pay ¥\d+\.\d\d"))).to_be_visible()
    pay_link = page.locator("[data-pay-link]").get_attribute("href")
    phone = browser_context.new_page()
    phone.goto(demo_server.url + pay_link)
    phone.get_by_role("link", name="Open in the sandbox wallet").click()
    phone.get_by_role("button", name="Approve payment").click()
    expect(page.get_by_role("heading", name="Ordered. Thank you!")).to_be_visible(timeout=20_000)
    expect(page.get_by_text("from Qiantang Online: Delivered to you")).to_be_visible()


def test_the_kiosk_fits_a_phone_screen(demo_server, phone):
    demo_server.log_in_staff(phone, STAFF, next_path="/store/kiosk")
    phone.get_by_label(re.compile("Skin scan kiosk")).check()
    phone.get_by_role("button", name="Start kiosk mode").click()
    phone.get_by_role("button", name="Continue as guest").click()
    phone.get_by_role("button", name=re.compile(r"^Add .+ to basket$")).first.click()
    expect(phone.locator("#basket").get_by_role("button", name="Pay with wallet")).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the kiosk scrolls sideways on a phone ({width} px)"
    screenshot(phone, "store-kiosk-phone")
