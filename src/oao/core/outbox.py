"""Events written in the same transaction as the state change that caused them.

Consumers (webhooks, loyalty accrual, insights) read this table later and must
be idempotent by event id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from oao.core.db import Base
from oao.core.ids import new_id


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
