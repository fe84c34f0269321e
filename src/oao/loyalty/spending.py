"""Spending points: holds at checkout that post or void exactly once, settlement
entries between merchants, conversion into network points, and returns.

A hold is a pending transfer from the member's account to the accepting
merchant's redemption account, with a timeout. Its points are taken from the
member's lots right away (so expiry never eats held points) and given back on a
void or for the unused part of a smaller post. When the hold posts, every
issuer of the consumed lots other than the accepting merchant owes it the
points' value: one settlement entry per issuer.

A merchant's own points pay at another merchant only under a points agreement
naming it as the acceptor, valued as agreed there (programmes.accepted_value).
The value of a hold is the one in force when it was taken: an agreement that
ends or changes afterwards does not change what an open hold pays or costs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from oao.core.errors import Conflict, InvalidInput, InvalidState, NotFound
from oao.core.ids import new_id
from oao.loyalty import lots
from oao.loyalty import transfers as book
from oao.loyalty.ledger import (
    MAX_AMOUNT,
    Kind,
    LedgerError,
    PointValue,
    convert,
    proportional_target,
    split_proportional,
)
from oao.loyalty.models import (
    NETWORK,
    Conversion,
    Earning,
    Hold,
    HoldAllocation,
    Programme,
    ReturnRecord,
    SettlementEntry,
    SpendRecord,
)
from oao.loyalty.programmes import (
    accepted_value,
    get_programme,
    network_programme,
    point_value,
    require_accepted_value,
)
from oao.loyalty.transfers import TransferSpec
from oao.network import service as network_service

HOLD_TTL = timedelta(minutes=15)
MAX_REF = 80


def _check_ref(name: str, value: str) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_REF:
        raise InvalidInput(f"{name} is 1 to {MAX_REF} characters.")


def _check_points(points: int) -> None:
    if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= MAX_AMOUNT:
        raise InvalidInput(f"points is a whole number from 1 to {MAX_AMOUNT}.")


def member_account(session: Session, *, programme_id: str, member_id: str, now: datetime) -> str:
    return book.account(session, programme_id=programme_id, kind="member", owner_key=member_id, now=now)


def merchant_account(session: Session, *, programme_id: str, kind: str, merchant_id: str | None,
                     now: datetime) -> str:
    return book.account(session, programme_id=programme_id, kind=kind, owner_key=merchant_id or NETWORK, now=now)


def _value_at(session: Session, programme_id: str, accepting_merchant_id: str | None,
              at: datetime | None) -> PointValue:
    programme = get_programme(session, programme_id=programme_id)
    if accepting_merchant_id is None:
        return point_value(programme)
    if at is None:
        raise ValueError("Valuing points at a merchant needs the moment (`at`).")
    return require_accepted_value(session, programme=programme, accepting_merchant_id=accepting_merchant_id, at=at)


def points_value_minor(session: Session, *, programme_id: str, points: int, accepting_merchant_id: str | None = None,
                       at: datetime | None = None) -> int:
    """What `points` pay for in the programme's currency (rounded down).

    With accepting_merchant_id (and `at`): what they pay at that merchant,
    at the agreed value for a partner's points (PointsNotAccepted where they do not pay).
    """
    if isinstance(points, bool) or not isinstance(points, int) or not 0 <= points <= MAX_AMOUNT:
        raise InvalidInput(f"points is a whole number from 0 to {MAX_AMOUNT}.")
    return _value_at(session, programme_id, accepting_merchant_id, at).value_of(points)


def points_needed(session: Session, *, programme_id: str, amount_minor: int, accepting_merchant_id: str | None = None,
                  at: datetime | None = None) -> int:
    """Points that pay `amount_minor` (rounded up); at a merchant as in points_value_minor."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or not 0 <= amount_minor <= MAX_AMOUNT:
        raise InvalidInput(f"amount_minor is a whole number from 0 to {MAX_AMOUNT}.")
    return _value_at(session, programme_id, accepting_merchant_id, at).points_for(amount_minor)


def hold_value(session: Session, *, hold: Hold) -> PointValue:
    """What the hold's points pay at its merchant: the value in force when the hold was taken."""
    programme = get_programme(session, programme_id=hold.programme_id)
    value = accepted_value(session, programme=programme, accepting_merchant_id=hold.accepting_merchant_id,
                           at=hold.created_at)
    # None only for a partner's points held before agreements were required: they keep the issuer's value.
    return value if value is not None else point_value(programme)


def hold_value_minor(session: Session, *, hold_id: str, points: int | None = None) -> int:
    """What `points` of the hold (default: posted, else held) pay at its merchant (rounded down)."""
    hold = get_hold(session, hold_id=hold_id)
    if points is None:
        points = hold.posted_points or hold.points
    return hold_value(session, hold=hold).value_of(points)


# --- holds ---------------------------------------------------------------------------------

def get_hold(session: Session, *, hold_id: str) -> Hold:
    hold = session.get(Hold, hold_id)
    if hold is None:
        raise NotFound(f"No points hold {hold_id!r}.")
    return hold


def hold_points(session: Session, *, hold_id: str, member_id: str, programme_id: str, points: int,
                accepting_merchant_id: str, now: datetime, ttl: timedelta = HOLD_TTL,
                sale_ref: str | None = None) -> Hold:
    """Reserve points as a tender at checkout; a retry with the same hold id returns the same hold."""
    _check_ref("hold_id", hold_id)
    _check_ref("member_id", member_id)
    _check_points(points)
    if sale_ref is not None:
        _check_ref("sale_ref", sale_ref)
    existing = session.get(Hold, hold_id)
    if existing is not None:
        return _same_hold(existing, member_id, programme_id, points, accepting_merchant_id)
    programme = get_programme(session, programme_id=programme_id)
    if not programme.active:
        raise InvalidState(f"Programme {programme_id} is closed.")
    network_service.get_merchant(session, merchant_id=accepting_merchant_id)
    # A partner's points need a points agreement in force now; a retry above is answered without it.
    require_accepted_value(session, programme=programme, accepting_merchant_id=accepting_merchant_id, at=now)
    member = member_account(session, programme_id=programme.id, member_id=member_id, now=now)
    redemption = merchant_account(session, programme_id=programme.id, kind="redemption",
                                  merchant_id=accepting_merchant_id, now=now)
    expires_at = now + ttl
    [applied] = book.create_transfers(session, transfers=[TransferSpec(
        id=f"hold:{hold_id}", programme_id=programme.id, debit_account_id=member, credit_account_id=redemption,
        amount=points, code="hold", kind=Kind.PENDING, reference=sale_ref or hold_id, timeout_at=expires_at)],
        now=now)
    if not applied.created:  # a twin request committed first
        session.expire_all()
        return _same_hold(get_hold(session, hold_id=hold_id), member_id, programme_id, points,
                          accepting_merchant_id)
    for taken in lots.take(session, account_id=member, points=points):
        session.add(HoldAllocation(id=new_id("lha"), hold_id=hold_id, lot_id=taken.lot_id,
                                   issuer_merchant_id=taken.issuer_merchant_id, lot_expires_at=taken.expires_at,
                                   points=taken.points, posted_points=None))
    hold = Hold(id=hold_id, programme_id=programme.id, member_id=member_id, account_id=member,
                accepting_merchant_id=accepting_merchant_id, points=points, status="pending", posted_points=None,
                points_restored=0, transfer_id=applied.id, sale_ref=sale_ref, expires_at=expires_at,
                created_at=now, resolved_at=None)
    session.add(hold)
    session.flush()
    return hold


def _same_hold(hold: Hold, member_id: str, programme_id: str, points: int, merchant_id: str) -> Hold:
    if (hold.member_id, hold.programme_id, hold.points, hold.accepting_merchant_id) != (
            member_id, programme_id, points, merchant_id):
        raise Conflict(f"Hold {hold.id} already exists for a different member, programme, amount or merchant.")
    return hold


def _move_hold(session: Session, hold_id: str, to: str, now: datetime, **values: object) -> None:
    moved = session.execute(update(Hold).where(Hold.id == hold_id, Hold.status == "pending")
                            .values(status=to, resolved_at=now, **values)
                            .execution_options(synchronize_session=False)).rowcount
    if moved != 1:  # the unique pending_id already stopped a second resolution; this is a safety net
        raise InvalidState(f"Hold {hold_id} is no longer pending.")


def post_hold(session: Session, *, hold_id: str, now: datetime, points: int | None = None,
              sale_ref: str | None = None) -> Hold:
    """Spend held points (all, or fewer); exactly once, a retry returns the posted hold."""
    hold = get_hold(session, hold_id=hold_id)
    amount = hold.points if points is None else points
    _check_points(amount)
    if sale_ref is not None:
        _check_ref("sale_ref", sale_ref)
    if amount > hold.points:
        raise InvalidInput(f"Hold {hold_id} holds {hold.points} points; {amount} cannot be posted.")
    [applied] = book.create_transfers(session, transfers=[TransferSpec(
        id=f"post:{hold_id}", programme_id=hold.programme_id, debit_account_id="", credit_account_id="",
        amount=amount, code="spend", kind=Kind.POST, pending_id=hold.transfer_id, reference=hold_id)],
        now=now)
    if not applied.created:
        session.refresh(hold)
        return hold
    _move_hold(session, hold_id, "posted", now, posted_points=amount,
               sale_ref=sale_ref if sale_ref is not None else hold.sale_ref)
    left = amount
    by_issuer: dict[str | None, int] = defaultdict(int)
    for alloc in session.scalars(select(HoldAllocation).where(HoldAllocation.hold_id == hold_id)
                                 .order_by(HoldAllocation.id)):
        used = min(alloc.points, left)
        left -= used
        alloc.posted_points = used
        lots.give_back(session, lot_id=alloc.lot_id, points=alloc.points - used)
        by_issuer[alloc.issuer_merchant_id] += used
    programme = get_programme(session, programme_id=hold.programme_id)
    # The issuer pays the acceptor what the points paid there: the agreed value for a partner's points.
    value = hold_value(session, hold=hold)
    for issuer, used in sorted(by_issuer.items(), key=lambda kv: kv[0] or ""):
        if used and issuer != hold.accepting_merchant_id:
            session.add(SettlementEntry(id=new_id("lse"), programme_id=programme.id, kind="redemption",
                                        debtor_merchant_id=issuer, creditor_merchant_id=hold.accepting_merchant_id,
                                        points=used, amount_minor=value.value_of(used), currency=programme.currency,
                                        hold_id=hold_id, transfer_id=applied.id, reverses_entry_id=None,
                                        created_at=now))
    session.flush()
    session.refresh(hold)
    return hold


def void_hold(session: Session, *, hold_id: str, now: datetime) -> Hold:
    """Give held points back (the sale failed); exactly once, a retry returns the voided hold."""
    hold = get_hold(session, hold_id=hold_id)
    [applied] = book.create_transfers(session, transfers=[TransferSpec(
        id=f"void:{hold_id}", programme_id=hold.programme_id, debit_account_id="", credit_account_id="",
        amount=0, code="void", kind=Kind.VOID, pending_id=hold.transfer_id, reference=hold_id)],
        now=now)
    if applied.created:
        _move_hold(session, hold_id, "voided", now)
        for alloc in session.scalars(select(HoldAllocation).where(HoldAllocation.hold_id == hold_id)):
            lots.give_back(session, lot_id=alloc.lot_id, points=alloc.points)
        session.flush()
    session.refresh(hold)
    return hold


def void_expired_holds(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Void holds whose checkout timed out; returns how many were voided."""
    due = session.scalars(select(Hold.id).where(Hold.status == "pending", Hold.expires_at <= now)
                          .order_by(Hold.expires_at).limit(limit)).all()
    done = 0
    for hold_id in due:
        try:
            with session.begin_nested():
                void_hold(session, hold_id=hold_id, now=now)
            done += 1
        except InvalidState:
            continue  # posted at the last moment by the checkout: nothing to void
    return done


# --- conversion ----------------------------------------------------------------------------

def convert_to_network(session: Session, *, conversion_id: str, member_id: str, programme_id: str, points: int,
                       now: datetime) -> Conversion:
    """Convert a merchant's points into network points at the published rate (rounded down)."""
    _check_ref("conversion_id", conversion_id)
    _check_points(points)
    existing = session.get(Conversion, conversion_id)
    if existing is not None:
        if (existing.member_id, existing.from_programme_id, existing.points_in) != (member_id, programme_id, points):
            raise Conflict(f"Conversion {conversion_id} already exists with different details.")
        return existing
    source = get_programme(session, programme_id=programme_id)
    if source.merchant_id is None or not source.network_rate_num or not source.network_rate_den:
        raise InvalidInput(f"Programme {programme_id} has no published rate into network points.")
    target = network_programme(session)
    try:
        out = convert(points, rate_num=source.network_rate_num, rate_den=source.network_rate_den)
    except LedgerError as exc:
        raise InvalidInput(str(exc)) from None
    if out < 1:
        raise InvalidInput(f"{points} points convert into less than one network point; convert more.")
    member_src = member_account(session, programme_id=source.id, member_id=member_id, now=now)
    member_dst = member_account(session, programme_id=target.id, member_id=member_id, now=now)
    clearing_src = merchant_account(session, programme_id=source.id, kind="clearing", merchant_id=None, now=now)
    clearing_dst = merchant_account(session, programme_id=target.id, kind="clearing", merchant_id=None, now=now)
    legs = [TransferSpec(id=f"conv:{conversion_id}:out", programme_id=source.id, debit_account_id=member_src,
                         credit_account_id=clearing_src, amount=points, code="convert", reference=conversion_id),
            TransferSpec(id=f"conv:{conversion_id}:in", programme_id=target.id, debit_account_id=clearing_dst,
                         credit_account_id=member_dst, amount=out, code="convert", reference=conversion_id)]
    if not any(a.created for a in book.create_transfers(session, transfers=legs, now=now)):
        session.expire_all()
        return session.get(Conversion, conversion_id)  # type: ignore[return-value]
    by_issuer: dict[str | None, int] = defaultdict(int)
    for taken in lots.take(session, account_id=member_src, points=points):
        by_issuer[taken.issuer_merchant_id] += taken.points
    expires = now + timedelta(days=target.expiry_days) if target.expiry_days else None
    lots.add(session, account_id=member_dst, programme_id=target.id, member_id=member_id, issuer_merchant_id=None,
             points=out, earned_at=now, expires_at=expires, transfer_id=legs[1].id)
    value = point_value(source)
    for issuer, used in sorted(by_issuer.items(), key=lambda kv: kv[0] or ""):
        if issuer is not None:
            # The issuer's liability moves to the operator; rounded up, in the operator's favour.
            session.add(SettlementEntry(id=new_id("lse"), programme_id=source.id, kind="conversion",
                                        debtor_merchant_id=issuer, creditor_merchant_id=None, points=used,
                                        amount_minor=-(-used * value.value_minor // value.per_points),
                                        currency=source.currency, hold_id=None, transfer_id=legs[0].id,
                                        reverses_entry_id=None, created_at=now))
    conversion = Conversion(id=conversion_id, member_id=member_id, from_programme_id=source.id,
                            to_programme_id=target.id, points_in=points, points_out=out,
                            rate_num=source.network_rate_num, rate_den=source.network_rate_den, created_at=now)
    session.add(conversion)
    session.flush()
    return conversion


# --- returns -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ReturnSummary:
    return_id: str
    sale_ref: str
    points_reversed: int
    points_restored: int
    shortfall: int


def _summary(r: ReturnRecord) -> ReturnSummary:
    return ReturnSummary(r.id, r.sale_ref, r.points_reversed, r.points_restored, r.shortfall)


def reverse_for_return(session: Session, *, return_id: str, sale_ref: str, returned_minor: int,
                       sale_total_minor: int, now: datetime) -> ReturnSummary:
    """Reverse points earned and restore points spent on a sale, in proportion to what came back."""
    _check_ref("return_id", return_id)
    _check_ref("sale_ref", sale_ref)
    for name, value in (("returned_minor", returned_minor), ("sale_total_minor", sale_total_minor)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_AMOUNT:
            raise InvalidInput(f"{name} is a whole number from 1 to {MAX_AMOUNT}.")
    if returned_minor > sale_total_minor:
        raise InvalidInput("A return cannot bring back more than the sale's total.")
    existing = session.get(ReturnRecord, return_id)
    if existing is not None:
        if (existing.sale_ref, existing.returned_minor, existing.sale_total_minor) != (
                sale_ref, returned_minor, sale_total_minor):
            raise Conflict(f"Return {return_id} was already recorded with different amounts.")
        return _summary(existing)
    before = int(session.scalar(select(func.coalesce(func.sum(ReturnRecord.returned_minor), 0))
                                .where(ReturnRecord.sale_ref == sale_ref)) or 0)
    cumulative = min(sale_total_minor, before + returned_minor)
    reversed_, shortfall = _reverse_earnings(session, return_id, sale_ref, cumulative, sale_total_minor, now)
    restored = _restore_spent(session, return_id, sale_ref, cumulative, sale_total_minor, now)
    for spend in session.scalars(select(SpendRecord).where(SpendRecord.sale_ref == sale_ref,
                                                           SpendRecord.amount_minor > 0)):
        back = proportional_target(spend.amount_minor, cumulative, sale_total_minor) - \
            proportional_target(spend.amount_minor, before, sale_total_minor)
        if back:
            session.add(SpendRecord(id=new_id("lsr"), source=f"return:{return_id}:{spend.id}",
                                    member_id=spend.member_id, merchant_id=spend.merchant_id, sale_ref=sale_ref,
                                    currency=spend.currency, amount_minor=-back, at=now))
    record = ReturnRecord(id=return_id, sale_ref=sale_ref, returned_minor=returned_minor,
                          sale_total_minor=sale_total_minor, points_reversed=reversed_, points_restored=restored,
                          shortfall=shortfall, created_at=now)
    session.add(record)
    session.flush()
    return _summary(record)


def _reverse_earnings(session: Session, return_id: str, sale_ref: str, cumulative: int, total: int,
                      now: datetime) -> tuple[int, int]:
    reversed_ = shortfall = 0
    for earned in session.scalars(select(Earning).where(Earning.sale_ref == sale_ref).order_by(Earning.id)):
        due = proportional_target(earned.points, cumulative, total) - earned.points_reversed
        if due <= 0:
            continue
        earned.points_reversed += due  # what cannot be taken back (already spent) is written off
        account = member_account(session, programme_id=earned.programme_id, member_id=earned.member_id, now=now)
        row = book.balance_row(session, account_id=account)
        take = min(due, row.credits_posted - row.debits_posted - row.debits_pending)
        shortfall += due - take
        if take <= 0:
            continue
        issuance = merchant_account(session, programme_id=earned.programme_id, kind="issuance",
                                    merchant_id=earned.merchant_id, now=now)
        book.create_transfers(session, transfers=[TransferSpec(
            id=f"reverse:{return_id}:{earned.id}", programme_id=earned.programme_id, debit_account_id=account,
            credit_account_id=issuance, amount=take, code="reverse", reference=sale_ref)], now=now)
        lots.take(session, account_id=account, points=take, first=earned.lot_id)
        reversed_ += take
    return reversed_, shortfall


def _restore_spent(session: Session, return_id: str, sale_ref: str, cumulative: int, total: int,
                   now: datetime) -> int:
    restored = 0
    holds = session.scalars(select(Hold).where(Hold.status == "posted", (Hold.sale_ref == sale_ref) |
                                               (Hold.id == sale_ref)).order_by(Hold.id)).all()
    for hold in holds:
        posted = hold.posted_points or 0
        due = proportional_target(posted, cumulative, total) - hold.points_restored
        if due <= 0:
            continue
        redemption = merchant_account(session, programme_id=hold.programme_id, kind="redemption",
                                      merchant_id=hold.accepting_merchant_id, now=now)
        transfer_id = f"restore:{return_id}:{hold.id}"
        book.create_transfers(session, transfers=[TransferSpec(
            id=transfer_id, programme_id=hold.programme_id, debit_account_id=redemption,
            credit_account_id=hold.account_id, amount=due, code="restore", reference=sale_ref)], now=now)
        allocations = [a for a in session.scalars(select(HoldAllocation).where(HoldAllocation.hold_id == hold.id)
                                                  .order_by(HoldAllocation.id)) if a.posted_points]
        for alloc, part in zip(allocations, split_proportional(due, [a.posted_points or 0 for a in allocations]),
                               strict=True):
            if part:
                lots.add(session, account_id=hold.account_id, programme_id=hold.programme_id,
                         member_id=hold.member_id, issuer_merchant_id=alloc.issuer_merchant_id, points=part,
                         earned_at=now, expires_at=alloc.lot_expires_at, transfer_id=transfer_id)
        new_restored = hold.points_restored + due
        for entry in session.scalars(select(SettlementEntry).where(SettlementEntry.hold_id == hold.id,
                                                                   SettlementEntry.kind == "redemption")).all():
            points_back = proportional_target(entry.points, new_restored, posted) - \
                proportional_target(entry.points, hold.points_restored, posted)
            money_back = proportional_target(entry.amount_minor, new_restored, posted) - \
                proportional_target(entry.amount_minor, hold.points_restored, posted)
            if points_back or money_back:
                session.add(SettlementEntry(
                    id=new_id("lse"), programme_id=entry.programme_id, kind="redemption_reversal",
                    debtor_merchant_id=entry.debtor_merchant_id, creditor_merchant_id=entry.creditor_merchant_id,
                    points=-points_back, amount_minor=-money_back, currency=entry.currency, hold_id=hold.id,
                    transfer_id=transfer_id, reverses_entry_id=entry.id, created_at=now))
        hold.points_restored = new_restored
        restored += due
    return restored


def programme_of(session: Session, programme_id: str) -> Programme:
    return get_programme(session, programme_id=programme_id)
