"""The insight event log: every sale line, returned line and storefront product view, once.

The worker turns `pos.sale_recorded`, `order.completed` and `order.returned` outbox events into
`insight_events` rows (one per line, `source` = the outbox event id, `source_line` = the line's index).
Each event is written in a savepoint together with marking it consumed, so a second worker racing for
the same event fails on the consumption's primary key (or the log's unique `(source, source_line)`)
and changes nothing. An event whose payload cannot be understood is logged and marked consumed: one
bad event must not stop the log for everyone behind it.

`lines_frame` reads the log back as the pandas frame every training job starts from; pandas is
imported inside it, so the app and the worker run without the `oao[insights]` extra.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from oao.core.clock import as_utc
from oao.core.db import Database
from oao.core.errors import Problem
from oao.core.ids import new_id
from oao.core.outbox import OutboxEvent, consume_each, payload_int, payload_str
from oao.insights.models import EVENT_KINDS, InsightEvent

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
CONSUMER = "insights"
EVENT_TYPES = ("pos.sale_recorded", "order.completed", "order.returned")
# The POS names a counter's sales "till"; the log calls every staffed register sale "pos".
POS_CHANNELS = {"till": "pos", "counter": "pos", "pos": "pos", "kiosk": "kiosk", "self_checkout": "self_checkout"}
MAX_LINES = 10_000
MAX_AMOUNT = 10**15
# A view carries no money: ISO 4217 "XXX" is the code for "no currency involved".
NO_CURRENCY = "XXX"
FRAME_COLUMNS = ("occurred_at", "location_id", "channel", "product_id", "member_id", "basket_ref", "quantity",
                 "amount_minor", "kind")


class BadInsightEvent(ValueError):
    pass


def _str(payload: dict[str, Any], key: str, *, optional: bool = False, max_length: int = 80) -> str | None:
    return payload_str(payload, key, error=BadInsightEvent, optional=optional, max_length=max_length)


def _int(payload: dict[str, Any], key: str) -> int:
    return payload_int(payload, key, error=BadInsightEvent, maximum=MAX_AMOUNT) or 0


def _when(payload: dict[str, Any], key: str, default: datetime) -> datetime:
    """The POS's own sale time (an offline sale is sent later); the event time otherwise."""
    raw = payload.get(key)
    if raw is None:
        return default
    try:
        return as_utc(datetime.fromisoformat(str(raw)))
    except ValueError:
        raise BadInsightEvent(f"{key} must be an ISO date-time, not {raw!r}") from None


def _channel(event_type: str, payload: dict[str, Any]) -> str:
    if event_type == "pos.sale_recorded":
        raw = _str(payload, "channel") or ""
        if raw not in POS_CHANNELS:
            raise BadInsightEvent(f"unknown POS channel {raw!r}")
        return POS_CHANNELS[raw]
    seller = payload.get("merchant_id")
    others = {payload.get("referrer_merchant_id"), payload.get("pickup_merchant_id")} - {None, seller}
    # Sold online through another merchant (a kiosk referral, a partner's pickup point): "partner".
    return "partner" if others else "online"


def rows_from_event(*, event_id: str, event_type: str, payload: dict[str, Any], occurred_at: datetime,
                    merchant_id: str | None = None) -> list[dict[str, Any]]:
    """The log rows of one outbox event, one per line (raises BadInsightEvent on a payload it cannot read)."""
    if event_type not in EVENT_TYPES:
        raise BadInsightEvent(f"not an event the log reads: {event_type!r}")
    merchant = _str(payload, "merchant_id", optional=True) or merchant_id
    if not merchant:
        raise BadInsightEvent("merchant_id is missing")
    currency = _str(payload, "currency", max_length=3) or ""
    raw_lines = payload.get("lines")
    if not isinstance(raw_lines, list) or len(raw_lines) > MAX_LINES:
        raise BadInsightEvent(f"lines must be a list of at most {MAX_LINES}")
    if event_type == "order.returned":
        kind, channel, at = "return", "online", occurred_at
        basket = _str(payload, "order_id", optional=True) or _str(payload, "sale_ref", optional=True)
    else:
        kind, channel = "sale", _channel(event_type, payload)
        at = _when(payload, "sold_at", occurred_at) if event_type == "pos.sale_recorded" else occurred_at
        basket = _str(payload, "sale_ref", optional=True) or _str(payload, "order_id", optional=True) \
            or _str(payload, "pos_sale_id", optional=True)
    base = {"source": event_id, "kind": kind, "merchant_id": merchant, "channel": channel,
            "location_id": _str(payload, "location_id", optional=True),
            "member_id": _str(payload, "member_id", optional=True), "basket_ref": basket, "currency": currency,
            "occurred_at": at}
    rows = []
    for index, raw in enumerate(raw_lines):
        if not isinstance(raw, dict):
            raise BadInsightEvent(f"line {index} is not an object")
        rows.append({**base, "source_line": index, "product_id": _str(raw, "product_id"),
                     "quantity": _int(raw, "quantity"), "amount_minor": _int(raw, "amount_minor")})
    return rows


def record_from_outbox(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Write the log rows of sale and return events not handled yet (worker job); returns events handled."""
    return consume_each(session, consumer=CONSUMER, types=EVENT_TYPES, now=now, limit=limit,
                        handle=lambda event: _handle(session, event), skip=(BadInsightEvent, Problem))


def _handle(session: Session, event: OutboxEvent) -> None:
    payload = event.payload if isinstance(event.payload, dict) else {}
    rows = rows_from_event(event_id=event.id, event_type=event.type, payload=payload,
                           occurred_at=event.occurred_at, merchant_id=event.merchant_id)
    if rows:
        session.execute(insert(InsightEvent), rows)


def record_product_view(session: Session, *, merchant_id: str, product_id: str, location_id: str | None,
                        member_id: str | None, at: datetime, channel: str = "online") -> str:
    """Log that a product page was seen (member only when a shopper is logged in); returns the view's source."""
    source = new_id("view")
    session.add(InsightEvent(source=source, source_line=0, kind="view", merchant_id=merchant_id,
                             location_id=location_id, channel=channel, product_id=product_id, member_id=member_id,
                             basket_ref=None, quantity=0, amount_minor=0, currency=NO_CURRENCY, occurred_at=at))
    session.flush()
    return source


# --- reading the log back --------------------------------------------------------------------------

# PostgreSQL: times leave as microseconds since the epoch (a million integers become datetime64 in one
# step) and numpy sorts them. SQLite: its text times (core.db.UTCDateTime) come in index order and are
# parsed with one fixed format; computing integers and sorting there measured slower.
_TIME_COLUMN = {"postgresql": "(extract(epoch from occurred_at) * 1000000)::bigint", "sqlite": "occurred_at"}
_ORDER = {"postgresql": "", "sqlite": " ORDER BY occurred_at, id"}


def _frame_query(dialect: str, *, kinds: list[str], since: datetime | None, until: datetime | None) -> str:
    """The log query with placeholders (%s or ?) for merchant, kinds, since and until (those given)."""
    mark = "%s" if dialect == "postgresql" else "?"
    where = [f"merchant_id = {mark}", f"kind IN ({', '.join([mark] * len(kinds))})"]
    if since is not None:
        where.append(f"occurred_at >= {mark}")
    if until is not None:
        where.append(f"occurred_at < {mark}")
    columns = ["id", _TIME_COLUMN[dialect], *FRAME_COLUMNS[1:]]
    return f"SELECT {', '.join(columns)} FROM insight_events WHERE {' AND '.join(where)}{_ORDER[dialect]}"


def lines_frame(session: Session, *, merchant_id: str, kinds: Iterable[str] = ("sale",),
                since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
    """The merchant's log lines of `kinds` in [since, until), oldest first, as the frame every model reads.

    Columns: occurred_at (datetime64[ns, UTC]), location_id, channel, product_id, member_id, basket_ref
    (str or None), quantity and amount_minor (int64), kind. Read with the driver's own cursor (binary on
    PostgreSQL) rather than through SQLAlchemy rows, which cost several times more for a million lines.
    """
    import numpy as np
    import pandas as pd

    kinds = list(kinds)
    if not kinds or set(kinds) - set(EVENT_KINDS):
        raise ValueError(f"kinds must be some of {EVENT_KINDS}, not {kinds}")
    connection = session.connection()
    dialect = connection.dialect.name
    sql = _frame_query(dialect, kinds=kinds, since=since, until=until)
    values: list[Any] = [merchant_id, *kinds]
    for bound in (since, until):
        if bound is not None:
            values.append(as_utc(bound))
    raw = connection.connection.driver_connection
    if dialect == "postgresql":
        with raw.cursor(binary=True) as cursor:
            cursor.execute(sql, values)
            records = cursor.fetchall()
    else:
        sqlite_values = [v.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
                         if isinstance(v, datetime) else v for v in values]
        records = raw.execute(sql, sqlite_values).fetchall()
    frame = pd.DataFrame.from_records(records, columns=["id", *FRAME_COLUMNS], nrows=len(records))
    del records
    if dialect == "postgresql":
        if len(frame):
            frame = frame.take(np.lexsort((frame["id"].to_numpy(), frame["occurred_at"].to_numpy())))
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"].astype("int64"), unit="us", utc=True)
    else:
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], format="%Y-%m-%d %H:%M:%S.%f", utc=True)
    return _typed(frame.drop(columns="id").reset_index(drop=True))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    frame["occurred_at"] = frame["occurred_at"].astype("datetime64[ns, UTC]")
    for column in ("quantity", "amount_minor"):
        frame[column] = frame[column].astype("int64")
    for column in ("location_id", "channel", "product_id", "member_id", "basket_ref", "kind"):
        frame[column] = frame[column].astype(object)
    for column in ("location_id", "member_id", "basket_ref"):
        frame[column] = frame[column].where(frame[column].notna(), None)
    return frame


def record_storefront_view(db: Database, *, merchant_id: str, product_id: str, member_id: str | None,
                           at: datetime) -> None:
    """The storefront's product page view, in its own short transaction after the page's read.

    Counting a view is worth less than showing the page: a failure (a busy database) is logged, not shown.
    """
    try:
        with db.unit_of_work() as session:
            record_product_view(session, merchant_id=merchant_id, product_id=product_id, location_id=None,
                                member_id=member_id, at=at)
    except SQLAlchemyError:
        log.warning("product view of %s not logged", product_id, exc_info=True)
