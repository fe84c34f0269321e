"""Background work: earning from sale events (exactly once) and expiring old lots.

Each sale event is handled in a savepoint together with marking it consumed,
so a second worker racing for the same event fails on the consumption's
primary key and changes nothing; the earn transfer's id is derived from the
event and the rule, so even a replay that got past that would be a no-op.
An event whose payload cannot be understood is logged and marked consumed:
one bad event must not stop earning for everyone behind it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from oao.core.errors import Problem
from oao.core.ids import new_id
from oao.core.outbox import OutboxEvent, consume_each, payload_int, payload_str
from oao.loyalty import earning, lots
from oao.loyalty import transfers as book
from oao.loyalty.earning import CHANNELS, Rule, Sale, SaleLine
from oao.loyalty.ledger import MAX_AMOUNT
from oao.loyalty.models import Earning, EarningRule, Lot, Programme, SpendRecord
from oao.loyalty.programmes import rules_for_merchant
from oao.loyalty.spending import member_account, merchant_account
from oao.loyalty.transfers import TransferSpec

log = logging.getLogger(__name__)
CONSUMER = "loyalty"
SALE_EVENTS = ("pos.sale_recorded", "order.completed")


class BadSaleEvent(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class SaleFacts:
    member_id: str
    location_id: str | None
    sale_ref: str
    sale: Sale


def _int(payload: dict[str, Any], key: str) -> int:
    return payload_int(payload, key, error=BadSaleEvent, maximum=MAX_AMOUNT) or 0


def _str(payload: dict[str, Any], key: str, *, optional: bool = False) -> str | None:
    return payload_str(payload, key, error=BadSaleEvent, optional=optional)


def sale_facts(payload: dict[str, Any]) -> SaleFacts | None:
    """The sale in an event payload, or None when no member is attached (nothing to earn)."""
    if payload.get("member_id") is None:
        return None
    channel = _str(payload, "channel")
    if channel not in CHANNELS:
        raise BadSaleEvent(f"unknown channel {channel!r}")
    raw_lines = payload.get("lines")
    if not isinstance(raw_lines, list) or len(raw_lines) > 10_000:
        raise BadSaleEvent("lines must be a list")
    lines = []
    for raw in raw_lines:
        if not isinstance(raw, dict):
            raise BadSaleEvent("each line is an object")
        lines.append(SaleLine(product_id=_str(raw, "product_id") or "", category=_str(raw, "category", optional=True),
                              quantity=_int(raw, "quantity"), amount_minor=_int(raw, "amount_minor")))
    sale = Sale(merchant_id=_str(payload, "merchant_id") or "", channel=channel,
                currency=_str(payload, "currency") or "", total_minor=_int(payload, "total_minor"), lines=lines)
    return SaleFacts(member_id=_str(payload, "member_id") or "",
                     location_id=_str(payload, "location_id", optional=True),
                     sale_ref=_str(payload, "sale_ref") or "", sale=sale)


def _rule(row: EarningRule, currency: str) -> Rule:
    return Rule(currency=currency, points=row.points, per_minor=row.per_minor,
                category_multipliers=dict(row.category_multipliers), product_multipliers=dict(row.product_multipliers),
                channel_multipliers=dict(row.channel_multipliers), min_basket_minor=row.min_basket_minor,
                cap_points=row.cap_points, cap_period=row.cap_period)


def _earned_in_period(session: Session, rule: EarningRule, member_id: str, at: datetime) -> int:
    if rule.cap_period is None:
        return 0
    since = earning.period_start(at, rule.cap_period)
    # int(): PostgreSQL sums a bigint column as numeric, which arrives as a Decimal.
    return int(session.scalar(select(func.coalesce(func.sum(Earning.points), 0)).where(
        Earning.rule_id == rule.id, Earning.member_id == member_id, Earning.earned_at >= since)) or 0)


def accrue_sale(session: Session, *, event_id: str, facts: SaleFacts, at: datetime, now: datetime) -> int:
    """Earn points for one sale under every matching rule; returns the points earned."""
    sale = facts.sale
    if session.scalar(select(SpendRecord.id).where(SpendRecord.source == event_id)) is not None:
        return 0  # delivered before: earning is once per event
    session.add(SpendRecord(id=new_id("lsr"), source=event_id, member_id=facts.member_id,
                            merchant_id=sale.merchant_id, sale_ref=facts.sale_ref, currency=sale.currency,
                            amount_minor=sale.total_minor, at=at))
    total = 0
    for rule, programme in rules_for_merchant(session, merchant_id=sale.merchant_id):
        result = earning.earn(_rule(rule, programme.currency), sale,
                              earned_in_period=_earned_in_period(session, rule, facts.member_id, at))
        if result.points <= 0:
            continue
        total += result.points
        _credit(session, event_id=event_id, rule=rule, programme=programme, facts=facts,
                points=result.points, line_points=result.line_points, at=at, now=now)
    return total


def _credit(session: Session, *, event_id: str, rule: EarningRule, programme: Programme, facts: SaleFacts,
            points: int, line_points: list[int], at: datetime, now: datetime) -> None:
    merchant_id = facts.sale.merchant_id
    member = member_account(session, programme_id=programme.id, member_id=facts.member_id, now=now)
    # The merchant where the points were earned issued them and pays when another merchant accepts them.
    issuance = merchant_account(session, programme_id=programme.id, kind="issuance", merchant_id=merchant_id, now=now)
    transfer_id = f"earn:{event_id}:{rule.id}"
    [applied] = book.create_transfers(session, transfers=[TransferSpec(
        id=transfer_id, programme_id=programme.id, debit_account_id=issuance, credit_account_id=member,
        amount=points, code="earn", reference=facts.sale_ref)], now=now)
    if not applied.created:
        return
    expires = at + timedelta(days=programme.expiry_days) if programme.expiry_days else None
    lot_id = lots.add(session, account_id=member, programme_id=programme.id, member_id=facts.member_id,
                      issuer_merchant_id=merchant_id, points=points, earned_at=at, expires_at=expires,
                      transfer_id=transfer_id)
    session.add(Earning(id=new_id("ern"), event_id=event_id, rule_id=rule.id, programme_id=programme.id,
                        member_id=facts.member_id, merchant_id=merchant_id, sale_ref=facts.sale_ref,
                        spend_minor=facts.sale.total_minor, points=points, points_reversed=0,
                        line_points=line_points, transfer_id=transfer_id, lot_id=lot_id, earned_at=at))


def accrue_from_outbox(session: Session, *, now: datetime, limit: int = 200) -> int:
    """Earn points for sale events not handled yet (worker job); returns how many events were handled."""
    return consume_each(session, consumer=CONSUMER, types=SALE_EVENTS, now=now, limit=limit,
                        handle=lambda event: _handle(session, event, now), skip=(BadSaleEvent, Problem))


def _handle(session: Session, event: OutboxEvent, now: datetime) -> None:
    payload = event.payload if isinstance(event.payload, dict) else {}
    facts = sale_facts(payload)
    if facts is not None:
        accrue_sale(session, event_id=event.id, facts=facts, at=event.occurred_at, now=now)


def expire_due_points(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Move what is left of lots past their expiry to the programme's expiry account; returns lots expired."""
    due = session.execute(select(Lot.id, Lot.account_id, Lot.programme_id, Lot.remaining).where(
        Lot.expires_at <= now, Lot.remaining > 0).order_by(Lot.expires_at, Lot.id).limit(limit)).all()
    done = 0
    for lot in due:
        try:
            with session.begin_nested():
                expiry = merchant_account(session, programme_id=lot.programme_id, kind="expiry", merchant_id=None,
                                          now=now)
                # Account first, then the lot: the same lock order as spending.
                book.create_transfers(session, transfers=[TransferSpec(
                    id=new_id("exp"), programme_id=lot.programme_id, debit_account_id=lot.account_id,
                    credit_account_id=expiry, amount=lot.remaining, code="expire", reference=lot.id)], now=now)
                moved = session.execute(update(Lot).where(Lot.id == lot.id, Lot.remaining == lot.remaining)
                                        .values(remaining=0).execution_options(synchronize_session=False)).rowcount
                if moved != 1:
                    raise book.InsufficientPoints("lot changed meanwhile")
            done += 1
        except book.InsufficientPoints:
            continue  # spent or held meanwhile; the next run sees what is left
    return done
