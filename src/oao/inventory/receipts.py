"""Expected receipts: goods a store has ordered and is waiting for.

An accepted purchase suggestion (or a supplier order typed in by staff) becomes
one expected receipt per product. While open it counts as "on order" for
replenishment; receiving it adds the delivered units to stock as an ordinary
"receipt" movement that names it, cancelling it stops it counting.

Closing a receipt is a conditional UPDATE (`... WHERE status = 'expected'`):
two people pressing "Received" at once add the goods once, and the second is
told it was already received.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from oao.core.db import get_or_404
from oao.core.errors import InvalidInput, InvalidState
from oao.core.ids import new_id
from oao.core.outbox import record_event
from oao.inventory import service as stock
from oao.inventory.models import ExpectedReceipt

STATUSES = ("expected", "received", "cancelled")


def _event(session: Session, receipt: ExpectedReceipt, type_: str, now: datetime) -> None:
    record_event(session, type=type_, subject_id=receipt.id, merchant_id=receipt.merchant_id,
                 payload={"receipt_id": receipt.id, "location_id": receipt.location_id,
                          "product_id": receipt.product_id, "quantity": receipt.quantity,
                          "expected_at": receipt.expected_at.isoformat(), "status": receipt.status,
                          "reference": receipt.reference}, at=now)


def expect(session: Session, *, merchant_id: str, location_id: str, product_id: str, quantity: int,
           expected_at: datetime, now: datetime, reference: str | None = None) -> ExpectedReceipt:
    """Record goods on their way to a store."""
    if quantity <= 0:
        raise InvalidInput("An expected receipt needs a positive quantity.")
    if expected_at.tzinfo is None:
        raise InvalidInput("expected_at needs a timezone.")
    receipt = ExpectedReceipt(id=new_id("erc"), merchant_id=merchant_id, location_id=location_id,
                              product_id=product_id, quantity=quantity, expected_at=expected_at, status="expected",
                              reference=reference, created_at=now, received_at=None, received_quantity=None)
    session.add(receipt)
    session.flush()
    _event(session, receipt, "stock.receipt_expected", now)
    return receipt


def get_receipt(session: Session, *, receipt_id: str) -> ExpectedReceipt:
    return get_or_404(session, ExpectedReceipt, receipt_id, "expected receipt")


def list_receipts(session: Session, *, location_id: str, status: str | None = None,
                  product_ids: Iterable[str] | None = None, limit: int = 200) -> list[ExpectedReceipt]:
    """A store's expected receipts, soonest first (open ones by default sort before old ones)."""
    query = select(ExpectedReceipt).where(ExpectedReceipt.location_id == location_id)
    if status is not None:
        if status not in STATUSES:
            raise InvalidInput(f"status is one of {', '.join(STATUSES)}, not {status!r}.")
        query = query.where(ExpectedReceipt.status == status)
    if product_ids is not None:
        query = query.where(ExpectedReceipt.product_id.in_(list(product_ids)))
    return list(session.scalars(query.order_by(ExpectedReceipt.expected_at, ExpectedReceipt.id).limit(limit)))


def list_open(session: Session, *, location_id: str, product_ids: Iterable[str] | None = None,
              limit: int = 1000) -> list[ExpectedReceipt]:
    return list_receipts(session, location_id=location_id, status="expected", product_ids=product_ids, limit=limit)


def by_reference(session: Session, *, references: Iterable[str]) -> list[ExpectedReceipt]:
    refs = list(references)
    if not refs:
        return []
    return list(session.scalars(select(ExpectedReceipt).where(ExpectedReceipt.reference.in_(refs))
                                .order_by(ExpectedReceipt.id)))


def on_order(session: Session, *, location_id: str, product_ids: Iterable[str],
             arriving_from: datetime | None = None) -> dict[str, int]:
    """product_id -> units of open expected receipts at a store (those arriving from a time, if given)."""
    ids = list(product_ids)
    if not ids:
        return {}
    query = (select(ExpectedReceipt.product_id, func.sum(ExpectedReceipt.quantity))
             .where(ExpectedReceipt.location_id == location_id, ExpectedReceipt.status == "expected",
                    ExpectedReceipt.product_id.in_(ids))
             .group_by(ExpectedReceipt.product_id))
    if arriving_from is not None:
        query = query.where(ExpectedReceipt.expected_at >= arriving_from)
    return {product_id: int(units) for product_id, units in session.execute(query)}


def _close(session: Session, receipt: ExpectedReceipt, *, status: str, now: datetime,
           received_quantity: int | None) -> None:
    result = session.execute(
        update(ExpectedReceipt).where(ExpectedReceipt.id == receipt.id, ExpectedReceipt.status == "expected")
        .values(status=status, received_at=now if status == "received" else None,
                received_quantity=received_quantity))
    if result.rowcount != 1:
        session.refresh(receipt)
        raise InvalidState(f"Expected receipt {receipt.id} is already {receipt.status}.")
    session.refresh(receipt)


def receive(session: Session, *, receipt_id: str, now: datetime, quantity: int | None = None) -> ExpectedReceipt:
    """The goods came: add them to stock (`quantity` when the delivery differs from what was expected)."""
    receipt = get_receipt(session, receipt_id=receipt_id)
    units = receipt.quantity if quantity is None else quantity
    if units <= 0:
        raise InvalidInput("The received quantity must be positive; cancel the receipt if nothing came.")
    _close(session, receipt, status="received", now=now, received_quantity=units)
    stock.receive_stock(session, merchant_id=receipt.merchant_id, location_id=receipt.location_id,
                        product_id=receipt.product_id, quantity=units, now=now, kind="receipt",
                        reason=f"expected receipt {receipt.reference or receipt.id}"[:200], reference=receipt.id)
    _event(session, receipt, "stock.receipt_received", now)
    return receipt


def cancel(session: Session, *, receipt_id: str, now: datetime) -> ExpectedReceipt:
    """The goods will not come: stop counting them as on order."""
    receipt = get_receipt(session, receipt_id=receipt_id)
    _close(session, receipt, status="cancelled", now=now, received_quantity=None)
    _event(session, receipt, "stock.receipt_cancelled", now)
    return receipt
