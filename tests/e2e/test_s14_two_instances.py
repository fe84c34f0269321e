"""S14 with S2 across two systems: the bakery runs its own OAO (instance A), the
convenience chain that serves as its pickup point runs another (instance B), each
on a real socket with its own database. They link by an invitation token and a
signed handshake, then run S2 end to end: the order on A, the parcel announced to
B, received by B's clerk, handed over with the shopper's code, A's order completed
and the pickup fee in both ledgers under one entry id. Unsigned, tampered and
replayed requests between them are refused."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select

from oao.config import Settings
from oao.core.auth import Role
from oao.core.db import Database
from oao.federation import protocol
from oao.federation import service as federation
from oao.federation.signatures import sign_request
from oao.network import service as network_service
from oao.settlement.models import LedgerEntry
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth
from tests.live import serve_instances

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"


@dataclass
class Instance:
    url: str
    db: Database
    settings: Settings

    def api(self, method: str, path: str, token: str | None = None, **kwargs) -> httpx.Response:
        headers = auth(token) if token else {}
        return httpx.request(method, f"{self.url}/api/v1{path}", headers=headers, timeout=30, **kwargs)


@pytest.fixture
def instances(tmp_path) -> Iterator[tuple[Instance, Instance]]:
    with ExitStack() as stack:
        a, b = (Instance(url, db, settings) for url, db, settings, _ in serve_instances(stack, tmp_path))
        yield a, b


def _bakery(a: Instance) -> dict[str, str]:
    with a.db.unit_of_work() as s:
        bakery = f.merchant(s, "Sweet Lane Bakery", at=T0)
        cake = f.product(s, 701, "Mango mousse cake, 6 inch", at=T0, category="bakery")
        f.offer(s, bakery, cake, 19800, at=T0)
        office = f.location(s, bakery, "Sweet Lane Raffles Tower", 30.2460, 120.2120, at=T0)
        f.stock(s, office, cake, 2, at=T0)
        return {"key": f.api_key(s, bakery, at=T0, role=Role.MERCHANT_ADMIN), "cake": cake.id,
                "office": office.id, "merchant": bakery.id}


def _corner(b: Instance) -> dict[str, str]:
    with b.db.unit_of_work() as s:
        chain = f.merchant(s, "Daily Corner", at=T0)
        point = f.location(s, chain, "Daily Corner Wenhui", 30.2940, 120.1660, at=T0, accepts_partner_pickups=True)
        f.location(s, chain, "Daily Corner stockroom", 30.2941, 120.1661, at=T0, kind="warehouse",
                   accepts_pickups=False)
        network_service.create_staff_user(s, email="clerk@dailycorner.example", name="Zhou Min", password=PASSWORD,
                                          role=Role.STORE_STAFF, merchant_id=chain.id, location_id=point.id, now=T0)
        return {"key": f.api_key(s, chain, at=T0, role=Role.MERCHANT_ADMIN), "point": point.id,
                "merchant": chain.id}


def _link(a: Instance, b: Instance, bakery, corner) -> tuple[dict, dict]:
    invitation = a.api("POST", "/federation/invitations", bakery["key"], json={"pickup_fee_minor": 0})
    assert invitation.status_code == 201, invitation.text
    accepted = b.api("POST", "/federation/links", corner["key"],
                     json={"token": invitation.json()["token"], "pickup_fee_minor": 150, "currency": "CNY"})
    assert accepted.status_code == 201, accepted.text
    link_b = accepted.json()
    [link_a] = a.api("GET", "/federation/links", bakery["key"]).json()
    reused = b.api("POST", "/federation/links", corner["key"], json={"token": invitation.json()["token"]})
    assert reused.status_code == 502 and "nonce" in reused.json()["detail"], "an invitation links once"
    assert len(a.api("GET", "/federation/links", bakery["key"]).json()) == 1
    return link_a, link_b


def _packed_order(a: Instance, bakery) -> tuple[dict, str]:
    quote = a.api("POST", "/quotes", bakery["key"], json={
        "lines": [{"product_id": bakery["cake"], "quantity": 1}], "pickup_location_id": bakery["office"]}).json()
    option = next(o for o in quote["options"] if (o.get("pickup_location") or {}).get("id") == bakery["office"])
    order = a.api("POST", "/orders", bakery["key"], json={
        "quote_id": quote["id"], "option_id": option["id"], "payment_method": "pay_at_pickup",
        "customer": {"name": "Wang Lei", "phone": "+86 138 0000 0000"}})
    assert order.status_code == 201, order.text
    leg = order.json()["fulfillments"][0]
    assert a.api("POST", f"/fulfillments/{leg['id']}/pick", bakery["key"]).status_code == 200
    packed = a.api("POST", f"/fulfillments/{leg['id']}/pack", bakery["key"]).json()
    assert packed["status"] == "ready_for_pickup" and packed["pickup_code"]
    return order.json(), packed["pickup_code"]


def _entries(db: Database) -> list[tuple[str, str, str, int, str]]:
    with db.read() as s:
        return [(e.id, e.debit_account, e.credit_account, e.amount_minor, e.kind)
                for e in s.scalars(select(LedgerEntry).order_by(LedgerEntry.id))]


def test_two_instances_link_and_run_s2_across_them(instances):
    a, b = instances
    bakery, corner = _bakery(a), _corner(b)

    link_a, link_b = _link(a, b, bakery, corner)
    assert link_a["status"] == link_b["status"] == "active"
    assert link_a["capabilities"] == link_b["capabilities"] == ["order_handoff", "pickup"]
    assert link_a["remote_link_id"] == link_b["id"] and link_b["remote_link_id"] == link_a["id"]
    assert link_a["remote_key_id"] == b.api("GET", "/federation/identity").json()["key_id"]
    assert link_a["remote_terms"] == {"pickup_fee_minor": 150, "currency": "CNY"}

    shared = a.api("POST", f"/federation/links/{link_a['id']}/pickup-locations/refresh", bakery["key"])
    assert shared.status_code == 200, shared.text
    assert [p["remote_location_id"] for p in shared.json()] == [corner["point"]], "only the partner pickup point"

    order, code = _packed_order(a, bakery)
    sent = a.api("POST", "/federation/parcels", bakery["key"], json={
        "order_id": order["id"], "link_id": link_a["id"], "remote_location_id": corner["point"]})
    assert sent.status_code == 201, sent.text
    parcel_a = a.api("GET", f"/federation/parcels/{sent.json()['id']}", bakery["key"]).json()
    assert parcel_a["remote_parcel_id"], "B answered with its parcel id"

    clerk = b.api("POST", "/sessions", json={"email": "clerk@dailycorner.example", "password": PASSWORD}).json()[
        "token"]
    [expected] = b.api("GET", "/federation/parcels?role=host", clerk).json()
    assert expected["status"] == "expected" and expected["location_id"] == corner["point"]
    assert expected["customer_first_name"] == "Wang" and expected["order_reference"] == order["id"]
    assert code not in json.dumps(expected), "the pickup point never learns the code itself"

    received = b.api("POST", f"/federation/parcels/{expected['id']}/receive", clerk)
    assert received.status_code == 200 and received.json()["status"] == "ready"
    assert a.api("GET", f"/federation/parcels/{parcel_a['id']}", bakery["key"]).json()["status"] == "ready"

    wrong = b.api("POST", "/federation/parcels/handover", clerk, json={"location_id": corner["point"],
                                                                     "code": "AAAA2222"})
    assert wrong.status_code == 422
    handed = b.api("POST", "/federation/parcels/handover", clerk, json={"location_id": corner["point"],
                                                                      "code": code.lower()})
    assert handed.status_code == 200, handed.text
    assert "Wang" in handed.json()["message"]
    again = b.api("POST", "/federation/parcels/handover", clerk, json={"location_id": corner["point"], "code": code})
    assert again.status_code == 409, "a code opens the parcel once"

    assert a.api("GET", f"/orders/{order['id']}", bakery["key"]).json()["status"] == "completed"
    final_a = a.api("GET", f"/federation/parcels/{parcel_a['id']}", bakery["key"]).json()
    assert final_a["status"] == "handed_over"

    [fee_a] = [e for e in _entries(a.db) if e[4] == "pickup_fee"]
    [fee_b] = [e for e in _entries(b.db) if e[4] == "pickup_fee"]
    assert fee_a[0] == fee_b[0] == final_a["settlement_entry_id"], "one entry id on both sides"
    assert fee_a[1:4] == (f"merchant:{bakery['merchant']}", f"partner:fed:{link_a['id']}", 150)
    assert fee_b[1:4] == (f"partner:fed:{link_b['id']}", f"merchant:{corner['merchant']}", 150)


def _b_signs(b: Instance, method: str, url: str, body: bytes) -> dict[str, str]:
    """A request exactly as instance B would sign it (with B's own key)."""
    with b.db.unit_of_work() as s:
        key = federation.instance_key(s, secret_key=b.settings.secret_key, now=T0)
        key_id, private = key.id, federation.private_key(key, secret_key=b.settings.secret_key)
    headers = {"Content-Type": "application/json"}
    headers.update(sign_request(method=method, url=url, headers=headers, body=body, private_key=private,
                                key_id=key_id, created=int(time.time()), nonce=protocol.new_nonce()))
    return headers


def test_unsigned_tampered_and_replayed_requests_between_instances_are_refused(instances):
    a, b = instances
    bakery, corner = _bakery(a), _corner(b)
    link_a, _ = _link(a, b, bakery, corner)
    order, _ = _packed_order(a, bakery)
    a.api("POST", f"/federation/links/{link_a['id']}/pickup-locations/refresh", bakery["key"])
    parcel = a.api("POST", "/federation/parcels", bakery["key"], json={
        "order_id": order["id"], "link_id": link_a["id"], "remote_location_id": corner["point"]}).json()
    events = f"{a.url}/api/v1/federation/links/{link_a['id']}/parcels/{parcel['id']}/events"
    body = protocol.canonical_json({"message_id": "m1", "type": "parcel.ready", "parcel_id": "x"})

    unsigned = httpx.post(events, content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401 and unsigned.json()["reason"] == "unsigned"

    headers = _b_signs(b, "POST", events, body)
    tampered = httpx.post(events, content=body.replace(b"parcel.ready", b"parcel.handed_over"), headers=headers)
    assert tampered.status_code == 401 and tampered.json()["reason"] == "digest_mismatch"

    first = httpx.post(events, content=body, headers=headers)
    assert first.status_code == 200, first.text
    replayed = httpx.post(events, content=body, headers=headers)
    assert replayed.status_code == 401 and replayed.json()["reason"] == "replay"

    elsewhere = events.replace(link_a["id"], "fln_00000000000000000000000000")
    moved = httpx.post(elsewhere, content=body, headers=_b_signs(b, "POST", events, body))
    assert moved.status_code == 401, "a signature is bound to its target URI"
    assert a.api("GET", f"/federation/parcels/{parcel['id']}", bakery["key"]).json()["status"] == "ready"
