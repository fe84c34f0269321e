"""Idempotency keys for POSTs that create or move things (Stripe's contract).

The first request with a key runs and its response is stored; a replay gets
that response back; the same key with a different body is a 422. The key
record is inserted *before* the work, so a concurrent duplicate blocks on the
unique index (PostgreSQL) or the write lock (SQLite) and then replays.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from oao.core.db import Base, Database
from oao.core.errors import IdempotencyKeyReused, InvalidInput, Problem
from oao.core.ids import new_id

MAX_KEY_LENGTH = 255


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_scope_key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    scope: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]


def request_fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps({"m": method, "p": path, "b": body}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(session: Session, scope: str, key: str, fingerprint: str) -> tuple[int, dict[str, Any]] | None:
    record = session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.scope == scope,
                                                            IdempotencyRecord.key == key))
    if record is None:
        return None
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {key!r} was already used with a different request; use a new key.")
    if record.status_code is None or record.response_body is None:
        raise Problem("The first request with this Idempotency-Key is still running; retry shortly.")
    return record.status_code, record.response_body


class _TwinCommittedFirst(Exception):
    """Another request with the same key claimed it between our look-up and insert."""


def run_idempotent(db: Database, *, scope: str, key: str | None, fingerprint: str, at: datetime,
                   action: Callable[[Session], tuple[int, dict[str, Any]]]) -> tuple[int, dict[str, Any]]:
    """Run `action` in one transaction at most once per (scope, key)."""
    if key is None:
        with db.unit_of_work() as session:
            return action(session)
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.")
    for _attempt in range(3):
        try:
            with db.unit_of_work() as session:
                replay = _replay(session, scope, key, fingerprint)
                if replay is not None:
                    return replay
                record = IdempotencyRecord(id=new_id("idk"), scope=scope, key=key, request_hash=fingerprint,
                                           status_code=None, response_body=None, created_at=at)
                session.add(record)
                try:
                    session.flush()  # claims the key now; a concurrent twin waits here
                except IntegrityError:
                    raise _TwinCommittedFirst() from None
                status, body = action(session)  # its own errors propagate untouched
                record.status_code, record.response_body = status, body
                return status, body
        except _TwinCommittedFirst:
            continue  # the twin's transaction committed: loop and replay its response
    with db.unit_of_work() as session:
        replay = _replay(session, scope, key, fingerprint)
        if replay is None:
            raise Problem("Could not record the Idempotency-Key; retry the request.")
        return replay
