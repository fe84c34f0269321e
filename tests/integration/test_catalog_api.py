"""The catalog API: shared products by GTIN, search, merchants' offers and channel prices."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from oao.catalog import service as catalog
from oao.core.auth import Role
from oao.core.errors import InvalidInput, NotFound
from tests import factories as f
from tests.conftest import T0

API = "/api/v1"


@dataclass
class Shop:
    admin: dict[str, str]
    a: dict[str, str]
    staff: dict[str, str]
    a_id: str
    b_id: str
    cake: str  # product id
    cake_gtin: str


@pytest.fixture
def shop(db) -> Shop:
    with db.unit_of_work() as s:
        a = f.merchant(s, "Bakery", at=T0)
        b = f.merchant(s, "Corner Shop", at=T0)
        cake = f.product(s, 1, "Birthday cake", at=T0, brand="Sweet", category="bakery")
        return Shop(admin=f.auth(f.api_key(s, None, at=T0)), a=f.auth(f.api_key(s, a, at=T0)),
                    staff=f.auth(f.api_key(s, a, at=T0, role=Role.STORE_STAFF)), a_id=a.id, b_id=b.id,
                    cake=cake.id, cake_gtin=cake.gtin)


def problem(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    for word in words:
        assert word in body["detail"], body["detail"]
    return body


# --- products -----------------------------------------------------------------------------

def test_a_merchant_admin_adds_a_product_that_everyone_can_read(client, shop):
    body = {"gtin": "4006381333931", "title": "Fountain pen", "brand": "Stabilo", "category": "office",
            "attributes": {"colour": "blue", "refillable": True}}
    r = client.post(f"{API}/products", json=body, headers=shop.a)
    assert r.status_code == 201, r.text
    product = r.json()
    assert product["gtin14"] == "04006381333931" and product["created_by_merchant_id"] == shop.a_id
    assert client.get(f"{API}/products/{product['id']}", headers=shop.staff).json()["title"] == "Fountain pen"


def test_store_staff_cannot_add_products(client, shop):
    problem(client.post(f"{API}/products", json={"gtin": "4006381333931", "title": "Pen"}, headers=shop.staff),
            403, "admin")


@pytest.mark.parametrize("gtin,words", [
    ("4006381333932", ("check digit 2, expected 1",)),
    ("40063813339X1", ("digits only",)),
    ("123", ("has 3 digits",)),
])
def test_an_invalid_gtin_is_refused_with_the_reason(client, shop, gtin, words):
    problem(client.post(f"{API}/products", json={"gtin": gtin, "title": "Pen"}, headers=shop.a), 422, *words)


def test_a_gtin_already_in_the_catalog_is_a_conflict_naming_the_product(client, shop):
    r = client.post(f"{API}/products", json={"gtin": shop.cake_gtin, "title": "Other cake"}, headers=shop.a)
    body = problem(r, 409, shop.cake)
    assert body["product_id"] == shop.cake


def test_the_same_gtin_written_with_leading_zeros_is_the_same_product(client, shop):
    first = client.post(f"{API}/products", json={"gtin": "036000291452", "title": "Tissues"}, headers=shop.a)
    assert first.status_code == 201
    problem(client.post(f"{API}/products", json={"gtin": "0036000291452", "title": "Tissues"}, headers=shop.a),
            409, first.json()["id"])


def test_a_product_is_found_by_any_form_of_its_gtin(client, shop):
    for form in (shop.cake_gtin, "0" + shop.cake_gtin):
        r = client.get(f"{API}/products/by-gtin/{form}", headers=shop.staff)
        assert r.status_code == 200 and r.json()["id"] == shop.cake
    problem(client.get(f"{API}/products/by-gtin/4006381333931", headers=shop.staff), 404, "4006381333931")
    problem(client.get(f"{API}/products/by-gtin/4006381333932", headers=shop.staff), 422, "check digit")
    problem(client.get(f"{API}/products/prd_missing", headers=shop.staff), 404, "prd_missing")


def test_search_matches_title_or_brand_in_any_case_and_filters_by_category(client, db, shop):
    with db.unit_of_work() as s:
        f.product(s, 2, "Chocolate CAKE slice", at=T0, category="bakery")
        f.product(s, 3, "Dish soap", at=T0, brand="CakeCo", category="household")
        f.product(s, 4, "Milk 100% whole", at=T0, category="dairy")

    def titles(**params):
        r = client.get(f"{API}/products", params=params, headers=shop.a)
        assert r.status_code == 200, r.text
        return sorted(p["title"] for p in r.json()["items"])

    assert titles(q="cake") == ["Birthday cake", "Chocolate CAKE slice", "Dish soap"]
    assert titles(q="cake", category="bakery") == ["Birthday cake", "Chocolate CAKE slice"]
    assert titles(q="100%") == ["Milk 100% whole"]  # % is a character, not a wildcard
    assert titles(q="0%") == ["Milk 100% whole"]
    assert titles(q=f.gtin13(3)) == ["Dish soap"]


def test_search_pages_through_everything_once(client, db, shop):
    with db.unit_of_work() as s:
        for n in range(2, 8):
            f.product(s, n, f"Bread {n}", at=T0)
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"{API}/products", params=params, headers=shop.a).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 7
    problem(client.get(f"{API}/products", params={"limit": 0}, headers=shop.a), 422, "limit")


# --- offers -------------------------------------------------------------------------------

def test_putting_an_offer_creates_it_then_updates_it(client, shop):
    body = {"product_id": shop.cake, "price_minor": 12900, "currency": "CNY"}
    created = client.put(f"{API}/offers", json=body, headers=shop.a)
    assert created.status_code == 201, created.text
    updated = client.put(f"{API}/offers", json={**body, "price_minor": 11900, "channel_prices": {"online": 11500}},
                         headers=shop.a)
    assert updated.status_code == 200
    assert updated.json()["id"] == created.json()["id"]
    assert (updated.json()["price_minor"], updated.json()["channel_prices"]) == (11900, {"online": 11500})
    listed = client.get(f"{API}/offers", params={"product_id": shop.cake}, headers=shop.a).json()["items"]
    assert [o["id"] for o in listed] == [created.json()["id"]]
    assert client.get(f"{API}/offers/{created.json()['id']}", headers=shop.staff).json()["price_minor"] == 11900


@pytest.mark.parametrize("over,words", [
    ({"price_minor": 0}, ("price_minor",)),
    ({"price_minor": -5}, ("price_minor",)),
    ({"price_minor": 12.5}, ("price_minor",)),
    ({"price_minor": "1290"}, ("price_minor",)),
    ({"currency": "RMB"}, ("RMB", "ISO 4217")),
    ({"channel_prices": {"app": 100}}, ("'app' is not a channel",)),
    ({"channel_prices": {"online": 0}}, ("channel_prices.online",)),
])
def test_bad_offers_are_refused_saying_what_is_wrong(client, shop, over, words):
    body = {"product_id": shop.cake, "price_minor": 12900, "currency": "CNY", **over}
    problem(client.put(f"{API}/offers", json=body, headers=shop.a), 422, *words)


def test_an_offer_for_an_unknown_product_is_not_found(client, shop):
    problem(client.put(f"{API}/offers", json={"product_id": "prd_missing", "price_minor": 100, "currency": "CNY"},
                       headers=shop.a), 404, "prd_missing")


def test_store_staff_cannot_set_prices_and_a_network_admin_must_name_the_merchant(client, shop):
    body = {"product_id": shop.cake, "price_minor": 100, "currency": "CNY"}
    problem(client.put(f"{API}/offers", json=body, headers=shop.staff), 403, "admin")
    problem(client.put(f"{API}/offers", json=body, headers=shop.admin), 422, "merchant_id")
    assert client.put(f"{API}/offers", json={**body, "merchant_id": shop.b_id}, headers=shop.admin).status_code == 201


# --- service functions other domains use ------------------------------------------------------

def test_the_price_is_the_channel_price_only_where_one_was_set(db, shop):
    with db.unit_of_work() as s:
        offer, _ = catalog.upsert_offer(s, merchant_id=shop.a_id, product_id=shop.cake, price_minor=1000,
                                        currency="CNY", channel_prices={"online": 900}, now=T0)
        assert catalog.price_for(offer, "online") == 900
        assert catalog.price_for(offer, "store") == 1000
        assert catalog.price_for(offer, "kiosk") == 1000
        with pytest.raises(InvalidInput, match="'web' is not a sales channel"):
            catalog.price_for(offer, "web")


def test_active_offers_are_keyed_by_merchant_and_product_and_skip_inactive_ones(db, shop):
    with db.unit_of_work() as s:
        pen = f.product(s, 9, "Pen", at=T0)
        catalog.upsert_offer(s, merchant_id=shop.a_id, product_id=shop.cake, price_minor=1000, currency="CNY", now=T0)
        catalog.upsert_offer(s, merchant_id=shop.b_id, product_id=shop.cake, price_minor=990, currency="CNY", now=T0)
        catalog.upsert_offer(s, merchant_id=shop.b_id, product_id=pen.id, price_minor=5, currency="CNY", now=T0,
                             active=False)
        offers = catalog.active_offers(s, product_ids=[shop.cake, pen.id])
        assert {k: o.price_minor for k, o in offers.items()} == {(shop.a_id, shop.cake): 1000,
                                                                 (shop.b_id, shop.cake): 990}
        only_b = catalog.active_offers(s, product_ids=[shop.cake], merchant_ids=[shop.b_id])
        assert list(only_b) == [(shop.b_id, shop.cake)]
        assert set(catalog.products_by_ids(s, product_ids=[shop.cake, pen.id, "prd_missing"])) == {shop.cake, pen.id}


def test_product_by_gtin_accepts_every_length_and_says_why_a_gtin_is_bad(db, shop):
    with db.unit_of_work() as s:
        upc = catalog.create_product(s, gtin="036000291452", title="Tissues", now=T0)
        assert catalog.product_by_gtin(s, gtin="00036000291452").id == upc.id
        assert catalog.product_by_gtin(s, gtin=shop.cake_gtin).id == shop.cake
        assert catalog.get_product(s, product_id=shop.cake).gtin == shop.cake_gtin
        with pytest.raises(InvalidInput, match="check digit"):
            catalog.product_by_gtin(s, gtin="036000291453")
        with pytest.raises(NotFound, match="No product with GTIN 96385074"):
            catalog.product_by_gtin(s, gtin="96385074")
