"""Payment intents: what is owed for an order or a counter sale, and whether it was paid.

State names follow Stripe's PaymentIntent so wallet and card providers plug in
later without renaming anything. In-store money is the first provider:

- a counter sale is paid on the spot, so its intent is born `succeeded`;
- a pay-at-pickup order gets an intent in `requires_capture` when it is
  placed, `succeeded` when staff hand it over and take the money, and
  `canceled` if the order is cancelled first.

Moves between states are conditional UPDATEs on the current status, so two
racing handovers (or a handover racing a cancellation) cannot both win.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from oao.core.db import get_or_404
from oao.core.errors import InvalidInput, InvalidState
from oao.core.ids import new_id
from oao.core.money import is_currency
from oao.core.outbox import record_event
from oao.payments.models import PaymentIntent

IN_STORE = "in_store"
# The states an intent may be created in; `succeeded` only through record_in_store_payment.
OPEN_STATUSES = ("requires_payment_method", "requires_capture", "processing")
MAX_AMOUNT_MINOR = 2_147_483_647  # the amount column is a 32-bit integer


def _check(amount_minor: int, currency: str, method: str | None, provider: str) -> None:
    if not isinstance(amount_minor, int) or amount_minor < 0:
        raise InvalidInput(f"A payment amount is a non-negative number of minor units, got {amount_minor!r}.")
    if amount_minor > MAX_AMOUNT_MINOR:
        raise InvalidInput(f"A payment of {amount_minor} minor units is more than one payment can hold.")
    if not is_currency(currency):
        raise InvalidInput(f"Currency {currency!r} is not a supported ISO 4217 code.")
    if method is not None and not 1 <= len(method) <= 30:
        raise InvalidInput("A payment method name is 1 to 30 characters.")
    if not 1 <= len(provider) <= 30:
        raise InvalidInput("A payment provider name is 1 to 30 characters.")


def _event(session: Session, intent: PaymentIntent, type: str, now: datetime, **extra: object) -> None:
    payload = {"intent_id": intent.id, "order_id": intent.order_id, "pos_sale_id": intent.pos_sale_id,
               "amount_minor": intent.amount_minor, "currency": intent.currency, "method": intent.method,
               "provider": intent.provider, "status": intent.status, **extra}
    record_event(session, type=type, subject_id=intent.id, merchant_id=intent.merchant_id, payload=payload,
                 at=now)


def create_intent(session: Session, *, merchant_id: str, amount_minor: int, currency: str, method: str | None,
                  now: datetime, order_id: str | None = None, pos_sale_id: str | None = None,
                  provider: str = IN_STORE, status: str = "requires_capture") -> PaymentIntent:
    """Open an intent for money still to be taken (pay at pickup: `requires_capture`)."""
    _check(amount_minor, currency, method, provider)
    if status not in OPEN_STATUSES:
        raise InvalidInput(f"A payment intent is created in one of {', '.join(OPEN_STATUSES)}, not {status!r}.")
    intent = PaymentIntent(id=new_id("pi"), merchant_id=merchant_id, order_id=order_id, pos_sale_id=pos_sale_id,
                           amount_minor=amount_minor, currency=currency, method=method, provider=provider,
                           status=status, created_at=now, updated_at=now)
    session.add(intent)
    session.flush()
    _event(session, intent, "payment.intent_created", now)
    return intent


def record_in_store_payment(session: Session, *, merchant_id: str, amount_minor: int, currency: str, method: str,
                            now: datetime, order_id: str | None = None,
                            pos_sale_id: str | None = None) -> PaymentIntent:
    """Money already taken at the till: an intent born `succeeded`."""
    _check(amount_minor, currency, method, IN_STORE)
    intent = PaymentIntent(id=new_id("pi"), merchant_id=merchant_id, order_id=order_id, pos_sale_id=pos_sale_id,
                           amount_minor=amount_minor, currency=currency, method=method, provider=IN_STORE,
                           status="succeeded", created_at=now, updated_at=now)
    session.add(intent)
    session.flush()
    _event(session, intent, "payment.succeeded", now)
    return intent


def get_intent(session: Session, *, intent_id: str) -> PaymentIntent:
    return get_or_404(session, PaymentIntent, intent_id, "payment intent")


def intents_for_order(session: Session, *, order_id: str) -> list[PaymentIntent]:
    return list(session.scalars(select(PaymentIntent).where(PaymentIntent.order_id == order_id)
                                .order_by(PaymentIntent.created_at, PaymentIntent.id)))


def intent_for_sale(session: Session, *, pos_sale_id: str) -> PaymentIntent | None:
    return session.scalar(select(PaymentIntent).where(PaymentIntent.pos_sale_id == pos_sale_id)
                          .order_by(PaymentIntent.created_at, PaymentIntent.id).limit(1))


def _move(session: Session, *, intent_id: str, to: str, allowed_from: tuple[str, ...], now: datetime,
          method: str | None = None) -> bool:
    """Move the intent if it is still in one of `allowed_from`; False if someone else moved it first."""
    values: dict[str, object] = {"status": to, "updated_at": now}
    if method is not None:
        values["method"] = method
    result = session.execute(update(PaymentIntent)
                             .where(PaymentIntent.id == intent_id, PaymentIntent.status.in_(allowed_from))
                             .values(**values).execution_options(synchronize_session=False))
    return result.rowcount == 1


def mark_succeeded(session: Session, *, intent_id: str, now: datetime, method: str | None = None) -> PaymentIntent:
    """The money was taken (a pay-at-pickup handover); succeeding twice is harmless."""
    if method is not None and not 1 <= len(method) <= 30:
        raise InvalidInput("A payment method name is 1 to 30 characters.")
    intent = get_intent(session, intent_id=intent_id)
    moved = _move(session, intent_id=intent_id, to="succeeded", allowed_from=OPEN_STATUSES, now=now,
                  method=method)
    session.refresh(intent)
    if not moved:
        if intent.status == "succeeded":
            return intent
        raise InvalidState(f"Payment {intent_id} is {intent.status}; it can no longer be paid.")
    _event(session, intent, "payment.succeeded", now)
    return intent


def cancel_intent(session: Session, *, intent_id: str, now: datetime, reason: str = "") -> PaymentIntent:
    """Nothing will be taken (the order was cancelled); cancelling twice is harmless."""
    intent = get_intent(session, intent_id=intent_id)
    moved = _move(session, intent_id=intent_id, to="canceled", allowed_from=OPEN_STATUSES, now=now)
    session.refresh(intent)
    if not moved:
        if intent.status == "canceled":
            return intent
        raise InvalidState(f"Payment {intent_id} has already succeeded; give the money back with a refund, "
                           "not a cancellation.")
    _event(session, intent, "payment.canceled", now, reason=reason)
    return intent
