"""Kiosk mode pages (/store/kiosk) and the store best-seller ranking behind its suggestions."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from oao.core.auth import Principal, Role
from oao.core.ids import new_id
from oao.fulfillment import service as fulfillment
from oao.fulfillment.service import ItemIn
from oao.loyalty import programmes as loyalty_programmes
from oao.loyalty import service as loyalty
from oao.members import service as members
from oao.orders import service as orders
from oao.orders.models import Order
from oao.pos import bestsellers, endless_aisle
from oao.pos import service as pos
from oao.pos.models import PosSale, Register
from oao.pos.service import ScannedLine
from oao.pos.tenders import Tender
from tests import factories as f
from tests.conftest import T0
from tests.integration.test_payments_kit import wire_wallet

PASSWORD = "correct horse battery"
OPERATOR = Principal(kind="test", id="test", name="test", role=Role.NETWORK_ADMIN, merchant_id=None)


def _network(db):
    """A cosmetics shop with a kiosk, a second shop of the same merchant, and an online partner."""
    with db.unit_of_work() as s:
        shop = f.merchant(s, "Glow Cosmetics", at=T0)
        partner = f.merchant(s, "River Online", at=T0)
        store = f.location(s, shop, "Glow · Lakeside", 30.2590, 120.1630, at=T0)
        other_store = f.location(s, shop, "Glow · Riverside", 30.2700, 120.1800, at=T0)
        warehouse = f.location(s, partner, "River Online · Warehouse", 30.2300, 120.2200, at=T0, kind="warehouse",
                               delivery_radius_km=30.0, delivery_capacity_per_hour=50, delivery_fee_minor=1000)
        serum = f.product(s, 901, "Hydrating serum", at=T0, category="skincare")
        cream = f.product(s, 902, "Night cream", at=T0, category="skincare")
        toner = f.product(s, 903, "Rose toner", at=T0, category="skincare")
        mask = f.product(s, 904, "Clay mask", at=T0, category="skincare")  # sold here, now sold out
        gloss = f.product(s, 905, "Lip gloss", at=T0, category="makeup")  # only the partner has it
        soap = f.product(s, 906, "Dish soap", at=T0, category="household")  # not this shop's kind
        lipstick = f.product(s, 907, "Lipstick", at=T0, category="makeup")
        for p, price in ((serum, 12_000), (cream, 9_000), (toner, 5_000), (mask, 7_000), (lipstick, 8_000)):
            f.offer(s, shop, p, price, at=T0, channel_prices={"kiosk": price - 500} if p is serum else None)
        for p, units in ((serum, 10), (cream, 10), (toner, 10), (mask, 2)):
            f.stock(s, store, p, units, at=T0)
        f.stock(s, other_store, lipstick, 5, at=T0)
        f.stock(s, store, lipstick, 0, at=T0)
        for p in (gloss, soap, serum):
            f.offer(s, partner, p, 6_000, at=T0)
            f.stock(s, warehouse, p, 50, at=T0)
        kiosk = Register(id=new_id("reg"), merchant_id=shop.id, location_id=store.id, name="Skin kiosk", kind="kiosk",
                         created_at=T0)
        till = Register(id=new_id("reg"), merchant_id=shop.id, location_id=store.id, name="Till", kind="counter",
                        created_at=T0)
        s.add_all([kiosk, till])
        staff = f.staff_user(s, shop, "staff@glow.example", at=T0, location=store)
        s.flush()
        return {"shop": shop.id, "partner": partner.id, "store": store.id, "kiosk": kiosk.id, "till": till.id,
                "staff": Principal(kind="staff", id=staff.id, name="staff", role=Role.STORE_STAFF,
                                   merchant_id=shop.id, location_id=store.id),
                "p": {"serum": serum.id, "cream": cream.id, "toner": toner.id, "mask": mask.id, "gloss": gloss.id,
                      "soap": soap.id, "lipstick": lipstick.id},
                "gtin": {"serum": serum.gtin, "cream": cream.gtin, "toner": toner.gtin, "mask": mask.gtin,
                         "lipstick": lipstick.gtin}}


def _sell(db, net, sale_id: str, lines: dict[str, int], *, days_ago: int = 1) -> None:
    with db.unit_of_work() as s:
        pos.record_sale(s, principal=net["staff"], sale_id=sale_id, register_id=net["till"],
                        lines=[ScannedLine(net["gtin"][name], qty) for name, qty in lines.items()],
                        tenders=[Tender("cash", 1_000_000)], sold_at=T0 - timedelta(days=days_ago), now=T0)


def test_best_sellers_count_till_sales_and_online_orders_of_the_last_30_days_in_stock_here(db, settings):
    net = _network(db)
    _sell(db, net, "sale-0001", {"toner": 3})
    _sell(db, net, "sale-0002", {"cream": 2, "mask": 2})  # the last two masks: sold out now
    _sell(db, net, "sale-0003", {"serum": 9}, days_ago=45)  # long ago: not popular this month
    with db.unit_of_work() as s:  # an online order for pickup here, paid at pickup: 2 more creams
        quote = fulfillment.build_quote(s, principal=OPERATOR, items=[ItemIn(quantity=2, product_id=net["p"]["cream"])],
                                        destination=None, pickup_location_id=net["store"], at=None, now=T0,
                                        settings=settings)
        option = next(o for o in quote.options if o["kind"] == "pickup" and o["merchant"]["id"] == net["shop"])
        orders.place_order(s, principal=OPERATOR, quote_id=quote.id, option_id=option["id"], customer={},
                           payment_method="pay_at_pickup", now=T0, settings=settings)

    with db.read() as s:
        found = bestsellers.store_suggestions(s, location_id=net["store"], merchant_id=net["shop"], channel="kiosk",
                                              now=T0)
        assert found.kind == bestsellers.POPULAR
        assert [(i.title, i.sold) for i in found.popular] == [("Night cream", 4), ("Rose toner", 3)]
        assert [i.title for i in found.in_stock] == ["Hydrating serum"], "sold out and unstocked items are left out"
        assert found.in_stock[0].unit_price_minor == 11_500, "priced at the kiosk's channel price"


def test_a_store_without_sales_suggests_what_it_has_in_stock(db):
    net = _network(db)
    with db.read() as s:
        found = bestsellers.store_suggestions(s, location_id=net["store"], merchant_id=net["shop"], channel="store",
                                              now=T0)
    assert found.kind == bestsellers.IN_STOCK and found.popular == []
    assert [i.title for i in found.in_stock] == ["Clay mask", "Hydrating serum", "Night cream", "Rose toner"]


def test_ranking_breaks_ties_by_title_and_skips_what_cannot_be_sold():
    popular, rest = bestsellers.rank({"a": 2, "b": 2, "c": 5, "d": 9}, {"a": 1, "b": 1, "c": 3, "e": 4},
                                     {"a": "Zinc", "b": "Aloe", "c": "Clay", "e": "Eye"}, limit=2)
    assert popular == ["c", "b"] and rest == ["e", "a"]


def test_the_endless_aisle_offers_this_shops_kind_of_products_it_cannot_sell_here(db):
    net = _network(db)
    with db.read() as s:
        found = endless_aisle.partner_products(s, location_id=net["store"], merchant_id=net["shop"])
    # The gloss from the partner first; the lipstick (sold out here, in the merchant's other store) after;
    # the serum is on the shelf here and the soap is not a cosmetics shop's kind.
    assert [(p.title, p.merchant_id) for p in found] == [("Lip gloss", net["partner"]), ("Lipstick", net["shop"])]


# --- pages ---------------------------------------------------------------------------------------

def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page carries a CSRF field"
    return match.group(1)


def _kiosk_client(client, net):
    client.post("/staff/login", data={"email": "staff@glow.example", "password": PASSWORD}, follow_redirects=False)
    setup = client.get("/store/kiosk")
    assert setup.status_code == 200 and "Skin kiosk" in setup.text and "Till" not in setup.text
    chosen = client.post("/store/kiosk/setup", data={"register_id": net["kiosk"], "csrf": _csrf(setup.text)},
                         follow_redirects=False)
    assert chosen.status_code == 303
    attract = client.get("/store/kiosk")
    assert "Scan your member code" in attract.text
    return _csrf(attract.text)


def test_kiosk_pages_need_a_staff_login(client, db):
    _network(db)
    for path in ("/store/kiosk", "/store/kiosk/shop", "/store/kiosk/partner"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/staff/login"), path


def test_kiosk_forms_refuse_a_missing_csrf_token_and_a_till_register(client, db):
    net = _network(db)
    csrf = _kiosk_client(client, net)
    assert client.post("/store/kiosk/guest", data={}).status_code == 403
    assert client.post("/store/kiosk/basket/add", data={"gtin": net["gtin"]["serum"], "csrf": "forged"}
                       ).status_code == 403
    refused = client.post("/store/kiosk/setup", data={"register_id": net["till"], "csrf": csrf})
    assert refused.status_code == 422 and "kiosk or self-checkout" in refused.text


def _member(db, net) -> tuple[str, str]:
    with db.unit_of_work() as s:
        member = members.sign_up(s, email="mei@example.com", phone=None, password="a long passphrase", name="Mei",
                                 now=T0)
        card = loyalty_programmes.create_programme(s, principal=OPERATOR, merchant_id=None, name="Lake Card",
                                                   currency="CNY", value_minor=1, value_points=1, expiry_days=730,
                                                   tiers=[], now=T0)
        loyalty_programmes.create_rule(s, principal=OPERATOR, programme_id=card.id, merchant_id=None,
                                       name="1 point per yuan", points=1, per_minor=100,
                                       channel_multipliers={"kiosk": 200, "self_checkout": 200}, now=T0)
        loyalty.grant_points(s, principal=OPERATOR, grant_id="welcome", member_id=member.id, programme_id=card.id,
                             points=50_000, reason="welcome", now=T0)
        members.grant_consents(s, member_id=member.id, merchant_id=net["shop"], data_classes=["profile.name"], now=T0)
        return member.id, card.id


def test_a_member_pays_her_whole_basket_with_points_and_the_kiosk_records_one_kiosk_sale(app, client, db):
    net = _network(db)
    member_id, _ = _member(db, net)
    csrf = _kiosk_client(client, net)
    with db.unit_of_work() as s:
        code = members.issue_member_code(s, member_id=member_id, now=T0, settings=app.state.settings).code

    shop = client.post("/store/kiosk/member", data={"code": code, "csrf": csrf})
    assert shop.status_code == 200 and "Hello, Mei" in shop.text and "50,000" in shop.text
    assert "In stock at Glow · Lakeside" in shop.text
    used = client.post("/store/kiosk/member", data={"code": code, "csrf": csrf})
    assert used.status_code == 410 and "already used" in used.text

    added = client.post("/store/kiosk/basket/add", data={"gtin": net["gtin"]["serum"], "csrf": csrf},
                        headers={"HX-Request": "true"})
    assert added.status_code == 200 and 'id="basket"' in added.text and "<html" not in added.text
    # ¥115.00 at the kiosk price, 1 point per yuan, doubled at this kiosk by the rule.
    assert 'data-earn-points="230"' in added.text and "double at self-checkout" in added.text
    too_many = client.post("/store/kiosk/basket/set", data={"gtin": net["gtin"]["serum"], "quantity": 11,
                                                             "csrf": csrf}, headers={"HX-Request": "true"})
    assert too_many.status_code == 422 and "Only 10 of Hydrating serum left" in too_many.text
    foreign = client.post("/store/kiosk/basket/add", data={"gtin": "4006381333931", "csrf": csrf},
                          headers={"HX-Request": "true"})
    assert foreign.status_code == 422 and "could not find a product" in foreign.text

    paid = client.post("/store/kiosk/checkout", data={"points": 99_999, "csrf": csrf})
    assert paid.status_code == 200 and "Thank you, Mei!" in paid.text
    assert "You paid ¥115.00 for 1 item." in paid.text and "11,500 points went towards it" in paid.text
    assert 'data-points-earned="230"' in paid.text
    with db.read() as s:
        [sale] = s.scalars(select(PosSale).where(PosSale.register_id == net["kiosk"])).all()
        assert sale.total_minor == 11_500 and [t["kind"] for t in sale.tenders] == ["points"]
        assert sale.member_ref is not None and sale.member_ref != member_id
        [card] = [b for b in loyalty.balances(s, member_id=member_id) if b.programme_name == "Lake Card"]
        assert card.available == 50_000 - 11_500

    client.post("/store/kiosk/reset", data={"csrf": csrf})
    assert "Scan your member code" in client.get("/store/kiosk").text, "the next shopper starts afresh"


def test_a_guest_sees_the_partner_product_with_delivery_options_in_words(client, db):
    net = _network(db)
    csrf = _kiosk_client(client, net)
    client.post("/store/kiosk/guest", data={"csrf": csrf})
    listing = client.get("/store/kiosk/partner")
    assert "Lip gloss" in listing.text and "River Online" in listing.text and "Dish soap" not in listing.text
    page = client.get(f"/store/kiosk/partner/{net['p']['gloss']}")
    assert page.status_code == 200 and "Your area" in page.text
    missing = client.post(f"/store/kiosk/partner/{net['p']['gloss']}/quote", data={"area": "lakeside", "csrf": csrf})
    assert missing.status_code == 422 and "street address" in missing.text
    quoted = client.post(f"/store/kiosk/partner/{net['p']['gloss']}/quote",
                         data={"area": "lakeside", "street": "1 Lake Road", "quantity": 1, "csrf": csrf})
    assert quoted.status_code == 200, quoted.text
    assert re.search(r"Delivered to you (today|tomorrow) by \d\d:\d\d · ¥10\.00", quoted.text), quoted.text
    assert client.get(f"/store/kiosk/partner/{net['p']['serum']}").status_code == 404, "on the shelf here"


def test_a_member_orders_from_the_partner_as_herself_and_pays_by_the_wallet_qr(app, client, db):
    wire_wallet(app)
    net = _network(db)
    member_id, _ = _member(db, net)
    csrf = _kiosk_client(client, net)
    with db.unit_of_work() as s:
        code = members.issue_member_code(s, member_id=member_id, now=T0, settings=app.state.settings).code
    client.post("/store/kiosk/member", data={"code": code, "csrf": csrf})
    quoted = client.post(f"/store/kiosk/partner/{net['p']['gloss']}/quote",
                         data={"area": "riverside", "street": "8 Wulin Road", "quantity": 2, "csrf": csrf})
    quote_id = re.search(r'name="quote_id" value="([^"]+)"', quoted.text).group(1)
    option_id = re.search(r'name="option_id" value="([^"]+)"', quoted.text).group(1)
    paying = client.post(f"/store/kiosk/partner/{net['p']['gloss']}/order",
                         data={"quote_id": quote_id, "option_id": option_id, "csrf": csrf})
    assert paying.status_code == 200 and "Scan to pay ¥130.00" in paying.text  # 2 x ¥60 + ¥10 delivery
    assert "<svg" in paying.text, "the wallet QR is on the kiosk"
    with db.read() as s:
        [order] = s.scalars(select(Order)).all()
        # Placed for the partner with her as its member (its own pairwise ref), so she earns there on delivery.
        assert order.merchant_id == net["partner"] and order.member_id == member_id
        assert order.status == "pending_payment" and order.payment_method == "wallet_qr"
