"""Paying all or part of an online order with the member's points.

The points are a loyalty hold taken when the order is placed (so two orders
can never spend the same points: the ledger's conditional UPDATE refuses the
second), posted when the order is confirmed (paid, or pay-at-pickup agreed),
voided when it is cancelled or expires unpaid. A confirmed order that is
cancelled later gets its spent points back through the ledger's restore, as a
return does. Every step is idempotent: the hold id is derived from the order
id and the ledger resolves a hold exactly once.

The points part of the order is what the held points are worth: the shopper
asks for an amount, we hold the points needed for it (rounded up) and credit
their value (rounded down), capped at the order total. With 1 point = 1 minor
unit (the network's Hangzhou Card) that is exactly the amount asked. Another
merchant's points pay only under a points agreement naming the order's
merchant as the acceptor, at the value agreed there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from oao.core.errors import Conflict, InvalidInput, InvalidState, NotFound
from oao.core.money import Money
from oao.loyalty import service as loyalty
from oao.orders.models import Order

# A hold outlives the order's payment window by this much, so the order's own expiry (which voids
# the hold and cancels the wallet charge together) always comes first, even if the worker lags.
HOLD_GRACE = timedelta(hours=1)


class PointsNeedMember(InvalidInput):
    slug, title = "points-need-member", "Paying with points needs a member"


class PointsOverTotal(InvalidInput):
    slug, title = "points-over-total", "More points than the order costs"


class PointsProgrammeMismatch(InvalidInput):
    slug, title = "points-programme-mismatch", "These points cannot pay this order"


class NotEnoughPoints(Conflict):
    slug, title = "insufficient-points", "Not enough points"


@dataclass(frozen=True, slots=True)
class PointsRequest:
    """What the shopper wants to pay with points: `amount_minor` of the order total from this programme."""

    programme_id: str
    amount_minor: int


@dataclass(frozen=True, slots=True)
class OrderPoints:
    """The points part of an order."""

    hold_id: str
    programme_id: str
    programme_name: str
    points: int  # held, or spent once the order is confirmed
    amount_minor: int  # what they pay of the order total
    currency: str
    status: str  # held | spent | released | restored (spent, then given back)


def hold_id_for(order_id: str) -> str:
    return f"order:{order_id}"


def hold_for_order(session: Session, *, order: Order, request: PointsRequest, now: datetime) -> OrderPoints:
    """Hold the member's points for part (or all) of a just-placed order; refused with a clear 4xx problem."""
    if order.member_id is None:
        raise PointsNeedMember("Only a member can pay with points: send the member's reference (member_ref) with "
                               "the order, and log in on the storefront.")
    amount = request.amount_minor
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
        raise InvalidInput("points.amount_minor is a whole number of at least 1.")
    if amount > order.total_minor:
        total = Money(order.total_minor, order.currency).format()
        raise PointsOverTotal(f"Points can pay at most the order total of {total}; "
                              f"{Money(amount, order.currency).format()} is more.", total_minor=order.total_minor)
    try:
        programme = loyalty.get_programme(session, programme_id=request.programme_id)
    except NotFound:
        raise PointsProgrammeMismatch(f"No points programme {request.programme_id!r}.") from None
    if programme.currency != order.currency:
        raise PointsProgrammeMismatch(f"{programme.name} points pay in {programme.currency}, but this order is in "
                                      f"{order.currency}.")
    if not programme.active:
        raise PointsProgrammeMismatch(f"{programme.name} is closed; its points cannot be spent.")
    # At the order's merchant: a partner's points need a points agreement (a clear 422 otherwise), and pay
    # at the agreed value.
    points = loyalty.points_needed(session, programme_id=programme.id, amount_minor=amount,
                                   accepting_merchant_id=order.merchant_id, at=now)
    due = order.payment_due_at or now
    try:
        hold = loyalty.hold_points(session, hold_id=hold_id_for(order.id), member_id=order.member_id,
                                   programme_id=programme.id, points=points, accepting_merchant_id=order.merchant_id,
                                   now=now, ttl=max(due - now, timedelta(0)) + HOLD_GRACE, sale_ref=order.id)
    except loyalty.InsufficientPoints:
        available = next((b.available for b in loyalty.balances(session, member_id=order.member_id)
                          if b.programme_id == programme.id), 0)
        raise NotEnoughPoints(
            f"Paying {Money(amount, order.currency).format()} takes {points:,} {programme.name} points; "
            f"you have {available:,}.", points_needed=points, points_available=available) from None
    if hold.sale_ref != order.id:  # an unrelated hold squatting on this order's id
        raise Conflict(f"Points hold {hold.id} belongs to another sale.")
    return _describe(session, order, hold)


def _describe(session: Session, order: Order, hold: Any) -> OrderPoints:
    programme = loyalty.get_programme(session, programme_id=hold.programme_id)
    points = hold.posted_points or hold.points
    value = loyalty.hold_value_minor(session, hold_id=hold.id, points=hold.points)
    status = {"pending": "held", "posted": "spent", "voided": "released"}[hold.status]
    if status == "spent" and hold.points_restored >= points:
        status = "restored"
    return OrderPoints(hold_id=hold.id, programme_id=programme.id, programme_name=programme.name,
                       points=points, amount_minor=min(value, order.total_minor), currency=programme.currency,
                       status=status)


def _hold_of(session: Session, order_id: str) -> Any | None:
    try:
        return loyalty.get_hold(session, hold_id=hold_id_for(order_id))
    except NotFound:
        return None


def points_of(session: Session, *, order: Order) -> OrderPoints | None:
    """The points part of the order, if it has one."""
    hold = _hold_of(session, order.id)
    return _describe(session, order, hold) if hold is not None and hold.sale_ref == order.id else None


def money_due_minor(session: Session, *, order: Order) -> int:
    """What is left to pay in money once the order's points (held or spent) are counted."""
    part = points_of(session, order=order)
    return order.total_minor - (part.amount_minor if part and part.status in ("held", "spent") else 0)


def spend_for_order(session: Session, *, order: Order, now: datetime) -> bool:
    """The order is confirmed: post its points hold. False when the hold was already released (it timed out)."""
    hold = _hold_of(session, order.id)
    if hold is None or hold.sale_ref != order.id:
        return True  # nothing paid in points
    if hold.status == "voided":
        return False
    if hold.status == "pending":
        try:
            loyalty.post_hold(session, hold_id=hold.id, now=now, sale_ref=order.id)
        except InvalidState:
            return False  # voided by the timeout job a moment ago
    return True


def release_for_order(session: Session, *, order: Order, now: datetime) -> None:
    """The order is cancelled (or expired): give its points back, whether still held or already spent."""
    hold = _hold_of(session, order.id)
    if hold is None or hold.sale_ref != order.id:
        return
    if hold.status == "pending":
        try:
            loyalty.void_hold(session, hold_id=hold.id, now=now)
            return
        except InvalidState:
            session.refresh(hold)  # posted at this very moment: restore below
    if hold.status == "posted":
        # The ledger's restore, as for a full return: the spent points come back once per order.
        loyalty.reverse_for_return(session, return_id=f"cancel:{order.id}", sale_ref=order.id,
                                   returned_minor=order.total_minor, sale_total_minor=order.total_minor, now=now)
