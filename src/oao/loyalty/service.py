"""Use cases of coalition loyalty: the functions other packages and the API call.

Programmes and rules live in `programmes`, holds, conversion and returns in
`spending`, earning and expiry jobs in `accrual`; they are re-exported here so
callers need one import. This module adds the read side: balances, tiers,
statements, transfers and settlement entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from oao.core.auth import Principal
from oao.core.errors import InvalidInput
from oao.loyalty import transfers as book
from oao.loyalty.accrual import accrue_from_outbox, accrue_sale, expire_due_points
from oao.loyalty.ledger import MAX_AMOUNT, tier_for
from oao.loyalty.models import NETWORK, Account, Lot, Programme, SettlementEntry, SpendRecord, Transfer
from oao.loyalty.programmes import (
    PointsNotAccepted,
    accepted_value,
    create_programme,
    create_rule,
    deactivate_rule,
    get_programme,
    list_programmes,
    list_rules,
    network_programme,
    publish_conversion_rate,
)
from oao.loyalty.spending import (
    ReturnSummary,
    convert_to_network,
    get_hold,
    hold_points,
    hold_value_minor,
    member_account,
    points_needed,
    points_value_minor,
    post_hold,
    reverse_for_return,
    void_expired_holds,
    void_hold,
)
from oao.loyalty.transfers import InsufficientPoints, TransferSpec, create_transfers

__all__ = [
    "Balance", "InsufficientPoints", "PointsNotAccepted", "ReturnSummary", "StatementLine", "TransferSpec",
    "accepted_value", "accrue_from_outbox", "accrue_sale", "balances", "convert_to_network", "create_programme",
    "create_rule", "create_transfers", "deactivate_rule", "expire_due_points", "get_hold", "get_programme",
    "grant_points", "hold_points", "hold_value_minor", "list_programmes", "list_rules", "list_settlement_entries",
    "list_transfers", "member_account", "network_programme", "points_needed", "points_value_minor", "post_hold",
    "publish_conversion_rate", "reverse_for_return", "rolling_spend", "statement", "tier", "void_expired_holds",
    "void_hold",
]

TIER_WINDOW = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class Balance:
    programme_id: str
    programme_name: str
    merchant_id: str | None
    currency: str
    available: int  # spendable now
    held: int  # in pending holds
    value_minor: int  # what `available` pays for
    tier: str | None
    next_expiry_at: datetime | None
    next_expiry_points: int


@dataclass(frozen=True, slots=True)
class StatementLine:
    transfer_id: str
    at: datetime
    code: str
    kind: str
    points: int  # + credit to the member, - debit (a hold shows as - and its void as +)
    balance_after: int
    reference: str | None


def rolling_spend(session: Session, *, member_id: str, programme: Programme, now: datetime) -> int:
    """What the member spent over the last 12 months where the programme counts it (returns net off)."""
    query = select(func.coalesce(func.sum(SpendRecord.amount_minor), 0)).where(
        SpendRecord.member_id == member_id, SpendRecord.currency == programme.currency,
        SpendRecord.at > now - TIER_WINDOW, SpendRecord.at <= now)
    if programme.merchant_id is not None:
        query = query.where(SpendRecord.merchant_id == programme.merchant_id)
    return int(session.scalar(query) or 0)  # PostgreSQL's SUM of a bigint is a Decimal


def tier(session: Session, *, member_id: str, programme_id: str, now: datetime) -> str | None:
    """The member's tier in the programme from the rolling 12-month spend (None below the first)."""
    programme = get_programme(session, programme_id=programme_id)
    spend = rolling_spend(session, member_id=member_id, programme=programme, now=now)
    return tier_for(spend, [(t["name"], t["min_spend_minor"]) for t in programme.tiers or []])


def balances(session: Session, *, member_id: str, now: datetime | None = None) -> list[Balance]:
    """The member's points in every programme she holds some in."""
    rows = session.execute(select(Account, Programme).join(Programme, Programme.id == Account.programme_id)
                           .where(Account.kind == "member", Account.owner_key == member_id)
                           .order_by(Programme.owner_key != NETWORK, Programme.name)).all()
    out = []
    for account, programme in rows:
        available = account.credits_posted - account.debits_posted - account.debits_pending
        soonest = session.execute(select(Lot.expires_at, func.sum(Lot.remaining)).where(
            Lot.account_id == account.id, Lot.remaining > 0, Lot.expires_at.is_not(None))
            .group_by(Lot.expires_at).order_by(Lot.expires_at).limit(1)).first()
        out.append(Balance(
            programme_id=programme.id, programme_name=programme.name, merchant_id=programme.merchant_id,
            currency=programme.currency, available=available, held=account.debits_pending,
            value_minor=available * programme.value_minor // programme.value_points,
            tier=tier(session, member_id=member_id, programme_id=programme.id, now=now) if now else None,
            next_expiry_at=soonest[0] if soonest else None, next_expiry_points=int(soonest[1]) if soonest else 0))
    return out


def statement(session: Session, *, member_id: str, programme_id: str, since: datetime | None = None,
              until: datetime | None = None, limit: int = 500) -> list[StatementLine]:
    """The member's transfers in one programme, oldest first, with the available balance after each."""
    if not 1 <= limit <= 5000:
        raise InvalidInput("limit is 1 to 5000.")
    programme = get_programme(session, programme_id=programme_id)
    account = session.scalar(select(Account.id).where(Account.programme_id == programme.id,
                                                      Account.kind == "member", Account.owner_key == member_id))
    if account is None:
        return []
    # Pending holds and their voids count against the available balance, like the ledger's limit does.
    signed = []
    for t in session.scalars(select(Transfer).where(or_(Transfer.debit_account_id == account,
                                                        Transfer.credit_account_id == account))
                             .order_by(Transfer.seq)):
        sign = -1 if t.debit_account_id == account else 1
        if t.kind == "post":
            held = session.scalar(select(Transfer.amount).where(Transfer.id == t.pending_id)) or 0
            points = sign * (t.amount - held)  # the unused part of the hold comes back
        elif t.kind == "void":
            held = session.scalar(select(Transfer.amount).where(Transfer.id == t.pending_id)) or 0
            points = -sign * held
        else:
            points = sign * t.amount
        signed.append((t, points))
    lines, running = [], 0
    for t, points in signed:
        running += points
        if (since is None or t.created_at >= since) and (until is None or t.created_at < until):
            lines.append(StatementLine(t.id, t.created_at, t.code, t.kind, points, running, t.reference))
    return lines[-limit:]


def grant_points(session: Session, *, principal: Principal, grant_id: str, member_id: str, programme_id: str,
                 points: int, reason: str, now: datetime) -> str:
    """A goodwill or correcting credit issued by the programme's owner (a new transfer, never an edit)."""
    from oao.loyalty import lots
    from oao.loyalty.spending import merchant_account

    programme = get_programme(session, programme_id=programme_id)
    if programme.merchant_id is None:
        principal.ensure_network_admin()
    else:
        principal.ensure_admin_of(programme.merchant_id)
    if isinstance(points, bool) or not 1 <= points <= MAX_AMOUNT:
        raise InvalidInput(f"points is 1 to {MAX_AMOUNT}.")
    member = member_account(session, programme_id=programme.id, member_id=member_id, now=now)
    issuance = merchant_account(session, programme_id=programme.id, kind="issuance",
                                merchant_id=programme.merchant_id, now=now)
    transfer_id = f"grant:{grant_id}"
    [applied] = create_transfers(session, transfers=[TransferSpec(
        id=transfer_id, programme_id=programme.id, debit_account_id=issuance, credit_account_id=member,
        amount=points, code="grant", reference=reason[:120])], now=now)
    if applied.created:
        expires = now + timedelta(days=programme.expiry_days) if programme.expiry_days else None
        lots.add(session, account_id=member, programme_id=programme.id, member_id=member_id,
                 issuer_merchant_id=programme.merchant_id, points=points, earned_at=now, expires_at=expires,
                 transfer_id=transfer_id)
    return transfer_id


def list_transfers(session: Session, *, principal: Principal, programme_id: str | None = None,
                   account_id: str | None = None, member_id: str | None = None, limit: int = 100,
                   after: str | None = None) -> list[Transfer]:
    """Ledger transfers, newest first: all for a network admin, those of the caller's programme otherwise."""
    query = select(Transfer)
    if not principal.is_network_admin:
        own = select(Programme.id).where(Programme.merchant_id == principal.merchant_id)
        mine = select(Account.id).where(Account.owner_key == (principal.merchant_id or ""))
        query = query.where(or_(Transfer.programme_id.in_(own), Transfer.debit_account_id.in_(mine),
                                Transfer.credit_account_id.in_(mine)))
    if programme_id is not None:
        query = query.where(Transfer.programme_id == programme_id)
    if account_id is not None:
        query = query.where(or_(Transfer.debit_account_id == account_id, Transfer.credit_account_id == account_id))
    if member_id is not None:
        accounts = select(Account.id).where(Account.kind == "member", Account.owner_key == member_id)
        query = query.where(or_(Transfer.debit_account_id.in_(accounts), Transfer.credit_account_id.in_(accounts)))
    if after is not None:
        query = query.where(Transfer.seq < after)
    return list(session.scalars(query.order_by(Transfer.seq.desc()).limit(limit)))


def list_settlement_entries(session: Session, *, principal: Principal, merchant_id: str | None,
                            limit: int = 500) -> list[SettlementEntry]:
    """Entries where the merchant owes or is owed (a network admin may see any merchant's, or all)."""
    if merchant_id is None and not principal.is_network_admin:
        merchant_id = principal.merchant_id
    if merchant_id is not None:
        principal.ensure_merchant(merchant_id, "merchant", merchant_id)
    query = select(SettlementEntry)
    if merchant_id is not None:
        query = query.where(or_(SettlementEntry.debtor_merchant_id == merchant_id,
                                SettlementEntry.creditor_merchant_id == merchant_id))
    return list(session.scalars(query.order_by(SettlementEntry.created_at, SettlementEntry.id).limit(limit)))


def account_balance(session: Session, *, account_id: str):  # noqa: ANN201 - a Row
    """One account's four totals (for tests and tools)."""
    return book.balance_row(session, account_id=account_id)
