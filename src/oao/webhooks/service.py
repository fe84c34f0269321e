"""Use cases of the webhooks domain: subscriptions, turning outbox events into
deliveries (exactly once per subscription and event), claiming due deliveries
for sending, recording each attempt, and replay.

Nothing here talks to the network: `sender.deliver_due` claims deliveries in
one short transaction, sends with no transaction open, and records the answer
in another (the same three steps as payments.gateway). Bodies are built at
claim time through the sharing projection, so every attempt sends only what the
owner's policy permits at that moment and leaves a disclosure entry.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oao.core.db import get_or_404
from oao.core.errors import InvalidInput, InvalidState, NotFound, Problem
from oao.core.ids import new_id
from oao.core.outbox import OutboxConsumption, OutboxEvent, mark_consumed, record_event
from oao.sharing import service as sharing
from oao.webhooks import backoff, signing, topics, urls
from oao.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription

log = logging.getLogger("oao.webhooks")

CONSUMER = "webhooks"
RECIPIENT_KIND = "webhook_subscriber"
DEFAULT_PURPOSE = "integration"
# Longer than one send can take (connect 5 s + 10 s total) times the deliveries one
# subscription may have in a batch, so a live worker never loses its claim mid-batch;
# after it a crashed worker's claims are taken over.
LEASE = timedelta(minutes=5)
PER_SUBSCRIPTION_BATCH = 10
MAX_ROTATION_OVERLAP_HOURS = 7 * 24
KEEP_FINISHED_DAYS = 30  # finished deliveries and their attempts stay visible this long
# Our own operational events are not delivered: a failed delivery announcing itself
# to a "*" subscriber would feed on itself.
_NOT_DELIVERED_PREFIX = "webhook_"


def allow_private_hosts(settings: Any) -> bool:
    """Module switch for tests, or the setting once wired (OAO_WEBHOOKS_ALLOW_PRIVATE_HOSTS)."""
    return urls.ALLOW_LOOPBACK or settings.webhooks_allow_private_hosts


# --- subscriptions ----------------------------------------------------------------------

def _check_url(url: str, *, allow_private: bool) -> str:
    try:
        urls.check_shape(url, allow_private=allow_private)
    except urls.UrlRefused as exc:
        raise InvalidInput(f"Webhook URL refused: {exc}.", errors=[{"loc": ["url"], "msg": str(exc)}]) from None
    return url


def _check_types(types: list[str]) -> list[str]:
    try:
        return topics.check_types(types)
    except ValueError as exc:
        raise InvalidInput(str(exc), errors=[{"loc": ["event_types"], "msg": str(exc)}]) from None


def _sub_event(session: Session, sub: WebhookSubscription, type_: str, now: datetime, **extra: Any) -> None:
    record_event(session, type=f"webhook_subscription.{type_}", subject_id=sub.id, merchant_id=sub.merchant_id,
                 payload={"subscription_id": sub.id, "url": sub.url, "event_types": list(sub.event_types),
                          "purpose": sub.purpose, "active": sub.active, **extra}, at=now)


def create_subscription(session: Session, *, merchant_id: str, url: str, event_types: list[str],
                        purpose: str = DEFAULT_PURPOSE, description: str = "", allow_private: bool = False,
                        now: datetime) -> tuple[WebhookSubscription, str]:
    """A new subscription and its signing secret (returned once; only deliveries use it afterwards)."""
    sharing.check_purpose(purpose)
    secret = signing.new_secret()
    sub = WebhookSubscription(
        id=new_id("whs"), merchant_id=merchant_id, url=_check_url(url, allow_private=allow_private),
        event_types=_check_types(event_types), purpose=purpose, description=description, secret=secret,
        previous_secret=None, previous_secret_expires_at=None, active=True, disabled_reason=None,
        created_at=now, updated_at=now, deleted_at=None)
    session.add(sub)
    session.flush()
    _sub_event(session, sub, "created", now)
    return sub, secret


def get_subscription(session: Session, *, subscription_id: str) -> WebhookSubscription:
    sub = session.get(WebhookSubscription, subscription_id)
    if sub is None or sub.deleted_at is not None:
        raise NotFound(f"No webhook subscription {subscription_id!r}.")
    return sub


def list_subscriptions(session: Session, *, merchant_id: str | None) -> list[WebhookSubscription]:
    query = select(WebhookSubscription).where(WebhookSubscription.deleted_at.is_(None))
    if merchant_id is not None:
        query = query.where(WebhookSubscription.merchant_id == merchant_id)
    return list(session.scalars(query.order_by(WebhookSubscription.id)))


def _cancel_pending(session: Session, sub: WebhookSubscription, now: datetime) -> None:
    # Left pending they would all fire at once when the endpoint comes back; cancelled
    # they stay visible and can be replayed one by one.
    session.execute(update(WebhookDelivery).where(
        WebhookDelivery.subscription_id == sub.id, WebhookDelivery.status == "pending",
    ).values(status="cancelled", next_attempt_at=None, updated_at=now))


def update_subscription(session: Session, *, subscription_id: str, now: datetime, url: str | None = None,
                        event_types: list[str] | None = None, purpose: str | None = None,
                        description: str | None = None, active: bool | None = None,
                        allow_private: bool = False) -> WebhookSubscription:
    sub = get_subscription(session, subscription_id=subscription_id)
    if url is not None:
        sub.url = _check_url(url, allow_private=allow_private)
    if event_types is not None:
        sub.event_types = _check_types(event_types)
    if purpose is not None:
        sharing.check_purpose(purpose)
        sub.purpose = purpose
    if description is not None:
        sub.description = description
    if active is not None and active != sub.active:
        sub.active = active
        sub.disabled_reason = None if active else "disabled by the merchant"
        if not active:
            _cancel_pending(session, sub, now)
    sub.updated_at = now
    session.flush()
    _sub_event(session, sub, "updated", now)
    return sub


def delete_subscription(session: Session, *, subscription_id: str, now: datetime) -> None:
    """Stop delivering; the subscription and its deliveries stay in the database as history."""
    sub = get_subscription(session, subscription_id=subscription_id)
    sub.deleted_at, sub.active, sub.updated_at = now, False, now
    sub.disabled_reason = "deleted"
    _cancel_pending(session, sub, now)
    session.flush()
    _sub_event(session, sub, "deleted", now)


def rotate_secret(session: Session, *, subscription_id: str, keep_previous_hours: int,
                  now: datetime) -> tuple[WebhookSubscription, str]:
    """A new secret; deliveries are also signed with the old one for `keep_previous_hours` (0: not at all),
    so receivers can switch without losing any delivery."""
    if not 0 <= keep_previous_hours <= MAX_ROTATION_OVERLAP_HOURS:
        raise InvalidInput(f"keep_previous_hours must be from 0 to {MAX_ROTATION_OVERLAP_HOURS}.")
    sub = get_subscription(session, subscription_id=subscription_id)
    secret = signing.new_secret()
    if keep_previous_hours:
        sub.previous_secret = sub.secret
        sub.previous_secret_expires_at = now + timedelta(hours=keep_previous_hours)
    else:
        sub.previous_secret, sub.previous_secret_expires_at = None, None
    sub.secret, sub.updated_at = secret, now
    session.flush()
    _sub_event(session, sub, "secret_rotated", now, keep_previous_hours=keep_previous_hours)
    return sub, secret


def signing_secrets(sub: WebhookSubscription, now: datetime) -> list[str]:
    """The secrets a delivery sent now is signed with: the current one, and the previous while it lasts."""
    out = [sub.secret]
    if sub.previous_secret and sub.previous_secret_expires_at and sub.previous_secret_expires_at > now:
        out.append(sub.previous_secret)
    return out


# --- from the outbox to deliveries ------------------------------------------------------

def enqueue_from_outbox(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Create a delivery per matching subscription for each new event of a subscribed merchant.

    Exactly once: the consumption row (consumer "webhooks", event id) and the
    deliveries are written together in a savepoint, and deliveries are unique
    per (subscription, event); a racing worker fails on either and changes
    nothing. Only merchants with a subscription are scanned; an event older
    than a subscription is not delivered to it (a new subscription does not
    receive the merchant's history), nor one raised while it was disabled.
    """
    live = and_(WebhookSubscription.active.is_(True), WebhookSubscription.deleted_at.is_(None))
    # Disabled subscriptions keep their merchant scanned, so events while disabled are
    # consumed with no delivery instead of flooding the endpoint when it is switched back on.
    subscribed = select(WebhookSubscription.merchant_id).where(WebhookSubscription.deleted_at.is_(None))
    done = exists().where(and_(OutboxConsumption.consumer == CONSUMER, OutboxConsumption.event_id == OutboxEvent.id))
    events = list(session.scalars(
        select(OutboxEvent).where(OutboxEvent.merchant_id.in_(subscribed), ~done)
        .order_by(OutboxEvent.id).limit(limit).with_for_update(skip_locked=True, of=OutboxEvent)))
    if not events:
        return 0
    merchants = {e.merchant_id for e in events}
    subs_by_merchant: dict[str, list[WebhookSubscription]] = {}
    for sub in session.scalars(select(WebhookSubscription).where(live, WebhookSubscription.merchant_id.in_(merchants))
                               .order_by(WebhookSubscription.id)):
        subs_by_merchant.setdefault(sub.merchant_id, []).append(sub)
    created = 0
    for event in events:
        wanted = [] if event.type.startswith(_NOT_DELIVERED_PREFIX) else [
            s for s in subs_by_merchant.get(event.merchant_id or "", [])
            if s.created_at <= event.occurred_at and topics.matches(list(s.event_types), event.type)]
        try:
            with session.begin_nested():
                mark_consumed(session, consumer=CONSUMER, event_id=event.id, at=now)
                for sub in wanted:
                    session.add(WebhookDelivery(
                        id=new_id("whd"), subscription_id=sub.id, merchant_id=sub.merchant_id, event_id=event.id,
                        event_type=event.type, status="pending", attempt_count=0, failures=0, next_attempt_at=now,
                        lease_until=None, claim_token=None, last_status_code=None, last_error=None, body=None,
                        created_at=now, updated_at=now, delivered_at=None))
                session.flush()
        except IntegrityError:
            log.info("webhook event %s was enqueued by another worker", event.id)
            continue
        created += len(wanted)
    return created


# --- claiming, building, recording ------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Outgoing:
    """Everything needed to send one delivery with no database at hand."""

    delivery_id: str
    subscription_id: str
    claim_token: str
    attempt: int
    event_id: str
    url: str
    secrets: tuple[str, ...]
    body: bytes | None  # None: could not be built; `error` says why
    error: str | None = None


def _due(now: datetime) -> Any:
    return or_(and_(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now),
               and_(WebhookDelivery.status == "sending", WebhookDelivery.lease_until < now))


def event_body(event: OutboxEvent, data: dict[str, Any]) -> bytes:
    """The JSON body of a delivery: the envelope is ours, `data` is the projected payload."""
    envelope = {"id": event.id, "type": event.type, "created": int(event.occurred_at.timestamp()), "data": data}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


def _build(session: Session, delivery: WebhookDelivery, sub: WebhookSubscription, now: datetime) -> bytes:
    event = session.get(OutboxEvent, delivery.event_id)
    if event is None:
        raise InvalidState(f"event {delivery.event_id} is no longer in the outbox")
    # Through the sharing projection at every attempt: the policy may have changed since
    # the event, and each time data leaves it must be what the policy permits then.
    data = sharing.project_outbound(session, owner_merchant_id=sub.merchant_id, recipient_kind=RECIPIENT_KIND,
                                    recipient_id=sub.id, purpose=sub.purpose, payload_kind=f"event:{event.type}",
                                    payload=dict(event.payload), now=now)
    return event_body(event, data)


def claim_due(session: Session, *, now: datetime, limit: int = 50) -> list[Outgoing]:
    """Claim due deliveries for sending and build their bodies (in the caller's short transaction).

    Candidates are read with FOR UPDATE SKIP LOCKED (PostgreSQL: a second
    worker skips them) and each is then taken with a conditional UPDATE that
    re-checks it is still due and stamps a claim token (SQLite, where the row
    lock does not exist, and any worker that read a stale row): only the
    worker whose UPDATE matched sends it, until the lease runs out.
    """
    rows = session.execute(
        select(WebhookDelivery, WebhookSubscription)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(_due(now), WebhookSubscription.active.is_(True), WebhookSubscription.deleted_at.is_(None))
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit)
        .with_for_update(skip_locked=True, of=WebhookDelivery)).all()
    per_sub: dict[str, int] = {}
    out: list[Outgoing] = []
    for delivery, sub in rows:
        if per_sub.get(sub.id, 0) >= PER_SUBSCRIPTION_BATCH:  # the rest waits for the next round
            continue
        token = new_id("clm")
        taken = session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == delivery.id, _due(now))
            .values(status="sending", lease_until=now + LEASE, claim_token=token,
                    attempt_count=WebhookDelivery.attempt_count + 1, updated_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if taken != 1:
            continue
        per_sub[sub.id] = per_sub.get(sub.id, 0) + 1
        session.refresh(delivery)
        body: bytes | None = None
        error: str | None = None
        try:
            with session.begin_nested():
                body = _build(session, delivery, sub, now)
        except Problem as exc:
            error = f"not sent: {exc.detail}"[:300]
        if body is not None:
            delivery.body = body.decode()
        out.append(Outgoing(delivery_id=delivery.id, subscription_id=sub.id, claim_token=token,
                            attempt=delivery.attempt_count, event_id=delivery.event_id, url=sub.url,
                            secrets=tuple(signing_secrets(sub, now)), body=body, error=error))
    session.flush()
    return out


@dataclass(frozen=True, slots=True)
class AttemptResult:
    started_at: datetime
    duration_ms: int
    outcome: str  # delivered | gone | http_error | timeout | network_error | refused | not_sent
    status_code: int | None = None
    error: str | None = None
    response_excerpt: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "delivered"


def release(session: Session, *, outgoing: Outgoing, now: datetime) -> None:
    """Give back a claim that was never attempted (its endpoint failed earlier in the same batch)."""
    session.execute(update(WebhookDelivery).where(
        WebhookDelivery.id == outgoing.delivery_id, WebhookDelivery.claim_token == outgoing.claim_token,
    ).values(status="pending", lease_until=None, claim_token=None, attempt_count=WebhookDelivery.attempt_count - 1,
             updated_at=now).execution_options(synchronize_session=False))


def record_attempt(session: Session, *, outgoing: Outgoing, result: AttemptResult, now: datetime,
                   jitter: float) -> str:
    """Store the attempt and move the delivery on; returns the delivery's new status.

    2xx: delivered. 410 Gone: the receiver says the endpoint is gone for good, so
    the subscription is disabled. Anything else: retried after a jittered,
    growing delay, until backoff.MAX_ATTEMPTS failed attempts in a row
    (counted afresh after a replay), then failed.
    """
    session.add(WebhookAttempt(
        id=new_id("wha"), delivery_id=outgoing.delivery_id, number=outgoing.attempt, started_at=result.started_at,
        duration_ms=result.duration_ms, outcome=result.outcome, status_code=result.status_code,
        error=(result.error or None) and result.error[:300],
        response_excerpt=(result.response_excerpt or None) and result.response_excerpt[:300]))
    delivery = session.get(WebhookDelivery, outgoing.delivery_id, with_for_update=True)
    if delivery is None or delivery.claim_token != outgoing.claim_token:
        # The lease ran out and another worker took the delivery over: the attempt is
        # history, but the state is theirs to set.
        session.flush()
        return delivery.status if delivery else "missing"
    delivery.lease_until, delivery.claim_token, delivery.updated_at = None, None, now
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error[:300] if result.error else None
    if result.ok:
        delivery.status, delivery.delivered_at, delivery.failures, delivery.next_attempt_at = "delivered", now, 0, None
    elif result.outcome == "gone":
        delivery.status, delivery.next_attempt_at = "failed", None
        sub = session.get(WebhookSubscription, delivery.subscription_id)
        if sub is not None and sub.active:
            sub.active, sub.disabled_reason, sub.updated_at = False, "the endpoint answered 410 Gone", now
            _cancel_pending(session, sub, now)
            _sub_event(session, sub, "disabled", now, reason=sub.disabled_reason)
    else:
        delivery.failures += 1
        if backoff.gives_up(delivery.failures) or result.outcome == "not_sent":
            delivery.status, delivery.next_attempt_at = "failed", None
        else:
            delivery.status = "pending"
            delivery.next_attempt_at = now + backoff.retry_delay(delivery.failures, jitter=jitter)
    session.flush()
    return delivery.status


# --- reading and replay -----------------------------------------------------------------

def list_deliveries(session: Session, *, merchant_id: str | None, subscription_id: str | None = None,
                    status: str | None = None, event_id: str | None = None,
                    limit: int = 100) -> list[WebhookDelivery]:
    query = select(WebhookDelivery)
    if merchant_id is not None:
        query = query.where(WebhookDelivery.merchant_id == merchant_id)
    if subscription_id is not None:
        query = query.where(WebhookDelivery.subscription_id == subscription_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if event_id is not None:
        query = query.where(WebhookDelivery.event_id == event_id)
    return list(session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit)))


def get_delivery(session: Session, *, delivery_id: str) -> WebhookDelivery:
    return get_or_404(session, WebhookDelivery, delivery_id, "webhook delivery")


def attempts_of(session: Session, *, delivery_id: str) -> list[WebhookAttempt]:
    return list(session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)
                                .order_by(WebhookAttempt.number, WebhookAttempt.id)))


def replay_delivery(session: Session, *, delivery_id: str, now: datetime) -> WebhookDelivery:
    """Send the event again (same event id, so the receiver can dedupe) at the worker's next round."""
    delivery = get_delivery(session, delivery_id=delivery_id)
    sub = get_subscription(session, subscription_id=delivery.subscription_id)
    if not sub.active:
        raise InvalidState(f"Subscription {sub.id} is disabled ({sub.disabled_reason}); enable it first.")
    taken = session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == delivery.id, WebhookDelivery.status != "sending")
        .values(status="pending", next_attempt_at=now, failures=0, lease_until=None, claim_token=None,
                updated_at=now).execution_options(synchronize_session=False)).rowcount
    if taken != 1:
        raise InvalidState(f"Delivery {delivery.id} is being sent right now; replay it when that attempt ends.")
    session.refresh(delivery)
    return delivery


def purge_finished(session: Session, *, now: datetime, keep_days: int = KEEP_FINISHED_DAYS,
                   limit: int = 1000) -> int:
    """Delete deliveries that ended (delivered, failed, cancelled) more than `keep_days` ago, with their
    attempts; returns how many deliveries went. Bounded per call so one run never holds a long lock."""
    old = list(session.scalars(select(WebhookDelivery.id).where(
        WebhookDelivery.status.in_(("delivered", "failed", "cancelled")),
        WebhookDelivery.updated_at < now - timedelta(days=keep_days)).order_by(WebhookDelivery.id).limit(limit)))
    if not old:
        return 0
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(old)))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(old)))
    return len(old)
