"""The network API: merchants, locations, sessions, API keys, staff users, agreements."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from oao.core.auth import Role
from oao.core.errors import InvalidInput, NotFound
from oao.core.geo import search_cell
from oao.network import service as network
from tests import factories as f
from tests.conftest import T0

API = "/api/v1"
PASSWORD = "correct horse battery"


@dataclass
class Net:
    admin: dict[str, str]  # network admin headers
    a: dict[str, str]  # merchant A admin headers
    b: dict[str, str]
    a_id: str
    b_id: str
    a_store: str


@pytest.fixture
def net(db) -> Net:
    with db.unit_of_work() as s:
        a = f.merchant(s, "Bakery", at=T0)
        b = f.merchant(s, "Corner Shop", at=T0)
        store = f.location(s, a, "Office branch", 30.27, 120.15, at=T0)
        return Net(admin=f.auth(f.api_key(s, None, at=T0)), a=f.auth(f.api_key(s, a, at=T0)),
                   b=f.auth(f.api_key(s, b, at=T0)), a_id=a.id, b_id=b.id, a_store=store.id)


def problem(response, status: int, *words: str) -> dict:
    """Assert a problem+json answer whose detail names what is wrong."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    for word in words:
        assert word in body["detail"], body["detail"]
    return body


def location_body(**over):
    body = {"name": "Home branch", "kind": "store", "latitude": 30.25, "longitude": 120.17,
            "timezone": "Asia/Shanghai", "opening_hours": {"mon": [["08:00", "20:00"]]}}
    body.update(over)
    return body


# --- merchants ------------------------------------------------------------------------

def test_a_network_admin_onboards_a_merchant(client, net):
    r = client.post(f"{API}/merchants", json={"name": "Tea House", "slug": "tea-house", "currency": "CNY"},
                    headers=net.admin)
    assert r.status_code == 201, r.text
    assert r.json()["slug"] == "tea-house" and r.json()["id"].startswith("mer_")
    assert client.get(f"{API}/merchants/{r.json()['id']}", headers=net.admin).json()["name"] == "Tea House"


def test_a_merchant_admin_cannot_onboard_merchants(client, net):
    r = client.post(f"{API}/merchants", json={"name": "X", "slug": "xx", "currency": "CNY"}, headers=net.a)
    problem(r, 403, "network admin")


def test_a_taken_slug_is_a_conflict(client, net):
    body = {"name": "Tea House", "slug": "tea-house", "currency": "CNY"}
    assert client.post(f"{API}/merchants", json=body, headers=net.admin).status_code == 201
    problem(client.post(f"{API}/merchants", json=body, headers=net.admin), 409, "tea-house")


@pytest.mark.parametrize("field,value,words", [
    ("currency", "XYZ", ("currency", "ISO 4217")),
    ("slug", "Tea House", ("slug",)),
    ("name", "", ("name",)),
])
def test_bad_merchant_fields_are_refused_saying_which(client, net, field, value, words):
    body = {"name": "Tea House", "slug": "tea-house", "currency": "CNY", field: value}
    problem(client.post(f"{API}/merchants", json=body, headers=net.admin), 422, *words)


def test_a_replayed_idempotency_key_returns_the_first_merchant(client, net):
    body = {"name": "Tea House", "slug": "tea-house", "currency": "CNY"}
    headers = {**net.admin, "Idempotency-Key": "onboard-1"}
    first = client.post(f"{API}/merchants", json=body, headers=headers)
    again = client.post(f"{API}/merchants", json=body, headers=headers)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]


def test_the_network_admin_lists_every_merchant_and_a_merchant_only_itself(client, net):
    assert {m["id"] for m in client.get(f"{API}/merchants", headers=net.admin).json()} == {net.a_id, net.b_id}
    assert [m["id"] for m in client.get(f"{API}/merchants", headers=net.a).json()] == [net.a_id]


def test_requests_without_a_valid_token_are_unauthorised(client, net):
    problem(client.get(f"{API}/merchants"), 401, "Bearer")
    problem(client.get(f"{API}/merchants", headers=f.auth("oao_sk_nope")), 401, "Unknown")


# --- locations ------------------------------------------------------------------------

def test_a_merchant_admin_adds_a_location_indexed_by_its_search_cell(client, net):
    r = client.post(f"{API}/locations", json=location_body(closures=["2026-12-25", "2026-01-01"]),
                    headers=net.a)
    assert r.status_code == 201, r.text
    loc = r.json()
    assert loc["merchant_id"] == net.a_id and loc["active"] is True
    assert loc["search_cell"] == search_cell(30.25, 120.17)
    assert loc["closures"] == ["2026-01-01", "2026-12-25"]
    assert client.get(f"{API}/locations/{loc['id']}", headers=net.a).json()["name"] == "Home branch"


def test_hours_past_midnight_and_a_24_00_close_are_accepted(client, net):
    hours = {"fri": [["18:00", "02:00"]], "sat": [["00:00", "24:00"]]}
    r = client.post(f"{API}/locations", json=location_body(opening_hours=hours), headers=net.a)
    assert r.status_code == 201, r.text
    assert r.json()["opening_hours"] == hours


@pytest.mark.parametrize("field,value,words", [
    ("latitude", 91, ("latitude must be between -90 and 90",)),
    ("longitude", -180.5, ("longitude must be between -180 and 180",)),
    ("timezone", "Mars/Olympus", ("Mars/Olympus", "time zone")),
    ("kind", "shop", ("kind",)),
    ("opening_hours", {"mon": [["08:00", "25:00"]]}, ("25:00",)),
    ("opening_hours", {"mon": [["24:00", "02:00"]]}, ("24:00",)),
    ("opening_hours", {"mon": [["08:00", "12:00"], ["11:00", "14:00"]]}, ("overlap",)),
    ("opening_hours", {"monday": [["08:00", "12:00"]]}, ("'monday' is not a day",)),
    ("opening_hours", {"mon": [["09:00", "09:00"]]}, ("same time",)),
    ("closures", ["2026-13-01"], ("2026-13-01", "ISO date")),
    ("delivery_radius_km", -1, ("delivery_radius_km",)),
])
def test_bad_location_fields_are_refused_saying_what_is_wrong(client, net, field, value, words):
    problem(client.post(f"{API}/locations", json=location_body(**{field: value}), headers=net.a), 422, *words)


def test_a_network_admin_must_say_which_merchant_a_location_is_for(client, net):
    problem(client.post(f"{API}/locations", json=location_body(), headers=net.admin), 422, "merchant_id")
    r = client.post(f"{API}/locations", json=location_body(merchant_id=net.b_id), headers=net.admin)
    assert r.status_code == 201 and r.json()["merchant_id"] == net.b_id


def test_patching_a_location_changes_only_what_is_sent_and_moving_it_moves_its_cell(client, net):
    r = client.patch(f"{API}/locations/{net.a_store}",
                     json={"latitude": 39.9, "longitude": 116.4, "accepts_partner_pickups": True},
                     headers=net.a)
    assert r.status_code == 200, r.text
    loc = r.json()
    assert loc["search_cell"] == search_cell(39.9, 116.4)
    assert loc["accepts_partner_pickups"] is True and loc["name"] == "Office branch"


def test_a_patch_cannot_null_a_required_field_or_be_empty(client, net):
    problem(client.patch(f"{API}/locations/{net.a_store}", json={"name": None}, headers=net.a), 422,
            "name cannot be null")
    problem(client.patch(f"{API}/locations/{net.a_store}", json={}, headers=net.a), 422, "at least one field")
    problem(client.patch(f"{API}/locations/{net.a_store}", json={"latitude": -100}, headers=net.a), 422,
            "latitude")


def test_store_staff_read_locations_but_cannot_change_them(client, db, net):
    with db.unit_of_work() as s:
        a = network.get_merchant(s, merchant_id=net.a_id)
        staff = f.auth(f.api_key(s, a, at=T0, role=Role.STORE_STAFF))
    assert client.get(f"{API}/locations/{net.a_store}", headers=staff).status_code == 200
    problem(client.patch(f"{API}/locations/{net.a_store}", json={"name": "X"}, headers=staff), 403, "admin")
    problem(client.post(f"{API}/locations", json=location_body(), headers=staff), 403, "admin")


def test_locations_are_listed_per_merchant_and_filtered_by_kind(client, net):
    client.post(f"{API}/locations", json=location_body(name="Depot", kind="warehouse"), headers=net.a)
    client.post(f"{API}/locations", json=location_body(name="B shop", merchant_id=net.b_id), headers=net.admin)
    mine = client.get(f"{API}/locations", headers=net.a).json()
    assert {loc["name"] for loc in mine} == {"Office branch", "Depot"}
    warehouses = client.get(f"{API}/locations", params={"kind": "warehouse"}, headers=net.a).json()
    assert [loc["name"] for loc in warehouses] == ["Depot"]
    assert len(client.get(f"{API}/locations", headers=net.admin).json()) == 3


def test_location_service_helpers_find_active_locations_by_cell_and_kind(db, net):
    with db.unit_of_work() as s:
        inside = network.create_location(s, merchant_id=net.b_id, now=T0, name="Kiosk", kind="pickup_point",
                                         latitude=30.27, longitude=120.15, timezone="Asia/Shanghai")
        closed = network.create_location(s, merchant_id=net.b_id, now=T0, name="Old", kind="store",
                                         latitude=30.27, longitude=120.15, timezone="Asia/Shanghai",
                                         active=False)
        found = {loc.id for loc in network.locations_in_cells(s, cells=[search_cell(30.27, 120.15)])}
        assert found == {net.a_store, inside.id}
        assert [loc.id for loc in network.list_locations(s, merchant_id=net.b_id)] == [inside.id]
        assert {loc.id for loc in network.list_locations(s, merchant_id=net.b_id, include_inactive=True)} == {
            inside.id, closed.id}
        assert network.list_locations(s, merchant_id=None, kinds=["pickup_point"]) == [inside]
        with pytest.raises(NotFound):
            network.get_location(s, location_id="loc_missing")
        with pytest.raises(InvalidInput, match="latitude"):
            network.create_location(s, merchant_id=net.b_id, now=T0, name="X", kind="store", latitude=95,
                                    longitude=0, timezone="UTC")


# --- sessions, API keys, staff users ------------------------------------------------------

def test_staff_log_in_with_email_and_password_and_see_who_they_are(client, net):
    r = client.post(f"{API}/staff-users", json={"email": "Ann@Bakery.example", "name": "Ann", "password": PASSWORD,
                                                "role": "store_staff", "location_id": net.a_store},
                    headers=net.a)
    assert r.status_code == 201, r.text
    assert r.json()["email"] == "ann@bakery.example" and "password" not in r.json()
    login = client.post(f"{API}/sessions", json={"email": "ann@bakery.example", "password": PASSWORD})
    assert login.status_code == 201, login.text
    me = client.get(f"{API}/me", headers=f.auth(login.json()["token"])).json()
    assert me == {"kind": "staff", "id": r.json()["id"], "name": "Ann", "role": "store_staff",
                  "merchant_id": net.a_id, "location_id": net.a_store}


def test_a_wrong_password_is_refused(client, db, net):
    with db.unit_of_work() as s:
        f.staff_user(s, network.get_merchant(s, merchant_id=net.a_id), "bo@bakery.example", at=T0,
                     role=Role.MERCHANT_ADMIN)
    problem(client.post(f"{API}/sessions", json={"email": "bo@bakery.example", "password": "nope"}), 401,
            "Wrong email or password")


@pytest.mark.parametrize("over,status,words", [
    ({"role": "store_staff", "location_id": None}, 422, ("location_id",)),
    ({"password": "short"}, 422, ("password",)),
    ({"email": "not-an-email"}, 422, ("email",)),
    ({"role": "network_admin"}, 403, ("network admin",)),
])
def test_bad_staff_users_are_refused_saying_why(client, net, over, status, words):
    body = {"email": "cy@bakery.example", "name": "Cy", "password": PASSWORD, "role": "merchant_admin", **over}
    problem(client.post(f"{API}/staff-users", json=body, headers=net.a), status, *words)


def test_an_email_can_belong_to_one_staff_user_only(client, net):
    body = {"email": "cy@bakery.example", "name": "Cy", "password": PASSWORD, "role": "merchant_admin"}
    assert client.post(f"{API}/staff-users", json=body, headers=net.a).status_code == 201
    problem(client.post(f"{API}/staff-users", json=body, headers=net.a), 409, "cy@bakery.example")
    assert [u["email"] for u in client.get(f"{API}/staff-users", headers=net.a).json()] == ["cy@bakery.example"]


def test_an_api_key_is_shown_once_works_and_stops_working_when_revoked(client, net):
    r = client.post(f"{API}/api-keys", json={"name": "till sync"}, headers=net.a)
    assert r.status_code == 201, r.text
    key = r.json()
    assert key["role"] == "merchant_admin" and key["merchant_id"] == net.a_id
    assert client.get(f"{API}/me", headers=f.auth(key["token"])).json()["id"] == key["id"]
    listed = {k["id"]: k for k in client.get(f"{API}/api-keys", headers=net.a).json()}
    assert key["id"] in listed and "token" not in listed[key["id"]]
    assert listed[key["id"]]["token_hint"] == key["token"][:10]
    revoked = client.post(f"{API}/api-keys/{key['id']}/revoke", headers=net.a)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    problem(client.get(f"{API}/me", headers=f.auth(key["token"])), 401, "revoked")


def test_only_a_network_admin_issues_network_keys(client, net):
    problem(client.post(f"{API}/api-keys", json={"name": "x", "role": "network_admin"}, headers=net.a), 403,
            "network admin")
    r = client.post(f"{API}/api-keys", json={"name": "ops"}, headers=net.admin)
    assert r.status_code == 201 and r.json()["role"] == "network_admin" and r.json()["merchant_id"] is None


# --- partner agreements ---------------------------------------------------------------------

def test_a_host_opens_its_pickup_locations_to_a_guest_until_the_agreement_ends(client, db, net):
    r = client.post(f"{API}/partner-agreements", json={"guest_merchant_id": net.b_id, "pickup_fee_minor": 200},
                    headers=net.a)
    assert r.status_code == 201, r.text
    agreement = r.json()
    assert (agreement["host_merchant_id"], agreement["pickup_fee_minor"]) == (net.a_id, 200)
    assert (agreement["status"], agreement["pending_version"]) == ("proposed", 1)
    with db.unit_of_work() as s:
        assert network.pickup_partners(s) == set(), "nothing applies until the guest accepts"
    accepted = client.post(f"{API}/partner-agreements/{agreement['id']}/accept", json={"version": 1}, headers=net.b)
    assert accepted.status_code == 200 and accepted.json()["status"] == "active", accepted.text
    with db.unit_of_work() as s:
        assert network.pickup_partners(s) == {(net.a_id, net.b_id)}
    assert [a["id"] for a in client.get(f"{API}/partner-agreements", headers=net.b).json()] == [agreement["id"]]
    ended = client.post(f"{API}/partner-agreements/{agreement['id']}/end", headers=net.b)
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    with db.unit_of_work() as s:
        assert network.pickup_partners(s) == set()
    problem(client.post(f"{API}/partner-agreements/{agreement['id']}/end", headers=net.a), 409, "already ended")


def test_a_second_active_agreement_for_the_same_pair_is_a_conflict(client, net):
    body = {"guest_merchant_id": net.b_id}
    first = client.post(f"{API}/partner-agreements", json=body, headers=net.a).json()
    assert client.post(f"{API}/partner-agreements/{first['id']}/accept", json={"version": 1},
                       headers=net.b).status_code == 200
    problem(client.post(f"{API}/partner-agreements", json=body, headers=net.a), 409, first["id"])
    problem(client.post(f"{API}/partner-agreements", json={**body, "pickup_fee_minor": 5}, headers=net.admin),
            422, "merchant_id")  # a network admin names the host
    problem(client.post(f"{API}/partner-agreements", json={**body, "host_merchant_id": net.a_id,
                                                           "pickup_fee_minor": 5}, headers=net.admin), 409, first["id"])


@pytest.mark.parametrize("over,status,words", [
    ({"guest_merchant_id": "SELF"}, 422, ("itself",)),
    ({"guest_merchant_id": "mer_missing"}, 404, ("mer_missing",)),
    ({"pickup_fee_minor": -1}, 422, ("pickup_fee_minor",)),
])
def test_bad_agreements_are_refused_saying_why(client, net, over, status, words):
    body = {"guest_merchant_id": net.b_id, **over}
    if body["guest_merchant_id"] == "SELF":
        body["guest_merchant_id"] = net.a_id
    problem(client.post(f"{API}/partner-agreements", json=body, headers=net.a), status, *words)


def test_only_the_hosts_admin_or_a_network_admin_creates_an_agreement(client, net):
    problem(client.post(f"{API}/partner-agreements", json={"host_merchant_id": net.a_id,
                                                           "guest_merchant_id": net.b_id}, headers=net.b),
            403, "admin")
    r = client.post(f"{API}/partner-agreements", json={"host_merchant_id": net.a_id, "guest_merchant_id": net.b_id},
                    headers=net.admin)
    assert r.status_code == 201 and r.json()["status"] == "active", "the operator records a signed agreement"
