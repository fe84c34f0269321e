"""Events written in the same transaction as the state change that caused them.

Consumers (webhooks, loyalty accrual, insights) read this table later and must
be idempotent by event id. Each consumer marks what it handled in
`outbox_consumptions`, in the same transaction as its own writes: the row's
primary key (consumer, event id) is what makes "exactly once" hold when two
workers race for the same event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, and_, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from oao.core.db import Base
from oao.core.ids import new_id

log = logging.getLogger(__name__)


class OutboxEvent(Base):
    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_unpublished", "published_at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[str] = mapped_column(String(80), index=True)
    merchant_id: Mapped[str | None] = mapped_column(String(40), index=True)
    subject_id: Mapped[str] = mapped_column(String(40), index=True)
    payload: Mapped[dict[str, Any]]
    occurred_at: Mapped[datetime]
    published_at: Mapped[datetime | None]


def record_event(session: Session, *, type: str, subject_id: str, merchant_id: str | None,
                 payload: dict[str, Any], at: datetime) -> OutboxEvent:
    """Append an event to the outbox inside the caller's transaction."""
    event = OutboxEvent(id=new_id("evt"), type=type, merchant_id=merchant_id, subject_id=subject_id,
                        payload=payload, occurred_at=at, published_at=None)
    session.add(event)
    return event


class OutboxConsumption(Base):
    __tablename__ = "outbox_consumptions"

    consumer: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    consumed_at: Mapped[datetime]


def unconsumed(session: Session, *, consumer: str, types: tuple[str, ...], limit: int = 100) -> list[OutboxEvent]:
    """Events of `types` this consumer has not handled yet, oldest first (claimed with SKIP LOCKED)."""
    done = exists().where(and_(OutboxConsumption.consumer == consumer, OutboxConsumption.event_id == OutboxEvent.id))
    query = (select(OutboxEvent).where(OutboxEvent.type.in_(types), ~done).order_by(OutboxEvent.id).limit(limit)
             .with_for_update(skip_locked=True))
    return list(session.scalars(query))


def mark_consumed(session: Session, *, consumer: str, event_id: str, at: datetime) -> None:
    """Record that `consumer` handled the event; a second worker doing the same fails on the primary key."""
    session.add(OutboxConsumption(consumer=consumer, event_id=event_id, consumed_at=at))
    session.flush()


def consume_each(session: Session, *, consumer: str, types: tuple[str, ...], now: datetime, limit: int,
                 handle: Callable[[OutboxEvent], None], skip: tuple[type[Exception], ...]) -> int:
    """Handle each event of `types` this consumer has not handled yet, exactly once; returns events handled.

    Each event is handled in a savepoint together with marking it consumed, so a second worker racing
    for the same event fails on the consumption's primary key and changes nothing. An event `handle`
    rejects with one of the `skip` errors is logged and marked consumed: one bad event must not stop
    the consumer for everyone behind it."""
    handled = 0
    for event in unconsumed(session, consumer=consumer, types=types, limit=limit):
        try:
            with session.begin_nested():
                handle(event)
                mark_consumed(session, consumer=consumer, event_id=event.id, at=now)
            handled += 1
        except IntegrityError:
            continue  # another worker handled it first
        except skip as exc:
            log.warning("%s skipped event %s (%s): %s", consumer, event.id, event.type, exc)
            with session.begin_nested():
                mark_consumed(session, consumer=consumer, event_id=event.id, at=now)
            handled += 1
    return handled


# --- reading event payloads ------------------------------------------------------------------
# Consumers read payloads written by other code, maybe by an older version: every field is checked,
# and a bad one raises the consumer's own error so it can log and skip that event.

def payload_int(payload: dict[str, Any], key: str, *, error: type[Exception], maximum: int,
                optional: bool = False) -> int | None:
    """A whole number from 0 to `maximum` (None only when optional and absent)."""
    value = payload.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise error(f"{key} must be a whole number from 0 to {maximum}, not {value!r}")
    return value


def payload_str(payload: dict[str, Any], key: str, *, error: type[Exception], optional: bool = False,
                max_length: int = 80) -> str | None:
    """A non-empty string of at most `max_length` characters (None only when optional and absent)."""
    value = payload.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= max_length:
        raise error(f"{key} must be a string of 1 to {max_length} characters, not {value!r}")
    return value
