"""Posting rules of the points ledger (TigerBeetle's model), as pure functions.

An account keeps four running totals: debits and credits, each pending and
posted. A transfer moves `amount` from a debit account to a credit account of
the same programme (ledger) and is never changed afterwards:

- single-phase: both *posted* totals grow by the amount;
- pending (a hold): both *pending* totals grow by the amount;
- post of a pending transfer: the pending totals shrink by the held amount and
  the posted totals grow by the posted amount (at most the held amount);
- void of a pending transfer: the pending totals shrink by the held amount.

Accounts flagged "debits must not exceed credits" (every member balance) refuse
a transfer that would make debits_pending + debits_posted exceed credits_posted,
so a balance can never go negative, and pending debits count as spent. A post or
void only ever lowers debits, so it needs no check. The service turns each
`Posting` into one conditional UPDATE; these functions say what to write.

Also here: point values in money, conversion between programmes, oldest-first
allocation of earn lots and proportional splits, all in integers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

MAX_AMOUNT = 2**62  # far below BIGINT's 2**63 so sums of a few amounts still fit


class LedgerError(ValueError):
    """A transfer that the posting rules refuse (the service maps it to a problem)."""


class Kind(StrEnum):
    SINGLE = "single"
    PENDING = "pending"
    POST = "post"
    VOID = "void"


@dataclass(frozen=True, slots=True)
class Balance:
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0
    debits_must_not_exceed_credits: bool = False
    credits_must_not_exceed_debits: bool = False

    @property
    def available(self) -> int:
        """What the holder may still spend: credits posted minus all debits (pending count as spent)."""
        return self.credits_posted - self.debits_posted - self.debits_pending


@dataclass(frozen=True, slots=True)
class Posting:
    """Deltas to one account's totals, with the limit the UPDATE must enforce."""

    account_id: str
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0
    # If set, the UPDATE only applies when debits_pending + debits_posted + this <= credits_posted.
    debit_limit_increase: int | None = None
    # Symmetric flag: credits_pending + credits_posted + this <= debits_posted.
    credit_limit_increase: int | None = None


@dataclass(frozen=True, slots=True)
class PendingRef:
    """The pending transfer a post or void resolves."""

    debit_account_id: str
    credit_account_id: str
    amount: int


def check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise LedgerError("A transfer amount is a whole number of points.")
    if not 0 < amount <= MAX_AMOUNT:
        raise LedgerError(f"A transfer amount is 1 to {MAX_AMOUNT} points.")


def postings(*, kind: Kind, debit_account_id: str, credit_account_id: str, amount: int,
             debit_limited: bool, credit_limited: bool = False, pending: PendingRef | None = None) -> list[Posting]:
    """The two postings of one transfer, debit side and credit side, in lock order (by account id)."""
    if kind in (Kind.POST, Kind.VOID):
        if pending is None:
            raise LedgerError("A post or void names the pending transfer it resolves.")
        if (debit_account_id, credit_account_id) != (pending.debit_account_id, pending.credit_account_id):
            raise LedgerError("A post or void moves between the accounts of its pending transfer.")
        if kind is Kind.VOID:
            amount = 0
        elif not 0 < amount <= pending.amount:
            raise LedgerError(f"A post is 1 to {pending.amount} points (what was held).")
        held = pending.amount
        debit = Posting(debit_account_id, debits_pending=-held, debits_posted=amount)
        credit = Posting(credit_account_id, credits_pending=-held, credits_posted=amount)
    else:
        check_amount(amount)
        if debit_account_id == credit_account_id:
            raise LedgerError("A transfer needs two different accounts.")
        field = "pending" if kind is Kind.PENDING else "posted"
        debit = Posting(debit_account_id, **{f"debits_{field}": amount},  # type: ignore[arg-type]
                        debit_limit_increase=amount if debit_limited else None)
        credit = Posting(credit_account_id, **{f"credits_{field}": amount},  # type: ignore[arg-type]
                         credit_limit_increase=amount if credit_limited else None)
    return sorted((debit, credit), key=lambda p: p.account_id)


def apply(balance: Balance, posting: Posting) -> Balance:
    """The account after the posting, or LedgerError if its limit refuses it (the model the SQL follows)."""
    after = replace(balance, debits_pending=balance.debits_pending + posting.debits_pending,
                    debits_posted=balance.debits_posted + posting.debits_posted,
                    credits_pending=balance.credits_pending + posting.credits_pending,
                    credits_posted=balance.credits_posted + posting.credits_posted)
    if (posting.debit_limit_increase is not None and balance.debits_must_not_exceed_credits
            and after.debits_pending + after.debits_posted > after.credits_posted):
        raise LedgerError("Not enough points.")
    if (posting.credit_limit_increase is not None and balance.credits_must_not_exceed_debits
            and after.credits_pending + after.credits_posted > after.debits_posted):
        raise LedgerError("Credits would exceed debits.")
    return after


# --- points and money ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PointValue:
    """`value_minor` minor units of `currency` for every `per_points` points."""

    value_minor: int
    per_points: int

    def __post_init__(self) -> None:
        if self.value_minor < 1 or self.per_points < 1:
            raise LedgerError("A point value is a positive amount per a positive number of points.")

    def value_of(self, points: int) -> int:
        """Money the points pay for, rounded down: a tender never pays more than the points are worth."""
        return points * self.value_minor // self.per_points

    def points_for(self, amount_minor: int) -> int:
        """Points needed to pay `amount_minor`, rounded up."""
        return -(-amount_minor * self.per_points // self.value_minor)


def convert(points: int, *, rate_num: int, rate_den: int) -> int:
    """Target points for `points` at rate num/den, rounded down: the operator keeps the fraction."""
    if rate_num < 1 or rate_den < 1:
        raise LedgerError("A conversion rate is a positive fraction.")
    return points * rate_num // rate_den


def split_proportional(total: int, weights: list[int]) -> list[int]:
    """Split `total` in proportion to `weights` (largest remainder, ties to the first): the parts sum to total."""
    whole = sum(weights)
    if whole <= 0:
        return [0] * len(weights)
    base = [total * w // whole for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in remainders[: total - sum(base)]:
        base[i] += 1
    return base


def proportional_target(amount: int, part: int, whole: int) -> int:
    """amount * part / whole rounded down, with part clamped to [0, whole] (cumulative returns)."""
    if whole <= 0:
        return 0
    return amount * max(0, min(part, whole)) // whole


@dataclass(frozen=True, slots=True)
class Lot:
    """Points still unspent from one earning, with when they expire."""

    id: str
    remaining: int
    order_key: tuple[object, ...]  # oldest first: (expires_at or far future, earned_at, id)


def allocate(lots: list[Lot], points: int, *, first: str | None = None) -> list[tuple[str, int]]:
    """Take `points` from lots, oldest first (or lot `first` before the others); LedgerError if short."""
    ordered = sorted(lots, key=lambda lot: (lot.id != first, lot.order_key))
    taken: list[tuple[str, int]] = []
    need = points
    for lot in ordered:
        if need == 0:
            break
        take = min(lot.remaining, need)
        if take > 0:
            taken.append((lot.id, take))
            need -= take
    if need:
        raise LedgerError(f"The lots hold {points - need} points, {points} were asked for.")
    return taken


def tier_for(spend_minor: int, tiers: list[tuple[str, int]]) -> str | None:
    """The highest tier whose threshold the rolling spend reaches (tiers as (name, min_spend_minor))."""
    best: tuple[int, str] | None = None
    for name, threshold in tiers:
        if spend_minor >= threshold and (best is None or threshold > best[0]):
            best = (threshold, name)
    return best[1] if best else None
