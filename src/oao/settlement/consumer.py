"""Posting to the money ledger from what other domains recorded (worker job), exactly once.

Sources, in outbox order:

- `payment.succeeded` of a wallet payment (the operator collected it): sale to
  the seller's payable, less the platform fee. In-store tenders (provider
  `in_store`: cash or card at the merchant's own till, pay at pickup, pay on
  delivery) are collected by the merchant itself and post no proceeds.
- `payment.refund_succeeded` of a wallet payment: the refund and the fee back,
  in proportion (cumulative per payment).
- `order.completed`: referral commission (seller → referrer) and pickup fee
  (guest seller → host), whatever the tender.
- `order.returned`: those two reversed in proportion to the goods returned.
- loyalty's `loyalty_settlement_entries` (a table, not events): points funding
  between issuer and acceptor, read by an anti-join on `settlement_sources`.

Each source is handled in a savepoint together with marking it consumed (the
outbox consumption's or the source row's primary key stops a racing worker),
and every entry id is derived from the source, so even a replay that got past
that would write nothing new. A source whose payload cannot be read is logged
and consumed: one bad event must not stop settlement for everyone behind it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oao.config import Settings
from oao.core.errors import Problem
from oao.core.outbox import (
    OutboxConsumption,
    OutboxEvent,
    consume_each,
    payload_int,
    payload_str,
)
from oao.loyalty.models import SettlementEntry as PointsEntry
from oao.network import service as network
from oao.orders.models import Order
from oao.settlement import book
from oao.settlement import postings as p
from oao.settlement.models import Source

log = logging.getLogger(__name__)
CONSUMER = "settlement"
EVENTS = ("payment.succeeded", "payment.refund_succeeded", "order.completed", "order.returned")
IN_STORE = "in_store"


class BadEvent(ValueError):
    pass


def _int(payload: dict[str, Any], key: str, *, optional: bool = False) -> int | None:
    return payload_int(payload, key, error=BadEvent, maximum=p.MAX_AMOUNT, optional=optional)


def _str(payload: dict[str, Any], key: str, *, optional: bool = False) -> str | None:
    return payload_str(payload, key, error=BadEvent, optional=optional)


def _source(session: Session, *, id: str, kind: str, reference: str | None, booked_at: datetime, now: datetime,
            basis_minor: int | None = None) -> None:
    session.add(Source(id=id, kind=kind, reference=reference, basis_minor=basis_minor, booked_at=booked_at,
                       created_at=now))
    session.flush()


def _post(session: Session, legs: list[p.Leg], *, source_id: str, currency: str, reference: str,
          booked_at: datetime, now: datetime, basis_minor: int | None = None,
          reverses_id: str | None = None) -> None:
    for leg in legs:
        book.write(session, entry_id=f"{source_id}:{leg.suffix}", kind=leg.kind, debit=leg.debit,
                   credit=leg.credit, amount_minor=leg.amount, currency=currency, reference=reference,
                   booked_at=booked_at, now=now, source_id=source_id, reverses_id=reverses_id,
                   basis_minor=basis_minor)


# --- payments ---------------------------------------------------------------------------------------------

def _allocations(event: OutboxEvent, payload: dict[str, Any], amount: int) -> list[tuple[str, int]]:
    """(merchant, share) of the payment: one share, or a checkout's `allocations` split by largest remainder."""
    raw = payload.get("allocations")
    if not raw:
        merchant_id = event.merchant_id or _str(payload, "merchant_id")
        if not merchant_id:
            raise BadEvent("a payment event names its merchant")
        return [(merchant_id, amount)]
    if not isinstance(raw, list) or len(raw) > 1000 or not all(isinstance(a, dict) for a in raw):
        raise BadEvent("allocations must be a list of objects")
    merchants = [_str(a, "merchant_id") or "" for a in raw]
    weights = [_int(a, "amount_minor") or 0 for a in raw]
    return list(zip(merchants, p.split_gross(amount, weights), strict=True))


def _payment_succeeded(session: Session, event: OutboxEvent, payload: dict[str, Any], now: datetime,
                       fee_bps: int) -> None:
    intent_id = _str(payload, "intent_id") or ""
    _source(session, id=event.id, kind=event.type, reference=intent_id, booked_at=event.occurred_at, now=now)
    if payload.get("provider") == IN_STORE:
        return  # the merchant took this money at its own till: nothing passes through the operator
    amount = _int(payload, "amount_minor") or 0
    currency = _str(payload, "currency") or ""
    shares = _allocations(event, payload, amount)
    for index, (merchant_id, gross) in enumerate(shares):
        suffix = f":{index}" if len(shares) > 1 else ""
        _post(session, p.sale_legs(merchant_id=merchant_id, gross=gross, fee_bps=fee_bps, suffix=suffix),
              source_id=event.id, currency=currency, reference=intent_id, booked_at=event.occurred_at, now=now,
              basis_minor=gross)


def _collected(session: Session, intent_id: str) -> tuple[list[p.Collected], str | None]:
    sales = book.entries_of(session, reference=intent_id, kinds=(p.SALE,))
    shares = []
    for sale in sales:
        merchant_id = p.merchant_of(sale.credit_account) or ""
        account = sale.credit_account
        fee = -book.signed_sum_by(session, account=account, kinds=(p.PLATFORM_FEE,), reference=intent_id)
        refunded = -book.signed_sum_by(session, account=account, kinds=(p.REFUND,), reference=intent_id)
        fee_back = book.signed_sum_by(session, account=account, kinds=(p.PLATFORM_FEE_REFUND,), reference=intent_id)
        shares.append(p.Collected(merchant_id, sale.amount_minor, fee, refunded, fee_back))
    return shares, sales[0].currency if sales else None


def _refund_succeeded(session: Session, event: OutboxEvent, payload: dict[str, Any], now: datetime) -> None:
    intent_id = _str(payload, "intent_id") or ""
    _source(session, id=event.id, kind=event.type, reference=intent_id, booked_at=event.occurred_at, now=now)
    if payload.get("provider") == IN_STORE:
        return  # cash back at the merchant's counter, out of the merchant's own till
    refund = _int(payload, "refund_amount_minor") or 0
    shares, currency = _collected(session, intent_id)
    if not shares or currency is None:
        log.warning("settlement: refund event %s for payment %s, which posted no sale", event.id, intent_id)
        return
    refunded_before = sum(s.refunded for s in shares)
    _post(session, p.refund_legs(shares, refunded_after=refunded_before + refund), source_id=event.id,
          currency=currency, reference=intent_id, booked_at=event.occurred_at, now=now, basis_minor=refund)


# --- orders -----------------------------------------------------------------------------------------------

def _placed_at(session: Session, order_id: str, fallback: datetime) -> datetime:
    placed = session.scalar(select(Order.created_at).where(Order.id == order_id))
    return placed or fallback


def _pickup_fee(session: Session, *, host_id: str, seller_id: str, at: datetime, currency: str) -> tuple[int, str]:
    """The fee of the agreement that covered the order when it was placed (an ended one still does)."""
    terms = network.pickup_terms(session, host_merchant_id=host_id, guest_merchant_id=seller_id, at=at)
    return (terms.fee_minor, terms.currency) if terms is not None else (0, currency)


def _order_completed(session: Session, event: OutboxEvent, payload: dict[str, Any], now: datetime) -> None:
    order_id = _str(payload, "order_id") or ""
    _source(session, id=event.id, kind=event.type, reference=order_id, booked_at=event.occurred_at, now=now)
    seller = event.merchant_id or _str(payload, "merchant_id") or ""
    currency = _str(payload, "currency") or ""
    subtotal = _int(payload, "subtotal_minor", optional=True)
    basis = subtotal if subtotal is not None else _int(payload, "total_minor") or 0
    referrer = _str(payload, "referrer_merchant_id", optional=True)
    bps = _int(payload, "referral_commission_bps", optional=True)
    if referrer and bps:
        _post(session, p.commission_legs(seller_id=seller, referrer_id=referrer, basis=basis, bps=bps),
              source_id=event.id, currency=currency, reference=order_id, booked_at=event.occurred_at, now=now,
              basis_minor=basis)
    host = _str(payload, "pickup_merchant_id", optional=True)
    if host and host != seller:
        fee, fee_currency = _pickup_fee(session, host_id=host, seller_id=seller,
                                        at=_placed_at(session, order_id, event.occurred_at), currency=currency)
        _post(session, p.pickup_fee_legs(seller_id=seller, host_id=host, fee=fee), source_id=event.id,
              currency=fee_currency, reference=order_id, booked_at=event.occurred_at, now=now, basis_minor=basis)


def _order_returned(session: Session, event: OutboxEvent, payload: dict[str, Any], now: datetime) -> None:
    order_id = _str(payload, "order_id") or ""
    goods = _int(payload, "goods_minor") or 0
    _source(session, id=event.id, kind=event.type, reference=order_id, booked_at=event.occurred_at, now=now,
            basis_minor=goods)
    returned = int(session.scalar(select(func.coalesce(func.sum(Source.basis_minor), 0)).where(
        Source.kind == "order.returned", Source.reference == order_id)) or 0)
    for original in book.entries_of(session, reference=order_id, kinds=tuple(p.REVERSAL_OF)):
        due = p.reversal_due(original=original.amount_minor, basis=original.basis_minor or 0,
                             returned_after=returned, reversed_before=book.reversed_of(session, entry_id=original.id))
        legs = p.reversal_legs(kind=original.kind, debit=original.debit_account, credit=original.credit_account,
                               due=due, original_id=original.id)
        _post(session, legs, source_id=event.id, currency=original.currency, reference=order_id,
              booked_at=event.occurred_at, now=now, basis_minor=goods, reverses_id=original.id)


def _handle(session: Session, event: OutboxEvent, now: datetime, fee_bps: int) -> None:
    payload = event.payload if isinstance(event.payload, dict) else {}
    if event.type == "payment.succeeded":
        _payment_succeeded(session, event, payload, now, fee_bps)
    elif event.type == "payment.refund_succeeded":
        _refund_succeeded(session, event, payload, now)
    elif event.type == "order.completed":
        _order_completed(session, event, payload, now)
    elif event.type == "order.returned":
        _order_returned(session, event, payload, now)


# --- points funding ---------------------------------------------------------------------------------------

def _points_due(session: Session, limit: int) -> list[PointsEntry]:
    done = exists().where(Source.id == PointsEntry.id)
    return list(session.scalars(select(PointsEntry).where(~done)
                                .order_by(PointsEntry.created_at, PointsEntry.id).limit(limit)))


def _points(session: Session, entry: PointsEntry, now: datetime) -> None:
    _source(session, id=entry.id, kind=f"loyalty.{entry.kind}", reference=entry.hold_id or entry.transfer_id,
            booked_at=entry.created_at, now=now)
    legs = p.points_legs(kind=entry.kind, debtor_id=entry.debtor_merchant_id, creditor_id=entry.creditor_merchant_id,
                         amount=entry.amount_minor)
    _post(session, legs, source_id=entry.id, currency=entry.currency,
          reference=(entry.hold_id or entry.transfer_id)[:120], booked_at=entry.created_at, now=now)


def post_from_outbox(session: Session, *, now: datetime, limit: int = 500, fee_bps: int | None = None) -> int:
    """Post what happened since the last run (worker job); returns how many sources were handled."""
    if fee_bps is None:
        fee_bps = Settings.from_env().platform_fee_bps
    handled = consume_each(session, consumer=CONSUMER, types=EVENTS, now=now, limit=limit,
                           handle=lambda event: _handle(session, event, now, fee_bps),
                           skip=(BadEvent, p.PostingError, Problem))
    for entry in _points_due(session, limit):
        try:
            with session.begin_nested():
                _points(session, entry, now)
            handled += 1
        except IntegrityError:
            continue
        except (p.PostingError, Problem) as exc:
            log.warning("settlement skipped points entry %s: %s", entry.id, exc)
            with session.begin_nested():
                _source(session, id=entry.id, kind="loyalty.skipped", reference=None, booked_at=entry.created_at,
                        now=now)
            handled += 1
    return handled


def unposted(session: Session) -> int:
    """Events and points entries not posted yet: a reconciliation difference may only mean the worker is behind."""
    consumed = exists().where(and_(OutboxConsumption.consumer == CONSUMER,
                                   OutboxConsumption.event_id == OutboxEvent.id))
    events = session.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type.in_(EVENTS),
                                                                                 ~consumed)) or 0
    points = session.scalar(select(func.count()).select_from(PointsEntry).where(
        ~exists().where(Source.id == PointsEntry.id))) or 0
    return int(events) + int(points)
