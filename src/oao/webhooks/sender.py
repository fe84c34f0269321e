"""Sending webhook deliveries: a worker job that never holds a transaction
while it waits on a receiver.

One round (`deliver_due`): turn new outbox events into deliveries (one
transaction), claim the due ones and build their signed bodies (one short
transaction), POST them with no transaction open, and record each answer in a
transaction of its own. API requests never wait for any of this: they do not
send, and nothing here keeps a lock while the network is slow.

A dead endpoint costs little even here: each request has short timeouts
(SEND_TIMEOUT, and TOTAL_SECONDS for the whole exchange), subscriptions are
sent to in parallel (SEND_CONCURRENCY threads), and once an endpoint times out
or refuses the connection the rest of its batch is handed back untouched
for the next round instead of each waiting out its own timeout.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx

from oao.core.clock import Clock
from oao.core.db import Database
from oao.webhooks import service, signing, urls
from oao.webhooks.service import AttemptResult, Outgoing

log = logging.getLogger("oao.webhooks")

SEND_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
TOTAL_SECONDS = 10.0  # httpx times each read; this bounds the whole exchange
SEND_CONCURRENCY = 8
EXCERPT_BYTES = 300
USER_AGENT = "OAO-Webhooks/1"
# Outcomes that say the endpoint itself is unreachable: the rest of its batch waits for the next round.
_ENDPOINT_DOWN = ("timeout", "network_error", "refused")


def deliver_due(db: Database, clock: Clock, settings: Any, http: httpx.Client, *, limit: int = 50,
                jitter: Callable[[], float] = random.random,
                resolve: urls.Resolver | None = None) -> int:
    """One round of webhook work; returns how many deliveries were acknowledged with a 2xx."""
    with db.unit_of_work() as session:
        service.enqueue_from_outbox(session, now=clock.now())
    with db.unit_of_work() as session:
        batch = service.claim_due(session, now=clock.now(), limit=limit)
    if not batch:
        return 0
    allow_private = service.allow_private_hosts(settings)
    groups: dict[str, list[Outgoing]] = {}
    for outgoing in batch:
        groups.setdefault(outgoing.subscription_id, []).append(outgoing)

    def send_group(items: list[Outgoing]) -> int:
        delivered = 0
        for index, outgoing in enumerate(items):
            result = _attempt(outgoing, clock=clock, http=http, allow_private=allow_private, resolve=resolve)
            with db.unit_of_work() as session:
                status = service.record_attempt(session, outgoing=outgoing, result=result, now=clock.now(),
                                                jitter=jitter())
            delivered += result.ok
            if not result.ok:
                log.info("webhook delivery %s attempt %d: %s %s -> %s", outgoing.delivery_id, outgoing.attempt,
                         result.outcome, result.status_code or result.error, status)
            if result.outcome in _ENDPOINT_DOWN and index + 1 < len(items):
                with db.unit_of_work() as session:
                    for rest in items[index + 1:]:
                        service.release(session, outgoing=rest, now=clock.now())
                break
        return delivered

    if len(groups) == 1:
        return send_group(next(iter(groups.values())))
    with ThreadPoolExecutor(max_workers=min(SEND_CONCURRENCY, len(groups)),
                            thread_name_prefix="oao-webhooks") as pool:
        return sum(pool.map(send_group, groups.values()))


def request_headers(outgoing: Outgoing, body: bytes, at: datetime) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.SIGNATURE_HEADER: signing.header(outgoing.secrets, int(at.timestamp()), body),
        signing.EVENT_ID_HEADER: outgoing.event_id,
        "OAO-Delivery-Id": outgoing.delivery_id,
        "OAO-Attempt": str(outgoing.attempt),
    }


def _attempt(outgoing: Outgoing, *, clock: Clock, http: httpx.Client, allow_private: bool,
             resolve: urls.Resolver | None) -> AttemptResult:
    started_at = clock.now()
    began = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - began) * 1000)

    if outgoing.body is None:
        return AttemptResult(started_at=started_at, duration_ms=0, outcome="not_sent", error=outgoing.error)
    try:
        urls.check_destination(outgoing.url, allow_private=allow_private, resolve=resolve)
    except urls.UrlRefused as exc:
        return AttemptResult(started_at=started_at, duration_ms=took(), outcome="refused", error=str(exc))
    headers = request_headers(outgoing, outgoing.body, clock.now())
    try:
        # Never follow redirects: a public endpoint could otherwise point us at an internal one.
        with http.stream("POST", outgoing.url, content=outgoing.body, headers=headers, timeout=SEND_TIMEOUT,
                         follow_redirects=False) as response:
            excerpt = b""
            for chunk in response.iter_bytes():
                if len(excerpt) < EXCERPT_BYTES:
                    excerpt += chunk[:EXCERPT_BYTES - len(excerpt)]
                if time.monotonic() - began > TOTAL_SECONDS:
                    raise httpx.ReadTimeout("the response took longer than the total timeout")
                if len(excerpt) >= EXCERPT_BYTES:
                    break  # the rest is not ours to read
            code = response.status_code
    except httpx.TimeoutException as exc:
        return AttemptResult(started_at=started_at, duration_ms=took(), outcome="timeout",
                             error=f"timed out ({exc.__class__.__name__})")
    except httpx.HTTPError as exc:
        return AttemptResult(started_at=started_at, duration_ms=took(), outcome="network_error",
                             error=f"{exc.__class__.__name__}: {exc}"[:300])
    text = excerpt.decode("utf-8", "replace")
    if 200 <= code < 300:
        outcome = "delivered"
    elif code == 410:
        outcome = "gone"
    else:
        outcome = "http_error"
    return AttemptResult(started_at=started_at, duration_ms=took(), outcome=outcome, status_code=code,
                         error=None if outcome == "delivered" else f"HTTP {code}", response_excerpt=text or None)
