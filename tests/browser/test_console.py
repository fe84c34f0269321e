"""The merchant dashboard in Chromium on the demo network: a Sweet Lane Bakery admin sees
today's sales charted, changes a price, imports a price list with one bad row, edits a
store's opening hours and adds a member of staff."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN = "admin@sweetlane.example"


def api(demo_server) -> httpx.Client:
    key = next(k.token for k in demo_server.credentials.api_keys if k.merchant == "Sweet Lane Bakery")
    return httpx.Client(base_url=f"{demo_server.url}/api/v1", headers={"Authorization": f"Bearer {key}"},
                        timeout=20)


@pytest.fixture(scope="module")
def sales(demo_server) -> dict[str, str]:
    """A till sale at the office branch and an online pickup order at the home branch, through the API."""
    with api(demo_server) as client:
        stores = {loc["name"]: loc["id"] for loc in client.get("/locations").json()}
        office = stores["Sweet Lane Bakery · Qianjiang New Town"]
        home = stores["Sweet Lane Bakery · Caihe"]
        [counter] = client.get("/pos/registers", params={"location_id": office}).json()
        stock = client.get("/stock", params={"location_id": office}).json()
        products = [s["product_id"] for s in stock if s["on_hand"] - s["reserved"] >= 5][:2]
        gtins = [client.get(f"/products/{p}").json()["gtin"] for p in products]
        sale = client.post("/pos/sales", json={
            "sale_id": "console-test-sale-1", "register_id": counter["id"],
            "lines": [{"gtin": gtins[0], "quantity": 2}], "tenders": [{"kind": "cash", "amount_minor": 1_000_00}]})
        assert sale.status_code == 201, sale.text
        quote = client.post("/quotes", json={"lines": [{"gtin": gtins[1], "quantity": 1}],
                                             "pickup_location_id": home})
        assert quote.status_code == 201, quote.text
        option = next(o for o in quote.json()["options"] if o["kind"] == "pickup")
        order = client.post("/orders", json={"quote_id": quote.json()["id"], "option_id": option["id"],
                                             "payment_method": "pay_at_pickup", "customer": {"name": "Mei"}})
        assert order.status_code == 201 and order.json()["status"] == "confirmed", order.text
        return {"office": office, "home": home}


def test_the_overview_charts_todays_sales_on_desktop_and_phone(demo_server, sales, page, phone):
    demo_server.log_in_staff(page, ADMIN)
    expect(page).to_have_url(re.compile(r"/console$"))
    expect(page.get_by_role("heading", name="Sweet Lane Bakery", level=1)).to_be_visible()
    chart = page.get_by_role("img", name="Sales by channel, last 7 days")
    expect(chart).to_be_visible()
    expect(chart.locator("rect")).to_have_count(2)  # today: one till segment, one online segment
    expect(page.get_by_role("list", name="Channels")).to_contain_text("POS till")
    expect(page.locator(".kpi").filter(has_text="Online orders")).to_contain_text("Pickup 1")
    expect(page.get_by_role("heading", name="Stock alerts")).to_be_visible()
    screenshot(page, "console-overview-desktop")
    page.get_by_role("link", name="30 days").click()
    expect(page.get_by_role("img", name="Sales by channel, last 30 days")).to_be_visible()

    demo_server.log_in_staff(phone, ADMIN)
    expect(phone.get_by_role("img", name="Sales by channel, last 7 days")).to_be_visible()
    screenshot(phone, "console-overview-phone")


def test_a_price_is_changed_in_the_catalog(demo_server, page):
    demo_server.log_in_staff(page, ADMIN, "/console/catalog")
    page.get_by_label("Search products").fill("croissant")
    page.get_by_role("button", name="Search").click()
    row = page.get_by_role("row").filter(has_text="Sweet Lane Almond Croissant")
    price = row.get_by_label("New price for Sweet Lane Almond Croissant")
    price.fill("14.20")
    row.get_by_role("button", name="Save").click()
    row = page.get_by_role("row").filter(has_text="Sweet Lane Almond Croissant")
    expect(row.get_by_role("status")).to_have_text("Saved")
    expect(row).to_contain_text("¥14.20")
    screenshot(page, "console-catalog-desktop")


def test_a_price_list_with_one_bad_row_imports_the_rest_and_names_the_bad_row(demo_server, page):
    demo_server.log_in_staff(page, ADMIN, "/console/imports")
    with api(demo_server) as client:
        offers = client.get("/offers", params={"limit": 2}).json()["items"]
        gtins = [client.get(f"/products/{o['product_id']}").json()["gtin"] for o in offers]
    csv_text = f"gtin,price_minor,currency\n{gtins[0]},1990,CNY\n{gtins[1]},-5,CNY\n"
    page.get_by_label("Offers (prices)").check()
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "prices.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}])
    page.get_by_role("button", name="Upload and import").click()
    expect(page.get_by_role("status")).to_contain_text("Import finished: 1 row imported")
    expect(page.get_by_role("progressbar", name="Rows done")).to_have_attribute("value", "2")
    error_row = page.locator("table.import-errors tbody tr")
    expect(error_row).to_have_count(1)
    expect(error_row).to_contain_text("3")
    expect(error_row).to_contain_text("price_minor")
    expect(error_row).to_contain_text("must be more than 0")
    screenshot(page, "console-import-desktop")


def test_opening_hours_are_edited_in_the_stores_time_zone(demo_server, sales, page):
    demo_server.log_in_staff(page, ADMIN, "/console/locations")
    page.get_by_role("link", name="Edit Sweet Lane Bakery · Caihe").click()
    expect(page.get_by_text("In the store's time zone, Asia/Shanghai")).to_be_visible()
    page.get_by_label("Sunday period 1 closes").fill("25:00")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("alert").first).to_contain_text("was not saved")
    expect(page.locator("#sun-error")).to_contain_text("not a valid closing time")
    page.get_by_label("Sunday period 1 opens").fill("09:00")
    page.get_by_label("Sunday period 1 closes").fill("18:00")
    page.get_by_label("Delivery radius (km)").fill("4.5")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    card = page.get_by_role("article").filter(has_text="Sweet Lane Bakery · Caihe")
    expect(card).to_contain_text("09:00–18:00")
    expect(card).to_contain_text("Delivers within 4.5 km")
    screenshot(page, "console-locations-desktop")


def test_a_new_store_staff_member_is_added(demo_server, sales, page):
    demo_server.log_in_staff(page, ADMIN, "/console/staff")
    page.get_by_label("Name").fill("Xu Ling")
    page.get_by_label("Email").fill("xu.ling@sweetlane.example")
    page.get_by_label("Role").select_option(label="Store staff")
    page.get_by_label("Home store").select_option(label="Sweet Lane Bakery · Caihe")
    page.get_by_label("Initial password").fill("bakery-2026-xu")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("status")).to_contain_text("Account created for xu.ling@sweetlane.example")
    expect(page.get_by_role("row").filter(has_text="Xu Ling")).to_contain_text("Sweet Lane Bakery · Caihe")
