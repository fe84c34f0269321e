"""The Hangzhou demo network (`oao demo`) is complete, consistent and loads only once."""

from __future__ import annotations

from collections import defaultdict

import pytest
from sqlalchemy import func, select

from oao.catalog.gtin import normalise_gtin, validate_gtin
from oao.catalog.models import Offer, Product
from oao.core.errors import Conflict
from oao.core.geo import haversine_km, search_cell
from oao.demo import DEMO_PASSWORD, demo_loaded, format_credentials, load_demo
from oao.demo.catalog import build_catalog
from oao.inventory.models import StockLevel, StockMovement
from oao.network import service as network_service
from oao.network.models import ApiKey, Location, Merchant, PartnerAgreement, StaffUser
from oao.pos.models import Register
from tests.conftest import T0

# Hangzhou municipality, generously rounded; every demo place must fall inside.
HANGZHOU_LAT = (29.18, 30.57)
HANGZHOU_LON = (118.34, 120.72)
WEST_LAKE = (30.2460, 120.1520)
DAYS = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}


@pytest.fixture
def demo(db):
    with db.unit_of_work() as s:
        return load_demo(s, now=T0)


def _merchant(s, name: str) -> Merchant:
    return s.scalar(select(Merchant).where(Merchant.name == name))


def _locations(s, name: str) -> list[Location]:
    return list(s.scalars(select(Location).where(Location.merchant_id == _merchant(s, name).id)))


def test_the_demo_loads_five_merchants_in_one_city(db, demo):
    with db.unit_of_work() as s:
        names = set(s.scalars(select(Merchant.name)))
        assert names == {"Sweet Lane Bakery", "Daily Corner", "Qiantang Online", "Jade Petal Cosmetics",
                         "Blue Harbour Fresh"}
        assert set(s.scalars(select(Merchant.currency))) == {"CNY"}
        assert demo.counts["products"] == s.scalar(select(func.count()).select_from(Product))


def test_the_catalog_has_at_least_300_products_all_with_valid_chinese_gtins(db, demo):
    with db.unit_of_work() as s:
        products = list(s.scalars(select(Product)))
    assert len(products) >= 300
    for p in products:
        assert validate_gtin(p.gtin) == p.gtin and len(p.gtin) == 13, p.title
        assert 690 <= int(p.gtin[:3]) <= 695, p.gtin
        assert p.gtin14 == normalise_gtin(p.gtin)
        assert p.title and p.brand and p.category and p.attributes["name_zh"]
    categories = {p.category for p in products}
    assert {"bakery", "cakes", "dairy", "fresh_produce", "snacks", "beverages", "skincare",
            "household"} <= categories
    perishables = [p for p in products if p.perishable]
    assert perishables and all(p.shelf_life_days and p.shelf_life_days <= 30 for p in perishables)


def test_at_least_eight_convenience_stores_are_pickup_points_for_the_bakery_and_the_platform(db, demo):
    with db.unit_of_work() as s:
        stores = [loc for loc in _locations(s, "Daily Corner") if loc.kind == "store"]
        assert len(stores) >= 8
        assert all(loc.accepts_pickups and loc.accepts_partner_pickups for loc in stores)
        # Spread over the city, not piled in one street.
        assert max(haversine_km(a.latitude, a.longitude, b.latitude, b.longitude)
                   for a in stores for b in stores) > 15
        for loc in stores:
            hours = loc.opening_hours
            assert set(hours) == DAYS
            assert all(hours[d] in ([["00:00", "24:00"]], [["07:00", "23:00"]], [["06:30", "01:00"]])
                       for d in DAYS), loc.name
        corner = _merchant(s, "Daily Corner").id
        guests = {s.get(Merchant, guest).name: network_service.pickup_terms(
                      s, host_merchant_id=corner, guest_merchant_id=guest, at=T0)
                  for host, guest in network_service.pickup_partners(s) if host == corner}
        assert {a.proposer_merchant_id for a in s.scalars(select(PartnerAgreement))} >= {corner}
    assert set(guests) == {"Sweet Lane Bakery", "Qiantang Online"}
    assert all(t is not None and t.fee_minor > 0 for t in guests.values())


def test_the_birthday_cakes_are_stocked_only_at_the_office_bakery(db, demo):
    with db.unit_of_work() as s:
        office, home = sorted(_locations(s, "Sweet Lane Bakery"), key=lambda loc: loc.delivery_radius_km)
        cake_ids = set(s.scalars(select(Product.id).where(Product.category == "cakes")))
        cake_stock = list(s.scalars(select(StockLevel).where(StockLevel.product_id.in_(cake_ids))))
        home_stock = set(s.scalars(select(StockLevel.product_id).where(StockLevel.location_id == home.id)))
    assert cake_ids and {lvl.product_id for lvl in cake_stock} == cake_ids
    assert {lvl.location_id for lvl in cake_stock} == {office.id}
    assert all(lvl.on_hand > 0 for lvl in cake_stock)
    assert home_stock and not home_stock & cake_ids
    # S2: two branches a few km apart, both hand over pickups, only the home branch delivers.
    assert 1.5 < haversine_km(office.latitude, office.longitude, home.latitude, home.longitude) < 5
    assert office.accepts_pickups and home.accepts_pickups
    assert office.delivery_radius_km == 0 and home.delivery_radius_km == pytest.approx(3.0)
    assert home.delivery_capacity_per_hour > 0 and home.delivery_fee_minor > 0


def test_the_fresh_store_delivers_within_5_km_and_sells_perishables(db, demo):
    with db.unit_of_work() as s:
        [store] = _locations(s, "Blue Harbour Fresh")
        perishable_stocked = s.scalar(
            select(func.count()).select_from(StockLevel).join(Product, Product.id == StockLevel.product_id)
            .where(StockLevel.location_id == store.id, Product.perishable.is_(True), StockLevel.on_hand > 0))
        kinds = set(s.scalars(select(Register.kind).where(Register.location_id == store.id)))
    assert store.delivery_radius_km == 5.0
    assert store.pick_minutes <= 10 and store.delivery_capacity_per_hour >= 60
    assert store.sells_in_store and perishable_stocked >= 50
    assert "self_checkout" in kinds


def test_the_platform_ships_from_a_distant_warehouse_and_delivers_from_two_dark_stores(db, demo):
    with db.unit_of_work() as s:
        locs = _locations(s, "Qiantang Online")
        [warehouse] = [loc for loc in locs if loc.kind == "warehouse"]
        dark = [loc for loc in locs if loc.kind == "dark_store"]
        perishable_in_warehouse = s.scalar(
            select(func.count()).select_from(StockLevel).join(Product, Product.id == StockLevel.product_id)
            .where(StockLevel.location_id == warehouse.id, Product.perishable.is_(True)))
        units = {loc.id: s.scalar(select(func.avg(StockLevel.on_hand))
                                  .where(StockLevel.location_id == loc.id)) for loc in locs}
    assert 20 <= haversine_km(warehouse.latitude, warehouse.longitude, *WEST_LAKE) <= 30
    assert warehouse.shipping_lead_hours == pytest.approx(6.0) and warehouse.shipping_fee_minor > 0
    assert not warehouse.sells_in_store and perishable_in_warehouse == 0
    assert len(dark) == 2
    for loc in dark:
        assert loc.delivery_radius_km == pytest.approx(3.0) and loc.delivery_capacity_per_hour > 0
        assert not loc.sells_in_store and loc.pick_minutes <= 5
        assert units[warehouse.id] > 3 * units[loc.id]


def test_the_cosmetics_shop_has_a_kiosk_and_products_by_skin_type_but_no_lip_gloss(db, demo):
    with db.unit_of_work() as s:
        shop = _merchant(s, "Jade Petal Cosmetics")
        online = _merchant(s, "Qiantang Online")
        kinds = sorted(s.scalars(select(Register.kind).where(Register.merchant_id == shop.id)))
        offered = list(s.scalars(select(Product).join(Offer, Offer.product_id == Product.id)
                                 .where(Offer.merchant_id == shop.id)))
        gloss = list(s.scalars(select(Product).where(Product.title.contains("Lip Gloss"))))
        gloss_sellers = set(s.scalars(select(Offer.merchant_id)
                                      .where(Offer.product_id.in_([g.id for g in gloss]))))
    assert kinds == ["counter", "kiosk"]
    with_skin_type = [p for p in offered if p.attributes.get("skin_type")]
    assert len(with_skin_type) >= 20
    assert {"dry", "oily", "sensitive", "combination", "normal"} <= {t for p in with_skin_type
                                                                    for t in p.attributes["skin_type"]}
    assert gloss and gloss_sellers == {online.id}  # S3: ordered from the online partner


def test_every_stock_level_is_explained_by_its_movements_starting_with_a_receipt(db, demo):
    with db.unit_of_work() as s:
        levels = list(s.scalars(select(StockLevel)))
        moves = defaultdict(list)
        for m in s.scalars(select(StockMovement)):
            moves[(m.location_id, m.product_id)].append(m)
    assert len(levels) >= 1000
    for lvl in levels:
        history = moves[(lvl.location_id, lvl.product_id)]
        assert [m.kind for m in history if m.quantity > 0] == ["receipt"]
        assert sum(m.quantity for m in history) == lvl.on_hand and lvl.reserved == 0
        assert all(m.merchant_id == lvl.merchant_id for m in history)
    sold_out = [lvl for lvl in levels if lvl.on_hand == 0]
    assert 0 < len(sold_out) < len(levels) / 10


def test_offers_are_shared_between_merchants_and_channel_prices_are_set_only_on_purpose(db, demo):
    with db.unit_of_work() as s:
        offers = list(s.scalars(select(Offer)))
        names = {m.id: m.name for m in s.scalars(select(Merchant))}
    sellers = defaultdict(set)
    for o in offers:
        sellers[o.product_id].add(o.merchant_id)
        assert o.currency == "CNY" and o.price_minor > 0 and o.active
    assert sum(1 for ms in sellers.values() if len(ms) >= 3) >= 30
    with_channel = [o for o in offers if o.channel_prices]
    assert 3 <= len(with_channel) <= 8
    assert {names[o.merchant_id] for o in with_channel} == {"Blue Harbour Fresh", "Daily Corner"}
    assert all(set(o.channel_prices) == {"online"} for o in with_channel)


def test_every_location_is_in_hangzhou_with_hours_for_every_day(db, demo):
    with db.unit_of_work() as s:
        locations = list(s.scalars(select(Location)))
    assert len(locations) >= 15
    for loc in locations:
        assert HANGZHOU_LAT[0] < loc.latitude < HANGZHOU_LAT[1], loc.name
        assert HANGZHOU_LON[0] < loc.longitude < HANGZHOU_LON[1], loc.name
        assert loc.search_cell == search_cell(loc.latitude, loc.longitude)
        assert loc.timezone == "Asia/Shanghai" and "Hangzhou" in loc.address
        assert set(loc.opening_hours) == DAYS and any(loc.opening_hours.values())
        assert loc.pick_minutes > 0
        if loc.delivery_radius_km:
            assert loc.delivery_capacity_per_hour > 0


def test_loading_the_demo_twice_is_refused_and_changes_nothing(db, demo):
    with db.unit_of_work() as s:
        assert demo_loaded(s)
        before = s.scalar(select(func.count()).select_from(Product))
    with pytest.raises(Conflict, match="already loaded"), db.unit_of_work() as s:
        load_demo(s, now=T0)
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Merchant)) == 5
        assert s.scalar(select(func.count()).select_from(Product)) == before


def test_an_empty_database_has_no_demo(db):
    with db.unit_of_work() as s:
        assert not demo_loaded(s)


def test_the_printed_credentials_list_every_login_and_a_working_key_per_merchant(db, demo):
    text = format_credentials(demo)
    assert DEMO_PASSWORD in text
    with db.unit_of_work() as s:
        users = list(s.scalars(select(StaffUser)))
        merchants = list(s.scalars(select(Merchant)))
        assert s.scalar(select(func.count()).select_from(ApiKey)) == len(merchants) + 1
        for user in users:
            assert user.email in text
        for location in s.scalars(select(Location)):
            assert s.scalar(select(StaffUser).where(StaffUser.location_id == location.id,
                                                    StaffUser.role == "store_staff")) is not None
        assert len(demo.api_keys) == len(merchants) + 1
        by_token = {k.token: k for k in demo.api_keys}
        for m in merchants:
            [key] = [k for k in demo.api_keys if k.merchant == m.name]
            assert key.token in text
            assert network_service.authenticate(s, token=key.token, now=T0).merchant_id == m.id
        [network_key] = [k for k in by_token.values() if k.merchant is None]
        assert network_service.authenticate(s, token=network_key.token, now=T0).is_network_admin
        _, user, _ = network_service.log_in(s, email="staff.office@sweetlane.example", password=DEMO_PASSWORD,
                                            now=T0)
        assert user.role == "store_staff" and s.get(Location, user.location_id).name.startswith("Sweet Lane")
        _, admin, _ = network_service.log_in(s, email="admin@oao.example", password=DEMO_PASSWORD, now=T0)
        assert admin.role == "network_admin" and admin.merchant_id is None
    assert {lg.email for lg in demo.logins if lg.role != "member (shopper)"} == {u.email for u in users}
    [member] = [lg for lg in demo.logins if lg.role == "member (shopper)"]
    assert member.email in text


def test_the_demo_catalog_is_the_same_on_every_run():
    first, second = build_catalog(), build_catalog()
    assert first == second
    assert len({p.gtin for p in first.products}) == len(first.products)


def test_the_demo_member_holds_welcome_points_on_the_network_card(client, demo):
    from oao.demo.load import DEMO_MEMBER_EMAIL, WELCOME_POINTS

    session = client.post("/api/v1/members/sessions", json={"login": DEMO_MEMBER_EMAIL, "password": DEMO_PASSWORD})
    assert session.status_code == 201, session.text
    points = client.get("/api/v1/loyalty/me/points", headers={"Authorization": f"Bearer {session.json()['token']}"})
    assert [(b["programme_name"], b["available"]) for b in points.json()] == [("Hangzhou Card", WELCOME_POINTS)]
