"""Read-only figures about fulfillments (legs of online orders) for the merchant dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from oao.fulfillment.models import Fulfillment


@dataclass(frozen=True, slots=True)
class Leg:
    fulfillment_id: str
    order_id: str
    kind: str  # pickup | delivery | shipping
    status: str
    pickup_location_id: str | None
    promised_at: datetime
    ready_at: datetime | None
    completed_at: datetime | None

    def kept_promise_at(self) -> datetime | None:
        """When the promise was met: a pickup promises 'ready by', a delivery or parcel 'at your door by'."""
        return self.ready_at if self.kind == "pickup" else self.completed_at


def _legs(session: Session, query) -> list[Leg]:  # noqa: ANN001 - a Select over Fulfillment
    return [Leg(fulfillment_id=f.id, order_id=f.order_id, kind=f.kind, status=f.status,
                pickup_location_id=f.pickup_location_id, promised_at=f.promised_at, ready_at=f.ready_at,
                completed_at=f.completed_at)
            for f in session.scalars(query.order_by(Fulfillment.promised_at, Fulfillment.id))]


def legs_for_orders(session: Session, *, order_ids: list[str]) -> list[Leg]:
    """Every leg of these orders (the orders of a period, to count them by kind)."""
    out: list[Leg] = []
    for start in range(0, len(order_ids), 500):
        out.extend(_legs(session, select(Fulfillment).where(Fulfillment.order_id.in_(order_ids[start:start + 500]))))
    return out


def legs_due(session: Session, *, merchant_id: str, start: datetime, end: datetime) -> list[Leg]:
    """The merchant's legs whose promised time fell in [start, end), left out: cancelled ones, and
    unpaid ones (the promise holds only once the order is confirmed; unpaid, it expires)."""
    return _legs(session, select(Fulfillment).where(
        Fulfillment.merchant_id == merchant_id, Fulfillment.promised_at >= start, Fulfillment.promised_at < end,
        Fulfillment.status.not_in(("cancelled", "pending_payment"))))
