"""Stock use cases: receipts, adjustments, reservations, sales, transfers.

Never oversell: a reservation is one conditional UPDATE
(`... WHERE on_hand - reserved >= :q`) whose row count says whether it won;
multi-line reservations lock rows in (location_id, product_id) order so two
orders never wait on each other in opposite orders. The CHECK constraints on
stock_levels are the last line of defence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from oao.core.errors import InsufficientStock, InvalidInput, NotFound
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
        level = StockLevel(id=new_id("stk"), merchant_id=merchant_id, location_id=location_id,
                           product_id=product_id, on_hand=0, reserved=0, updated_at=now)
        session.add(level)
        session.flush()
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


def require_level(session: Session, *, location_id: str, product_id: str) -> StockLevel:
    level = get_level(session, location_id=location_id, product_id=product_id)
    if level is None:
        raise NotFound(f"No stock record for product {product_id!r} at location {location_id!r}.")
    return level
