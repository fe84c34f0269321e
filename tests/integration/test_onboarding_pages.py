"""Opening a shop in the browser (S13) over HTTP, on both databases: sign up, first store with its
register, products adopted from the shared catalog with price and stock, the printable QR codes,
and the checklist following what the merchant has done."""

from __future__ import annotations

import re
import uuid

import pytest
import zxingcpp
from PIL import Image, ImageDraw
from sqlalchemy import func, select

from oao.catalog.models import Offer
from oao.core.auth import Role
from oao.core.outbox import OutboxEvent
from oao.inventory.models import StockLevel, StockMovement
from oao.network.models import Location, Merchant, StaffSession, StaffUser
from oao.payments import emvco
from oao.pos.models import PosSale, Register
from oao.web import onboarding as onboarding_web
from tests import factories as f
from tests.conftest import T0

PASSWORD = "open today please"


@pytest.fixture
def app(app):
    """The app with the onboarding pages, whether or not the lead has mounted them yet."""
    if not any(getattr(route, "path", None) == "/join" for route in app.routes):
        app.include_router(onboarding_web.router)
    return app


@pytest.fixture
def network(db) -> dict[str, str]:
    """A small network: a corner shop in Hubin selling two products, a third nobody sells yet."""
    with db.unit_of_work() as s:
        corner = f.merchant(s, "Daily Corner", at=T0)
        hubin = f.location(s, corner, "Daily Corner · Hubin", 30.2585, 120.1660, at=T0,
                           address="12 Pinghai Road, Hubin, Shangcheng District, Hangzhou")
        tea = f.product(s, 11, "Jasmine green tea 500ml", at=T0, brand="Leaf")
        noodles = f.product(s, 12, "Instant noodles beef", at=T0, brand="Bowl")
        soap = f.product(s, 13, "Olive soap bar", at=T0, brand="Clean")
        f.offer(s, corner, tea, 400, at=T0)
        f.offer(s, corner, noodles, 550, at=T0)
        f.stock(s, hubin, tea, 30, at=T0)
        f.staff_user(s, corner, "admin@corner.test", at=T0, role=Role.MERCHANT_ADMIN)
        return {"tea": tea.id, "noodles": noodles.id, "soap": soap.id, "tea_gtin": tea.gtin,
                "noodles_gtin": noodles.gtin, "soap_gtin": soap.gtin, "hubin": hubin.id}


def form_token(html: str) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', html).group(1)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_up(client, **overrides: str):
    page = client.get("/join")
    assert page.status_code == 200
    data = {"shop_name": "Lin's Tea House", "your_name": "Lin", "email": "lin@tea.test", "password": PASSWORD,
            "currency": "CNY", "timezone": "Asia/Shanghai", "city": "Hangzhou", "slug": "",
            "form_token": form_token(page.text), **overrides}
    return client.post("/join", data=data, follow_redirects=False)


def open_store(client, **overrides: str):
    page = client.get("/join/store")
    assert page.status_code == 200
    data = {"csrf": csrf_of(page.text), "name": "Lin's Tea · Hubin", "address": "", "where": "area",
            "area": "hubin", "timezone": "Asia/Shanghai", "hours": "daily_8_20", "accepts_pickups": "on",
            "city": "Hangzhou", **overrides}
    return client.post("/join/store", data=data, follow_redirects=False)


def signed_up_with_store(client) -> str:
    assert sign_up(client).status_code == 303
    r = open_store(client)
    assert r.status_code == 303, r.text
    return re.search(r"location=(loc_[\w-]+)", r.headers["location"]).group(1)


# --- sign up -------------------------------------------------------------------------------------------

def test_signing_up_creates_the_merchant_its_admin_and_a_logged_in_session(client, db, network):
    r = sign_up(client)
    assert r.status_code == 303 and r.headers["location"] == "/join/steps"
    assert client.cookies.get("oao_staff", "").startswith("oao_st")
    with db.read() as s:
        merchant = s.scalar(select(Merchant).where(Merchant.name == "Lin's Tea House"))
        assert merchant is not None and merchant.slug == "lins-tea-house" and merchant.currency == "CNY"
        user = s.scalar(select(StaffUser).where(StaffUser.email == "lin@tea.test"))
        assert (user.role, user.merchant_id, user.name, user.location_id) == (
            "merchant_admin", merchant.id, "Lin", None)
        assert s.scalar(select(func.count()).select_from(StaffSession).where(StaffSession.user_id == user.id)) == 1
        assert s.scalar(select(OutboxEvent.id).where(OutboxEvent.type == "merchant.created",
                                                     OutboxEvent.subject_id == merchant.id)) is not None
    steps = client.get("/join/steps")
    assert steps.status_code == 200
    assert "Welcome, Lin&#39;s Tea House" in steps.text and "0 of 4 steps done" in steps.text
    # The same session opens the merchant dashboard: one login for everything.
    assert client.get("/console").status_code == 200


def test_a_taken_email_is_refused_with_a_message_and_creates_nothing(client, db, network):
    r = sign_up(client, email="ADMIN@corner.test")
    assert r.status_code == 422
    assert "An account with this email already exists" in r.text
    assert 'value="Lin&#39;s Tea House"' in r.text  # what she typed is kept
    with db.read() as s:
        assert s.scalar(select(Merchant).where(Merchant.name == "Lin's Tea House")) is None
    assert "oao_staff" not in client.cookies


def test_empty_names_a_short_password_and_a_taken_web_name_each_say_what_to_fix(client, db, network):
    with db.read() as s:
        taken = s.scalar(select(Merchant.slug).where(Merchant.name == "Daily Corner"))
    r = sign_up(client, shop_name="  ", your_name="", password="short", slug=taken)
    assert r.status_code == 422
    assert "Give your shop a name." in r.text
    assert "Tell us your name" in r.text
    assert "at least 8 characters" in r.text
    assert f"Another shop already uses “{taken}”" in r.text and f"{taken}-2" in r.text
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Merchant)) == 1


def test_two_shops_of_the_same_name_get_different_web_names(client, db, network):
    assert sign_up(client).status_code == 303
    client.cookies.clear()
    assert sign_up(client, email="other@tea.test").status_code == 303
    with db.read() as s:
        slugs = sorted(s.scalars(select(Merchant.slug).where(Merchant.name == "Lin's Tea House")))
    assert slugs == ["lins-tea-house", "lins-tea-house-2"]


def test_the_sign_up_form_is_refused_without_its_token_or_from_another_site(client, db, network):
    client.get("/join")
    data = {"shop_name": "Forged", "your_name": "X", "email": "x@forged.test", "password": PASSWORD,
            "currency": "CNY", "timezone": "Asia/Shanghai"}
    assert client.post("/join", data={**data, "form_token": "guess"}).status_code == 403
    page = client.get("/join")
    r = client.post("/join", data={**data, "form_token": form_token(page.text)},
                    headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "another site" in r.text
    with db.read() as s:
        assert s.scalar(select(Merchant).where(Merchant.name == "Forged")) is None


def test_the_checklist_needs_a_login(client, network):
    r = client.get("/join/steps", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/staff/login?next=")


# --- step 1 -------------------------------------------------------------------------------------------

def test_opening_the_store_creates_it_in_the_picked_area_with_a_counter_register(client, db, network):
    location_id = signed_up_with_store(client)
    with db.read() as s:
        store = s.get(Location, location_id)
        assert (store.name, store.kind, store.sells_in_store, store.accepts_pickups) == (
            "Lin's Tea · Hubin", "store", True, True)
        assert (store.latitude, store.longitude) == (30.2585, 120.166)  # the Hubin area of the network
        assert store.address.startswith("Hubin, Shangcheng District")
        assert store.opening_hours["sun"] == [["08:00", "20:00"]]
        registers = list(s.scalars(select(Register).where(Register.location_id == store.id)))
        assert [(r.name, r.kind, r.merchant_id) for r in registers] == [("Counter", "counter", store.merchant_id)]
    steps = client.get("/join/steps").text
    assert "1 of 4 steps done" in steps and "Its counter register is ready" in steps


def test_typed_coordinates_work_and_bad_ones_or_an_empty_name_are_refused(client, db, network):
    assert sign_up(client).status_code == 303
    r = open_store(client, name=" ", where="coordinates", latitude="95", longitude="abc")
    assert r.status_code == 422
    assert "Give the store a name" in r.text and "Write latitude and longitude as numbers" in r.text
    r = open_store(client, where="coordinates", latitude="30.27", longitude="120.17", hours="always")
    assert r.status_code == 303
    with db.read() as s:
        store = s.scalar(select(Location).where(Location.name == "Lin's Tea · Hubin"))
        assert (store.latitude, store.longitude, store.opening_hours["mon"]) == (30.27, 120.17, [["00:00", "24:00"]])


def test_the_store_form_needs_the_sessions_csrf_token(client, db, network):
    assert sign_up(client).status_code == 303
    r = open_store(client, csrf="wrong")
    assert r.status_code == 403
    with db.read() as s:
        assert s.scalar(select(Location).where(Location.name == "Lin's Tea · Hubin")) is None


# --- step 2 -------------------------------------------------------------------------------------------

def test_the_shared_catalog_finds_products_by_a_list_of_gtins_or_by_title(client, network):
    signed_up_with_store(client)
    r = client.get("/join/products", params={"q": f"{network['tea_gtin']}\n{network['soap_gtin']}\n4006381333931"
                                                  "\n1234567890123"})
    assert r.status_code == 200
    assert "Jasmine green tea 500ml" in r.text and "Olive soap bar" in r.text
    assert "Instant noodles beef" not in r.text
    assert "Not in the shared catalog yet: 4006381333931" in r.text
    assert "Not valid barcodes (check the digits): 1234567890123" in r.text
    assert "1 shop, from ¥4.00" in r.text  # who sells the tea already, for how much
    r = client.get("/join/products", params={"q": "noodles"})
    assert "Instant noodles beef" in r.text and "Jasmine" not in r.text
    # With no query: what most shops sell, first.
    popular = client.get("/join/products").text
    assert "Popular in the network" in popular and "Jasmine green tea 500ml" in popular


def test_adopting_two_products_creates_offers_at_her_prices_and_opening_stock(client, db, network):
    location_id = signed_up_with_store(client)
    page = client.get("/join/products", params={"location": location_id})
    data = {"csrf": csrf_of(page.text), "location": location_id, "q": "",
            f"pick_{network['tea']}": "on", f"price_{network['tea']}": "4.50", f"stock_{network['tea']}": "24",
            f"pick_{network['noodles']}": "on", f"price_{network['noodles']}": "6", f"stock_{network['noodles']}": "0",
            # typed but not ticked: adopts nothing
            f"price_{network['soap']}": "9.90", f"stock_{network['soap']}": "5"}
    r = client.post("/join/products", data=data, follow_redirects=False)
    assert r.status_code == 303 and "added=2" in r.headers["location"]
    with db.read() as s:
        merchant_id = s.get(Location, location_id).merchant_id
        offers = {o.product_id: (o.price_minor, o.currency, o.active)
                  for o in s.scalars(select(Offer).where(Offer.merchant_id == merchant_id))}
        assert offers == {network["tea"]: (450, "CNY", True), network["noodles"]: (600, "CNY", True)}
        levels = {lv.product_id: lv.on_hand for lv in s.scalars(select(StockLevel).where(
            StockLevel.location_id == location_id))}
        assert levels == {network["tea"]: 24}
        moves = list(s.scalars(select(StockMovement).where(StockMovement.location_id == location_id)))
        assert [(m.kind, m.quantity, m.reason) for m in moves] == [("receipt", 24, "opening stock")]
    after = client.get(r.headers["location"]).text
    assert "2 products added" in after and "you sell it" in after
    assert "2 of 4 steps done" in client.get("/join/steps").text


def test_a_ticked_product_without_a_price_adopts_nothing_and_says_which(client, db, network):
    location_id = signed_up_with_store(client)
    page = client.get("/join/products", params={"location": location_id})
    data = {"csrf": csrf_of(page.text), "location": location_id, "q": "",
            f"pick_{network['tea']}": "on", f"price_{network['tea']}": "4.50", f"stock_{network['tea']}": "3",
            f"pick_{network['noodles']}": "on", f"price_{network['noodles']}": "", f"stock_{network['noodles']}": "3"}
    r = client.post("/join/products", data=data)
    assert r.status_code == 422
    assert "Give your price for this product." in r.text
    assert 'value="4.50"' in r.text  # what she typed is kept
    with db.read() as s:
        merchant_id = s.get(Location, location_id).merchant_id
        assert s.scalar(select(func.count()).select_from(Offer).where(Offer.merchant_id == merchant_id)) == 0
        assert s.scalar(select(func.count()).select_from(StockLevel).where(
            StockLevel.location_id == location_id)) == 0
    data.pop(f"pick_{network['tea']}")
    data.pop(f"pick_{network['noodles']}")
    r = client.post("/join/products", data=data)
    assert r.status_code == 422 and "Tick the products you sell" in r.text


def test_stock_cannot_be_put_in_another_merchants_store(client, db, network):
    signed_up_with_store(client)
    page = client.get("/join/products")
    data = {"csrf": csrf_of(page.text), "location": network["hubin"], f"pick_{network['tea']}": "on",
            f"price_{network['tea']}": "4", f"stock_{network['tea']}": "5"}
    assert client.post("/join/products", data=data).status_code == 404
    with db.read() as s:
        assert s.scalar(select(StockLevel.on_hand).where(StockLevel.location_id == network["hubin"])) == 30


# --- step 3 -------------------------------------------------------------------------------------------

def _raster(svg: str) -> Image.Image:
    """Draw segno's one-path SVG (scale 1: one unit a module) as a picture a decoder can read."""
    size = int(re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).group(1))
    path = re.search(r' d="([^"]+)"', svg).group(1)
    px = 8
    image = Image.new("L", (size * px, size * px), 255)
    draw = ImageDraw.Draw(image)
    x = y = 0.0
    for cmd, a, b in re.findall(r"([MmHhVv])(-?[\d.]+)(?:[ ,](-?[\d.]+))?", path):
        if cmd in "Mm":
            x, y = (float(a), float(b)) if cmd == "M" else (x + float(a), y + float(b))
        elif cmd in "hH":
            end = x + float(a) if cmd == "h" else float(a)
            draw.rectangle([min(x, end) * px, (y - 0.5) * px, max(x, end) * px - 1, (y + 0.5) * px - 1], fill=0)
            x = end
    return image


def test_the_qr_page_shows_the_pickup_qr_and_the_same_payment_qr_as_the_api(client, db, network, app):
    location_id = signed_up_with_store(client)
    r = client.get("/join/qr")
    assert r.status_code == 200
    svgs = re.findall(r"<svg.*?</svg>", r.text, flags=re.S)
    assert len(svgs) == 2
    decoded = [zxingcpp.read_barcodes(_raster(svg)) for svg in svgs]
    assert all(len(found) == 1 and found[0].format == zxingcpp.BarcodeFormat.QRCode for found in decoded)
    pickup, payment = (found[0].text for found in decoded)
    assert pickup == f"{app.state.settings.public_url.rstrip('/')}/shop/at/{location_id}"
    qr = emvco.parse_payload(payment)
    assert qr.merchant_name == "Lin's Tea House" and qr.currency == "CNY" and qr.amount is None
    assert any(account.get("02") == location_id for account in qr.merchant_accounts.values())
    with db.unit_of_work() as s:
        merchant_id = s.get(Location, location_id).merchant_id
        token = f.api_key(s, s.get(Merchant, merchant_id), at=T0)
    api = client.get(f"/api/v1/payments/stall-qr/{location_id}", headers=f.auth(token))
    assert api.status_code == 200 and api.json()["payload"] == payment
    assert "@media print" in client.get("/static/oao/onboarding.css").text

    # Step 3 is ticked off when she says they are printed.
    assert "I have printed them" in r.text
    done = client.post("/join/qr/printed", data={"csrf": csrf_of(r.text), "location": location_id},
                       follow_redirects=False)
    assert done.status_code == 303
    assert client.get("/join/steps").text.count("badge ok") == 2  # store and QR codes; no products yet


def test_the_pickup_qr_opens_the_storefront_as_seen_from_that_store(client, network):
    location_id = signed_up_with_store(client)
    r = client.get(f"/shop/at/{location_id}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/shop"
    assert "oao_shop_where" in r.headers["set-cookie"]
    home = client.get("/shop")
    assert home.status_code == 200 and "Lin&#39;s Tea · Hubin" in home.text
    assert client.get("/shop/at/loc_nope", follow_redirects=False).status_code == 404


# --- step 4 -------------------------------------------------------------------------------------------

def test_the_till_works_for_the_new_admin_and_the_first_sale_completes_the_checklist(client, db, network):
    location_id = signed_up_with_store(client)
    page = client.get("/join/products", params={"location": location_id})
    client.post("/join/products", data={"csrf": csrf_of(page.text), "location": location_id,
                                        f"pick_{network['tea']}": "on", f"price_{network['tea']}": "4.50",
                                        f"stock_{network['tea']}": "10"})
    client.post("/join/qr/printed", data={"csrf": csrf_of(page.text), "location": location_id})
    till = client.get("/store/pos")
    assert till.status_code == 200
    assert "1 products in this store" in till.text and ">Counter</option>" in till.text
    with db.read() as s:
        register_id = s.scalar(select(Register.id).where(Register.location_id == location_id))
    sale = client.post("/store/pos/sales", headers={"X-CSRF-Token": csrf_of(page.text)},
                       json={"sale_id": str(uuid.uuid4()), "register_id": register_id,
                             "lines": [{"gtin": network["tea_gtin"], "quantity": 1}],
                             "tenders": [{"kind": "cash", "amount_minor": 500}]})
    assert sale.status_code == 201, sale.text
    assert sale.json()["total_minor"] == 450 and sale.json()["change_minor"] == 50
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(PosSale).where(PosSale.location_id == location_id)) == 1
        assert s.scalar(select(StockLevel.on_hand).where(StockLevel.location_id == location_id)) == 9
    steps = client.get("/join/steps").text
    assert "4 of 4 steps done" in steps and "Your shop is open" in steps


def test_store_staff_cannot_use_the_opening_pages(client, db, network):
    with db.unit_of_work() as s:
        corner = s.scalar(select(Merchant).where(Merchant.name == "Daily Corner"))
        f.staff_user(s, corner, "clerk@corner.test", at=T0, password=PASSWORD,
                     location=s.get(Location, network["hubin"]))
    r = client.post("/staff/login", data={"email": "clerk@corner.test", "password": PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/join/steps").status_code == 403
    assert client.get("/join/store").status_code == 403


def test_the_join_page_renders_its_form_for_a_new_visitor(client, network):
    r = client.get("/join")
    assert r.status_code == 200 and "oao_join_form" in r.headers["set-cookie"]
    assert 'name="shop_name"' in r.text and '<option value="CNY" selected>' in r.text
    assert '<option value="Asia/Shanghai" selected>' in r.text
    assert r.text.count("<form") == 1
