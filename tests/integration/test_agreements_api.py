"""Partner agreements over HTTP: the convenience chain proposes to take the bakery's parcels, the
bakery accepts, and only then do quotes offer the chain's store; ending it stops new partner pickups
while the parcel already on its way is still handed over. Only the two parties see the agreement."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from oao.core.auth import Role
from oao.network import service as network_service
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth

API = "/api/v1"
PASSWORD = "correct horse battery"


@dataclass
class Net:
    bakery: str
    chain: str
    outsider: str
    bakery_key: dict
    chain_key: dict
    outsider_key: dict
    admin_key: dict
    cake: str
    office: str
    corner: str


@pytest.fixture
def net(db) -> Net:
    with db.unit_of_work() as s:
        bakery = f.merchant(s, "Sweet Lane Bakery", at=T0)
        chain = f.merchant(s, "Daily Corner", at=T0)
        outsider = f.merchant(s, "Blue Harbour Fresh", at=T0)
        cake = f.product(s, 711, "Mango mousse cake, 6 inch", at=T0, category="bakery", perishable=True,
                         shelf_life_days=2)
        f.offer(s, bakery, cake, 19800, at=T0)
        office = f.location(s, bakery, "Sweet Lane Raffles Tower", 30.2460, 120.2120, at=T0, hours=f.DAYTIME)
        corner = f.location(s, chain, "Daily Corner Wenhui", 30.2940, 120.1660, at=T0,
                            accepts_pickups=True, accepts_partner_pickups=True)
        f.stock(s, office, cake, 3, at=T0)
        network_service.create_staff_user(s, email="clerk@dailycorner.example", name="Zhou Min", password=PASSWORD,
                                          role=Role.STORE_STAFF, merchant_id=chain.id, location_id=corner.id, now=T0)
        return Net(bakery=bakery.id, chain=chain.id, outsider=outsider.id,
                   bakery_key=auth(f.api_key(s, bakery, at=T0)), chain_key=auth(f.api_key(s, chain, at=T0)),
                   outsider_key=auth(f.api_key(s, outsider, at=T0)), admin_key=auth(f.api_key(s, None, at=T0)),
                   cake=cake.id, office=office.id, corner=corner.id)


def pickup_terms(net: Net, fee: int = 150) -> dict:
    return {"pickup": {"host_merchant_id": net.chain, "fee_minor": fee, "currency": "CNY"}}


def propose(client, net: Net, fee: int = 150, **headers):
    return client.post(f"{API}/partner-agreements", headers={**net.chain_key, **headers},
                       json={"counterparty_merchant_id": net.bakery, "terms": pickup_terms(net, fee)})


def corner_offered(client, net: Net) -> bool:
    quote = client.post(f"{API}/quotes", headers=net.bakery_key, json={
        "lines": [{"product_id": net.cake, "quantity": 1}], "pickup_location_id": net.corner})
    assert quote.status_code == 201, quote.text
    return any(o["pickup_location"] and o["pickup_location"]["id"] == net.corner for o in quote.json()["options"])


def test_propose_then_accept_makes_the_partner_pickup_point_available(client, net):
    r = propose(client, net)
    assert r.status_code == 201, r.text
    agreement = r.json()
    assert (agreement["status"], agreement["pending_version"], agreement["terms"]) == ("proposed", 1, None)
    assert not corner_offered(client, net), "a proposal is no agreement yet"

    accepted = client.post(f"{API}/partner-agreements/{agreement['id']}/accept", json={"version": 1},
                           headers=net.bakery_key)
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert (body["status"], body["current_version"], body["pending_version"]) == ("active", 1, None)
    assert body["terms"]["pickup"] == pickup_terms(net)["pickup"]
    assert [(v["version"], v["status"], v["decided_by_merchant_id"]) for v in body["versions"]] == [
        (1, "accepted", net.bakery)]
    assert corner_offered(client, net)


def test_the_proposer_cannot_accept_its_own_proposal(client, net):
    agreement = propose(client, net).json()
    r = client.post(f"{API}/partner-agreements/{agreement['id']}/accept", json={"version": 1}, headers=net.chain_key)
    assert r.status_code == 403 and "own proposal" in r.json()["detail"]
    assert not corner_offered(client, net)


def test_a_new_version_changes_the_terms_only_once_accepted(client, net):
    agreement = propose(client, net, 150).json()
    client.post(f"{API}/partner-agreements/{agreement['id']}/accept", json={"version": 1}, headers=net.bakery_key)
    asked = client.post(f"{API}/partner-agreements/{agreement['id']}/versions", headers=net.bakery_key,
                        json={"terms": pickup_terms(net, 90)})
    assert asked.status_code == 201, asked.text
    assert (asked.json()["current_version"], asked.json()["pending_version"]) == (1, 2)
    assert asked.json()["terms"]["pickup"]["fee_minor"] == 150
    own = client.post(f"{API}/partner-agreements/{agreement['id']}/accept", json={"version": 2},
                      headers=net.bakery_key)
    assert own.status_code == 403
    accepted = client.post(f"{API}/partner-agreements/{agreement['id']}/accept", json={"version": 2},
                           headers=net.chain_key).json()
    assert (accepted["current_version"], accepted["terms"]["pickup"]["fee_minor"]) == (2, 90)
    assert accepted["pickup_fee_minor"] == 90 and accepted["host_merchant_id"] == net.chain


def test_a_declined_proposal_offers_nothing(client, net):
    agreement = propose(client, net).json()
    declined = client.post(f"{API}/partner-agreements/{agreement['id']}/decline", json={"version": 1},
                           headers=net.bakery_key)
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    assert not corner_offered(client, net)
    late = client.post(f"{API}/partner-agreements/{agreement['id']}/accept", json={"version": 1},
                       headers=net.bakery_key)
    assert late.status_code == 409


def test_another_merchant_cannot_see_or_touch_the_agreement(client, net):
    agreement = propose(client, net).json()
    for path in ("", "/accept", "/decline", "/end", "/versions"):
        if path == "":
            r = client.get(f"{API}/partner-agreements/{agreement['id']}", headers=net.outsider_key)
        else:
            body = {"terms": pickup_terms(net)} if path == "/versions" else {"version": 1}
            r = client.post(f"{API}/partner-agreements/{agreement['id']}{path}", json=body, headers=net.outsider_key)
        assert r.status_code == 404, (path, r.text)
    assert client.get(f"{API}/partner-agreements", headers=net.outsider_key).json() == []
    assert [a["id"] for a in client.get(f"{API}/partner-agreements", headers=net.admin_key).json()] == [
        agreement["id"]]
    clerk = client.post(f"{API}/sessions", json={"email": "clerk@dailycorner.example", "password": PASSWORD}).json()
    staff = client.post(f"{API}/partner-agreements/{agreement['id']}/withdraw", json={"version": 1},
                        headers=auth(clerk["token"]))
    assert staff.status_code == 403, "store staff read agreements but do not decide them"


def test_proposing_is_idempotent(client, net):
    first = propose(client, net, **{"Idempotency-Key": "agr-1"})
    again = propose(client, net, **{"Idempotency-Key": "agr-1"})
    assert (first.status_code, again.status_code) == (201, 201) and first.json() == again.json()
    retried = propose(client, net)  # no key, same terms: the same waiting proposal
    assert retried.status_code == 201 and retried.json()["id"] == first.json()["id"]
    other = propose(client, net, 999)
    assert other.status_code == 409 and first.json()["id"] in other.json()["detail"]
    assert len(client.get(f"{API}/partner-agreements", headers=net.chain_key).json()) == 1


@pytest.mark.parametrize("terms,words", [
    ({"referral": {"referrer_merchant_id": "CHAIN", "commission_bps": 5001}}, "commission_bps"),
    ({"pickup": {"host_merchant_id": "OUTSIDER", "fee_minor": 1, "currency": "CNY"}}, "not a party"),
    ({"pickup": {"host_merchant_id": "CHAIN", "fee_minor": -5, "currency": "CNY"}}, "fee_minor"),
    ({}, "at least one"),
])
def test_bad_proposals_are_422_saying_why(client, net, terms, words):
    names = {"CHAIN": net.chain, "OUTSIDER": net.outsider}
    terms = {k: {kk: names.get(vv, vv) if isinstance(vv, str) else vv for kk, vv in v.items()}
             for k, v in terms.items()}
    r = client.post(f"{API}/partner-agreements", headers=net.chain_key,
                    json={"counterparty_merchant_id": net.bakery, "terms": terms})
    assert r.status_code == 422 and words in r.json()["detail"], r.text


def _order_to_corner(client, net: Net) -> tuple[dict, dict]:
    quote = client.post(f"{API}/quotes", headers=net.bakery_key, json={
        "lines": [{"product_id": net.cake, "quantity": 1}], "pickup_location_id": net.corner}).json()
    option = next(o for o in quote["options"] if o["pickup_location"]["id"] == net.corner)
    order = client.post(f"{API}/orders", headers=net.bakery_key, json={
        "quote_id": quote["id"], "option_id": option["id"], "payment_method": "pay_at_pickup"}).json()
    leg = order["fulfillments"][0]
    client.post(f"{API}/fulfillments/{leg['id']}/pick", headers=net.bakery_key)
    assert client.post(f"{API}/fulfillments/{leg['id']}/pack", headers=net.bakery_key).json()["status"] == "in_transit"
    return order, leg


def test_ending_stops_new_partner_pickups_but_the_open_order_still_completes(client, db, clock, net):
    agreement = propose(client, net).json()
    client.post(f"{API}/partner-agreements/{agreement['id']}/accept", json={"version": 1}, headers=net.bakery_key)
    order, leg = _order_to_corner(client, net)
    clock.advance(minutes=10)
    ended = client.post(f"{API}/partner-agreements/{agreement['id']}/end", headers=net.bakery_key)
    assert ended.status_code == 200 and ended.json()["status"] == "ended", ended.text
    assert ended.json()["ended_by_merchant_id"] == net.bakery
    assert not corner_offered(client, net)
    with db.read() as s:  # the order placed before the end keeps its pickup terms; a new one would get none
        placed = network_service.pickup_terms(s, host_merchant_id=net.chain, guest_merchant_id=net.bakery, at=T0)
        assert placed is not None and placed.fee_minor == 150
        assert network_service.pickup_terms(s, host_merchant_id=net.chain, guest_merchant_id=net.bakery,
                                            at=clock.now()) is None

    clerk = client.post(f"{API}/sessions", json={"email": "clerk@dailycorner.example", "password": PASSWORD}).json()
    received = client.post(f"{API}/transfers/{leg['transfer_id']}/receive", headers=auth(clerk["token"]))
    assert received.status_code == 200, received.text
    code = client.get(f"{API}/orders/{order['id']}", headers=net.bakery_key).json()["fulfillments"][0]["pickup_code"]
    handed = client.post(f"{API}/locations/{net.corner}/handover", json={"code": code}, headers=auth(clerk["token"]))
    assert handed.status_code == 200, handed.text
    assert client.get(f"{API}/orders/{order['id']}", headers=net.bakery_key).json()["status"] == "completed"
