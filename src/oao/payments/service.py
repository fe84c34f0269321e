"""Payment intents: what is owed for an order or a counter sale, and whether it was paid.

State names follow Stripe's PaymentIntent. In-store money:

- a counter sale is paid on the spot, so its intent is born `succeeded`;
- a pay-at-pickup order gets an intent in `requires_capture` when it is
  placed, `succeeded` when staff hand it over and take the money, and
  `canceled` if the order is cancelled first.

Wallet money (the sandbox wallet, Alipay…): an intent is born
`requires_payment_method` (a QR waits to be scanned), may move to `processing`
("user paying"), and ends `succeeded` or `canceled`. Only the functions here
touch the database; calling the provider happens outside any transaction
(`gateway.py`), so a wallet intent that is cancelled here gets
`close_requested_at` and the provider is told afterwards.

One wallet payment may pay a checkout of several merchants' orders: its
merchant order number is the checkout id, `payment_allocations` holds each
order's share, and a refund for one order (a return, a cancellation) is capped
by what is left of that order's share.

Moves between states are conditional UPDATEs on the current status, so two
racing writers (a notification and a poll, a handover and a cancellation)
cannot both win.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oao.core.auth import Principal, Role
from oao.core.db import get_or_404
from oao.core.errors import Conflict, Forbidden, InvalidInput, InvalidState, NotFound
from oao.core.ids import new_id
from oao.core.money import is_currency
from oao.core.outbox import record_event
from oao.network import service as network
from oao.payments.models import FLOWS, PaymentAllocation, PaymentIntent, PaymentRefund
from oao.payments.providers import ProviderOrder

IN_STORE = "in_store"
# The states an intent may be created in; `succeeded` only through record_in_store_payment.
OPEN_STATUSES = ("requires_payment_method", "requires_capture", "processing")
MAX_AMOUNT_MINOR = 2_147_483_647  # the amount column is a 32-bit integer
REFUND_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


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
    shares = allocations_of(session, intent_id=intent.id)
    if shares:
        # A checkout's one payment: order_id is then the checkout id; each order's share says who sold what.
        payload["checkout_id"] = intent.order_id
        payload["allocations"] = [{"order_id": a.order_id, "merchant_id": a.merchant_id,
                                   "amount_minor": a.amount_minor} for a in shares]
    record_event(session, type=type, subject_id=intent.id, merchant_id=intent.merchant_id, payload=payload,
                 at=now)


def create_intent(session: Session, *, merchant_id: str, amount_minor: int, currency: str, method: str | None,
                  now: datetime, order_id: str | None = None, pos_sale_id: str | None = None,
                  provider: str = IN_STORE, status: str = "requires_capture",
                  allocations: list[Allocation] | None = None) -> PaymentIntent:
    """Open an intent for money still to be taken (pay at pickup: `requires_capture`).

    `allocations` split a payment of several orders (a checkout) between them; they must add up to the amount.
    """
    _check(amount_minor, currency, method, provider)
    if status not in OPEN_STATUSES:
        raise InvalidInput(f"A payment intent is created in one of {', '.join(OPEN_STATUSES)}, not {status!r}.")
    if allocations and sum(a.amount_minor for a in allocations) != amount_minor:
        raise InvalidInput(f"The orders' shares add up to {sum(a.amount_minor for a in allocations)}, not to the "
                           f"payment's {amount_minor} (minor units).")
    intent = PaymentIntent(id=new_id("pi"), merchant_id=merchant_id, order_id=order_id, pos_sale_id=pos_sale_id,
                           amount_minor=amount_minor, currency=currency, method=method, provider=provider,
                           status=status, created_at=now, updated_at=now, amount_refunded_minor=0,
                           reversed_minor=0)
    session.add(intent)
    session.flush()
    for share in allocations or ():
        session.add(PaymentAllocation(intent_id=intent.id, order_id=share.order_id, merchant_id=share.merchant_id,
                                      amount_minor=share.amount_minor, currency=currency))
    session.flush()
    _event(session, intent, "payment.intent_created", now)
    return intent


def open_wallet_intent(session: Session, *, merchant_id: str, amount_minor: int, currency: str, provider: str,
                       flow: str, expires_at: datetime, now: datetime, order_id: str | None = None,
                       location_id: str | None = None, register_id: str | None = None,
                       allocations: list[Allocation] | None = None) -> PaymentIntent:
    """A wallet payment to be taken: an order's (its id is the merchant order number) or a counter payment's.

    A checkout's payment passes the checkout id as `order_id` and each order's share as `allocations`.
    """
    if flow not in FLOWS:
        raise InvalidInput(f"A wallet payment flow is one of {', '.join(FLOWS)}, not {flow!r}.")
    if amount_minor <= 0:
        raise InvalidInput("A wallet payment is for a positive amount.")
    if order_id is not None:
        existing = session.scalar(select(PaymentIntent).where(PaymentIntent.out_trade_no == order_id))
        if existing is not None:
            if existing.status in OPEN_STATUSES and existing.close_requested_at is None:
                return existing  # asking again shows the same charge, never a second one
            raise InvalidState(f"The wallet payment of order {order_id} is {existing.status}; "
                               "it cannot be paid by wallet again.")
    method = "wallet_qr" if flow == "merchant_qr" else "wallet_code"
    intent = create_intent(session, merchant_id=merchant_id, amount_minor=amount_minor, currency=currency,
                           method=method, now=now, order_id=order_id, provider=provider,
                           status="requires_payment_method", allocations=allocations)
    # Our order id is the provider's merchant order number; a counter payment has no other id than its own.
    intent.out_trade_no = order_id or intent.id
    intent.flow, intent.expires_at = flow, expires_at
    intent.location_id, intent.register_id = location_id, register_id
    session.flush()
    return intent


def record_in_store_payment(session: Session, *, merchant_id: str, amount_minor: int, currency: str, method: str,
                            now: datetime, order_id: str | None = None,
                            pos_sale_id: str | None = None) -> PaymentIntent:
    """Money already taken at the till: an intent born `succeeded`."""
    _check(amount_minor, currency, method, IN_STORE)
    intent = PaymentIntent(id=new_id("pi"), merchant_id=merchant_id, order_id=order_id, pos_sale_id=pos_sale_id,
                           amount_minor=amount_minor, currency=currency, method=method, provider=IN_STORE,
                           status="succeeded", created_at=now, updated_at=now, amount_refunded_minor=0,
                           reversed_minor=0)
    session.add(intent)
    session.flush()
    _event(session, intent, "payment.succeeded", now)
    return intent


def get_intent(session: Session, *, intent_id: str) -> PaymentIntent:
    return get_or_404(session, PaymentIntent, intent_id, "payment intent")


def get_visible_intent(session: Session, *, intent_id: str, principal: Principal) -> PaymentIntent:
    """The intent if the caller may see it; another merchant's answers 404."""
    intent = session.get(PaymentIntent, intent_id)
    if intent is None:
        raise NotFound(f"No payment intent {intent_id!r}.")
    principal.ensure_merchant(intent.merchant_id, "payment intent", intent_id)
    return intent


def get_by_out_trade_no(session: Session, *, provider: str, out_trade_no: str) -> PaymentIntent | None:
    return session.scalar(select(PaymentIntent).where(PaymentIntent.out_trade_no == out_trade_no,
                                                      PaymentIntent.provider == provider))


def list_intents(session: Session, *, principal: Principal, order_id: str | None = None,
                 status: str | None = None, limit: int = 50) -> list[PaymentIntent]:
    query = select(PaymentIntent)
    if not principal.is_network_admin:
        query = query.where(PaymentIntent.merchant_id == principal.merchant_id)
    if order_id:
        query = query.where(PaymentIntent.order_id == order_id)
    if status:
        query = query.where(PaymentIntent.status == status)
    return list(session.scalars(query.order_by(PaymentIntent.id.desc()).limit(limit)))


def intents_for_order(session: Session, *, order_id: str) -> list[PaymentIntent]:
    """The order's own payments, and a checkout payment that pays (a share of) it."""
    shared = select(PaymentAllocation.intent_id).where(PaymentAllocation.order_id == order_id)
    return list(session.scalars(select(PaymentIntent)
                                .where(or_(PaymentIntent.order_id == order_id, PaymentIntent.id.in_(shared)))
                                .order_by(PaymentIntent.created_at, PaymentIntent.id)))


# --- payments shared by several orders (a checkout) ----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Allocation:
    order_id: str
    merchant_id: str
    amount_minor: int


def allocations_of(session: Session, *, intent_id: str) -> list[PaymentAllocation]:
    return list(session.scalars(select(PaymentAllocation).where(PaymentAllocation.intent_id == intent_id)
                                .order_by(PaymentAllocation.order_id)))


def share_of(session: Session, *, intent: PaymentIntent, order_id: str) -> int:
    """What of this payment paid that order: its allocation, or the whole amount of a payment of one order."""
    share = session.get(PaymentAllocation, (intent.id, order_id))
    if share is not None:
        return share.amount_minor
    return intent.amount_minor if intent.order_id == order_id else 0


def refundable_for_order(session: Session, *, intent: PaymentIntent, order_id: str) -> int:
    """What may still be given back of this payment for that order (never another order's share)."""
    left = intent.amount_minor - intent.amount_refunded_minor - intent.reversed_minor
    if session.get(PaymentAllocation, (intent.id, order_id)) is None:
        return max(left, 0) if intent.order_id == order_id else 0
    given = session.scalar(select(func.coalesce(func.sum(PaymentRefund.amount_minor), 0))
                           .where(PaymentRefund.intent_id == intent.id, PaymentRefund.order_id == order_id,
                                  PaymentRefund.status != "failed")) or 0
    return max(min(left, share_of(session, intent=intent, order_id=order_id) - int(given)), 0)


def intent_for_sale(session: Session, *, pos_sale_id: str) -> PaymentIntent | None:
    """The money taken at the till for a sale (wallet payments that paid part of it are separate)."""
    return session.scalar(select(PaymentIntent).where(PaymentIntent.pos_sale_id == pos_sale_id,
                                                      PaymentIntent.provider == IN_STORE)
                          .order_by(PaymentIntent.created_at, PaymentIntent.id).limit(1))


def provider_order(intent: PaymentIntent) -> ProviderOrder:
    """What the provider is told (S4): amount, currency, merchant, store, our reference; never the lines."""
    if intent.out_trade_no is None or intent.expires_at is None:
        raise InvalidState(f"Payment {intent.id} is not a wallet payment.")
    return ProviderOrder(out_trade_no=intent.out_trade_no, amount_minor=intent.amount_minor,
                         currency=intent.currency, merchant_id=intent.merchant_id, store_id=intent.location_id,
                         expires_at=intent.expires_at)


def _move(session: Session, *, intent_id: str, to: str, allowed_from: tuple[str, ...], now: datetime,
          method: str | None = None, **values: object) -> bool:
    """Move the intent if it is still in one of `allowed_from`; False if someone else moved it first."""
    values.update(status=to, updated_at=now)
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
    """Nothing will be taken (the order was cancelled); cancelling twice is harmless.

    A wallet charge is marked to be closed at the provider afterwards (outside this transaction).
    """
    intent = get_intent(session, intent_id=intent_id)
    extra = {"close_requested_at": now} if intent.out_trade_no is not None else {}
    moved = _move(session, intent_id=intent_id, to="canceled", allowed_from=OPEN_STATUSES, now=now, **extra)
    session.refresh(intent)
    if not moved:
        if intent.status == "canceled":
            return intent
        raise InvalidState(f"Payment {intent_id} has already succeeded; give the money back with a refund, "
                           "not a cancellation.")
    _event(session, intent, "payment.canceled", now, reason=reason)
    return intent


# --- wallet results, recorded after the provider answered ----------------------------------------

def record_qr(session: Session, *, intent_id: str, qr_content: str, expires_at: datetime, now: datetime) -> None:
    """Keep the QR the provider made for a merchant-presented payment."""
    session.execute(update(PaymentIntent).where(PaymentIntent.id == intent_id)
                    .values(qr_content=qr_content[:500], expires_at=expires_at, updated_at=now, last_error=None)
                    .execution_options(synchronize_session=False))


def note_provider_error(session: Session, *, intent_id: str, message: str, now: datetime) -> None:
    session.execute(update(PaymentIntent).where(PaymentIntent.id == intent_id)
                    .values(last_error=message[:300], polled_at=now).execution_options(synchronize_session=False))


def note_polled(session: Session, *, intent_id: str, now: datetime) -> None:
    session.execute(update(PaymentIntent).where(PaymentIntent.id == intent_id)
                    .values(polled_at=now).execution_options(synchronize_session=False))


def mark_paid(session: Session, *, intent_id: str, provider_trade_no: str | None, now: datetime) -> bool:
    """The wallet took the money: True for the one writer that moved it, False for every duplicate.

    An intent already cancelled here is never revived: its close at the provider gives any money back.
    """
    moved = _move(session, intent_id=intent_id, to="succeeded", allowed_from=("requires_payment_method",
                                                                              "processing"),
                  now=now, provider_trade_no=provider_trade_no, last_error=None)
    if moved:
        intent = get_intent(session, intent_id=intent_id)
        session.refresh(intent)
        _event(session, intent, "payment.succeeded", now, provider_trade_no=provider_trade_no)
    return moved


def mark_processing(session: Session, *, intent_id: str, now: datetime) -> bool:
    """The shopper scanned or is confirming ("user paying"); never moves a settled intent back."""
    return _move(session, intent_id=intent_id, to="processing", allowed_from=("requires_payment_method",),
                 now=now)


def mark_provider_closed(session: Session, *, intent_id: str, now: datetime, reversed_minor: int = 0,
                         message: str = "") -> PaymentIntent:
    """The provider closed the charge (expired, declined or cancelled by us); money it had taken went back."""
    intent = get_intent(session, intent_id=intent_id)
    if _move(session, intent_id=intent_id, to="canceled", allowed_from=OPEN_STATUSES, now=now, closed_at=now,
             close_requested_at=now, last_error=message[:300] or None):
        session.refresh(intent)
        _event(session, intent, "payment.canceled", now, reason=message or "closed by the provider")
    else:
        session.execute(update(PaymentIntent)
                        .where(PaymentIntent.id == intent_id, PaymentIntent.status == "canceled",
                               PaymentIntent.closed_at.is_(None))
                        .values(closed_at=now, updated_at=now).execution_options(synchronize_session=False))
        session.refresh(intent)
    if reversed_minor > 0 and intent.reversed_minor == 0:
        intent.reversed_minor = min(reversed_minor, intent.amount_minor)
        _event(session, intent, "payment.reversed", now, reversed_minor=intent.reversed_minor)
    session.flush()
    return intent


def intents_to_poll(session: Session, *, limit: int = 100) -> list[str]:
    """Wallet intents whose outcome is still open here, or whose close the provider has not confirmed."""
    query = (select(PaymentIntent.id)
             .where(PaymentIntent.out_trade_no.is_not(None),
                    or_(PaymentIntent.status.in_(OPEN_STATUSES),
                        (PaymentIntent.status == "canceled") & PaymentIntent.closed_at.is_(None)))
             .order_by(PaymentIntent.polled_at.is_not(None), PaymentIntent.polled_at, PaymentIntent.id)
             .limit(limit))
    return list(session.scalars(query))


# --- refunds -----------------------------------------------------------------------------------------------

def _check_refund(refund_id: str, amount_minor: int, reason: str) -> None:
    if not isinstance(refund_id, str) or not REFUND_ID.match(refund_id):
        raise InvalidInput("A refund id is 1 to 64 letters, digits, '_', '.', ':' or '-' (starting with a "
                           "letter or digit).")
    if not isinstance(amount_minor, int) or not 0 < amount_minor <= MAX_AMOUNT_MINOR:
        raise InvalidInput(f"A refund is a positive number of minor units, got {amount_minor!r}.")
    if not 1 <= len(reason) <= 200:
        raise InvalidInput("A refund reason is 1 to 200 characters.")


def reserve_refund(session: Session, *, intent_id: str, refund_id: str, amount_minor: int, reason: str,
                   now: datetime, order_id: str | None = None) -> tuple[PaymentRefund, bool]:
    """Step one of a refund: claim the amount against what was paid; (refund, False) when replayed.

    The claim is one conditional UPDATE, so concurrent refunds can never together exceed the payment.
    An in-store refund (cash back at the counter) needs no provider and is `succeeded` at once.
    On a payment shared by several orders, `order_id` says whose share is given back, and the refund is
    capped by what is left of that share (the caller holds that order's row lock).
    """
    _check_refund(refund_id, amount_minor, reason)
    intent = get_intent(session, intent_id=intent_id)
    existing = session.scalar(select(PaymentRefund).where(PaymentRefund.merchant_id == intent.merchant_id,
                                                          PaymentRefund.refund_id == refund_id))
    if existing is not None:
        return _replayed(existing, intent_id, amount_minor), False
    shared = order_id is not None and session.get(PaymentAllocation, (intent_id, order_id)) is not None
    if shared:
        left_for_order = refundable_for_order(session, intent=intent, order_id=order_id)
        if amount_minor > left_for_order:
            raise Conflict(f"Only {left_for_order} {intent.currency} (minor units) of payment {intent_id} is left "
                           f"to refund for order {order_id}; {amount_minor} was asked.",
                           refundable_minor=left_for_order)
    claimed = session.execute(
        update(PaymentIntent)
        .where(PaymentIntent.id == intent_id, PaymentIntent.status == "succeeded",
               PaymentIntent.amount_minor - PaymentIntent.amount_refunded_minor - PaymentIntent.reversed_minor
               >= amount_minor)
        .values(amount_refunded_minor=PaymentIntent.amount_refunded_minor + amount_minor, updated_at=now)
        .execution_options(synchronize_session=False))
    session.refresh(intent)
    if claimed.rowcount != 1:
        if intent.status != "succeeded":
            raise InvalidState(f"Payment {intent_id} is {intent.status}; only a succeeded payment is refunded.")
        left = intent.amount_minor - intent.amount_refunded_minor - intent.reversed_minor
        raise Conflict(f"Only {left} of {intent.amount_minor} {intent.currency} (minor units) is left to refund "
                       f"on payment {intent_id}; {amount_minor} was asked.", refundable_minor=left)
    in_store = intent.provider == IN_STORE
    row = PaymentRefund(id=new_id("rfd"), merchant_id=intent.merchant_id, intent_id=intent_id, refund_id=refund_id,
                        amount_minor=amount_minor, currency=intent.currency, reason=reason,
                        provider=intent.provider, status="succeeded" if in_store else "pending",
                        failure_message=None, attempts=0, created_at=now, updated_at=now,
                        order_id=order_id if shared else None)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # A concurrent twin with the same refund id committed first (PostgreSQL): ours never happened.
        raise Conflict(f"Refund {refund_id!r} is being recorded by another request; retry to see it.") from None
    _event(session, intent, "payment.refund_succeeded" if in_store else "payment.refund_requested", now,
           refund_id=refund_id, refund_amount_minor=amount_minor, reason=reason,
           **({"refund_order_id": order_id} if shared else {}))
    return row, True


def _replayed(existing: PaymentRefund, intent_id: str, amount_minor: int) -> PaymentRefund:
    if existing.intent_id != intent_id or existing.amount_minor != amount_minor:
        raise Conflict(f"Refund id {existing.refund_id!r} was already used for {existing.amount_minor} "
                       f"{existing.currency} (minor units) on payment {existing.intent_id}; use a new refund id.",
                       refund_id=existing.refund_id)
    return existing


def refund_remaining(session: Session, *, intent_id: str, reason: str, now: datetime,
                     order_id: str | None = None) -> PaymentRefund | None:
    """Give back everything not yet refunded (an order cancelled after it was paid); None if nothing is left.

    With `order_id` on a payment shared by several orders, only what is left of that order's share.
    """
    intent = get_intent(session, intent_id=intent_id)
    left = intent.amount_minor - intent.amount_refunded_minor - intent.reversed_minor
    if order_id is not None and session.get(PaymentAllocation, (intent_id, order_id)) is not None:
        left = refundable_for_order(session, intent=intent, order_id=order_id)
    else:
        order_id = None
    if intent.status != "succeeded" or left <= 0:
        return None
    row, _ = reserve_refund(session, intent_id=intent_id, refund_id=new_id("re"), amount_minor=left,
                            reason=reason[:200] or "refund", now=now, order_id=order_id)
    return row


def get_refund(session: Session, *, refund_pk: str) -> PaymentRefund:
    return get_or_404(session, PaymentRefund, refund_pk, "refund")


def refunds_of(session: Session, *, intent_id: str) -> list[PaymentRefund]:
    return list(session.scalars(select(PaymentRefund).where(PaymentRefund.intent_id == intent_id)
                                .order_by(PaymentRefund.created_at, PaymentRefund.id)))


def pending_refunds(session: Session, *, limit: int = 100) -> list[str]:
    return list(session.scalars(select(PaymentRefund.id).where(PaymentRefund.status == "pending")
                                .order_by(PaymentRefund.created_at, PaymentRefund.id).limit(limit)))


def record_refund_result(session: Session, *, refund_pk: str, status: str, message: str,
                         now: datetime) -> PaymentRefund:
    """Step two of a refund: the provider's answer. A failure gives the claimed amount back to refund later."""
    row = get_refund(session, refund_pk=refund_pk)
    if status == "processing":
        row.attempts, row.updated_at = row.attempts + 1, now
        return row
    to = "succeeded" if status == "succeeded" else "failed"
    moved = session.execute(update(PaymentRefund).where(PaymentRefund.id == refund_pk,
                                                        PaymentRefund.status == "pending")
                            .values(status=to, failure_message=message[:300] or None, updated_at=now,
                                    attempts=PaymentRefund.attempts + 1)
                            .execution_options(synchronize_session=False))
    session.refresh(row)
    if moved.rowcount != 1:
        return row  # a concurrent attempt recorded it first
    intent = get_intent(session, intent_id=row.intent_id)
    if to == "failed":
        session.execute(update(PaymentIntent).where(PaymentIntent.id == intent.id)
                        .values(amount_refunded_minor=PaymentIntent.amount_refunded_minor - row.amount_minor,
                                updated_at=now).execution_options(synchronize_session=False))
        session.refresh(intent)
    _event(session, intent, f"payment.refund_{to}", now, refund_id=row.refund_id,
           refund_amount_minor=row.amount_minor, message=message)
    return row


# --- counter payments (a register takes a wallet payment) --------------------------------------------------

def open_counter_payment(session: Session, *, principal: Principal, location_id: str, amount_minor: int,
                         currency: str | None, flow: str, provider: str, expires_at: datetime, now: datetime,
                         register_id: str | None = None) -> PaymentIntent:
    """A wallet payment at a store's counter; its own id is the merchant order number the wallet sees."""
    location = network.get_location(session, location_id=location_id)
    principal.ensure_merchant(location.merchant_id, "location", location_id)
    if principal.role is Role.STORE_STAFF and principal.location_id != location.id:
        raise Forbidden("Store staff take payments only at their own store.")
    if not location.active or not location.sells_in_store:
        raise InvalidState(f"Location {location.name!r} does not sell in store, so it takes no counter payments.")
    merchant = network.get_merchant(session, merchant_id=location.merchant_id)
    currency = currency or merchant.currency
    _check(amount_minor, currency, None, provider)
    return open_wallet_intent(session, merchant_id=location.merchant_id, amount_minor=amount_minor,
                              currency=currency, provider=provider, flow=flow, expires_at=expires_at, now=now,
                              location_id=location.id, register_id=register_id)


def attach_to_sale(session: Session, *, intent_id: str, pos_sale_id: str, merchant_id: str, location_id: str,
                   amount_minor: int, currency: str, now: datetime) -> PaymentIntent:
    """Let a succeeded counter wallet payment pay (part of) a POS sale, once: it can pay no other sale."""
    intent = session.get(PaymentIntent, intent_id)
    if intent is None or intent.merchant_id != merchant_id:
        raise InvalidInput(f"No wallet payment {intent_id!r} of this merchant.")
    if intent.provider == IN_STORE or intent.order_id is not None:
        raise InvalidInput(f"Payment {intent_id} is not a counter wallet payment; open one with "
                           "POST /payments/counter.")
    if intent.location_id is not None and intent.location_id != location_id:
        raise InvalidInput(f"Wallet payment {intent_id} was taken at another store.")
    if intent.status != "succeeded":
        raise InvalidInput(f"Wallet payment {intent_id} is {intent.status}, not paid; wait until it has "
                           "succeeded (refresh it) before recording the sale.", status=intent.status)
    if intent.amount_minor != amount_minor or intent.currency != currency:
        raise InvalidInput(f"Wallet payment {intent_id} took {intent.amount_minor} {intent.currency} (minor units) "
                           f"but the wallet tender says {amount_minor} {currency}.")
    claimed = session.execute(update(PaymentIntent)
                              .where(PaymentIntent.id == intent_id, PaymentIntent.pos_sale_id.is_(None))
                              .values(pos_sale_id=pos_sale_id, updated_at=now)
                              .execution_options(synchronize_session=False))
    session.refresh(intent)
    if claimed.rowcount != 1 and intent.pos_sale_id != pos_sale_id:
        raise Conflict(f"Wallet payment {intent_id} already paid sale {intent.pos_sale_id}.",
                       pos_sale_id=intent.pos_sale_id)
    return intent


def intents_for_sale(session: Session, *, pos_sale_id: str) -> list[PaymentIntent]:
    return list(session.scalars(select(PaymentIntent).where(PaymentIntent.pos_sale_id == pos_sale_id)
                                .order_by(PaymentIntent.created_at, PaymentIntent.id)))
