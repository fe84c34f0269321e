"""The life of a fulfillment (one leg of an order: one source, one destination).

pending_payment -> confirmed -> picking -> ready_for_pickup -> completed
                                        -> in_transit -> ready_for_pickup (goods sent to the pickup store)
                                        -> in_transit -> picking (at the store that delivers them)
                                        -> out_for_delivery -> completed
Any state before the goods leave (and a ready pickup nobody collects) -> cancelled,
which gives the reserved stock back. Staff actions check who acts where:
store staff only at their own store, a partner pickup point's staff only for
parcels addressed to them.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from oao.core.auth import Principal, Role
from oao.core.db import get_or_404
from oao.core.errors import Forbidden, InvalidInput, InvalidState, NotFound
from oao.core.ids import new_id
from oao.core.outbox import record_event
from oao.fulfillment.models import Fulfillment
from oao.inventory import service as inventory
from oao.inventory import transfers
from oao.inventory.service import LineQty
from oao.network import service as network

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud at a counter
CODE_LENGTH = 8
CANCELLABLE = ("pending_payment", "confirmed", "picking", "ready_for_pickup")


def _event(session: Session, f: Fulfillment, type_: str, now: datetime, **extra: Any) -> None:
    record_event(session, type=type_, subject_id=f.id, merchant_id=f.merchant_id,
                 payload={"fulfillment_id": f.id, "order_id": f.order_id, "kind": f.kind, "status": f.status,
                          "source_location_id": f.source_location_id,
                          "pickup_location_id": f.pickup_location_id, **extra}, at=now)


def lines_of(f: Fulfillment) -> list[LineQty]:
    return [LineQty(l["product_id"], int(l["quantity"])) for l in f.lines]


def create_for_leg(session: Session, *, order_id: str, merchant_id: str, kind: str, leg: dict[str, Any],
                   pickup_location_id: str | None, destination: dict[str, Any] | None, promised_at: datetime,
                   goods_arrive_at: datetime | None, reservation_expires_at: datetime, now: datetime,
                   via_location_id: str | None = None) -> Fulfillment:
    """A pending fulfillment for one leg of a quote option, its stock reserved at the source."""
    f = Fulfillment(id=new_id("ful"), order_id=order_id, merchant_id=merchant_id, kind=kind,
                    status="pending_payment", source_location_id=leg["source"]["id"],
                    pickup_location_id=pickup_location_id, via_location_id=via_location_id,
                    destination=destination, lines=leg["lines"],
                    transfer_id=None, promised_at=promised_at, goods_arrive_at=goods_arrive_at,
                    pickup_code=None, hold_until=None,
                    created_at=now, ready_at=None, completed_at=None, cancel_reason=None)
    session.add(f)
    session.flush()
    inventory.reserve(session, merchant_id=merchant_id, location_id=f.source_location_id, lines=lines_of(f),
                      reference=f.id, expires_at=reservation_expires_at, now=now)
    _event(session, f, "fulfillment.created", now)
    return f


def transfer_target(f: Fulfillment) -> str | None:
    """Where this leg's goods must travel before the shopper gets them, if anywhere."""
    if f.kind == "pickup" and f.pickup_location_id is not None and f.pickup_location_id != f.source_location_id:
        return f.pickup_location_id
    if f.kind == "delivery" and f.via_location_id is not None and f.via_location_id != f.source_location_id:
        return f.via_location_id
    return None


def needs_transfer(f: Fulfillment) -> bool:
    return transfer_target(f) is not None


def _goods_at_hub(session: Session, f: Fulfillment) -> bool:
    if f.via_location_id is None or f.transfer_id is None:
        return False
    return transfers.get_transfer(session, transfer_id=f.transfer_id).status == "received"


def working_location(session: Session, f: Fulfillment) -> str:
    """The store that holds the goods and acts next: the delivering store once they arrived there."""
    return f.via_location_id if _goods_at_hub(session, f) else f.source_location_id


def confirm(session: Session, *, fulfillment: Fulfillment, now: datetime) -> None:
    """Paid (or pay-at-pickup agreed): the reservation no longer expires; goods to move get a transfer."""
    f = fulfillment
    if f.status != "pending_payment":
        raise InvalidState(f"Fulfillment {f.id} is {f.status}, not awaiting payment.")
    inventory.hold_until_done(session, reference=f.id)
    target_id = transfer_target(f)
    if target_id is not None:
        target = network.get_location(session, location_id=target_id)
        transfer = transfers.create_transfer(
            session, merchant_id=f.merchant_id, from_location_id=f.source_location_id,
            to_location_id=target.id, to_merchant_id=target.merchant_id, lines=lines_of(f),
            expected_arrival_at=max(f.goods_arrive_at or f.promised_at, now), now=now, fulfillment_id=f.id,
            note=f"for order {f.order_id}")
        f.transfer_id = transfer.id
    f.status = "confirmed"
    _event(session, f, "fulfillment.confirmed", now)


def get(session: Session, *, fulfillment_id: str) -> Fulfillment:
    return get_or_404(session, Fulfillment, fulfillment_id, "fulfillment")


def visible_to(principal: Principal, f: Fulfillment, pickup_merchant_id: str | None) -> bool:
    """The seller sees its fulfillments; a partner pickup point sees parcels addressed to it."""
    return principal.can_see_merchant(f.merchant_id) or principal.can_see_merchant(pickup_merchant_id)


def get_visible(session: Session, *, fulfillment_id: str, principal: Principal) -> Fulfillment:
    f = session.get(Fulfillment, fulfillment_id)
    pickup_merchant = None
    if f is not None and f.pickup_location_id:
        pickup_merchant = network.get_location(session, location_id=f.pickup_location_id).merchant_id
    if f is None or not visible_to(principal, f, pickup_merchant):
        raise NotFound(f"No fulfillment {fulfillment_id!r}.")
    return f


def _ensure_acts_at(session: Session, principal: Principal, location_id: str, what: str) -> None:
    location = network.get_location(session, location_id=location_id)
    if not principal.can_see_merchant(location.merchant_id):
        raise Forbidden(f"Only staff of {location.name} can {what}.")
    if principal.role is Role.STORE_STAFF and principal.location_id != location.id:
        raise Forbidden(f"Only staff of {location.name} can {what}; you work at another store.")


def start_picking(session: Session, *, fulfillment: Fulfillment, principal: Principal, now: datetime) -> None:
    f = fulfillment
    _ensure_acts_at(session, principal, working_location(session, f), "pick this order")
    if f.status != "confirmed":
        raise InvalidState(f"Fulfillment {f.id} is {f.status}; picking starts from confirmed.")
    f.status = "picking"
    _event(session, f, "fulfillment.picking", now)


def _new_code(session: Session, f: Fulfillment) -> str:
    """Orders of one shopper at one pickup store share a code; otherwise a fresh random one."""
    sibling = session.scalar(select(Fulfillment.pickup_code).where(
        Fulfillment.order_id == f.order_id, Fulfillment.pickup_location_id == f.pickup_location_id,
        Fulfillment.pickup_code.is_not(None), Fulfillment.status == "ready_for_pickup"))
    if sibling:
        return sibling
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        taken = session.scalar(select(Fulfillment.id).where(Fulfillment.pickup_code == code))
        if taken is None:
            return code


def _ready_for_pickup(session: Session, f: Fulfillment, now: datetime, hold_hours: int) -> None:
    f.status, f.ready_at = "ready_for_pickup", now
    f.pickup_code = _new_code(session, f)
    f.hold_until = now + timedelta(hours=hold_hours)
    _event(session, f, "fulfillment.ready_for_pickup", now, hold_until=f.hold_until.isoformat())


def mark_packed(session: Session, *, fulfillment: Fulfillment, principal: Principal, now: datetime,
                hold_hours: int) -> None:
    """Picking done: ready on the counter, sent to the pickup store, or handed to the courier."""
    f = fulfillment
    _ensure_acts_at(session, principal, working_location(session, f), "finish picking this order")
    if f.status != "picking":
        raise InvalidState(f"Fulfillment {f.id} is {f.status}; only an order being picked can be packed.")
    if f.kind == "pickup" and not needs_transfer(f):
        _ready_for_pickup(session, f, now, hold_hours)
    elif needs_transfer(f) and not _goods_at_hub(session, f):
        transfers.ship_transfer(session, transfer_id=f.transfer_id, now=now)
        f.status = "in_transit"
        _event(session, f, "fulfillment.in_transit", now, transfer_id=f.transfer_id)
    else:
        inventory.consume(session, reference=f.id, kind="sale", now=now, reason=f"order {f.order_id} dispatched")
        f.status = "out_for_delivery"
        _event(session, f, "fulfillment.out_for_delivery", now)


def receive_at_pickup(session: Session, *, fulfillment: Fulfillment, principal: Principal, now: datetime,
                      hold_hours: int) -> None:
    """The transfer arrived: a parcel waits for the shopper, or the delivering store prepares the run."""
    f = fulfillment
    target = transfer_target(f)
    if f.status != "in_transit" or f.transfer_id is None or target is None:
        raise InvalidState(f"Fulfillment {f.id} is {f.status}; nothing is on its way.")
    _ensure_acts_at(session, principal, target, "receive parcels here")
    transfers.receive_transfer(session, transfer_id=f.transfer_id, now=now)
    if f.kind == "pickup":
        _ready_for_pickup(session, f, now, hold_hours)
    else:
        f.status = "picking"
        _event(session, f, "fulfillment.picking", now, at_location_id=target)


def for_transfer(session: Session, *, transfer_id: str) -> Fulfillment | None:
    return session.scalar(select(Fulfillment).where(Fulfillment.transfer_id == transfer_id))


def normalise_code(raw: str) -> str:
    code = "".join(ch for ch in raw.upper() if ch.isalnum())
    if not code:
        raise InvalidInput("Enter or scan the pickup code.")
    return code


def hand_over(session: Session, *, location_id: str, code: str, principal: Principal,
              now: datetime) -> list[Fulfillment]:
    """Staff scanned the shopper's code at this store: hand over every parcel it opens."""
    _ensure_acts_at(session, principal, location_id, "hand over parcels here")
    code = normalise_code(code)
    matches = list(session.scalars(select(Fulfillment).where(Fulfillment.pickup_code == code,
                                                             Fulfillment.pickup_location_id == location_id)
                                   .order_by(Fulfillment.id)))
    if not matches:
        raise InvalidInput(f"Pickup code {code} does not match any parcel at this store; check the code "
                           "and the store on the shopper's order.")
    ready = [f for f in matches if f.status == "ready_for_pickup"]
    if not ready:
        done = next((f for f in matches if f.status == "completed"), None)
        if done is not None:
            raise InvalidState(f"Pickup code {code} was already used: handed over at "
                               f"{done.completed_at.isoformat() if done.completed_at else 'an earlier time'}.")
        raise InvalidState(f"The parcel for code {code} is {matches[0].status} and cannot be handed over.")
    for f in ready:
        # Units still reserved for this parcel sit on this store's shelf; a partner
        # point holds a parcel that already left the seller's stock when it shipped.
        inventory.consume(session, reference=f.id, kind="sale", now=now, reason=f"order {f.order_id} handed over")
        f.status, f.completed_at = "completed", now
        _event(session, f, "fulfillment.completed", now, handed_over_at=location_id)
    return ready


def mark_delivered(session: Session, *, fulfillment: Fulfillment, principal: Principal, now: datetime) -> None:
    f = fulfillment
    if not principal.can_see_merchant(f.merchant_id):
        raise Forbidden("Only the seller can confirm the delivery.")
    if f.status != "out_for_delivery":
        raise InvalidState(f"Fulfillment {f.id} is {f.status}; only an order out for delivery can be delivered.")
    f.status, f.completed_at = "completed", now
    _event(session, f, "fulfillment.completed", now)


def cancel(session: Session, *, fulfillment: Fulfillment, reason: str, now: datetime) -> None:
    """Stop a fulfillment that has not left yet and give its stock back."""
    f = fulfillment
    if f.status == "cancelled":
        return
    if f.status not in CANCELLABLE:
        raise InvalidState(f"Fulfillment {f.id} is {f.status}; the goods have left and it can no longer be "
                           "cancelled.")
    if f.transfer_id is not None and transfers.get_transfer(session, transfer_id=f.transfer_id).status == "requested":
        transfers.cancel_transfer(session, transfer_id=f.transfer_id, now=now)
    if f.status == "ready_for_pickup" and f.transfer_id is not None:
        pickup = network.get_location(session, location_id=f.pickup_location_id)
        if pickup.merchant_id != f.merchant_id:
            # An uncollected parcel at a partner's point goes back to the seller's store.
            back = transfers.create_transfer(
                session, merchant_id=f.merchant_id, from_location_id=pickup.id,
                to_location_id=f.source_location_id, to_merchant_id=f.merchant_id, lines=lines_of(f),
                expected_arrival_at=now + timedelta(days=1), now=now, reserve_at_source=False,
                note=f"return of uncollected order {f.order_id}")
            _event(session, f, "fulfillment.return_requested", now, transfer_id=back.id)
    inventory.release(session, reference=f.id, now=now, reason=reason)
    f.status, f.cancel_reason = "cancelled", reason
    _event(session, f, "fulfillment.cancelled", now, reason=reason)


def of_order(session: Session, *, order_id: str) -> list[Fulfillment]:
    return list(session.scalars(select(Fulfillment).where(Fulfillment.order_id == order_id)
                                .order_by(Fulfillment.id)))


def queue(session: Session, *, location_id: str, statuses: list[str] | None = None,
          limit: int = 200) -> list[Fulfillment]:
    """A store's work: what it must pick (source) and what it receives or hands over (pickup)."""
    open_statuses = statuses or ["confirmed", "picking", "in_transit", "ready_for_pickup", "out_for_delivery"]
    return list(session.scalars(
        select(Fulfillment)
        .where((Fulfillment.source_location_id == location_id) | (Fulfillment.pickup_location_id == location_id)
               | (Fulfillment.via_location_id == location_id),
               Fulfillment.status.in_(open_statuses))
        .order_by(Fulfillment.promised_at, Fulfillment.id).limit(limit)))


def due_no_shows(session: Session, *, now: datetime, limit: int = 100) -> list[Fulfillment]:
    """Ready pickups past their hold period, claimed so two workers never take the same."""
    return list(session.scalars(
        select(Fulfillment).where(Fulfillment.status == "ready_for_pickup", Fulfillment.hold_until < now)
        .order_by(Fulfillment.hold_until).limit(limit).with_for_update(skip_locked=True)))
