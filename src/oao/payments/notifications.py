"""What a wallet tells us, checked and applied exactly once.

The contract (docs/payments.md): the signature is verified over the raw body
by the provider adapter; the event must name a charge we know, with our app,
our merchant, our amount and currency, or it is refused (4xx) and kept in
`payment_rejected_notifications`; the event id is inserted into
`payment_notifications` before anything changes, so a duplicate (or a
concurrent twin, which waits on the primary key) changes nothing and is
acknowledged; the state moves with conditional UPDATEs, the order row first.

`apply_charge` is shared with the polling fallback: a notification and a poll
reporting the same payment both end in exactly one `payment.succeeded`, one
order confirmation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oao.core.db import Database
from oao.core.errors import BadRequest, Conflict, InvalidInput, NotFound, Problem
from oao.core.ids import new_id
from oao.orders import service as orders
from oao.payments import service as payments
from oao.payments.models import PaymentNotification, RejectedNotification
from oao.payments.providers import InvalidNotification, Notification, WalletProvider

log = logging.getLogger("oao.payments.notifications")


class NotificationRefused(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


def apply_charge(session: Session, *, intent_id: str, status: str, provider_trade_no: str | None, now: datetime,
                 reversed_minor: int = 0, message: str = "") -> str:
    """Record where a wallet charge stands; returns what changed (`succeeded`, `closed`, `unchanged`…)."""
    intent = payments.get_intent(session, intent_id=intent_id)
    if intent.order_id is not None:
        orders.lock_order(session, order_id=intent.order_id)  # lock order: order row before its intents
    session.refresh(intent)
    if status == "succeeded":
        if not payments.mark_paid(session, intent_id=intent_id, provider_trade_no=provider_trade_no, now=now):
            return "unchanged"
        if intent.order_id is not None and not orders.confirm_wallet_payment(
                session, order_id=intent.order_id, intent_id=intent_id, now=now):
            # Defensive: the order moved on without this payment; the money must not be kept.
            payments.refund_remaining(session, intent_id=intent_id, now=now,
                                      reason="paid after the order stopped awaiting payment")
            return "refunding"
        return "succeeded"
    if status == "processing":
        return "processing" if payments.mark_processing(session, intent_id=intent_id, now=now) else "unchanged"
    if status in ("closed", "failed") and intent.status != "succeeded":
        payments.mark_provider_closed(session, intent_id=intent_id, now=now, reversed_minor=reversed_minor,
                                      message=message or f"{status} at the provider")
        if intent.order_id is not None:
            # A checkout's one payment can never be retried by wallet: its orders are released now.
            orders.payment_closed(session, order_id=intent.order_id, intent_id=intent_id, now=now)
        return "closed"
    return "unchanged"


def handle(session: Session, *, provider: WalletProvider, note: Notification, now: datetime) -> str:
    """Check a verified notification against our record, dedupe it, apply it."""
    intent = payments.get_by_out_trade_no(session, provider=provider.name, out_trade_no=note.out_trade_no)
    if intent is None:
        raise NotificationRefused(NotFound(f"No {provider.name} payment {note.out_trade_no!r} here."))
    if note.app_id != provider.app_id:
        raise NotificationRefused(InvalidInput(f"The notification is for app {note.app_id!r}, not ours."))
    if note.merchant_ref != intent.merchant_id:
        raise NotificationRefused(InvalidInput("The notification names another merchant than the payment."))
    if (note.amount_minor, note.currency) != (intent.amount_minor, intent.currency):
        raise NotificationRefused(Conflict(
            f"The notification says {note.amount_minor} {note.currency} but payment {intent.id} is for "
            f"{intent.amount_minor} {intent.currency} (minor units); refused."))
    record = PaymentNotification(provider=provider.name, event_id=note.event_id, intent_id=intent.id,
                                 status=note.status, outcome="received", received_at=now)
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:
        return "duplicate"
    record.outcome = apply_charge(session, intent_id=intent.id, status=note.status,
                                  provider_trade_no=note.provider_trade_no, now=now)
    session.flush()
    return record.outcome


def log_rejection(db: Database, *, provider: str, reason: str, raw_body: bytes, now: datetime,
                  event_id: str | None = None, out_trade_no: str | None = None) -> None:
    """Keep a refused notification for investigation (its own transaction: the refusal rolled back)."""
    log.warning("refused %s notification (%s): %s", provider, event_id or "no event id", reason)
    with db.unit_of_work() as session:
        session.add(RejectedNotification(id=new_id("pnr"), provider=provider[:30], reason=reason[:300],
                                         event_id=(event_id or None) and event_id[:80],
                                         out_trade_no=(out_trade_no or None) and out_trade_no[:64],
                                         raw_body=raw_body[:4000].decode("utf-8", "replace"), received_at=now))


def receive(db: Database, *, provider: WalletProvider, raw_body: bytes, headers: Mapping[str, str],
            now: datetime) -> str:
    """Verify, check and apply one notification; raises a Problem (after logging it) when refused."""
    try:
        note = provider.verify_notification(raw_body=raw_body, headers=headers)
    except InvalidNotification as exc:
        log_rejection(db, provider=provider.name, reason=f"invalid: {exc}", raw_body=raw_body, now=now)
        raise BadRequest(f"Notification refused: {exc}.") from None
    try:
        with db.unit_of_work() as session:
            return handle(session, provider=provider, note=note, now=now)
    except NotificationRefused as refused:
        log_rejection(db, provider=provider.name, reason=refused.problem.detail, raw_body=raw_body, now=now,
                      event_id=note.event_id, out_trade_no=note.out_trade_no)
        raise refused.problem from None
