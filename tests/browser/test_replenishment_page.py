"""S8 in Chromium on the demo network: a Sweet Lane Bakery admin opens Ordering, builds the office
branch's suggested order from its demand forecast, cuts one quantity and accepts; the lines become
goods on order, and receiving one adds it to stock."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from oao.catalog.models import Offer, Product
from oao.insights.models import Forecast, ForecastSeries
from oao.inventory.models import StockLevel
from oao.network.models import Location
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN = "admin@sweetlane.example"
OFFICE = "Sweet Lane Bakery · Qianjiang New Town"


@pytest.fixture(scope="module")
def forecast(demo_server) -> dict[str, str]:
    """The demo has no sales history to forecast from: two of the office branch's products get a stored
    forecast (what the forecast job writes), busy enough that both need ordering."""
    today = demo_server.clock.now().date()  # 10:30 in Hangzhou, the same date in UTC
    with demo_server.database.unit_of_work() as s:
        office = s.scalar(select(Location).where(Location.name == OFFICE))
        rows = s.execute(select(Product.id, Product.title).join(Offer, Offer.product_id == Product.id)
                         .join(StockLevel, (StockLevel.product_id == Product.id)
                               & (StockLevel.location_id == office.id))
                         .where(Offer.merchant_id == office.merchant_id, Offer.active.is_(True))
                         .order_by(Product.title).limit(2)).all()
        assert len(rows) == 2
        for product_id, _ in rows:
            s.add(ForecastSeries(merchant_id=office.merchant_id, location_id=office.id, product_id=product_id,
                                 model="ets", rmsse=0.7, error_sd=6.0, mean_daily=400.0, run_id="irun_browser"))
            for d in range(3):
                s.add(Forecast(merchant_id=office.merchant_id, location_id=office.id, product_id=product_id,
                               day=today + timedelta(days=d), mean=400.0, model="ets", run_id="irun_browser"))
        return {"office": office.id, "first": rows[0][1], "second": rows[1][1], "first_id": rows[0][0]}


def test_an_admin_accepts_an_edited_suggestion_and_receives_the_goods(demo_server, forecast, page):
    demo_server.log_in_staff(page, ADMIN)
    page.get_by_role("navigation", name="Merchant dashboard").get_by_role("link", name="Ordering").click()
    expect(page.get_by_role("heading", name="Ordering", level=1)).to_be_visible()
    page.get_by_label("Store").select_option(label=OFFICE)
    page.wait_for_url(re.compile(r"location="))
    page.get_by_role("button", name="Build a new suggestion").click()
    expect(page.get_by_role("status")).to_contain_text("A new suggestion was built")
    lines = page.get_by_role("table", name="Suggested order lines")
    expect(lines.get_by_role("row")).to_have_count(3)  # header + two products
    quantity = page.get_by_label(f"Quantity to order of {forecast['first']}")
    suggested = int(quantity.input_value())
    assert suggested >= 400  # a busy day's demand
    quantity.fill("7")
    screenshot(page, "console-replenishment-desktop")
    page.get_by_role("button", name="Accept order").click()

    expect(page.get_by_role("status")).to_contain_text("Accepted")
    expect(page.locator("#suggestion-status")).to_have_text("Accepted")
    on_order = page.get_by_role("table", name="Expected receipts")
    first = on_order.get_by_role("row").filter(has_text=forecast["first"])
    expect(first).to_contain_text("7")
    expect(on_order.get_by_role("row").filter(has_text=forecast["second"])).to_have_count(1)

    with demo_server.database.read() as s:
        before = s.scalar(select(StockLevel.on_hand).where(StockLevel.location_id == forecast["office"],
                                                           StockLevel.product_id == forecast["first_id"]))
    first.get_by_role("button", name=re.compile(r"^Received")).click()
    expect(page.get_by_role("status")).to_contain_text("added to stock")
    expect(page.get_by_role("table", name="Expected receipts").get_by_role("row")
           .filter(has_text=forecast["first"])).to_have_count(0)
    with demo_server.database.read() as s:
        after = s.scalar(select(StockLevel.on_hand).where(StockLevel.location_id == forecast["office"],
                                                          StockLevel.product_id == forecast["first_id"]))
    assert after == before + 7
