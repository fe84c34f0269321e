"""Webhook deliveries end to end, against a real receiver on 127.0.0.1: signed
and verifiable, retried with growing gaps, deduplicable, replayable, never
sent twice at once by two workers, and a hanging endpoint never slows the API."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oao.core.outbox import record_event
from oao.sharing.models import Disclosure, SharingPolicy
from oao.webhooks import sender, service, urls
from oao.webhooks.models import WebhookDelivery
from oao.webhooks.signing import verify_signature
from tests import factories as f
from tests.live import serve

pytestmark = pytest.mark.slow


class Receiver:
    """A webhook endpoint that records every request and answers from a plan (then `default`)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.plan: list[int | str] = []
        self.default: int = 200
        self.hang_seconds = 3.0
        self.delay_seconds = 0.0
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight_per_event: Counter[str] = Counter()
        self._flying: Counter[str] = Counter()
        self.url = ""

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        event_id = request.headers.get("oao-event-id", "")
        with self.lock:
            self.requests.append({"headers": dict(request.headers), "body": body})
            answer = self.plan.pop(0) if self.plan else self.default
            self._flying[event_id] += 1
            self.max_in_flight_per_event[event_id] = max(self.max_in_flight_per_event[event_id],
                                                         self._flying[event_id])
        try:
            if answer == "hang":
                await asyncio.sleep(self.hang_seconds)
                return Response("too late", status_code=200)
            if self.delay_seconds:
                await asyncio.sleep(self.delay_seconds)
            return Response("ok" if answer == 200 else "no", status_code=int(answer))
        finally:
            with self.lock:
                self._flying[event_id] -= 1

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])


@pytest.fixture(autouse=True)
def _loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urls, "ALLOW_LOOPBACK", True)


@pytest.fixture
def receiver():
    r = Receiver()
    with serve(r.app()) as base:
        r.url = base + "/hook"
        yield r


@pytest.fixture
def http():
    with httpx.Client() as client:
        yield client


def _merchant(db, clock) -> tuple[str, str]:
    with db.unit_of_work() as s:
        m = f.merchant(s, "Sweet Lane Bakery", at=clock.now())
        return m.id, f.api_key(s, m, at=clock.now())


def _subscribe(client, key: str, url: str, types: list[str] | None = None) -> dict[str, Any]:
    resp = client.post("/api/v1/webhooks/subscriptions", headers=f.auth(key),
                       json={"url": url, "event_types": types or ["order.*"]})
    assert resp.status_code == 201, resp.text
    return resp.json()


def _order_event(db, clock, merchant_id: str, type_: str = "order.completed", **extra: Any) -> str:
    with db.unit_of_work() as s:
        event = record_event(s, type=type_, subject_id="ord_1", merchant_id=merchant_id, at=clock.now(),
                             payload={"order_id": "ord_1", "status": "completed", "total_minor": 3200,
                                      "currency": "CNY", **extra})
        return event.id


def _deliveries(client, key: str, **params: str) -> list[dict[str, Any]]:
    resp = client.get("/api/v1/webhooks/deliveries", headers=f.auth(key), params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _detail(client, key: str, delivery_id: str) -> dict[str, Any]:
    resp = client.get(f"/api/v1/webhooks/deliveries/{delivery_id}", headers=f.auth(key))
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_an_order_event_is_delivered_once_signed_and_verifiable(db, clock, settings, client, receiver, http):
    merchant_id, key = _merchant(db, clock)
    sub = _subscribe(client, key, receiver.url)
    event_id = _order_event(db, clock, merchant_id)
    _order_event(db, clock, merchant_id, type_="stock.adjusted")  # not subscribed
    with db.unit_of_work() as s:
        other = f.merchant(s, "Daily Corner", at=clock.now())
    _order_event(db, clock, other.id)  # another merchant's order

    assert sender.deliver_due(db, clock, settings, http) == 1
    assert sender.deliver_due(db, clock, settings, http) == 0  # exactly once
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert verify_signature(sub["secret"], request["headers"]["oao-signature"], request["body"],
                            now=clock.now()) == int(clock.now().timestamp())
    body = json.loads(request["body"])
    assert body["id"] == event_id == request["headers"]["oao-event-id"]
    assert body["type"] == "order.completed" and body["created"] == int(clock.now().timestamp())
    assert body["data"]["order_id"] == "ord_1" and body["data"]["total_minor"] == 3200
    with pytest.raises(ValueError):
        verify_signature(sub["secret"], request["headers"]["oao-signature"], request["body"] + b" ", now=clock.now())

    [delivery] = _deliveries(client, key, subscription_id=sub["id"])
    assert delivery["status"] == "delivered" and delivery["event_id"] == event_id
    detail = _detail(client, key, delivery["id"])
    assert [(a["number"], a["outcome"], a["status_code"]) for a in detail["attempts"]] == [(1, "delivered", 200)]
    assert detail["body"].encode() == request["body"]
    assert "secret" not in client.get(f"/api/v1/webhooks/subscriptions/{sub['id']}", headers=f.auth(key)).json()
    # Another merchant sees neither the delivery nor the subscription.
    with db.unit_of_work() as s:
        other_key = f.api_key(s, other, at=clock.now())
    assert client.get(f"/api/v1/webhooks/deliveries/{delivery['id']}", headers=f.auth(other_key)).status_code == 404
    assert _deliveries(client, other_key) == []
    assert client.post(f"/api/v1/webhooks/deliveries/{delivery['id']}/replay",
                       headers=f.auth(other_key)).status_code == 404


def test_a_failing_endpoint_is_retried_with_growing_gaps_then_succeeds(db, clock, settings, client, receiver,
                                                                        http):
    merchant_id, key = _merchant(db, clock)
    sub = _subscribe(client, key, receiver.url)
    event_id = _order_event(db, clock, merchant_id)
    receiver.plan = [500, 503, 404, 200]
    gaps = []
    for _ in range(4):
        delivered = sender.deliver_due(db, clock, settings, http, jitter=lambda: 0.5)
        [delivery] = _deliveries(client, key)
        if delivered:
            break
        assert delivery["status"] == "pending"
        due = delivery["next_attempt_at"]
        clock.advance(seconds=30)
        assert sender.deliver_due(db, clock, settings, http) == 0  # not due yet: nothing is sent
        due_at = datetime.fromisoformat(due)
        gaps.append(due_at - (clock.now() - timedelta(seconds=30)))
        clock.set(due_at)
    assert gaps == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
    assert delivery["status"] == "delivered"
    detail = _detail(client, key, delivery["id"])
    assert [(a["outcome"], a["status_code"]) for a in detail["attempts"]] == [
        ("http_error", 500), ("http_error", 503), ("http_error", 404), ("delivered", 200)]
    # Every attempt carries the same event id (receivers dedupe on it), each freshly signed.
    assert {r["headers"]["oao-event-id"] for r in receiver.requests} == {event_id}
    assert {json.loads(r["body"])["id"] for r in receiver.requests} == {event_id}
    assert [r["headers"]["oao-attempt"] for r in receiver.requests] == ["1", "2", "3", "4"]
    last = receiver.requests[-1]
    verify_signature(sub["secret"], last["headers"]["oao-signature"], last["body"], now=clock.now())


def test_a_dead_endpoint_is_retried_for_more_than_a_day_then_marked_failed(db, clock, settings, client, receiver,
                                                                           http):
    merchant_id, key = _merchant(db, clock)
    _subscribe(client, key, receiver.url)
    _order_event(db, clock, merchant_id)
    receiver.default = 500
    first = clock.now()
    for _ in range(40):
        sender.deliver_due(db, clock, settings, http, jitter=lambda: 0.0)  # the shortest gaps
        [delivery] = _deliveries(client, key)
        if delivery["status"] == "failed":
            break
        clock.advance(hours=7)  # past any gap
    assert delivery["status"] == "failed" and delivery["attempt_count"] == 16
    attempts = _detail(client, key, delivery["id"])["attempts"]
    span = datetime.fromisoformat(attempts[-1]["started_at"]) - datetime.fromisoformat(attempts[0]["started_at"])
    assert span > timedelta(hours=24) and first <= datetime.fromisoformat(attempts[0]["started_at"])
    assert len(receiver.requests) == 16


def test_410_gone_disables_the_subscription(db, clock, settings, client, receiver, http):
    merchant_id, key = _merchant(db, clock)
    sub = _subscribe(client, key, receiver.url)
    _order_event(db, clock, merchant_id)
    receiver.plan = [410]
    assert sender.deliver_due(db, clock, settings, http) == 0
    got = client.get(f"/api/v1/webhooks/subscriptions/{sub['id']}", headers=f.auth(key)).json()
    assert got["active"] is False and "410" in got["disabled_reason"]
    [delivery] = _deliveries(client, key)
    assert delivery["status"] == "failed"
    _order_event(db, clock, merchant_id)
    clock.advance(hours=1)
    assert sender.deliver_due(db, clock, settings, http) == 0
    assert len(receiver.requests) == 1
    assert client.post(f"/api/v1/webhooks/deliveries/{delivery['id']}/replay",
                       headers=f.auth(key)).status_code == 409


def test_replay_sends_the_same_event_again_as_a_new_attempt(db, clock, settings, client, receiver, http):
    merchant_id, key = _merchant(db, clock)
    sub = _subscribe(client, key, receiver.url)
    event_id = _order_event(db, clock, merchant_id)
    assert sender.deliver_due(db, clock, settings, http) == 1
    [delivery] = _deliveries(client, key, status="delivered")
    clock.advance(hours=2)
    resp = client.post(f"/api/v1/webhooks/deliveries/{delivery['id']}/replay", headers=f.auth(key))
    assert resp.status_code == 202 and resp.json()["status"] == "pending"
    assert len(receiver.requests) == 1  # the API does not send; the worker does
    assert sender.deliver_due(db, clock, settings, http) == 1
    assert len(receiver.requests) == 2
    first, second = (json.loads(r["body"]) for r in receiver.requests)
    assert first["id"] == second["id"] == event_id
    assert {r["headers"]["oao-event-id"] for r in receiver.requests} == {event_id}
    verify_signature(sub["secret"], receiver.requests[1]["headers"]["oao-signature"], receiver.requests[1]["body"],
                     now=clock.now())
    detail = _detail(client, key, delivery["id"])
    assert detail["status"] == "delivered" and [a["number"] for a in detail["attempts"]] == [1, 2]


def test_two_workers_never_send_one_delivery_twice(db, clock, settings, client, receiver, http):
    merchant_id, key = _merchant(db, clock)
    _subscribe(client, key, receiver.url)
    _subscribe(client, key, receiver.url)  # a second subscription: deliveries go out in parallel
    events = [_order_event(db, clock, merchant_id) for _ in range(12)]
    with db.unit_of_work() as s:  # enqueued beforehand, so both workers race for the same due deliveries
        assert service.enqueue_from_outbox(s, now=clock.now()) == 24
    receiver.delay_seconds = 0.05
    barrier = threading.Barrier(2)
    results: list[int] = []

    def worker() -> None:
        barrier.wait()
        for _ in range(3):
            results.append(sender.deliver_due(db, clock, settings, http))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(results) == 24
    per_pair = Counter((r["headers"]["oao-delivery-id"]) for r in receiver.requests)
    assert len(per_pair) == 24 and set(per_pair.values()) == {1}
    assert Counter(r["headers"]["oao-event-id"] for r in receiver.requests) == {e: 2 for e in events}
    with db.read() as s:
        assert {d.status for d in s.scalars(select(WebhookDelivery))} == {"delivered"}


def test_a_claimed_delivery_is_not_claimed_again_while_the_claim_is_open(db, clock, client):
    merchant_id, key = _merchant(db, clock)
    _subscribe(client, key, "http://127.0.0.1:9/hook")
    for _ in range(6):
        _order_event(db, clock, merchant_id)
    with db.unit_of_work() as s:
        service.enqueue_from_outbox(s, now=clock.now())
    second: list[list[str]] = []
    with db.unit_of_work() as s1:
        first = [o.delivery_id for o in service.claim_due(s1, now=clock.now(), limit=4)]

        def other_worker() -> None:  # SQLite: waits for the first writer; PostgreSQL: skips its locked rows
            with db.unit_of_work() as s2:
                second.append([o.delivery_id for o in service.claim_due(s2, now=clock.now(), limit=10)])

        thread = threading.Thread(target=other_worker)
        thread.start()
        time.sleep(0.3)
    thread.join(timeout=30)
    assert len(first) == 4 and len(second[0]) == 2 and not set(first) & set(second[0])


def test_a_hanging_endpoint_never_slows_the_api(db, clock, settings, client, receiver, http, monkeypatch):
    monkeypatch.setattr(sender, "SEND_TIMEOUT", httpx.Timeout(1.0, connect=1.0))
    monkeypatch.setattr(sender, "TOTAL_SECONDS", 1.0)
    merchant_id, key = _merchant(db, clock)
    _subscribe(client, key, receiver.url)
    _order_event(db, clock, merchant_id)
    _order_event(db, clock, merchant_id)
    receiver.plan = ["hang", "hang"]
    done = threading.Event()
    thread = threading.Thread(target=lambda: (sender.deliver_due(db, clock, settings, http), done.set()))
    thread.start()
    deadline = time.monotonic() + 10
    while not receiver.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert receiver.requests and not done.is_set()  # the worker is waiting on the endpoint now
    began = time.monotonic()
    assert client.get("/api/v1/webhooks/deliveries", headers=f.auth(key)).status_code == 200
    assert client.post("/api/v1/webhooks/subscriptions", headers=f.auth(key),
                       json={"url": receiver.url, "event_types": ["*"]}).status_code == 201  # a write, too
    assert time.monotonic() - began < 0.5 and not done.is_set()
    thread.join(timeout=10)
    assert done.is_set()
    deliveries = _deliveries(client, key)
    attempts = [a for d in deliveries for a in _detail(client, key, d["id"])["attempts"]]
    # One timeout, and the second delivery to the same dead endpoint was handed back, not also waited on.
    assert [(a["outcome"], a["status_code"]) for a in attempts] == [("timeout", None)]
    assert 900 <= attempts[0]["duration_ms"] < 2900
    assert len(receiver.requests) == 1
    assert sorted(d["status"] for d in deliveries) == ["pending", "pending"]
    assert sorted(d["attempt_count"] for d in deliveries) == [0, 1]


def test_the_body_holds_only_what_the_owner_policy_permits(db, clock, settings, client, receiver, http):
    merchant_id, key = _merchant(db, clock)
    sub = _subscribe(client, key, receiver.url)
    with db.unit_of_work() as s:
        s.add(SharingPolicy(id="shp_webhook_test", owner_merchant_id=merchant_id, recipient_kind="webhook_subscriber",
                            recipient_id=sub["id"], version=1, source="api", agreement_id=None, created_by=None,
                            created_at=clock.now(), superseded_at=None, document={"prohibitions": [
                                {"data_class": "line_items", "purposes": None},
                                {"data_class": "member_reference", "purposes": None}]}))
    _order_event(db, clock, merchant_id, member_id="mbr_secret", internal_note="do not send",
                 lines=[{"product_id": "prd_1", "quantity": 2, "amount_minor": 3200}])
    assert sender.deliver_due(db, clock, settings, http) == 1
    data = json.loads(receiver.requests[0]["body"])["data"]
    assert data == {"order_id": "ord_1", "status": "completed", "total_minor": 3200, "currency": "CNY"}
    raw = receiver.requests[0]["body"].decode()
    assert "mbr_secret" not in raw and "prd_1" not in raw and "do not send" not in raw
    with db.read() as s:
        [d] = s.scalars(select(Disclosure).where(Disclosure.recipient_id == sub["id"])).all()
        assert d.recipient_kind == "webhook_subscriber" and d.purpose == "integration"
        assert d.payload_kind == "event:order.completed"
        assert "line_items" in d.classes_withheld and "basket_total" in d.classes_sent
