"""The merchant dashboard's pages over HTTP, on both databases: who may see what, and the
forms (prices, stock, CSV import, opening hours, staff) doing what they say."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from oao.catalog import importer
from oao.catalog.models import Offer
from oao.core.auth import Role
from oao.inventory.models import StockLevel
from oao.network.models import Location, StaffUser
from oao.web.console import imports
from tests import factories as f
from tests.conftest import T0

PASSWORD = "correct horse battery"


@dataclass
class Net:
    merchant_id: str
    store_id: str
    other_merchant_id: str
    other_store_id: str
    tart: str
    bun: str
    tart_offer_id: str
    tart_id: str


@pytest.fixture
def net(db) -> Net:
    with db.unit_of_work() as s:
        m = f.merchant(s, "Sweet Test", at=T0)
        other = f.merchant(s, "Rival Rolls", at=T0)
        store = f.location(s, m, "Test Bakery", 30.25, 120.20, at=T0, hours=f.DAYTIME)
        other_store = f.location(s, other, "Rival Store", 30.26, 120.21, at=T0)
        tart = f.product(s, 1, "Egg tart", at=T0)
        bun = f.product(s, 2, "Red bean bun", at=T0)
        f.product(s, 3, "Taro bun", at=T0)
        tart_offer = f.offer(s, m, tart, 1250, at=T0)
        f.stock(s, store, tart, 10, at=T0)
        f.staff_user(s, m, "admin@sweet.test", at=T0, password=PASSWORD, role=Role.MERCHANT_ADMIN)
        f.staff_user(s, m, "staff@sweet.test", at=T0, password=PASSWORD, location=store)
        f.staff_user(s, None, "root@oao.test", at=T0, password=PASSWORD, role=Role.NETWORK_ADMIN)
        return Net(merchant_id=m.id, store_id=store.id, other_merchant_id=other.id, other_store_id=other_store.id,
                   tart=tart.gtin, bun=bun.gtin, tart_offer_id=tart_offer.id, tart_id=tart.id)


def log_in(client, email: str) -> None:
    r = client.post("/staff/login", data={"email": email, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_store_staff_are_refused_the_dashboard_with_a_page_that_says_why(client, net):
    log_in(client, "staff@sweet.test")
    r = client.get("/console")
    assert r.status_code == 403 and "text/html" in r.headers["content-type"]
    assert "store console" in r.text
    assert client.get("/console/catalog").status_code == 403


def test_without_a_login_the_dashboard_sends_you_to_the_staff_login(client, net):
    r = client.get("/console/stock?q=tart", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/staff/login?next=")


def test_another_merchants_location_or_merchant_is_not_found(client, net):
    log_in(client, "admin@sweet.test")
    assert client.get(f"/console/locations/{net.other_store_id}").status_code == 404
    assert client.get(f"/console/stock?location={net.other_store_id}").status_code == 404
    assert client.get(f"/console?merchant={net.other_merchant_id}").status_code == 404
    page = client.get("/console/locations")
    assert page.status_code == 200 and "Test Bakery" in page.text and "Rival Store" not in page.text


def test_the_network_admin_picks_a_merchant_first(client, net):
    log_in(client, "root@oao.test")
    picker = client.get("/console")
    assert picker.status_code == 200 and "Which merchant?" in picker.text and "Rival Rolls" in picker.text
    page = client.get(f"/console?merchant={net.merchant_id}")
    assert page.status_code == 200 and "Sweet Test" in page.text and "No sales in the last 7 days" in page.text
    assert f"/console/catalog?merchant={net.merchant_id}" in page.text  # the choice is kept on every link


def test_the_overview_charts_a_till_sale(client, net, db):
    log_in(client, "admin@sweet.test")
    token = client.post("/api/v1/sessions", json={"email": "admin@sweet.test", "password": PASSWORD}).json()["token"]
    register = client.post("/api/v1/pos/registers", json={"location_id": net.store_id, "name": "Counter 1"},
                           headers=f.auth(token))
    assert register.status_code == 201, register.text
    sale = client.post("/api/v1/pos/sales", headers=f.auth(token), json={
        "sale_id": "console-sale-0001", "register_id": register.json()["id"],
        "lines": [{"gtin": net.tart, "quantity": 2}], "tenders": [{"kind": "cash", "amount_minor": 2500}]})
    assert sale.status_code == 201, sale.text
    page = client.get("/console")
    assert '<svg class="chart"' in page.text and "¥25.00" in page.text and "Egg tart" in page.text


def test_a_price_is_changed_from_the_catalog_and_a_bad_one_is_explained(client, net, db):
    log_in(client, "admin@sweet.test")
    page = client.get("/console/catalog?q=tart")
    assert "Egg tart" in page.text and "¥12.50" in page.text and "Red bean bun" not in page.text
    csrf = csrf_of(page.text)
    url = f"/console/catalog/offers/{net.tart_offer_id}"
    bad = client.post(url, data={"csrf": csrf, "price": "12,5.0.1"}, headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "Write the price as a number" in bad.text
    ok = client.post(url, data={"csrf": csrf, "price": "13.80"}, follow_redirects=False)
    assert ok.status_code == 303
    with db.read() as s:
        assert s.get(Offer, net.tart_offer_id).price_minor == 1380
    assert client.post(url, data={"csrf": "forged", "price": "1"}).status_code == 403


def test_stock_is_adjusted_with_a_reason_and_never_below_reserved(client, net, db):
    log_in(client, "admin@sweet.test")
    page = client.get("/console/stock")
    assert "Egg tart" in page.text
    form = {"csrf": csrf_of(page.text), "location_id": net.store_id, "product_id": net.tart_id}
    assert client.post("/console/stock/adjust", data={**form, "delta": "-3", "reason": "dropped tray"},
                       follow_redirects=False).status_code == 303
    too_many = client.post("/console/stock/adjust", data={**form, "delta": "-50", "reason": "count"},
                           headers={"HX-Request": "true"})
    assert too_many.status_code == 422 and "Cannot remove 50" in too_many.text
    no_reason = client.post("/console/stock/adjust", data={**form, "delta": "2", "reason": " "},
                            headers={"HX-Request": "true"})
    assert no_reason.status_code == 422 and "needs a reason" in no_reason.text
    with db.read() as s:
        level = s.scalar(select(StockLevel).where(StockLevel.location_id == net.store_id,
                                                  StockLevel.product_id == net.tart_id))
        assert level.on_hand == 7


def wait_for_job(client, url: str) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        fragment = client.get(url, headers={"HX-Request": "true"}).text
        if "hx-trigger" not in fragment:
            return fragment
        time.sleep(0.05)
    raise AssertionError("the import did not finish")


def test_a_csv_import_with_one_bad_row_imports_the_rest_and_shows_that_rows_error(client, net, db):
    log_in(client, "admin@sweet.test")
    csrf = csrf_of(client.get("/console/imports").text)
    csv_text = f"gtin,price_minor,currency\n{net.tart},1290,CNY\n{net.bun},twelve,CNY\n"
    r = client.post("/console/imports", data={"csrf": csrf, "kind": "offers", "skip_bad": "1"},
                    files={"file": ("prices.csv", csv_text.encode(), "text/csv")}, follow_redirects=False)
    assert r.status_code == 303
    done = wait_for_job(client, r.headers["location"])
    assert "Import finished: 1 row imported" in done and "1 skipped" in done
    row = re.search(r"<tr><td class=\"num\">(\d+)</td><td><code>(\w+)</code></td><td>([^<]+)</td></tr>", done)
    assert row.groups()[:2] == ("3", "price_minor") and "whole number" in row.group(3)
    with db.read() as s:
        prices = {o.product_id: o.price_minor for o in s.scalars(select(Offer).where(
            Offer.merchant_id == net.merchant_id))}
    assert prices == {net.tart_id: 1290}  # the good row is in, the bad one is not


def test_an_all_or_nothing_import_with_a_bad_row_imports_nothing(client, net, db):
    log_in(client, "admin@sweet.test")
    csrf = csrf_of(client.get("/console/imports").text)
    csv_text = f"location_id,gtin,on_hand\n{net.store_id},{net.tart},4\n{net.other_store_id},{net.tart},4\n"
    r = client.post("/console/imports", data={"csrf": csrf, "kind": "stock"},
                    files={"file": ("count.csv", csv_text.encode(), "text/csv")}, follow_redirects=False)
    done = wait_for_job(client, r.headers["location"])
    assert "Nothing was imported" in done and "unknown location" in done and "<code>location_id</code>" in done
    with db.read() as s:
        assert s.scalar(select(StockLevel.on_hand).where(StockLevel.location_id == net.store_id)) == 10


def test_the_import_template_downloads_as_csv(client, net):
    log_in(client, "admin@sweet.test")
    r = client.get("/console/imports/template/offers.csv")
    assert r.status_code == 200 and r.text.startswith("gtin,price_minor,currency")
    assert "attachment" in r.headers["content-disposition"]
    assert net.store_id in client.get("/console/imports/template/stock.csv").text  # one of your own locations


def test_a_large_import_reports_its_progress_and_skips_its_bad_row(db, clock, net, monkeypatch):
    rows = [f"{f.gtin13(1000 + i)},Loaf {i}" for i in range(2500)]
    rows[1499] = "12345,Loaf with a bad GTIN"  # line 1501 of the file
    data = ("gtin,title\n" + "\n".join(rows) + "\n").encode()
    job = imports.ImportJob(id="imp_test", kind="products", merchant_id=net.merchant_id, owner_id="usr",
                            filename="loaves.csv", skip_bad=True)
    seen: list[tuple[str, int, int]] = []
    real = importer.import_csv

    def watched(*args, progress, **kwargs):
        def report(done: int) -> None:
            progress(done)
            seen.append((job.status, job.rows_done, job.rows_total))
        return real(*args, progress=report, **kwargs)

    monkeypatch.setattr(importer, "import_csv", watched)
    imports.run_job(job, data, db, clock)
    assert seen == [("writing", 1001, 2500), ("writing", 2001, 2500), ("writing", 2500, 2500)]
    assert (job.status, job.rows_imported, job.rows_skipped) == ("done", 2499, 1)
    assert [(e["line"], e["column"]) for e in job.errors] == [(1501, "gtin")]


def test_opening_hours_are_saved_and_a_bad_time_is_shown_next_to_its_day(client, net, db):
    log_in(client, "admin@sweet.test")
    page = client.get(f"/console/locations/{net.store_id}")
    assert page.status_code == 200 and 'value="08:00"' in page.text
    form = {"csrf": csrf_of(page.text), "delivery_radius_km": "3.5", "delivery_fee": "8.00",
            "delivery_capacity_per_hour": "6", "pick_minutes": "12", "accepts_pickups": "on"}
    for day in ("mon", "tue", "wed", "thu", "fri"):
        form |= {f"{day}_open1": "07:30", f"{day}_close1": "20:00"}
    form |= {"sat_open1": "9:00", "sat_close1": "12:00", "sat_open2": "13:00", "sat_close2": "17:00",
             "sun_closed": "on"}
    bad = client.post(f"/console/locations/{net.store_id}", data={**form, "mon_close1": "25:00",
                                                                   "delivery_fee": "eight"})
    assert bad.status_code == 422
    assert re.search(r'id="mon-error">[^<]*not a valid closing time', bad.text)
    assert 'id="delivery_fee-error"' in bad.text and 'value="eight"' in bad.text
    ok = client.post(f"/console/locations/{net.store_id}", data=form, follow_redirects=False)
    assert ok.status_code == 303
    with db.read() as s:
        loc = s.get(Location, net.store_id)
        assert loc.opening_hours["sat"] == [["09:00", "12:00"], ["13:00", "17:00"]]
        assert "sun" not in loc.opening_hours and loc.opening_hours["mon"] == [["07:30", "20:00"]]
        assert (loc.delivery_radius_km, loc.delivery_fee_minor, loc.delivery_capacity_per_hour, loc.pick_minutes) == (
            3.5, 800, 6, 12)


def test_a_staff_user_is_created_and_a_taken_email_is_refused(client, net, db):
    log_in(client, "admin@sweet.test")
    csrf = csrf_of(client.get("/console/staff").text)
    form = {"csrf": csrf, "name": "Li Na", "email": "li.na@sweet.test", "role": "store_staff",
            "location_id": net.store_id, "password": "a long enough one"}
    missing_store = client.post("/console/staff", data={**form, "location_id": ""})
    assert missing_store.status_code == 422 and "Store staff need a home store" in missing_store.text
    assert "a long enough one" not in missing_store.text  # the password is never echoed back
    assert client.post("/console/staff", data=form, follow_redirects=False).status_code == 303
    again = client.post("/console/staff", data=form)
    assert again.status_code == 422 and "already has a staff account" in again.text
    with db.read() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.email == "li.na@sweet.test"))
        assert (user.role, user.merchant_id, user.location_id) == ("store_staff", net.merchant_id, net.store_id)
    assert client.post("/staff/login", data={"email": "li.na@sweet.test", "password": "a long enough one"},
                       follow_redirects=False).headers["location"] == "/store"
