"""Partner-facing federation routes accept only requests signed by the linked partner's
key (RFC 9421): unsigned, tampered, stale, replayed or foreign-key requests get 401, and a
capability the link did not negotiate gets 403."""

from __future__ import annotations

import json

import httpx

from oao.federation import protocol
from oao.federation.models import FederationLink
from oao.federation.signatures import new_private_key, public_key_of, sign_request
from oao.network.models import Location, Merchant
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth

PARTNER_KEY = new_private_key()
NOW = int(T0.timestamp())


def _setup(db, capabilities=("order_handoff", "pickup")):
    with db.unit_of_work() as s:
        corner = f.merchant(s, "Daily Corner", at=T0)
        point = f.location(s, corner, "Daily Corner Wenhui", 30.2940, 120.1660, at=T0, accepts_partner_pickups=True)
        f.location(s, corner, "Daily Corner back office", 30.2941, 120.1661, at=T0, accepts_partner_pickups=False)
        link = FederationLink(
            id="fln_test", merchant_id=corner.id, status="active", remote_url="https://a.example",
            remote_key_id="fky_partner", remote_public_key=public_key_of(PARTNER_KEY), remote_link_id="fln_a",
            remote_merchant={"id": "mer_a", "name": "Sweet Lane Bakery"}, offered=list(capabilities),
            remote_offered=list(capabilities), capabilities=list(capabilities),
            terms={"pickup_fee_minor": 150, "currency": "CNY"}, remote_terms={}, invitation_id=None,
            handshake_nonce=None, last_error=None, created_at=T0, updated_at=T0)
        s.add(link)
        return {"point": point.id, "link": link.id}


def _send(client, method, path, body=None, *, key=PARTNER_KEY, key_id="fky_partner", created=NOW, nonce=None,
          tamper=None):
    raw = protocol.canonical_json(body) if body is not None else b""
    url = client.app.state.settings.public_url + path
    headers = {"Content-Type": "application/json"}
    headers.update(sign_request(method=method, url=url, headers=headers, body=raw, private_key=key, key_id=key_id,
                                created=created, nonce=nonce or protocol.new_nonce()))
    sent = tamper(raw) if tamper else raw
    return client.request(method, path, content=sent, headers=headers), headers


def _expected(point, parcel_id="fpc_a1"):
    return {"message_id": "m1", "parcel_id": parcel_id, "order_reference": "ord_a1", "pickup_location_id": point,
            "parcel_count": 1, "pickup_code_hash": protocol.hash_pickup_code("K7M2PQ9X"),
            "customer": {"first_name": "Wei"}, "fee": {"amount_minor": 150, "currency": "CNY"}}


def test_the_identity_publishes_the_public_key_and_never_the_private_one(client, db):
    first = client.get("/api/v1/federation/identity").json()
    again = client.get("/api/v1/federation/identity").json()
    assert first["key_id"] == again["key_id"] and first["public_key"] == again["public_key"]
    assert first["alg"] == "ed25519" and "pickup" in first["capabilities"]
    assert "private" not in json.dumps(first).lower()


def test_a_signed_request_from_the_partner_is_answered_with_only_shared_locations(client, db):
    net = _setup(db)
    r, _ = _send(client, "GET", f"/api/v1/federation/links/{net['link']}/pickup-locations")
    assert r.status_code == 200, r.text
    assert [loc["id"] for loc in r.json()["locations"]] == [net["point"]]
    assert r.json()["fee"] == {"amount_minor": 150, "currency": "CNY"}


def test_an_unsigned_request_is_refused(client, db):
    net = _setup(db)
    r = client.get(f"/api/v1/federation/links/{net['link']}/pickup-locations")
    assert r.status_code == 401 and r.json()["reason"] == "unsigned"


def test_a_replayed_request_is_refused(client, db):
    net = _setup(db)
    path = f"/api/v1/federation/links/{net['link']}/parcels"
    body = _expected(net["point"])
    first, headers = _send(client, "POST", path, body)
    assert first.status_code == 201, first.text
    replay = client.post(path, content=protocol.canonical_json(body), headers=headers)
    assert replay.status_code == 401 and replay.json()["reason"] == "replay"


def test_a_tampered_body_is_refused_and_changes_nothing(client, db):
    net = _setup(db)
    path = f"/api/v1/federation/links/{net['link']}/parcels"
    r, _ = _send(client, "POST", path, _expected(net["point"]),
                 tamper=lambda raw: raw.replace(b'"parcel_count":1', b'"parcel_count":9'))
    assert r.status_code == 401 and r.json()["reason"] == "digest_mismatch"
    ok, _ = _send(client, "POST", path, _expected(net["point"]))
    assert ok.status_code == 201


def test_a_stale_or_future_signature_is_refused(client, db):
    net = _setup(db)
    path = f"/api/v1/federation/links/{net['link']}/pickup-locations"
    for created in (NOW - 301, NOW + 301):
        r, _ = _send(client, "GET", path, created=created)
        assert r.status_code == 401 and r.json()["reason"] == "stale"


def test_a_request_signed_by_another_key_is_refused(client, db):
    net = _setup(db)
    path = f"/api/v1/federation/links/{net['link']}/pickup-locations"
    forged, _ = _send(client, "GET", path, key=new_private_key())
    assert forged.status_code == 401 and forged.json()["reason"] == "bad_signature"
    unknown, _ = _send(client, "GET", path, key_id="fky_someone_else")
    assert unknown.status_code == 401 and unknown.json()["reason"] == "unknown_key"
    other_link, _ = _send(client, "GET", "/api/v1/federation/links/fln_nope/pickup-locations")
    assert other_link.status_code == 401


def test_a_capability_the_link_did_not_negotiate_is_forbidden(client, db):
    net = _setup(db, capabilities=("order_handoff",))
    r, _ = _send(client, "GET", f"/api/v1/federation/links/{net['link']}/pickup-locations")
    assert r.status_code == 403


def test_a_resent_parcel_announcement_is_the_same_parcel(client, db):
    net = _setup(db)
    path = f"/api/v1/federation/links/{net['link']}/parcels"
    first, _ = _send(client, "POST", path, _expected(net["point"]))
    again, _ = _send(client, "POST", path, _expected(net["point"]))
    assert first.status_code == again.status_code == 201
    assert first.json()["parcel_id"] == again.json()["parcel_id"]


def test_a_parcel_for_a_location_that_takes_no_partner_parcels_is_refused(client, db):
    net = _setup(db)
    body = _expected(net["point"])
    body["pickup_location_id"] = "loc_not_ours"
    r, _ = _send(client, "POST", f"/api/v1/federation/links/{net['link']}/parcels", body)
    assert r.status_code == 422


def test_the_pickup_points_staff_receive_and_hand_over_partner_parcels_and_no_one_else(client, db):
    net = _setup(db)
    told = []
    client.app.state.federation_http = httpx.Client(transport=httpx.MockTransport(
        lambda request: told.append(json.loads(request.content)) or httpx.Response(200, json={})))
    with db.unit_of_work() as s:
        corner = s.get(FederationLink, net["link"]).merchant_id
        point = s.get(Location, net["point"])
        other = f.location(s, s.get(Merchant, corner), "Daily Corner Qiantang", 30.25, 120.21, at=T0)
        f.staff_user(s, s.get(Merchant, corner), "clerk@corner.example", at=T0, location=point)
        f.staff_user(s, s.get(Merchant, corner), "other@corner.example", at=T0, location=other)
        stranger = f.api_key(s, f.merchant(s, "Blue Harbour Fresh", at=T0), at=T0)
    clerk, elsewhere = (client.post("/api/v1/sessions", json={"email": e, "password": "correct horse battery"})
                        .json()["token"] for e in ("clerk@corner.example", "other@corner.example"))
    sent, _ = _send(client, "POST", f"/api/v1/federation/links/{net['link']}/parcels", _expected(net["point"]))
    parcel_id = sent.json()["parcel_id"]

    assert client.get("/api/v1/federation/parcels", headers=auth(stranger)).json() == []
    assert client.post(f"/api/v1/federation/parcels/{parcel_id}/receive", headers=auth(stranger)).status_code == 404
    assert client.post(f"/api/v1/federation/parcels/{parcel_id}/receive", headers=auth(elsewhere)).status_code == 403
    received = client.post(f"/api/v1/federation/parcels/{parcel_id}/receive", headers=auth(clerk))
    assert received.status_code == 200 and received.json()["status"] == "ready"
    assert [m["type"] for m in told] == ["parcel.ready"] and told[0]["parcel_id"] == parcel_id

    handover = {"location_id": net["point"], "code": "K7M2-PQ9X"}
    assert client.post("/api/v1/federation/parcels/handover", json=handover, headers=auth(elsewhere)).status_code == 403
    done = client.post("/api/v1/federation/parcels/handover", json=handover, headers=auth(clerk))
    assert done.status_code == 200, done.text
    [parcel] = done.json()["parcels"]
    assert parcel["status"] == "handed_over" and parcel["settlement_entry_id"] == f"fed-pickup-{parcel_id}"
    assert told[-1]["type"] == "parcel.handed_over"
    assert told[-1]["settlement"] == {"entry_id": f"fed-pickup-{parcel_id}", "kind": "pickup_fee",
                                      "amount_minor": 150, "currency": "CNY", "reference": "ord_a1"}
