"""Transfers between locations: requested -> in_transit -> received (or cancelled).

A transfer created by an order moves units already reserved for that order's
fulfillment; one created by staff reserves its own units at the source so
they are not sold while waiting for the van. Goods sent to another merchant's
pickup point stay the seller's: they are held parcels there, not shelf stock,
so only same-merchant destinations receive them into stock.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from oao.core.db import get_or_404
from oao.core.errors import InvalidInput, InvalidState
from oao.core.ids import new_id
from oao.core.outbox import record_event
from oao.inventory import service as stock
from oao.inventory.models import Transfer
from oao.inventory.service import LineQty


def _event(session: Session, transfer: Transfer, type_: str, now: datetime) -> None:
    record_event(session, type=type_, subject_id=transfer.id, merchant_id=transfer.merchant_id,
                 payload={"transfer_id": transfer.id, "status": transfer.status,
                          "from_location_id": transfer.from_location_id,
                          "to_location_id": transfer.to_location_id, "lines": transfer.lines,
                          "expected_arrival_at": transfer.expected_arrival_at.isoformat(),
                          "fulfillment_id": transfer.fulfillment_id}, at=now)


def create_transfer(session: Session, *, merchant_id: str, from_location_id: str, to_location_id: str,
                    to_merchant_id: str, lines: list[LineQty], expected_arrival_at: datetime, now: datetime,
                    fulfillment_id: str | None = None, note: str = "", reserve_at_source: bool = True) -> Transfer:
    """Request a transfer; staff transfers (no fulfillment) reserve their units at the source now.

    reserve_at_source=False is for goods that are not in the source's stock (a
    parcel held at a partner's pickup point going back to the seller)."""
    if from_location_id == to_location_id:
        raise InvalidInput("A transfer needs two different locations.")
    if not lines or any(line.quantity <= 0 for line in lines):
        raise InvalidInput("A transfer needs at least one line with a positive quantity.")
    if expected_arrival_at < now:
        raise InvalidInput("The expected arrival cannot be in the past.")
    transfer = Transfer(id=new_id("trf"), merchant_id=merchant_id, from_location_id=from_location_id,
                        to_location_id=to_location_id, to_merchant_id=to_merchant_id, status="requested",
                        lines=[{"product_id": l.product_id, "quantity": l.quantity} for l in lines],
                        expected_arrival_at=expected_arrival_at, fulfillment_id=fulfillment_id, note=note,
                        created_at=now, shipped_at=None, received_at=None)
    session.add(transfer)
    session.flush()
    if fulfillment_id is None and reserve_at_source:
        stock.reserve(session, merchant_id=merchant_id, location_id=from_location_id, lines=lines,
                      reference=transfer.id, expires_at=None, now=now)
    _event(session, transfer, "transfer.requested", now)
    return transfer


def get_transfer(session: Session, *, transfer_id: str) -> Transfer:
    return get_or_404(session, Transfer, transfer_id, "transfer")


def _reference(transfer: Transfer) -> str:
    return transfer.fulfillment_id or transfer.id


def ship_transfer(session: Session, *, transfer_id: str, now: datetime) -> Transfer:
    """The goods leave the source: reserved units come off its shelf."""
    transfer = get_transfer(session, transfer_id=transfer_id)
    if transfer.status != "requested":
        raise InvalidState(f"Transfer {transfer.id} is {transfer.status}; only a requested transfer can ship.")
    stock.consume(session, reference=_reference(transfer), kind="transfer_out", now=now,
                  reason=f"transfer {transfer.id} to {transfer.to_location_id}")
    transfer.status, transfer.shipped_at = "in_transit", now
    _event(session, transfer, "transfer.shipped", now)
    session.flush()
    return transfer


def receive_transfer(session: Session, *, transfer_id: str, now: datetime) -> Transfer:
    """The goods arrive. Same-merchant goods join the shelf (reserved again if an order waits)."""
    transfer = get_transfer(session, transfer_id=transfer_id)
    if transfer.status == "requested":
        raise InvalidState(f"Transfer {transfer.id} has not been shipped yet.")
    if transfer.status != "in_transit":
        raise InvalidState(f"Transfer {transfer.id} is already {transfer.status}.")
    lines = [LineQty(l["product_id"], int(l["quantity"])) for l in transfer.lines]
    if transfer.to_merchant_id == transfer.merchant_id:
        for line in lines:
            stock.receive_stock(session, merchant_id=transfer.merchant_id, location_id=transfer.to_location_id,
                                product_id=line.product_id, quantity=line.quantity, now=now,
                                kind="transfer_in", reason=f"transfer {transfer.id}", reference=transfer.id)
        if transfer.fulfillment_id:
            stock.reserve(session, merchant_id=transfer.merchant_id, location_id=transfer.to_location_id,
                          lines=lines, reference=transfer.fulfillment_id, expires_at=None, now=now)
    transfer.status, transfer.received_at = "received", now
    _event(session, transfer, "transfer.received", now)
    session.flush()
    return transfer


def cancel_transfer(session: Session, *, transfer_id: str, now: datetime) -> Transfer:
    transfer = get_transfer(session, transfer_id=transfer_id)
    if transfer.status != "requested":
        raise InvalidState(f"Transfer {transfer.id} is {transfer.status}; only a requested one can be cancelled.")
    if transfer.fulfillment_id is None:
        stock.release(session, reference=transfer.id, now=now, reason="transfer cancelled")
    transfer.status = "cancelled"
    _event(session, transfer, "transfer.cancelled", now)
    session.flush()
    return transfer


def list_transfers(session: Session, *, location_id: str | None, merchant_id: str | None,
                   direction: str = "any", status: str | None = None, limit: int = 100) -> list[Transfer]:
    """Transfers touching a location (incoming/outgoing) or visible to a merchant (owner or receiver)."""
    query = select(Transfer)
    if location_id is not None:
        if direction == "incoming":
            query = query.where(Transfer.to_location_id == location_id)
        elif direction == "outgoing":
            query = query.where(Transfer.from_location_id == location_id)
        else:
            query = query.where((Transfer.to_location_id == location_id)
                                | (Transfer.from_location_id == location_id))
    if merchant_id is not None:
        query = query.where((Transfer.merchant_id == merchant_id) | (Transfer.to_merchant_id == merchant_id))
    if status is not None:
        query = query.where(Transfer.status == status)
    return list(session.scalars(query.order_by(Transfer.expected_arrival_at, Transfer.id).limit(limit)))


def received_since(session: Session, *, location_id: str, since: datetime, limit: int = 50) -> list[Transfer]:
    """What a location received since a time, newest first (the store console's 'received today')."""
    return list(session.scalars(
        select(Transfer).where(Transfer.to_location_id == location_id, Transfer.status == "received",
                               Transfer.received_at >= since)
        .order_by(Transfer.received_at.desc(), Transfer.id.desc()).limit(limit)))
