"""Calls to partner instances, never with a transaction open.

Same three steps as payments/gateway.py: what we are about to send is committed
first (a pending link, a queued message), the partner is called with no
transaction open (a partner that calls back into us must not wait for our
lock), and its answer is recorded in a new transaction. Queued messages that
could not be delivered are retried by the worker (`deliver_pending`) with
exponential backoff; receivers treat a resend as the same message.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from oao.core.auth import Principal
from oao.core.db import Database
from oao.core.errors import InvalidState
from oao.federation import parcels, protocol, stock
from oao.federation import service as federation
from oao.federation.models import FederationLink, FederationOutbound
from oao.federation.signatures import sign_request

log = logging.getLogger("oao.federation")

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_BACKOFF = timedelta(hours=1)
# Answers that a resend may change (clock skew, a partner restarting, throttling); other 4xx are final.
RETRYABLE_4XX = (401, 408, 425, 429)


def _client(http: httpx.Client | None) -> httpx.Client:
    return http or httpx.Client(timeout=TIMEOUT)


def signed_call(http: httpx.Client, *, method: str, url: str, body: dict[str, Any] | None, key_id: str,
                private_key: bytes, now: datetime) -> httpx.Response:
    """One RFC 9421-signed request; the body is canonical JSON (what the digest covers is what is sent)."""
    raw = protocol.canonical_json(body) if body is not None else b""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    headers.update(sign_request(method=method, url=url, headers=headers, body=raw, private_key=private_key,
                                key_id=key_id, created=int(now.timestamp()), nonce=protocol.new_nonce()))
    return http.request(method, url, content=raw, headers=headers)


def _keys(db: Database, *, secret_key: str, now: datetime) -> tuple[str, bytes]:
    with db.unit_of_work() as session:  # the key is created on first use
        key = federation.instance_key(session, secret_key=secret_key, now=now)
        return key.id, federation.private_key(key, secret_key=secret_key)


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {"text": response.text[:300]}
    return data if isinstance(data, dict) else {"items": data}


def accept_invitation(db: Database, *, principal: Principal, merchant_id: str, token: str,
                      capabilities: list[str] | None, pickup_fee_minor: int, currency: str | None, public_url: str,
                      secret_key: str, now: datetime, http: httpx.Client | None = None) -> FederationLink:
    """Link with the instance that invited us: pending link, handshake call, then active (or failed)."""
    with db.unit_of_work() as session:
        link = federation.begin_link(session, principal=principal, merchant_id=merchant_id, token=token,
                                     capabilities=capabilities, pickup_fee_minor=pickup_fee_minor,
                                     currency=currency, public_url=public_url, now=now)
        body = federation.handshake_body(session, link=link, public_url=public_url, secret_key=secret_key, now=now)
        key = federation.instance_key(session, secret_key=secret_key, now=now)
        key_id, private = key.id, federation.private_key(key, secret_key=secret_key)
        link_id, url = link.id, f"{link.remote_url}{protocol.API_PREFIX}/handshake"
    client = _client(http)
    try:
        response = signed_call(client, method="POST", url=url, body=body, key_id=key_id, private_key=private,
                               now=now)
        error = None if response.status_code == 200 else f"{response.status_code}: {response.text[:300]}"
    except httpx.HTTPError as exc:
        response, error = None, f"{type(exc).__name__}: {exc}"
    finally:
        if http is None:
            client.close()
    with db.unit_of_work() as session:
        if error is not None or response is None:
            link = federation.fail_link(session, link_id=link_id, error=error or "no answer", now=now)
        else:
            link = federation.complete_link(session, link_id=link_id, answer=_answer(response), now=now,
                                            secret_key=secret_key)
    if link.status != "active":
        raise federation.PartnerUnavailable(f"The handshake with {url} failed: {link.last_error}", link_id=link_id)
    return link


def call_link(db: Database, *, link_id: str, method: str, suffix: str, body: dict[str, Any] | None,
              secret_key: str, now: datetime, http: httpx.Client | None = None) -> dict[str, Any]:
    """A signed request on a link, answered at once (e.g. reading the partner's pickup locations)."""
    key_id, private = _keys(db, secret_key=secret_key, now=now)
    with db.read() as session:
        link = session.get(FederationLink, link_id)
        if link is None or link.status != "active" or not link.remote_link_id:
            raise InvalidState(f"Link {link_id} is not active.")
        url = link.remote_url + federation.link_path(link, suffix)
    client = _client(http)
    try:
        response = signed_call(client, method=method, url=url, body=body, key_id=key_id, private_key=private,
                               now=now)
    except httpx.HTTPError as exc:
        raise federation.PartnerUnavailable(f"{url}: {type(exc).__name__}: {exc}") from None
    finally:
        if http is None:
            client.close()
    if response.status_code != 200:
        raise federation.PartnerUnavailable(f"{url} answered {response.status_code}: {response.text[:300]}")
    return _answer(response)


def refresh_pickup_locations(db: Database, *, link_id: str, secret_key: str, now: datetime,
                             http: httpx.Client | None = None) -> int:
    """Fetch the partner's pickup locations and cache them; returns how many there are."""
    answer = call_link(db, link_id=link_id, method="GET", suffix="/pickup-locations", body=None,
                       secret_key=secret_key, now=now, http=http)
    with db.unit_of_work() as session:
        return len(federation.store_remote_locations(session, link_id=link_id, payload=answer, now=now))


def refresh_remote_stock(db: Database, *, link_id: str, gtins: list[str], secret_key: str, now: datetime,
                         http: httpx.Client | None = None) -> int:
    """Ask the partner for the availability of these GTINs (all it shares if none) and cache the answer."""
    asked = [stock.normalised(g) for g in gtins]
    query = "?" + urlencode([("gtin", g) for g in asked]) if asked else ""
    answer = call_link(db, link_id=link_id, method="GET", suffix=f"/stock{query}", body=None,
                       secret_key=secret_key, now=now, http=http)
    with db.unit_of_work() as session:
        return len(stock.store_remote_stock(session, link_id=link_id, asked=asked, payload=answer, now=now))


def who_has(db: Database, *, merchant_id: str | None, gtin: str, latitude: float, longitude: float,
            secret_key: str, now: datetime, radius_km: float = stock.DEFAULT_RADIUS_KM,
            http: httpx.Client | None = None) -> list[stock.RemoteAvailability]:
    """`stock.who_has`, refreshing first the links whose answer for this GTIN is missing or stale.
    A partner that does not answer is skipped (its stale figures are not shown)."""
    with db.read() as session:
        due = [link.id for link in stock.stock_links(session, merchant_id=merchant_id)
               if stock.stale_gtins(session, link_id=link.id, gtins=[gtin], now=now)]
    for link_id in due:
        try:
            refresh_remote_stock(db, link_id=link_id, gtins=[gtin], secret_key=secret_key, now=now, http=http)
        except federation.PartnerUnavailable as exc:
            log.warning("stock of link %s not refreshed: %s", link_id, exc.detail)
    with db.read() as session:
        return stock.who_has(session, merchant_id=merchant_id, gtin=gtin, latitude=latitude, longitude=longitude,
                             now=now, radius_km=radius_km)


def _backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def deliver(db: Database, *, secret_key: str, now: datetime, http: httpx.Client | None = None,
            link_id: str | None = None, limit: int = 100) -> int:
    """Send queued messages that are due (those of one link, or all); returns how many were accepted."""
    with db.read() as session:
        due = []
        for m in federation.due_messages(session, now=now, link_id=link_id, limit=limit):
            link = session.get(FederationLink, m.link_id)
            if link is not None and link.status == "active":
                due.append((m.id, m.method, link.remote_url + m.path, m.body))
    if not due:
        return 0
    key_id, private = _keys(db, secret_key=secret_key, now=now)
    client = _client(http)
    accepted = 0
    try:
        for message_id, method, url, body in due:
            status, answer, error = 0, {}, None
            try:
                response = signed_call(client, method=method, url=url, body=body, key_id=key_id,
                                       private_key=private, now=now)
                status, answer = response.status_code, _answer(response)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            accepted += _record(db, message_id=message_id, status=status, answer=answer, error=error, now=now)
    finally:
        if http is None:
            client.close()
    return accepted


def _record(db: Database, *, message_id: str, status: int, answer: dict[str, Any], error: str | None,
            now: datetime) -> int:
    with db.unit_of_work() as session:
        message = session.get(FederationOutbound, message_id, with_for_update=True)
        if message is None or message.status != "pending":
            return 0
        message.attempts += 1
        if 200 <= status < 300:
            message.status, message.sent_at, message.response, message.last_error = "sent", now, answer, None
            parcels.on_delivered(session, message=message, answer=answer, now=now)
            return 1
        message.last_error = (error or f"{status}: {json.dumps(answer)[:400]}")[:500]
        if 400 <= status < 500 and status not in RETRYABLE_4XX:
            message.status = "rejected"
            log.warning("federation message %s rejected by the partner: %s", message.id, message.last_error)
        else:
            message.next_attempt_at = now + _backoff(message.attempts)
        return 0


def deliver_pending(db: Database, *, now: datetime, secret_key: str, http: httpx.Client | None = None,
                    limit: int = 100) -> int:
    """Worker job: retry every due message (wire as `federation.client.deliver_pending`)."""
    return deliver(db, secret_key=secret_key, now=now, http=http, limit=limit)
