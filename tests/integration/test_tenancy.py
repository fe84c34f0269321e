"""Merchant B's key can neither read nor change merchant A's resources.

Reads by id answer 404 (A's ids cannot even be probed), lists leave A's
things out, writes aimed at A answer 403 or 404, and A's data is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from oao.catalog import service as catalog
from oao.core.auth import Role
from oao.inventory import service as inventory
from oao.network import service as network
from tests import factories as f
from tests.conftest import T0

API = "/api/v1"


@dataclass
class Two:
    a: dict[str, str]  # merchant A's admin key
    b: dict[str, str]  # merchant B's admin key
    a_id: str
    b_id: str
    a_store: str
    a_offer: str
    a_key_id: str
    a_staff_id: str
    a_agreement: str  # A hosts C; B is no party
    cake: str


@pytest.fixture
def two(db) -> Two:
    with db.unit_of_work() as s:
        a = f.merchant(s, "Bakery", at=T0)
        b = f.merchant(s, "Corner Shop", at=T0)
        c = f.merchant(s, "Tea House", at=T0)
        store = f.location(s, a, "Office branch", 30.27, 120.15, at=T0)
        cake = f.product(s, 1, "Birthday cake", at=T0)
        f.stock(s, store, cake, 5, at=T0)
        offer = f.offer(s, a, cake, 12900, at=T0)
        a_token, a_key = network.create_api_key(s, merchant_id=a.id, name="A admin", now=T0)
        staff = f.staff_user(s, a, "ann@bakery.example", at=T0, location=store)
        agreement = f.pickup_agreement(s, a, c, at=T0)
        return Two(a=f.auth(a_token), b=f.auth(f.api_key(s, b, at=T0)), a_id=a.id, b_id=b.id,
                   a_store=store.id, a_offer=offer.id, a_key_id=a_key.id, a_staff_id=staff.id,
                   a_agreement=agreement.id, cake=cake.id)


def refused(response, *statuses: int) -> None:
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("path", [
    "/merchants/{a_id}",
    "/locations/{a_store}",
    "/offers/{a_offer}",
    "/partner-agreements/{a_agreement}",
    "/locations?merchant_id={a_id}",
    "/offers?merchant_id={a_id}",
])
def test_b_cannot_read_a_resource_of_a_by_id(client, two, path):
    r = client.get(API + path.format(**vars(two)), headers=two.b)
    refused(r, 404)
    assert client.get(API + path.format(**vars(two)), headers=two.a).status_code == 200  # A can


@pytest.mark.parametrize("path,a_id_field", [
    ("/merchants", "a_id"),
    ("/locations", "a_store"),
    ("/api-keys", "a_key_id"),
    ("/staff-users", "a_staff_id"),
    ("/partner-agreements", "a_agreement"),
])
def test_as_resources_are_absent_from_bs_lists(client, two, path, a_id_field):
    def ids(headers):
        r = client.get(API + path, headers=headers)
        assert r.status_code == 200, r.text
        return {item["id"] for item in r.json()}

    assert getattr(two, a_id_field) in ids(two.a)
    assert getattr(two, a_id_field) not in ids(two.b)


def test_as_offers_are_absent_from_bs_offer_list(client, two):
    assert [o["id"] for o in client.get(f"{API}/offers", headers=two.a).json()["items"]] == [two.a_offer]
    assert client.get(f"{API}/offers", headers=two.b).json()["items"] == []


def test_b_cannot_change_as_locations(client, db, two):
    refused(client.patch(f"{API}/locations/{two.a_store}", json={"name": "Mine now"}, headers=two.b), 404)
    body = {"merchant_id": two.a_id, "name": "Sneaky", "kind": "store", "latitude": 30.0, "longitude": 120.0,
            "timezone": "Asia/Shanghai"}
    refused(client.post(f"{API}/locations", json=body, headers=two.b), 403)
    with db.unit_of_work() as s:
        assert network.get_location(s, location_id=two.a_store).name == "Office branch"
        assert [loc.name for loc in network.list_locations(s, merchant_id=two.a_id)] == ["Office branch"]


def test_b_cannot_set_as_prices(client, db, two):
    body = {"merchant_id": two.a_id, "product_id": two.cake, "price_minor": 1, "currency": "CNY"}
    refused(client.put(f"{API}/offers", json=body, headers=two.b), 403)
    with db.unit_of_work() as s:
        assert catalog.get_offer(s, offer_id=two.a_offer).price_minor == 12900


def test_b_cannot_issue_list_or_revoke_as_api_keys(client, db, two):
    refused(client.post(f"{API}/api-keys", json={"merchant_id": two.a_id, "name": "x"}, headers=two.b), 403)
    refused(client.post(f"{API}/api-keys/{two.a_key_id}/revoke", headers=two.b), 404)
    assert client.get(f"{API}/me", headers=two.a).status_code == 200  # A's key still works
    with db.unit_of_work() as s:
        assert [k.id for k in network.list_api_keys(s, merchant_id=two.a_id)] == [two.a_key_id]


def test_b_cannot_add_staff_to_a_or_to_as_stores(client, db, two):
    body = {"email": "eve@corner.example", "name": "Eve", "password": "correct horse battery",
            "role": "store_staff", "location_id": two.a_store}
    refused(client.post(f"{API}/staff-users", json={**body, "merchant_id": two.a_id}, headers=two.b), 403)
    # Under B's own merchant, A's store is not a store of B.
    refused(client.post(f"{API}/staff-users", json=body, headers=two.b), 422)
    with db.unit_of_work() as s:
        assert [u.id for u in network.list_staff_users(s, merchant_id=two.a_id)] == [two.a_staff_id]
        assert network.list_staff_users(s, merchant_id=two.b_id) == []


def test_b_cannot_create_or_end_as_agreements(client, db, two):
    refused(client.post(f"{API}/partner-agreements", json={"host_merchant_id": two.a_id,
                                                           "guest_merchant_id": two.b_id}, headers=two.b), 403)
    refused(client.post(f"{API}/partner-agreements/{two.a_agreement}/end", headers=two.b), 404)
    with db.unit_of_work() as s:
        assert network.get_agreement(s, agreement_id=two.a_agreement).status == "active"
        assert (two.a_id, two.b_id) not in network.pickup_partners(s)


def test_bs_stock_import_cannot_touch_as_store(client, db, two):
    text = f"location_id,gtin,on_hand\n{two.a_store},{f.gtin13(1)},0\n".encode()
    r = client.post(f"{API}/imports/stock", files={"file": ("s.csv", text, "text/csv")}, headers=two.b)
    refused(r, 422)
    assert r.json()["errors"] == [{"line": 2, "message": f"unknown location {two.a_store!r}"}]
    with db.unit_of_work() as s:
        assert inventory.get_level(s, location_id=two.a_store, product_id=two.cake).on_hand == 5


def test_b_cannot_import_offers_or_stock_for_a(client, db, two):
    offers = f"gtin,price_minor,currency\n{f.gtin13(1)},1,CNY\n".encode()
    for kind, text in (("offers", offers), ("stock", b"location_id,gtin,on_hand\n")):
        r = client.post(f"{API}/imports/{kind}", files={"file": ("x.csv", text, "text/csv")},
                        data={"merchant_id": two.a_id}, headers=two.b)
        refused(r, 403)
    with db.unit_of_work() as s:
        assert catalog.get_offer(s, offer_id=two.a_offer).price_minor == 12900


def test_store_staff_of_a_cannot_administer_a(client, db, two):
    with db.unit_of_work() as s:
        staff = f.auth(f.api_key(s, network.get_merchant(s, merchant_id=two.a_id), at=T0, role=Role.STORE_STAFF))
    refused(client.get(f"{API}/api-keys", headers=staff), 403)
    refused(client.get(f"{API}/staff-users", headers=staff), 403)
    refused(client.post(f"{API}/api-keys", json={"name": "x"}, headers=staff), 403)
    refused(client.post(f"{API}/imports/offers", files={"file": ("x.csv", b"gtin\n", "text/csv")}, headers=staff),
            403)
