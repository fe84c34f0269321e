"""Stock use cases: receipts, adjustments, reservations, sales, transfers.

Never oversell: a reservation is one conditional UPDATE
(`... WHERE on_hand - reserved >= :q`) whose row count says whether it won;
multi-line reservations lock rows in (location_id, product_id) order so two
orders never wait on each other in opposite orders. The CHECK constraints on
stock_levels are the last line of defence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from oao.core.errors import Conflict, InsufficientStock, InvalidInput, NotFound
from oao.core.ids import new_id
from oao.core.outbox import record_event
from oao.inventory.models import Reservation, StockLevel, StockMovement


@dataclass(frozen=True, slots=True)
class LineQty:
    product_id: str
    quantity: int


def get_level(session: Session, *, location_id: str, product_id: str) -> StockLevel | None:
    return session.scalar(select(StockLevel).where(StockLevel.location_id == location_id,
                                                   StockLevel.product_id == product_id))


def _level_for_update(session: Session, *, merchant_id: str, location_id: str, product_id: str,
                      now: datetime) -> StockLevel:
    level = get_level(session, location_id=location_id, product_id=product_id)
    if level is None:
        # Two first receipts of a product at a store may race: whoever loses the
        # insert simply uses the row the other created.
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        session.execute(insert(StockLevel).values(
            id=new_id("stk"), merchant_id=merchant_id, location_id=location_id, product_id=product_id,
            on_hand=0, reserved=0, updated_at=now).on_conflict_do_nothing(
            index_elements=["location_id", "product_id"]))
        level = get_level(session, location_id=location_id, product_id=product_id)
        assert level is not None
    return level


def _move(session: Session, *, merchant_id: str, location_id: str, product_id: str, kind: str,
          quantity: int, reason: str, reference: str | None, now: datetime) -> StockMovement:
    movement = StockMovement(id=new_id("mov"), merchant_id=merchant_id, location_id=location_id,
                             product_id=product_id, kind=kind, quantity=quantity, reason=reason,
                             reference=reference, at=now)
    session.add(movement)
    return movement


def receive_stock(session: Session, *, merchant_id: str, location_id: str, product_id: str, quantity: int,
                  now: datetime, reason: str = "goods received", reference: str | None = None,
                  kind: str = "receipt") -> StockLevel:
    """Add units to on-hand (a receipt, a return, a transfer in)."""
    if quantity <= 0:
        raise InvalidInput("quantity received must be positive")
    level = _level_for_update(session, merchant_id=merchant_id, location_id=location_id,
                              product_id=product_id, now=now)
    session.execute(update(StockLevel).where(StockLevel.id == level.id)
                    .values(on_hand=StockLevel.on_hand + quantity, updated_at=now))
    _move(session, merchant_id=merchant_id, location_id=location_id, product_id=product_id, kind=kind,
          quantity=quantity, reason=reason, reference=reference, now=now)
    session.refresh(level)
    if kind != "transfer_in":  # arrivals of transfers are announced by transfer.received
        record_event(session, type="stock.received", subject_id=level.id, merchant_id=merchant_id,
                     payload={"location_id": location_id, "product_id": product_id, "quantity": quantity,
                              "kind": kind, "reason": reason}, at=now)
    return level


def adjust_stock(session: Session, *, merchant_id: str, location_id: str, product_id: str, delta: int,
                 reason: str, now: datetime) -> StockLevel:
    """Correct on-hand by a signed delta (a count, breakage); never below what is reserved."""
    if delta == 0:
        raise InvalidInput("an adjustment must change the quantity")
    if not reason.strip():
        raise InvalidInput("an adjustment needs a reason")
    level = _level_for_update(session, merchant_id=merchant_id, location_id=location_id,
                              product_id=product_id, now=now)
    result = session.execute(
        update(StockLevel)
        .where(StockLevel.id == level.id, StockLevel.on_hand + delta >= StockLevel.reserved)
        .values(on_hand=StockLevel.on_hand + delta, updated_at=now))
    if result.rowcount != 1:
        session.refresh(level)
        raise InsufficientStock(
            f"Cannot remove {-delta}: {level.on_hand} on hand of which {level.reserved} reserved for orders.",
            available=level.on_hand - level.reserved)
    _move(session, merchant_id=merchant_id, location_id=location_id, product_id=product_id,
          kind="adjustment", quantity=delta, reason=reason, reference=None, now=now)
    session.refresh(level)
    record_event(session, type="stock.adjusted", subject_id=level.id, merchant_id=merchant_id,
                 payload={"location_id": location_id, "product_id": product_id, "delta": delta,
                          "reason": reason}, at=now)
    return level


def set_stock_count(session: Session, *, merchant_id: str, location_id: str, product_id: str, counted: int,
                    reason: str, now: datetime) -> StockLevel:
    """Set on-hand to a counted figure (imports, stocktakes) as one adjustment movement."""
    if counted < 0:
        raise InvalidInput("a counted quantity cannot be negative")
    level = _level_for_update(session, merchant_id=merchant_id, location_id=location_id,
                              product_id=product_id, now=now)
    delta = counted - level.on_hand
    if delta == 0:
        return level
    if level.on_hand == 0 and delta > 0:
        return receive_stock(session, merchant_id=merchant_id, location_id=location_id,
                             product_id=product_id, quantity=delta, reason=reason, now=now)
    return adjust_stock(session, merchant_id=merchant_id, location_id=location_id, product_id=product_id,
                        delta=delta, reason=reason, now=now)


# --- counts in bulk (imports, stocktakes) ------------------------------------------------------

COUNT_CHUNK = 500  # rows per round of statements; 1000 bind parameters for the key lookups
_levels = StockLevel.__table__
# One executemany for a chunk. Its rows are locked (see set_stock_counts), so the
# WHERE guard never fails in practice; it stays as a second line of defence and
# the row count tells if it did.
_SET_COUNTED = (update(_levels)
                .where(_levels.c.id == bindparam("level_id"), _levels.c.on_hand == bindparam("seen"),
                       _levels.c.reserved <= bindparam("counted"))
                .values(on_hand=bindparam("counted"), updated_at=bindparam("now")))


def level_figures(session: Session, *, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, int]]:
    """(location_id, product_id) -> (on_hand, reserved) for the keys that have a stock level."""
    return {key: (on_hand, reserved) for key, (_, on_hand, reserved) in _levels_by_key(session, keys).items()}


def _levels_by_key(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, int, int]]:
    """(location_id, product_id) -> (id, on_hand, reserved), read COUNT_CHUNK keys at a time.

    `location_id IN (..) AND product_id IN (..)`, then dropping the pairs not
    asked for, rather than a row-value IN: PostgreSQL tests every row of the
    location against each of the 500 pairs of a row-value list (110 ms a chunk
    against 2 ms). Sorted keys keep each chunk to a location or two, so few
    extra rows come back.
    """
    ordered = sorted(set(keys))
    out: dict[tuple[str, str], tuple[str, int, int]] = {}
    for start in range(0, len(ordered), COUNT_CHUNK):
        chunk = ordered[start:start + COUNT_CHUNK]
        wanted = set(chunk)
        rows = session.execute(
            select(StockLevel.id, StockLevel.location_id, StockLevel.product_id, StockLevel.on_hand,
                   StockLevel.reserved)
            .where(StockLevel.location_id.in_({loc for loc, _ in chunk}),
                   StockLevel.product_id.in_({prod for _, prod in chunk})))
        out.update({(loc, prod): (level_id, on_hand, reserved)
                    for level_id, loc, prod, on_hand, reserved in rows if (loc, prod) in wanted})
    return out


def set_stock_counts(session: Session, *, merchant_id: str, counts: Sequence[tuple[str, str, int]], reason: str,
                     now: datetime, reference: str | None = None,
                     progress: Callable[[int], None] | None = None) -> int:
    """set_stock_count for many (location_id, product_id, counted) rows, in a few statements per chunk.

    Each row behaves as set_stock_count would: a missing level is created, a
    change is one movement ("receipt" when an empty level fills, otherwise a
    signed "adjustment"), and on-hand never drops below what is reserved
    (InsufficientStock names the row, and nothing of the batch is written).
    The movements carry `reference` (a new "cnt_" id if not given), which is
    also the subject of one "stock.counted" event for the whole batch.
    `progress` gets the number of rows done after each chunk. Returns the
    number of rows changed (a level created or its on-hand moved).

    Concurrency: rows are handled in (location_id, product_id) order, and the
    rows about to change are locked with SELECT ... FOR UPDATE in that order
    before their figures are trusted, the order reserve(), sell_now() and
    consume() lock rows in, so an import and an order never deadlock. An order
    reserving a locked row waits for the import to commit and then re-checks
    `on_hand - reserved` against the counted figure; an order that reserved
    first is seen in the locked read, and counting below it is refused. Rows
    already at their count are not locked: skipping them is the same as
    counting before a sale that comes along later. (SQLite ignores FOR UPDATE:
    its BEGIN IMMEDIATE already keeps every other writer out of the transaction.)
    """
    if not reason.strip():
        raise InvalidInput("a stock count needs a reason")
    seen: set[tuple[str, str]] = set()
    for location_id, product_id, counted in counts:
        if counted < 0:
            raise InvalidInput(f"A counted quantity cannot be negative: {counted} of product {product_id} "
                               f"at location {location_id}.")
        if (location_id, product_id) in seen:
            raise InvalidInput(f"Product {product_id} at location {location_id} is counted twice.")
        seen.add((location_id, product_id))
    reference = reference or new_id("cnt")
    ordered = sorted(counts)
    tally = {"created": 0, "received": 0, "adjusted": 0}
    touched: set[str] = set()
    locations: set[str] = set()
    # A savepoint makes the batch all or nothing even for a caller that catches the error. Opening
    # it flushes the session, so the Core statements below see the rows it holds (new products...).
    with session.begin_nested():
        for start in range(0, len(ordered), COUNT_CHUNK):
            _count_chunk(session, merchant_id=merchant_id, chunk=ordered[start:start + COUNT_CHUNK],
                         reason=reason, reference=reference, now=now, tally=tally, touched=touched,
                         locations=locations)
            if progress is not None:
                progress(min(start + COUNT_CHUNK, len(ordered)))
    # Level objects already in the session were bypassed by the Core UPDATEs: reload them when next read.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, StockLevel) and obj.id in touched:
            session.expire(obj)
    changed = len(touched)
    if changed:
        record_event(session, type="stock.counted", subject_id=reference, merchant_id=merchant_id,
                     payload={"reference": reference, "reason": reason, "rows_counted": len(ordered),
                              "rows_changed": changed, **tally, "location_ids": sorted(locations)}, at=now)
    return changed


def _count_chunk(session: Session, *, merchant_id: str, chunk: list[tuple[str, str, int]], reason: str,
                 reference: str, now: datetime, tally: dict[str, int], touched: set[str],
                 locations: set[str]) -> None:
    existing = _levels_by_key(session, [(loc, prod) for loc, prod, _ in chunk])
    fresh = [row for row in chunk if (row[0], row[1]) not in existing]
    moving = [row for row in chunk if (row[0], row[1]) in existing and existing[(row[0], row[1])][1] != row[2]]
    updates: list[dict[str, Any]] = []
    moves: list[dict[str, Any]] = []

    def move(location_id: str, product_id: str, kind: str, quantity: int) -> None:
        moves.append({"id": new_id("mov"), "merchant_id": merchant_id, "location_id": location_id,
                      "product_id": product_id, "kind": kind, "quantity": quantity, "reason": reason,
                      "reference": reference, "at": now})
        tally["received" if kind == "receipt" else "adjusted"] += 1

    def settle(rows: list[tuple[str, str, int]], known: dict[tuple[str, str], tuple[str, int, int]]) -> None:
        """Lock existing levels, then judge each row by the figures the lock shows."""
        locked = _lock_levels(session, level_ids=[known[(loc, prod)][0] for loc, prod, _ in rows])
        for location_id, product_id, counted in rows:
            level_id, on_hand, reserved = locked[(location_id, product_id)]  # levels are never deleted
            if counted < reserved:
                raise InsufficientStock(
                    f"Cannot count {counted} of product {product_id} at location {location_id}: {reserved} "
                    f"units there are reserved for orders.",
                    product_id=product_id, location_id=location_id, reserved=reserved)
            if counted == on_hand:  # became right since the first read
                continue
            updates.append({"level_id": level_id, "seen": on_hand, "counted": counted, "now": now})
            move(location_id, product_id, "receipt" if on_hand == 0 else "adjustment", counted - on_hand)
            touched.add(level_id)
            locations.add(location_id)

    if moving:
        settle(moving, existing)
    if fresh:
        created = _create_levels(session, merchant_id=merchant_id, rows=fresh, now=now)
        tally["created"] += len(created)
        for location_id, product_id, counted in fresh:
            level_id = created.get((location_id, product_id))
            if level_id is not None:
                touched.add(level_id)
                locations.add(location_id)
                if counted > 0:
                    move(location_id, product_id, "receipt", counted)
        # Levels someone else created since the first read are counted like any existing level.
        raced = [row for row in fresh if (row[0], row[1]) not in created]
        if raced:
            settle(raced, _levels_by_key(session, [(loc, prod) for loc, prod, _ in raced]))
    if updates:
        result = session.execute(_SET_COUNTED, updates)
        if result.rowcount != len(updates):
            raise Conflict("Stock levels changed while they were being counted; nothing was counted. "
                           "Send the count again.")
    if moves:
        session.execute(insert(StockMovement), moves)


def _lock_levels(session: Session, *, level_ids: list[str]) -> dict[tuple[str, str], tuple[str, int, int]]:
    """(location_id, product_id) -> (id, on_hand, reserved), rows locked in (location_id, product_id) order."""
    rows = session.execute(
        select(StockLevel.id, StockLevel.location_id, StockLevel.product_id, StockLevel.on_hand, StockLevel.reserved)
        .where(StockLevel.id.in_(level_ids))
        .order_by(StockLevel.location_id, StockLevel.product_id)
        .with_for_update())
    return {(loc, prod): (level_id, on_hand, reserved) for level_id, loc, prod, on_hand, reserved in rows}


def _create_levels(session: Session, *, merchant_id: str, rows: list[tuple[str, str, int]],
                   now: datetime) -> dict[tuple[str, str], str]:
    """Insert levels at their counted figures; returns the ids of those this call created, by key.

    A level another transaction created since the first read is left alone
    (ON CONFLICT DO NOTHING on the unique key), as in _level_for_update.
    """
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (dialect_insert(_levels).on_conflict_do_nothing(index_elements=["location_id", "product_id"])
                 .returning(_levels.c.id, _levels.c.location_id, _levels.c.product_id))
    params = [{"id": new_id("stk"), "merchant_id": merchant_id, "location_id": loc, "product_id": prod,
               "on_hand": counted, "reserved": 0, "updated_at": now} for loc, prod, counted in rows]
    return {(loc, prod): level_id for level_id, loc, prod in session.execute(statement, params)}


def reserve(session: Session, *, merchant_id: str, location_id: str, lines: list[LineQty], reference: str,
            expires_at: datetime | None, now: datetime) -> list[Reservation]:
    """Reserve every line at one location, all or nothing (the caller's transaction rolls back)."""
    reservations = []
    for line in sorted(lines, key=lambda l: l.product_id):  # fixed lock order
        if line.quantity <= 0:
            raise InvalidInput("quantities must be positive")
        result = session.execute(
            update(StockLevel)
            .where(StockLevel.location_id == location_id, StockLevel.product_id == line.product_id,
                   StockLevel.on_hand - StockLevel.reserved >= line.quantity)
            .values(reserved=StockLevel.reserved + line.quantity, updated_at=now))
        if result.rowcount != 1:
            level = get_level(session, location_id=location_id, product_id=line.product_id)
            available = 0 if level is None else level.on_hand - level.reserved
            raise InsufficientStock(
                f"Only {available} of product {line.product_id} available at location {location_id}; "
                f"{line.quantity} requested.",
                product_id=line.product_id, location_id=location_id, available=available)
        reservation = Reservation(id=new_id("rsv"), merchant_id=merchant_id, location_id=location_id,
                                  product_id=line.product_id, quantity=line.quantity, reference=reference,
                                  status="active", expires_at=expires_at, created_at=now)
        session.add(reservation)
        reservations.append(reservation)
    session.flush()
    return reservations


def active_reservations(session: Session, *, reference: str) -> list[Reservation]:
    return list(session.scalars(select(Reservation).where(Reservation.reference == reference,
                                                          Reservation.status == "active")
                                .order_by(Reservation.location_id, Reservation.product_id)))


def release(session: Session, *, reference: str, now: datetime, reason: str) -> int:
    """Give back every active reservation of a reference; returns units released."""
    released = 0
    for r in active_reservations(session, reference=reference):
        session.execute(update(StockLevel)
                        .where(StockLevel.location_id == r.location_id, StockLevel.product_id == r.product_id)
                        .values(reserved=StockLevel.reserved - r.quantity, updated_at=now))
        r.status = "released"
        released += r.quantity
    if released:
        record_event(session, type="stock.released", subject_id=reference, merchant_id=None,
                     payload={"reference": reference, "units": released, "reason": reason}, at=now)
    session.flush()
    return released


def hold_until_done(session: Session, *, reference: str) -> None:
    """A paid order's reservations no longer expire."""
    for r in active_reservations(session, reference=reference):
        r.expires_at = None
    session.flush()


def consume(session: Session, *, reference: str, kind: str, now: datetime, reason: str = "") -> int:
    """Turn active reservations into goods leaving the shelf (sale or transfer out)."""
    units = 0
    for r in active_reservations(session, reference=reference):
        session.execute(update(StockLevel)
                        .where(StockLevel.location_id == r.location_id, StockLevel.product_id == r.product_id)
                        .values(on_hand=StockLevel.on_hand - r.quantity,
                                reserved=StockLevel.reserved - r.quantity, updated_at=now))
        _move(session, merchant_id=r.merchant_id, location_id=r.location_id, product_id=r.product_id,
              kind=kind, quantity=-r.quantity, reason=reason, reference=reference, now=now)
        r.status = "consumed"
        units += r.quantity
    session.flush()
    return units


def sell_now(session: Session, *, merchant_id: str, location_id: str, lines: list[LineQty], reference: str,
             now: datetime) -> None:
    """An in-store sale: take units off the shelf, never into what online orders reserved."""
    for line in sorted(lines, key=lambda l: l.product_id):
        result = session.execute(
            update(StockLevel)
            .where(StockLevel.location_id == location_id, StockLevel.product_id == line.product_id,
                   StockLevel.on_hand - StockLevel.reserved >= line.quantity)
            .values(on_hand=StockLevel.on_hand - line.quantity, updated_at=now))
        if result.rowcount != 1:
            level = get_level(session, location_id=location_id, product_id=line.product_id)
            available = 0 if level is None else level.on_hand - level.reserved
            raise InsufficientStock(
                f"Only {available} of product {line.product_id} available at this store; {line.quantity} sold.",
                product_id=line.product_id, location_id=location_id, available=available)
        _move(session, merchant_id=merchant_id, location_id=location_id, product_id=line.product_id,
              kind="sale", quantity=-line.quantity, reason="in-store sale", reference=reference, now=now)
    session.flush()


def available_map(session: Session, *, location_ids: list[str], product_ids: list[str]) -> dict[tuple[str, str], int]:
    """(location_id, product_id) -> units available to promise, for the quoting engine."""
    if not location_ids or not product_ids:
        return {}
    rows = session.execute(select(StockLevel.location_id, StockLevel.product_id,
                                  StockLevel.on_hand - StockLevel.reserved)
                           .where(StockLevel.location_id.in_(location_ids),
                                  StockLevel.product_id.in_(product_ids)))
    return {(loc, prod): int(avail) for loc, prod, avail in rows if avail > 0}


def locations_with_stock(session: Session, *, product_ids: list[str]) -> set[str]:
    """Every location holding any available unit of these products."""
    if not product_ids:
        return set()
    rows = session.scalars(select(StockLevel.location_id).where(StockLevel.product_id.in_(product_ids),
                                                               StockLevel.on_hand > StockLevel.reserved))
    return set(rows)


def stocked_location_ids(product_ids: list[str]) -> Select[Any]:
    """A subquery of locations holding any available unit of these products, for
    other domains to filter their own queries with (no rows are loaded here)."""
    return (select(StockLevel.location_id)
            .where(StockLevel.product_id.in_(product_ids), StockLevel.on_hand > StockLevel.reserved)
            .distinct())


def locations_holding(quantities: dict[str, int]) -> Select[Any]:
    """A subquery of locations that can supply every line of a cart on their own."""
    clauses = [and_(StockLevel.product_id == product_id, StockLevel.on_hand - StockLevel.reserved >= quantity)
               for product_id, quantity in sorted(quantities.items())]
    return (select(StockLevel.location_id).where(or_(*clauses))
            .group_by(StockLevel.location_id).having(func.count() == len(clauses)))


def require_level(session: Session, *, location_id: str, product_id: str) -> StockLevel:
    level = get_level(session, location_id=location_id, product_id=product_id)
    if level is None:
        raise NotFound(f"No stock record for product {product_id!r} at location {location_id!r}.")
    return level


def products_in_stock_at(session: Session, *, location_ids: list[str], limit: int) -> list[tuple[str, int]]:
    """(product_id, how many of these locations have some available) for the most widely stocked
    products, most first (the storefront's "in stock near you")."""
    if not location_ids:
        return []
    stores = func.count(StockLevel.location_id)
    rows = session.execute(select(StockLevel.product_id, stores)
                           .where(StockLevel.location_id.in_(location_ids), StockLevel.on_hand > StockLevel.reserved)
                           .group_by(StockLevel.product_id).order_by(stores.desc(), StockLevel.product_id)
                           .limit(limit))
    return [(product_id, int(count)) for product_id, count in rows]
