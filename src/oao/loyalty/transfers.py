"""The points ledger on the database: accounts and immutable transfers.

The hot path of one transfer is three statements: an INSERT of the transfer
that does nothing when its id exists (a retry), then one conditional UPDATE
per account in id order (a fixed lock order, so two transfers over the same
accounts cannot deadlock). The balance limit lives in the UPDATE's WHERE, so
two spenders racing for one balance cannot both pass: the row lock
(PostgreSQL) or the single writer (SQLite) orders them and the second sees
the first's debit. A post or void names its pending transfer in the unique
`pending_id`, so a hold resolves exactly once even under a race.

Legs passed together are linked: all apply or none. A refused leg undoes the
legs already applied in this call before raising, so the caller's transaction
is never left half-posted even if it catches the error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, and_, bindparam, delete, false, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from oao.core.db import UTCDateTime
from oao.core.errors import Conflict, Gone, InvalidInput, InvalidState, NotFound
from oao.core.ids import new_id
from oao.loyalty.ledger import Kind, LedgerError, PendingRef, Posting, postings
from oao.loyalty.models import Account, Transfer

ACCOUNTS = Account.__table__
TRANSFERS = Transfer.__table__
MAX_ID_LENGTH = 120
# The fields that make two transfers with one id "the same": a retry must repeat all of them.
BODY = ("programme_id", "debit_account_id", "credit_account_id", "amount", "kind", "pending_id", "code",
        "reference")


class InsufficientPoints(Conflict):
    slug, title = "insufficient-points", "Not enough points"


@dataclass(frozen=True, slots=True)
class TransferSpec:
    id: str
    programme_id: str
    debit_account_id: str
    credit_account_id: str
    amount: int
    code: str
    kind: Kind = Kind.SINGLE
    pending_id: str | None = None
    reference: str | None = None
    timeout_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Applied:
    id: str
    amount: int
    created: bool  # False: a retry of a transfer that already existed, nothing changed


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)


_INSERT_TRANSFER = {"sqlite": sqlite.insert(TRANSFERS).on_conflict_do_nothing().returning(TRANSFERS.c.id)}


def account(session: Session, *, programme_id: str, kind: str, owner_key: str, now: datetime) -> str:
    """The id of the programme's account of this kind and owner, created on first use (race-safe)."""
    found = session.execute(select(ACCOUNTS.c.id).where(
        ACCOUNTS.c.programme_id == programme_id, ACCOUNTS.c.kind == kind, ACCOUNTS.c.owner_key == owner_key)).scalar()
    if found is not None:
        return found
    session.execute(_insert(session)(ACCOUNTS).values(
        id=new_id("lac"), programme_id=programme_id, kind=kind, owner_key=owner_key,
        debits_must_not_exceed_credits=kind == "member", credits_must_not_exceed_debits=False,
        debits_pending=0, debits_posted=0, credits_pending=0, credits_posted=0, created_at=now,
    ).on_conflict_do_nothing())
    return session.execute(select(ACCOUNTS.c.id).where(ACCOUNTS.c.programme_id == programme_id,
                                                       ACCOUNTS.c.kind == kind,
                                                       ACCOUNTS.c.owner_key == owner_key)).scalar_one()


def _build_update(limited: bool):  # type: ignore[no-untyped-def]
    c = ACCOUNTS.c
    stmt = update(ACCOUNTS).where(c.id == bindparam("acc_id"), c.programme_id == bindparam("prog_id")).values(
        debits_pending=c.debits_pending + bindparam("d_pend"), debits_posted=c.debits_posted + bindparam("d_post"),
        credits_pending=c.credits_pending + bindparam("c_pend"), credits_posted=c.credits_posted + bindparam("c_post"))
    if limited:
        stmt = stmt.where(
            or_(c.debits_must_not_exceed_credits == false(),
                c.debits_pending + c.debits_posted + bindparam("d_inc") <= c.credits_posted),
            or_(c.credits_must_not_exceed_debits == false(),
                c.credits_pending + c.credits_posted + bindparam("c_inc") <= c.debits_posted))
    return stmt


# Built once: a statement object reused keeps its compiled form and cache key (the hot path's CPU).
_UPDATE_PLAIN = _build_update(False)
_UPDATE_LIMITED = _build_update(True)


def _apply(session: Session, programme_id: str, posting: Posting) -> bool:
    params = {"acc_id": posting.account_id, "prog_id": programme_id, "d_pend": posting.debits_pending,
              "d_post": posting.debits_posted, "c_pend": posting.credits_pending, "c_post": posting.credits_posted}
    if posting.debit_limit_increase is None and posting.credit_limit_increase is None:
        stmt = _UPDATE_PLAIN
    else:
        # With an account's limit already met, a zero increase on the other side checks nothing new.
        stmt = _UPDATE_LIMITED
        params["d_inc"] = posting.debit_limit_increase or 0
        params["c_inc"] = posting.credit_limit_increase or 0
    return session.execute(stmt, params).rowcount == 1


_COLUMNS = ("id", "seq", "programme_id", "debit_account_id", "credit_account_id", "amount", "kind", "pending_id",
            "code", "linked_id", "timeout_at", "reference", "created_at")
_DELTAS = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")
# PostgreSQL: the transfer's INSERT and both accounts' UPDATEs in one round trip. The UPDATE only runs if the
# INSERT did (a retry changes nothing) and checks each flagged account's limit on its totals after the deltas,
# like ledger.apply. Rows are locked in index order of the id list (ascending), the same fixed order as the
# separate UPDATEs on SQLite. The caller learns which accounts moved and undoes a half-applied transfer.
_PG_TRANSFER = text(
    "WITH ins AS (INSERT INTO loyalty_transfers (" + ", ".join(_COLUMNS) + ") VALUES ("
    + ", ".join(f":{c}" for c in _COLUMNS) + ") ON CONFLICT DO NOTHING RETURNING 1), "
    "upd AS (UPDATE loyalty_accounts AS a SET "
    + ", ".join(f"{d} = a.{d} + CASE WHEN a.id = :a_id THEN :a_{d} ELSE :b_{d} END" for d in _DELTAS)
    + " WHERE a.id IN (:a_id, :b_id) AND a.programme_id = :programme_id AND EXISTS (SELECT 1 FROM ins)"
    " AND (NOT a.debits_must_not_exceed_credits OR a.debits_pending + a.debits_posted"
    " + CASE WHEN a.id = :a_id THEN :a_debits_pending + :a_debits_posted - :a_credits_posted"
    " ELSE :b_debits_pending + :b_debits_posted - :b_credits_posted END <= a.credits_posted)"
    " AND (NOT a.credits_must_not_exceed_debits OR a.credits_pending + a.credits_posted"
    " + CASE WHEN a.id = :a_id THEN :a_credits_pending + :a_credits_posted - :a_debits_posted"
    " ELSE :b_credits_pending + :b_credits_posted - :b_debits_posted END <= a.debits_posted)"
    " RETURNING a.id) "
    "SELECT (SELECT count(*) FROM ins) AS inserted, ARRAY(SELECT id FROM upd) AS updated"
).bindparams(*(bindparam(f"{side}_{d}", type_=BigInteger()) for side in "ab" for d in _DELTAS),
             bindparam("amount", type_=BigInteger()), bindparam("timeout_at", type_=UTCDateTime()),
             bindparam("created_at", type_=UTCDateTime()))


def _insert_and_apply_pg(session: Session, values: dict[str, Any], legs: list[Posting]) -> tuple[bool, set[str]]:
    a, b = legs
    params = dict(values, a_id=a.account_id, b_id=b.account_id)
    for side, leg in (("a", a), ("b", b)):
        for d in _DELTAS:
            params[f"{side}_{d}"] = getattr(leg, d)
    row = session.execute(_PG_TRANSFER, params).one()
    return row.inserted == 1, set(row.updated)


def _undo(session: Session, applied: list[tuple[str, Posting]], inserted: list[str]) -> None:
    for programme_id, p in reversed(applied):
        _apply(session, programme_id, Posting(p.account_id, debits_pending=-p.debits_pending,
                                              debits_posted=-p.debits_posted, credits_pending=-p.credits_pending,
                                              credits_posted=-p.credits_posted))
    if inserted:
        session.execute(delete(TRANSFERS).where(TRANSFERS.c.id.in_(inserted)))


def _refusal(session: Session, programme_id: str, posting: Posting) -> Exception:
    row = session.execute(select(ACCOUNTS.c.programme_id, ACCOUNTS.c.kind).where(
        ACCOUNTS.c.id == posting.account_id)).first()
    if row is None:
        return NotFound(f"No points account {posting.account_id!r}.")
    if row.programme_id != programme_id:
        return InvalidInput(f"Account {posting.account_id} belongs to another programme.")
    return InsufficientPoints("Not enough points for this transfer.", account_id=posting.account_id)


def _pending(session: Session, spec: TransferSpec, now: datetime) -> PendingRef:
    if spec.pending_id is None:
        raise InvalidInput("A post or void names its pending transfer.")
    row = session.execute(select(TRANSFERS).where(TRANSFERS.c.id == spec.pending_id)).first()
    if row is None or row.kind != Kind.PENDING or row.programme_id != spec.programme_id:
        raise NotFound(f"No pending transfer {spec.pending_id!r}.")
    if (spec.kind is Kind.POST and row.timeout_at is not None and now >= row.timeout_at
            and transfer_row(session, transfer_id=spec.id) is None):  # a retry of an earlier post still answers
        if resolution_of(session, pending_id=spec.pending_id) is not None:
            raise InvalidState(f"Pending transfer {spec.pending_id} was already voided.")
        raise Gone(f"Pending transfer {spec.pending_id} timed out at {row.timeout_at.isoformat()}; it can only "
                   "be voided.")
    return PendingRef(row.debit_account_id, row.credit_account_id, row.amount)


def _check_retry(session: Session, spec: TransferSpec, values: dict[str, Any]) -> Applied:
    row = session.execute(select(TRANSFERS).where(TRANSFERS.c.id == spec.id)).first()
    if row is None:  # the id is free, so the unique pending_id clashed: someone resolved it first
        other = session.execute(select(TRANSFERS.c.id, TRANSFERS.c.kind).where(
            TRANSFERS.c.pending_id == spec.pending_id)).first()
        done = "posted" if other is not None and other.kind == Kind.POST else "voided"
        raise InvalidState(f"Pending transfer {spec.pending_id} was already {done} (by {other.id if other else '?'}).")
    mine = {k: values[k] for k in BODY}
    theirs = {k: getattr(row, k) for k in BODY}
    if mine != theirs:
        changed = sorted(k for k in BODY if mine[k] != theirs[k])
        raise Conflict(f"Transfer {spec.id} already exists with a different {', '.join(changed)}.",
                       transfer_id=spec.id)
    return Applied(spec.id, row.amount, created=False)


def create_transfers(session: Session, *, transfers: list[TransferSpec], now: datetime) -> list[Applied]:
    """Apply linked transfers all-or-nothing; a retry with the same ids and bodies changes nothing."""
    if not transfers:
        return []
    linked_id = transfers[0].id if len(transfers) > 1 else None
    results: list[Applied] = []
    applied: list[tuple[str, Posting]] = []
    inserted: list[str] = []
    try:
        for spec in transfers:
            if not 1 <= len(spec.id) <= MAX_ID_LENGTH:
                raise InvalidInput(f"A transfer id is 1 to {MAX_ID_LENGTH} characters.")
            pending = _pending(session, spec, now) if spec.kind in (Kind.POST, Kind.VOID) else None
            debit_id = pending.debit_account_id if pending else spec.debit_account_id
            credit_id = pending.credit_account_id if pending else spec.credit_account_id
            try:
                legs = postings(kind=spec.kind, debit_account_id=debit_id, credit_account_id=credit_id,
                                amount=spec.amount, debit_limited=True, pending=pending)
            except LedgerError as exc:
                raise InvalidInput(str(exc)) from None
            amount = 0 if spec.kind is Kind.VOID else spec.amount
            values = {"id": spec.id, "seq": new_id("ltr"), "programme_id": spec.programme_id,
                      "debit_account_id": debit_id, "credit_account_id": credit_id, "amount": amount,
                      "kind": str(spec.kind), "pending_id": spec.pending_id, "code": spec.code,
                      "linked_id": linked_id, "timeout_at": spec.timeout_at, "reference": spec.reference,
                      "created_at": now}
            if session.get_bind().dialect.name == "postgresql":
                went_in, updated = _insert_and_apply_pg(session, values, legs)
            else:
                # RETURNING says whether the row went in (rowcount of an INSERT is not reliable across drivers).
                went_in, updated = session.execute(_INSERT_TRANSFER["sqlite"], values).first() is not None, None
            if not went_in:
                results.append(_check_retry(session, spec, values))
                continue
            inserted.append(spec.id)
            for leg in legs:
                done = leg.account_id in updated if updated is not None else _apply(session, spec.programme_id, leg)
                if done:
                    applied.append((spec.programme_id, leg))
            for leg in legs:
                if (spec.programme_id, leg) not in applied:
                    raise _refusal(session, spec.programme_id, leg)
            results.append(Applied(spec.id, amount, created=True))
    except Exception:
        _undo(session, applied, inserted)
        raise
    if inserted and len(inserted) != len(transfers):
        # A linked chain is applied whole or not at all, so a retry finds all of it or none.
        _undo(session, applied, inserted)
        raise Conflict(f"Only part of linked transfer {linked_id} exists; a chain is retried whole.")
    return results


def balance_row(session: Session, *, account_id: str) -> Any:
    """One account's totals (a Row), or None."""
    return session.execute(select(ACCOUNTS).where(ACCOUNTS.c.id == account_id)).first()


def transfer_row(session: Session, *, transfer_id: str) -> Any:
    return session.execute(select(TRANSFERS).where(TRANSFERS.c.id == transfer_id)).first()


def resolution_of(session: Session, *, pending_id: str) -> Any:
    """The post or void of a pending transfer, or None while it is still pending."""
    return session.execute(select(TRANSFERS).where(and_(TRANSFERS.c.pending_id == pending_id))).first()
