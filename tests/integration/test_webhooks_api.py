"""Webhook subscriptions through the API: which endpoints are accepted, who may
manage them, the secret shown once and rotated, and what deleting or disabling
does to pending deliveries. Sending goes through an in-process transport here;
test_webhooks_delivery.py uses a real receiver."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from oao.core.auth import Role
from oao.core.outbox import record_event
from oao.network.models import Merchant
from oao.webhooks import sender, service, urls
from oao.webhooks.signing import parse, verify_signature
from tests import factories as f

HOOK = "http://127.0.0.1:9/hook"


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.status = 200

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, text="ok")


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def http(recorder: Recorder):
    with httpx.Client(transport=httpx.MockTransport(recorder.handler)) as client:
        yield client


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urls, "ALLOW_LOOPBACK", True)


def _merchant(db, clock, name: str = "Qiantang Online") -> tuple[str, str]:
    with db.unit_of_work() as s:
        m = f.merchant(s, name, at=clock.now())
        return m.id, f.api_key(s, m, at=clock.now())


def _post(client, key: str, **body: Any):
    return client.post("/api/v1/webhooks/subscriptions", headers=f.auth(key),
                       json={"url": HOOK, "event_types": ["order.*"], **body})


def _event(db, clock, merchant_id: str, type_: str = "order.placed") -> str:
    with db.unit_of_work() as s:
        return record_event(s, type=type_, subject_id="ord_9", merchant_id=merchant_id, at=clock.now(),
                            payload={"order_id": "ord_9", "total_minor": 100, "currency": "CNY"}).id


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http://127.0.0.1:8000/hook",
                                 "http://localhost/hook", "http://10.0.0.8/hook", "http://169.254.169.254/",
                                 "https://user:pw@example.com/"])
def test_unsafe_endpoint_urls_are_refused(db, clock, client, url: str):
    _, key = _merchant(db, clock)
    resp = _post(client, key, url=url)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_loopback_is_accepted_only_when_allowed(db, clock, client, monkeypatch):
    _, key = _merchant(db, clock)
    assert _post(client, key).status_code == 422
    monkeypatch.setattr(urls, "ALLOW_LOOPBACK", True)
    assert _post(client, key).status_code == 201
    assert _post(client, key, url="ftp://127.0.0.1/").status_code == 422


@pytest.mark.usefixtures("loopback")
def test_bad_event_types_and_purposes_are_refused(db, clock, client):
    _, key = _merchant(db, clock)
    assert _post(client, key, event_types=["Order Completed"]).status_code == 422
    assert _post(client, key, event_types=[]).status_code == 422
    assert _post(client, key, purpose="resale").status_code == 422
    assert _post(client, key, purpose="analytics", event_types=["order.completed", "*"]).json()["event_types"] == ["*"]


@pytest.mark.usefixtures("loopback")
def test_only_the_merchants_admins_manage_its_subscriptions(db, clock, client):
    merchant_id, key = _merchant(db, clock)
    _, other_key = _merchant(db, clock, "Daily Corner")
    with db.unit_of_work() as s:
        staff_key = f.api_key(s, s.get(Merchant, merchant_id), at=clock.now(), role=Role.STORE_STAFF)
        network_key = f.api_key(s, None, at=clock.now())
    assert _post(client, staff_key).status_code == 403
    assert _post(client, network_key).status_code == 422  # which merchant?
    assert _post(client, network_key, merchant_id=merchant_id).status_code == 201
    sub = _post(client, key).json()
    assert sub["secret"].startswith("whsec_")
    listed = client.get("/api/v1/webhooks/subscriptions", headers=f.auth(key)).json()
    assert {s["id"] for s in listed} >= {sub["id"]} and all("secret" not in s for s in listed)
    assert client.get("/api/v1/webhooks/subscriptions", headers=f.auth(other_key)).json() == []
    for method, path in (("get", ""), ("delete", ""), ("post", "/rotate-secret"), ("patch", "")):
        kwargs = {"json": {}} if method == "patch" else {}
        resp = getattr(client, method)(f"/api/v1/webhooks/subscriptions/{sub['id']}{path}",
                                       headers=f.auth(other_key), **kwargs)
        assert resp.status_code == 404, (method, path)
    assert client.delete(f"/api/v1/webhooks/subscriptions/{sub['id']}", headers=f.auth(staff_key)).status_code == 403
    assert client.get(f"/api/v1/webhooks/deliveries?subscription_id={sub['id']}",
                      headers=f.auth(other_key)).status_code == 404


@pytest.mark.usefixtures("loopback")
def test_a_rotated_secret_signs_alongside_the_old_one_until_the_overlap_ends(db, clock, settings, client, http,
                                                                              recorder):
    merchant_id, key = _merchant(db, clock)
    sub = _post(client, key).json()
    resp = client.post(f"/api/v1/webhooks/subscriptions/{sub['id']}/rotate-secret", headers=f.auth(key),
                       json={"keep_previous_hours": 1})
    assert resp.status_code == 200
    new_secret = resp.json()["secret"]
    assert new_secret != sub["secret"] and new_secret.startswith("whsec_")
    _event(db, clock, merchant_id)
    assert sender.deliver_due(db, clock, settings, http) == 1
    request = recorder.requests[0]
    header = request.headers["OAO-Signature"]
    assert len(parse(header)[1]) == 2
    for secret in (new_secret, sub["secret"]):
        verify_signature(secret, header, request.content, now=clock.now())
    clock.advance(hours=2)
    _event(db, clock, merchant_id)
    assert sender.deliver_due(db, clock, settings, http) == 1
    later = recorder.requests[1]
    assert len(parse(later.headers["OAO-Signature"])[1]) == 1
    verify_signature(new_secret, later.headers["OAO-Signature"], later.content, now=clock.now())
    with pytest.raises(ValueError):
        verify_signature(sub["secret"], later.headers["OAO-Signature"], later.content, now=clock.now())


@pytest.mark.usefixtures("loopback")
def test_deleting_or_disabling_stops_deliveries_and_events_before_subscribing_are_not_sent(
        db, clock, settings, client, http, recorder):
    merchant_id, key = _merchant(db, clock)
    _event(db, clock, merchant_id)  # before any subscription: never delivered
    clock.advance(seconds=1)
    sub = _post(client, key).json()
    assert sender.deliver_due(db, clock, settings, http) == 0 and recorder.requests == []

    recorder.status = 500
    _event(db, clock, merchant_id)
    assert sender.deliver_due(db, clock, settings, http) == 0
    resp = client.patch(f"/api/v1/webhooks/subscriptions/{sub['id']}", headers=f.auth(key), json={"active": False})
    assert resp.status_code == 200 and resp.json()["active"] is False
    [delivery] = client.get("/api/v1/webhooks/deliveries", headers=f.auth(key)).json()
    assert delivery["status"] == "cancelled"
    clock.advance(hours=1)
    _event(db, clock, merchant_id)
    assert sender.deliver_due(db, clock, settings, http) == 0 and len(recorder.requests) == 1

    recorder.status = 200
    client.patch(f"/api/v1/webhooks/subscriptions/{sub['id']}", headers=f.auth(key), json={"active": True})
    assert client.post(f"/api/v1/webhooks/deliveries/{delivery['id']}/replay", headers=f.auth(key)).status_code == 202
    assert sender.deliver_due(db, clock, settings, http) == 1
    assert json.loads(recorder.requests[-1].content)["id"] == delivery["event_id"]

    assert client.delete(f"/api/v1/webhooks/subscriptions/{sub['id']}", headers=f.auth(key)).status_code == 204
    assert client.get(f"/api/v1/webhooks/subscriptions/{sub['id']}", headers=f.auth(key)).status_code == 404
    _event(db, clock, merchant_id)
    clock.advance(hours=1)
    assert sender.deliver_due(db, clock, settings, http) == 0 and len(recorder.requests) == 2
    statuses = {d["status"] for d in client.get("/api/v1/webhooks/deliveries", headers=f.auth(key)).json()}
    assert statuses == {"delivered"}


@pytest.mark.usefixtures("loopback")
def test_a_url_that_resolves_inwards_at_send_time_is_not_called(db, clock, settings, client, http, recorder,
                                                                 monkeypatch):
    merchant_id, key = _merchant(db, clock)
    sub = _post(client, key, url="https://erp.example.com/hook").json()
    monkeypatch.setattr(urls, "ALLOW_LOOPBACK", False)
    _event(db, clock, merchant_id)
    assert sender.deliver_due(db, clock, settings, http, resolve=lambda host, port: ["10.1.2.3"]) == 0
    assert recorder.requests == []
    [delivery] = client.get(f"/api/v1/webhooks/deliveries?subscription_id={sub['id']}", headers=f.auth(key)).json()
    detail = client.get(f"/api/v1/webhooks/deliveries/{delivery['id']}", headers=f.auth(key)).json()
    assert detail["attempts"][0]["outcome"] == "refused" and "10.1.2.3" in detail["attempts"][0]["error"]
    assert detail["status"] == "pending"  # retried later: DNS may change back


@pytest.mark.usefixtures("loopback")
def test_finished_deliveries_are_purged_after_thirty_days_and_pending_ones_never(db, clock, settings, client, http,
                                                                                 recorder):
    merchant_id, key = _merchant(db, clock)
    sub = _post(client, key).json()
    rotated = client.post(f"/api/v1/webhooks/subscriptions/{sub['id']}/rotate-secret", headers=f.auth(key))
    assert rotated.status_code == 200 and rotated.json()["previous_secret_expires_at"] is not None  # default 24 h
    _event(db, clock, merchant_id)
    sender.deliver_due(db, clock, settings, http)
    recorder.status = 500
    _event(db, clock, merchant_id)
    sender.deliver_due(db, clock, settings, http)
    clock.advance(days=29)
    with db.unit_of_work() as s:
        assert service.purge_finished(s, now=clock.now()) == 0
    clock.advance(days=2)
    with db.unit_of_work() as s:
        assert service.purge_finished(s, now=clock.now()) == 1
    [left] = client.get("/api/v1/webhooks/deliveries", headers=f.auth(key)).json()
    assert left["status"] == "pending"
