"""What leaves for a partner instance: the parcel announcement goes through the seller's
data-sharing policy (what it withholds is not sent; what the partner cannot work without
stops the handoff), is signed with this instance's key, and is retried with backoff
until the partner accepts it (or refuses it for good)."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import httpx
from sqlalchemy import select

from oao.core.auth import Role
from oao.federation import client as federation_client
from oao.federation import protocol
from oao.federation.models import FederatedParcel, FederationLink, FederationOutbound, RemotePickupLocation
from oao.federation.signatures import new_private_key, public_key_of, sign_request, verify_request
from oao.settlement.models import LedgerEntry
from oao.sharing import service as sharing
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth

CORNER_KEY = new_private_key()


class Partner:
    """A fake partner instance: answers with the queued statuses and keeps what it received."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.statuses.pop(0) if self.statuses else 201
        return httpx.Response(status, json={"parcel_id": "fpc_remote_1", "status": "expected"})


def _setup(db, client, partner: Partner):
    client.app.state.federation_http = httpx.Client(transport=httpx.MockTransport(partner))
    with db.unit_of_work() as s:
        bakery = f.merchant(s, "Sweet Lane Bakery", at=T0)
        cake = f.product(s, 701, "Mango mousse cake, 6 inch", at=T0, category="bakery")
        f.offer(s, bakery, cake, 19800, at=T0)
        office = f.location(s, bakery, "Sweet Lane Raffles Tower", 30.2460, 120.2120, at=T0)
        f.stock(s, office, cake, 2, at=T0)
        link = FederationLink(
            id="fln_local", merchant_id=bakery.id, status="active", remote_url="https://corner.example",
            remote_key_id="fky_corner", remote_public_key=public_key_of(CORNER_KEY), remote_link_id="fln_remote",
            remote_merchant={"id": "mer_c", "name": "Daily Corner"}, offered=["order_handoff", "pickup"],
            remote_offered=["order_handoff", "pickup"], capabilities=["order_handoff", "pickup"],
            terms={"pickup_fee_minor": 0, "currency": "CNY"}, remote_terms={"pickup_fee_minor": 150, "currency": "CNY"},
            invitation_id=None, handshake_nonce=None, last_error=None, created_at=T0, updated_at=T0)
        s.add(link)
        s.flush()
        s.add(RemotePickupLocation(link_id=link.id, remote_location_id="loc_corner", name="Daily Corner Wenhui",
                                   address="Wenhui Rd 1", latitude=30.29, longitude=120.16, details={}, fetched_at=T0))
        key = f.api_key(s, bakery, at=T0, role=Role.MERCHANT_ADMIN)
    quote = client.post("/api/v1/quotes", headers=auth(key), json={
        "lines": [{"product_id": cake.id, "quantity": 1}], "pickup_location_id": office.id}).json()
    option = next(o for o in quote["options"] if (o.get("pickup_location") or {}).get("id") == office.id)
    order = client.post("/api/v1/orders", headers=auth(key), json={
        "quote_id": quote["id"], "option_id": option["id"], "payment_method": "pay_at_pickup",
        "customer": {"name": "Wang Lei", "email": "wang@example.com"}}).json()
    leg = order["fulfillments"][0]
    client.post(f"/api/v1/fulfillments/{leg['id']}/pick", headers=auth(key))
    code = client.post(f"/api/v1/fulfillments/{leg['id']}/pack", headers=auth(key)).json()["pickup_code"]
    return {"key": key, "order": order["id"], "code": code, "bakery": bakery.id}


def _send(client, net):
    return client.post("/api/v1/federation/parcels", headers=auth(net["key"]), json={
        "order_id": net["order"], "link_id": "fln_local", "remote_location_id": "loc_corner"})


def _messages(db):
    with db.read() as s:
        rows = s.scalars(select(FederationOutbound).order_by(FederationOutbound.id))
        return [SimpleNamespace(status=m.status, attempts=m.attempts, next_attempt_at=m.next_attempt_at,
                                last_error=m.last_error) for m in rows]


def test_the_announcement_carries_only_what_the_pickup_point_needs_and_is_signed_by_us(client, db):
    partner = Partner(201)
    net = _setup(db, client, partner)
    sent = _send(client, net)
    assert sent.status_code == 201, sent.text
    [request] = partner.requests
    assert str(request.url) == "https://corner.example/api/v1/federation/links/fln_remote/parcels"
    body = json.loads(request.content)
    assert set(body) == {"message_id", "parcel_id", "order_reference", "merchant", "pickup_location_id",
                         "parcel_count", "expected_at", "pickup_code_hash", "customer", "fee"}
    assert body["customer"] == {"first_name": "Wang"} and body["fee"] == {"amount_minor": 150, "currency": "CNY"}
    assert net["code"] not in request.content.decode() and "wang@example.com" not in request.content.decode()
    identity = client.get("/api/v1/federation/identity").json()
    verified = verify_request(method="POST", url=str(request.url), headers=request.headers.multi_items(),
                              body=request.content, resolve_key={identity["key_id"]: identity["public_key"]}.get,
                              now=int(T0.timestamp()))
    assert verified.key_id == identity["key_id"]
    with db.read() as s:
        parcel = s.scalar(select(FederatedParcel))
        assert parcel.remote_parcel_id == "fpc_remote_1"


def test_what_the_policy_withholds_is_not_sent(client, db):
    partner = Partner(201)
    net = _setup(db, client, partner)
    with db.unit_of_work() as s:
        sharing.put_policy(s, principal=_admin(net), owner_merchant_id=net["bakery"],
                           recipient_kind="federated_instance", recipient_id="fln_local",
                           document={"prohibitions": [{"data_class": "member_profile", "purposes": None}]}, now=T0)
    assert _send(client, net).status_code == 201
    body = json.loads(partner.requests[0].content)
    assert "first_name" not in json.dumps(body) and body["pickup_code_hash"]


def test_a_policy_withholding_what_the_partner_needs_stops_the_handoff(client, db):
    partner = Partner()
    net = _setup(db, client, partner)
    with db.unit_of_work() as s:
        sharing.put_policy(s, principal=_admin(net), owner_merchant_id=net["bakery"],
                           recipient_kind="federated_instance", recipient_id="fln_local",
                           document={"prohibitions": [{"data_class": "pickup_code", "purposes": None}]}, now=T0)
    refused = _send(client, net)
    assert refused.status_code == 409 and "pickup_code_hash" in refused.json()["detail"]
    assert partner.requests == [] and _messages(db) == []


def _admin(net):
    from oao.core.auth import Principal

    return Principal(kind="api_key", id="test", name="test", role=Role.MERCHANT_ADMIN, merchant_id=net["bakery"])


def test_a_partner_that_is_down_gets_the_message_again_later(client, db, clock):
    partner = Partner(503)
    net = _setup(db, client, partner)
    assert _send(client, net).status_code == 201
    [message] = _messages(db)
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.next_attempt_at == T0 + timedelta(seconds=30)
    http = client.app.state.federation_http
    secret = client.app.state.settings.secret_key
    assert federation_client.deliver_pending(db, now=T0 + timedelta(seconds=10), secret_key=secret, http=http) == 0
    assert len(partner.requests) == 1, "not before its time"
    assert federation_client.deliver_pending(db, now=T0 + timedelta(seconds=31), secret_key=secret, http=http) == 1
    [message] = _messages(db)
    assert (message.status, message.attempts) == ("sent", 2)
    first, second = partner.requests
    assert first.headers["signature"] != second.headers["signature"], "a resend is signed afresh (new nonce)"
    assert json.loads(first.content)["message_id"] == json.loads(second.content)["message_id"]


def test_a_message_the_partner_refuses_for_good_is_not_retried(client, db):
    partner = Partner(422)
    net = _setup(db, client, partner)
    assert _send(client, net).status_code == 201
    [message] = _messages(db)
    assert message.status == "rejected" and message.last_error.startswith("422")
    http = client.app.state.federation_http
    assert federation_client.deliver_pending(db, now=T0 + timedelta(days=1),
                                             secret_key=client.app.state.settings.secret_key, http=http) == 0
    assert len(partner.requests) == 1


def _event_from_corner(client, parcel_id, body, created):
    path = f"/api/v1/federation/links/fln_local/parcels/{parcel_id}/events"
    raw = protocol.canonical_json(body)
    headers = {"Content-Type": "application/json"}
    headers.update(sign_request(method="POST", url=client.app.state.settings.public_url + path, headers=headers,
                                body=raw, private_key=CORNER_KEY, key_id="fky_corner", created=created,
                                nonce=protocol.new_nonce()))
    return client.post(path, content=raw, headers=headers)


def test_the_partners_handover_completes_the_order_and_books_the_fee_once(client, db):
    net = _setup(db, client, Partner(201))
    parcel = _send(client, net).json()
    now = int(T0.timestamp())
    ready = _event_from_corner(client, parcel["id"], {"type": "parcel.ready", "parcel_id": "fpc_remote_1"}, now)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    wrong_fee = {"type": "parcel.handed_over", "parcel_id": "fpc_remote_1",
                 "settlement": {"entry_id": "fed-pickup-fpc_remote_1", "kind": "pickup_fee", "amount_minor": 999,
                                "currency": "CNY", "reference": net["order"]}}
    assert _event_from_corner(client, parcel["id"], wrong_fee, now).status_code == 409
    assert client.get(f"/api/v1/orders/{net['order']}", headers=auth(net["key"])).json()["status"] == "confirmed"
    handed = dict(wrong_fee, settlement=dict(wrong_fee["settlement"], amount_minor=150))
    for _ in range(2):  # a resend changes nothing
        done = _event_from_corner(client, parcel["id"], handed, now)
        assert done.status_code == 200 and done.json()["status"] == "handed_over", done.text
    assert client.get(f"/api/v1/orders/{net['order']}", headers=auth(net["key"])).json()["status"] == "completed"
    with db.read() as s:
        entries = [(e.id, e.debit_account, e.credit_account, e.amount_minor) for e in s.scalars(select(LedgerEntry))
                   if e.kind == "pickup_fee"]
    assert entries == [("fed-pickup-fpc_remote_1", f"merchant:{net['bakery']}", "partner:fed:fln_local", 150)]
