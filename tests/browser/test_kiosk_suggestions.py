"""S3 in a real browser: after a training run on the demo network, the Jade Petal kiosk greets Mei (who shares
her purchase history and age band with Jade Petal) with suggestions of her own, and a skin scan adds the
products that fit her skin; all from this store's shelves. A guest sees only the best sellers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import insert, select

from oao.catalog.models import Offer
from oao.core.ids import new_id
from oao.insights import service as insights
from oao.insights.models import InsightEvent
from oao.inventory.models import StockLevel
from oao.members import service as members
from oao.network.models import Location
from tests.browser.conftest import screenshot
from tests.browser.test_store_kiosk import _mei, _member_code, _open_kiosk

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _history_and_training(demo_server, mei: str) -> list[str]:
    """Mei buys the same two Hubin products every ten days; a training run learns it. Returns their ids."""
    db, now = demo_server.database, demo_server.clock.now()
    with db.unit_of_work() as s:
        hubin = s.scalar(select(Location).where(Location.name == "Jade Petal · Hubin"))
        offered = set(s.scalars(select(Offer.product_id).where(Offer.merchant_id == hubin.merchant_id,
                                                              Offer.active.is_(True))))
        shelf = sorted(pid for pid in s.scalars(select(StockLevel.product_id).where(
            StockLevel.location_id == hubin.id, StockLevel.on_hand - StockLevel.reserved > 2)) if pid in offered)
        favourites = shelf[-2:]  # not the store's first best sellers, so the section is visibly hers
        members.grant_consents(s, member_id=mei, merchant_id=hubin.merchant_id,
                               data_classes=["purchase_history", "profile.age_band"], now=now)
        rows = []
        for day in range(90, 0, -10):
            ref = new_id("sale")
            rows += [{"source": ref, "source_line": i, "kind": "sale", "merchant_id": hubin.merchant_id,
                      "location_id": hubin.id, "channel": "kiosk", "product_id": pid, "member_id": mei,
                      "basket_ref": ref, "quantity": 1, "amount_minor": 10_000, "currency": "CNY",
                      "occurred_at": now - timedelta(days=day)} for i, pid in enumerate(favourites)]
        s.execute(insert(InsightEvent), rows)
        merchant_id = hubin.merchant_id
    run = insights.train_recommendations(db, merchant_id=merchant_id, now=now,
                                         settings=demo_server.app.state.settings)
    assert run is not None and run.status == "finished", run.details if run else None
    return favourites


def test_the_kiosk_suggests_meis_own_products_and_what_fits_her_skin_after_training(demo_server, page):
    pytest.importorskip("pandas", reason="training needs the oao[insights] extra")
    mei = _mei(demo_server)
    _history_and_training(demo_server, mei)
    _open_kiosk(demo_server, page)
    page.get_by_label("Member code").fill(_member_code(demo_server, mei))
    page.get_by_label("Member code").press("Enter")
    expect(page.get_by_role("heading", name="Welcome back")).to_be_visible()

    mine = page.locator('[data-personal="for_you"]')
    expect(mine.get_by_role("heading", name="Picked for you")).to_be_visible()
    expect(mine.get_by_text("Picked for you from what you buy here").first).to_be_visible()
    expect(mine.get_by_role("button", name=re.compile(r"^Add .+ to basket$")).first).to_be_visible()
    # The best sellers are still there below her own suggestions.
    expect(page.get_by_role("heading", name=re.compile(r"(Popular at|In stock at) Jade Petal · Hubin"))).to_be_visible()

    page.get_by_role("group", name="Skin type").get_by_role("button", name="Dry").click()
    skin = page.locator('[data-personal="skin"]')
    expect(skin.get_by_role("heading", name="For your dry skin")).to_be_visible()
    expect(skin.get_by_text("Fits dry skin").first).to_be_visible()
    screenshot(page, "store-kiosk-suggestions-desktop")

    page.get_by_role("button", name=re.compile("Start over|Done")).first.click()
    expect(page.get_by_role("heading", name="Scan your member code")).to_be_visible()
    page.get_by_role("button", name="Continue as guest").click()
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    expect(page.locator('[data-personal="for_you"]')).to_have_count(0)
