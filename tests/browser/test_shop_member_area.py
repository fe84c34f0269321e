"""Mei's member area on her phone: log in, show her member code, check her Hangzhou
Card points and statement, switch a consent off and on again, log out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _log_in(page, server, next_path: str = "/shop/me", shot: str | None = None) -> None:
    page.goto(f"{server.url}{next_path}")
    expect(page).to_have_url(re.compile(r"/shop/login\?next="))
    if shot:
        screenshot(page, shot)
    page.get_by_label("Email or phone number").fill("mei@example.com")
    page.get_by_label("Password").fill(server.password)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page).to_have_url(re.compile(re.escape(next_path) + "$"))


def _open_group(page, merchant: str):
    """Unfold a merchant's consent switches (a <details> that is open already when something is shared)."""
    group = page.locator("details.consent-group", has=page.locator("summary", has_text=merchant))
    if group.get_attribute("open") is None:
        group.locator("summary").click()
    expect(group).to_have_attribute("open", "")
    return group


def test_mei_uses_her_member_area_on_her_phone(demo_server, phone):
    _log_in(phone, demo_server, shot="shop-login-phone")
    expect(phone.get_by_role("heading", level=1)).to_contain_text("Mei")
    code_card = phone.locator("#member-code")
    expect(code_card.get_by_role("img", name="Your member code as a QR code")).to_be_visible()
    expect(code_card.get_by_role("img", name="Your member code as a barcode")).to_be_visible()
    expect(code_card.locator("[data-countdown]")).to_have_text(re.compile(r"changes in 0:\d\d"))
    card = phone.get_by_role("link", name=re.compile("Hangzhou Card"))
    expect(card).to_contain_text("5,000")
    screenshot(phone, "shop-me-phone")

    # The code card refreshes in place (htmx), not by reloading the page.
    shown = code_card.locator("code").get_attribute("data-member-code")
    phone.evaluate("window.stillThisPage = true")
    phone.evaluate("htmx.ajax('GET', '/shop/me/code', {target: '#member-code', swap: 'outerHTML'})")
    expect(phone.locator("#member-code code")).not_to_have_attribute("data-member-code", shown)
    assert phone.evaluate("window.stillThisPage") is True

    card.click()
    expect(phone.get_by_role("heading", name="Hangzhou Card")).to_be_visible()
    expect(phone.locator(".points-hero")).to_contain_text("5,000")
    statement = phone.locator(".statement")
    expect(statement.locator(".statement-line")).to_have_count(1)
    expect(statement).to_contain_text("Welcome to the Hangzhou Card")
    expect(statement).to_contain_text("+5,000")
    screenshot(phone, "shop-points-phone")

    phone.get_by_role("link", name="My card").click()
    phone.get_by_role("link", name=re.compile("What you share with shops")).click()
    expect(phone.get_by_role("heading", name="What you share")).to_be_visible()
    group = _open_group(phone, "Sweet Lane Bakery")
    switch = group.get_by_role("switch", name="Share your name with Sweet Lane Bakery")
    if switch.get_attribute("aria-checked") == "false":  # the demo shares nothing yet: switch it on first
        switch.click()
        expect(switch).to_have_attribute("aria-checked", "true")
        expect(group.get_by_role("status")).to_contain_text("Sweet Lane Bakery can now see your name")
    switch.click()  # off
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(group.get_by_role("status")).to_contain_text("Sweet Lane Bakery no longer sees your name")
    phone.reload()  # what the page shows is what was stored
    group = _open_group(phone, "Sweet Lane Bakery")
    switch = group.get_by_role("switch", name="Share your name with Sweet Lane Bakery")
    expect(switch).to_have_attribute("aria-checked", "false")
    switch.click()  # and on again
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(group.locator(".consent-count")).to_contain_text("shares")
    expect(group.locator(".consent-count")).not_to_have_text("shares nothing")
    phone.evaluate("window.scrollTo(0, 0)")
    screenshot(phone, "shop-consents-phone")

    phone.get_by_role("link", name="My card").click()
    phone.get_by_role("button", name="Log out").click()
    expect(phone).to_have_url(re.compile(r"/shop$"))
    phone.goto(f"{demo_server.url}/shop/me")
    expect(phone).to_have_url(re.compile(r"/shop/login\?next="))


def test_the_member_card_at_counter_width(demo_server, page):
    _log_in(page, demo_server)
    expect(page.get_by_role("img", name="Your member code as a QR code")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Hangzhou Card"))).to_contain_text("5,000")
    screenshot(page, "shop-me-desktop")
    page.goto(f"{demo_server.url}/shop/me/consents")
    _open_group(page, "Sweet Lane Bakery")
    expect(page.get_by_role("switch", name="Share your name with Sweet Lane Bakery")).to_be_visible()
    screenshot(page, "shop-consents-desktop")
    page.get_by_role("link", name="My card").click()
    page.get_by_role("link", name=re.compile("Hangzhou Card")).click()
    expect(page.get_by_role("heading", name="Statement")).to_be_visible()
    screenshot(page, "shop-points-desktop")
