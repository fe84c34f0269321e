"""S9 in a real browser: Mei adds her washing machine on her devices page, copies its credential (shown
once), sets and then edits what it may reorder; the machine reports low detergent and her page shows the
reorder it placed."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from oao.inventory.models import StockLevel
from oao.network.models import Location, Merchant
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _stocked_product(server) -> tuple[str, str]:
    """A product Blue Harbour Fresh has plenty of at its Kaixuan store, and that store's id."""
    with server.database.read() as s:
        store = s.scalar(select(Location).join(Merchant, Merchant.id == Location.merchant_id)
                         .where(Merchant.name == "Blue Harbour Fresh", Location.accepts_pickups.is_(True)))
        product_id = s.scalar(select(StockLevel.product_id).where(StockLevel.location_id == store.id,
                                                                  StockLevel.on_hand - StockLevel.reserved >= 5)
                              .order_by(StockLevel.product_id))
        return product_id, store.id


def test_mei_adds_her_washing_machine_and_edits_its_reorder_rule(demo_server, page):
    product_id, store_id = _stocked_product(demo_server)
    page.goto(f"{demo_server.url}/shop/me")
    page.get_by_label("Email or phone number").fill("mei@example.com")
    page.get_by_label("Password").fill(demo_server.password)
    page.get_by_role("button", name="Log in", exact=True).click()
    page.get_by_role("link", name=re.compile("Your devices")).click()
    expect(page.get_by_role("heading", name="Your devices", level=1)).to_be_visible()

    page.get_by_label("Name").fill("Washing machine")
    page.get_by_label("What it is").select_option("washing_machine")
    page.get_by_label("Shop it orders from").select_option(label="Blue Harbour Fresh")
    page.get_by_role("button", name="Add device").click()
    shown = page.locator("[data-credential]")
    expect(shown).to_have_text(re.compile(r"^oao_dv_"))
    credential = shown.inner_text()
    screenshot(page, "shop-device-credential-desktop")

    page.get_by_role("link", name=re.compile("Set what it may reorder")).click()
    expect(page.get_by_role("heading", name="Washing machine", level=1)).to_be_visible()
    new = page.locator("#new-rule")
    new.get_by_label(re.compile("^Product from")).select_option(product_id)
    new.get_by_label("Quantity per reorder").fill("1")
    new.get_by_label(re.compile(r"^Reorder at or below")).fill("15")
    new.get_by_label(re.compile(r"^Monthly spending cap")).fill("300")
    new.get_by_label("How you receive it").select_option("pickup")
    new.get_by_label("Pickup store").select_option(store_id)
    new.get_by_role("button", name="Add rule").click()
    expect(page.get_by_role("status")).to_have_text("Reorder rule added.")

    rule = page.locator("section.device-rule")
    expect(rule).to_have_count(1)
    expect(rule).to_contain_text("when 15 percent or less are left")
    rule.get_by_label(re.compile(r"^Reorder at or below")).fill("25")
    rule.get_by_label(re.compile(r"^Monthly spending cap")).fill("")
    rule.get_by_role("button", name="Save rule").click()
    expect(page.get_by_role("status")).to_have_text("Reorder rule saved.")
    rule = page.locator("section.device-rule")
    expect(rule).to_contain_text("when 25 percent or less are left")
    expect(rule).to_contain_text("no cap")
    expect(rule.get_by_label(re.compile(r"^Reorder at or below"))).to_have_value("25")

    # A mistake is explained beside the rule, and nothing is saved.
    rule.get_by_label(re.compile(r"^Full level")).fill("20")
    rule.get_by_role("button", name="Save rule").click()
    expect(page.get_by_role("alert")).to_contain_text("must be below the full level")

    # The machine reports low detergent with its own credential: one reorder, shown on her page.
    answer = httpx.post(f"{demo_server.url}/api/v1/devices/readings", headers={"Authorization": f"Bearer {credential}"},
                        json={"event_id": "wm-0001", "level": 12, "at": demo_server.clock.now().isoformat()})
    assert answer.status_code == 201 and answer.json()["outcome"] == "ordered", answer.text
    page.goto(f"{demo_server.url}/shop/me/devices")
    activity = page.locator(".device-activity .statement-line")
    expect(activity).to_have_count(1)
    expect(activity.first).to_contain_text("Reordered")
    expect(activity.first.get_by_role("link", name="See order")).to_be_visible()
    screenshot(page, "shop-devices-desktop")
