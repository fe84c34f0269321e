"""S2 — buy here, collect there, across the storefront and two store consoles.

A father orders the birthday cake in the storefront for pickup at Sweet Lane's
home branch (Caihe); the cake is only on the office branch's shelf. The office
staff pick it and send it over; the home staff receive the transfer, see the
order ready in their pick queue, refuse a wrong code and hand the cake over
with the code on the father's phone.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, _watch_errors, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOME_BRANCH = "Sweet Lane Bakery · Caihe"
OFFICE_BRANCH = "Sweet Lane Bakery · Qianjiang New Town"
CAKE = "Sweet Lane Strawberry Cream Birthday Cake 6-inch"


def _order_the_cake_in_the_storefront(phone, url: str) -> str:
    """The father's phone: area Caihe, the cake, pickup at the home branch, pay at pickup; returns the order page."""
    phone.goto(f"{url}/shop/location")
    phone.get_by_label("Pick an area").select_option(label="Caihe · Shangcheng District")
    phone.get_by_role("button", name="Use this area").click()
    phone.goto(f"{url}/shop/search?q=Strawberry+Cream+Birthday+Cake")
    phone.get_by_role("link", name=re.compile(re.escape(CAKE))).first.click()
    phone.get_by_role("button", name="Add to cart").click()
    expect(phone.locator("#add-feedback")).not_to_be_empty()
    phone.goto(f"{url}/shop/checkout")
    phone.get_by_role("radio", name=re.compile(f"Ready at {re.escape(HOME_BRANCH)}")).check()
    phone.get_by_label("Name").fill("Wang Lei")
    phone.get_by_label("Phone").fill("13800001234")
    phone.get_by_role("radio", name=re.compile("Pay at pickup")).check()
    phone.get_by_role("button", name="Place order").click()
    expect(phone).to_have_url(re.compile(r"/shop/orders/ord_"))
    return phone.url


def test_a_cake_ordered_online_travels_from_the_office_branch_and_is_handed_over_at_home(
        demo_server, browser, page, page_errors, phone):
    order_page = _order_the_cake_in_the_storefront(phone, demo_server.url)

    # The office branch: the order is in the pick queue with a countdown; pick it, then send it over.
    office = page
    demo_server.log_in_staff(office, "staff.office@sweetlane.example", "/store/picks")
    card = office.get_by_role("listitem", name=re.compile("for Wang Lei"))
    expect(card).to_contain_text(CAKE)
    expect(card).to_contain_text(re.compile(r"Due in \d+"))
    card.get_by_role("button", name="Start picking").click()
    expect(card).to_contain_text("Picking started.")
    screenshot(office, "store-picks-desktop")
    office.set_viewport_size({"width": 768, "height": 1024})
    screenshot(office, "store-picks-tablet")
    office.set_viewport_size(DESKTOP)

    office.get_by_role("navigation", name="Store console").get_by_role("link", name="Transfers").click()
    outgoing = office.get_by_role("listitem", name=re.compile(f"to {re.escape(HOME_BRANCH)}"))
    expect(outgoing).to_contain_text("Order")
    expect(outgoing).to_contain_text("Wang Lei")
    outgoing.get_by_role("button", name="Send").click()
    expect(office.get_by_role("status")).to_contain_text(f"to {HOME_BRANCH}")
    expect(office.get_by_role("region", name=re.compile("To send"))).to_contain_text("On its way")

    # The home branch, in a second browser: the transfer is expected; receive it.
    home_context = browser.new_context(viewport=DESKTOP, locale="en-US")
    _watch_errors(home_context, page_errors)
    try:
        home = home_context.new_page()
        demo_server.log_in_staff(home, "staff.home@sweetlane.example", "/store/picks")
        expect(home.get_by_role("listitem", name=re.compile("for Wang Lei"))).to_contain_text("Waiting for transfer")
        home.goto(f"{demo_server.url}/store/transfers")
        incoming = home.get_by_role("listitem", name=re.compile(f"from {re.escape(OFFICE_BRANCH)}"))
        expect(incoming).to_contain_text(CAKE)
        expect(incoming).to_contain_text("On its way")
        screenshot(home, "store-transfers-desktop")
        incoming.get_by_role("button", name="Receive").click()
        expect(home.get_by_role("status")).to_contain_text("The order is ready for pickup")

        home.goto(f"{demo_server.url}/store/picks")
        ready = home.get_by_role("listitem", name=re.compile("for Wang Lei"))
        expect(ready).to_contain_text("Ready for pickup")

        # The father's phone now shows his pickup code.
        phone.goto(order_page)
        code = phone.locator(".pickup-code").inner_text().strip()
        assert re.fullmatch(r"[A-Z2-9]{8}", code), code

        # The counter: a wrong code first, then the right one, then hand over.
        ready.get_by_role("link", name="Hand over").click()
        field = home.get_by_label("Pickup code")
        expect(field).to_be_focused()
        field.fill("WRONG234")
        field.press("Enter")
        expect(home.get_by_role("alert")).to_contain_text("does not match any parcel")
        field = home.get_by_label("Pickup code")
        field.fill(code.lower())
        field.press("Enter")
        order_card = home.get_by_role("region", name=re.compile("Wang Lei"))
        expect(order_card).to_contain_text(CAKE)
        expect(order_card).to_contain_text("To pay at pickup")
        screenshot(home, "store-pickup-desktop")
        order_card.get_by_role("button", name=re.compile("Hand over")).click()
        expect(home.get_by_role("status")).to_contain_text("Handed over 1 item")
        expect(home.get_by_label("Pickup code")).to_be_focused()
        expect(home.get_by_label("Pickup code")).to_have_value("")

        # The same code again: already handed over.
        home.get_by_label("Pickup code").fill(code)
        home.get_by_label("Pickup code").press("Enter")
        expect(home.get_by_role("alert")).to_contain_text("already used")

        # Returns at the home branch find the order by its pickup code.
        home.goto(f"{demo_server.url}/store/returns")
        home.get_by_label("Online order").fill(code)
        home.get_by_label("Online order").press("Enter")
        expect(home.get_by_role("region", name=re.compile("Wang Lei"))).to_contain_text(CAKE)
        expect(home.get_by_label(f"Return quantity of {CAKE}")).to_be_visible()
        screenshot(home, "store-returns-desktop")
    finally:
        home_context.close()
