"""Posting rules of the money ledger between merchants, as pure functions.

Accounts are named by a code (see docs/settlement.md), one balance per code and
currency:

- `operator:cash`   money the operator collected from shoppers (wallet payments);
- `operator:fees`   the operator's platform-fee revenue;
- `operator:points` the operator's side of points funding (the network programme);
- `merchant:<id>`   the merchant's payable: what the operator owes that merchant
                    (a negative balance: what the merchant owes the operator);
- `partner:<ref>`   a counterpart outside this instance (a federated instance).

An entry moves a positive amount from one account (debit) to another (credit)
and is never changed afterwards, so debits equal credits by construction. A
merchant's balance is its credits minus its debits. Corrections and reversals
are new entries. Every split of an amount is done in integers so the parts add
up to the whole: fee + net = gross, and cumulative reversals reach exactly the
original at a full refund or return.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from oao.loyalty.ledger import proportional_target, split_proportional

BPS = 10_000
MAX_AMOUNT = 2**62
OPERATOR_CASH = "operator:cash"
PLATFORM_FEES = "operator:fees"
OPERATOR_POINTS = "operator:points"
_ACCOUNT = re.compile(r"^(operator:(cash|fees|points)|merchant:[A-Za-z0-9_.-]{1,40}|partner:[A-Za-z0-9_.:/-]{1,80})$")

# Entry kinds, with what each one means for the merchant whose payable it touches.
SALE = "sale"                          # operator collected a payment for the merchant
PLATFORM_FEE = "platform_fee"          # the operator's fee on that payment
REFUND = "refund"                      # money given back to the shopper out of the operator's cash
PLATFORM_FEE_REFUND = "platform_fee_refund"
REFERRAL_COMMISSION = "referral_commission"
REFERRAL_COMMISSION_REVERSAL = "referral_commission_reversal"
PICKUP_FEE = "pickup_fee"
PICKUP_FEE_REVERSAL = "pickup_fee_reversal"
PROCEEDS_KINDS = (SALE, REFUND)        # what reconciles to captured payments


class PostingError(ValueError):
    """An entry the rules refuse (the service maps it to a 422 problem)."""


def merchant_account(merchant_id: str) -> str:
    return f"merchant:{merchant_id}"


def merchant_of(account: str) -> str | None:
    """The merchant whose payable this account is, or None for the operator's and partners' accounts."""
    return account.split(":", 1)[1] if account.startswith("merchant:") else None


def check_account(account: str) -> None:
    if not isinstance(account, str) or not _ACCOUNT.match(account):
        raise PostingError(f"{account!r} is not a settlement account: use operator:cash, operator:fees, "
                           "operator:points, merchant:<merchant id> or partner:<reference>.")


def check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        raise PostingError(f"An entry amount is a whole number of minor units from 1 to {MAX_AMOUNT}, "
                           f"not {amount!r}.")


def bps_of(amount: int, bps: int) -> int:
    """`bps` basis points of `amount`, rounded half up (half a fen goes to whoever is owed the fee)."""
    if not 0 <= bps <= BPS:
        raise PostingError(f"A rate is 0 to {BPS} basis points, not {bps}.")
    return (amount * bps + BPS // 2) // BPS


@dataclass(frozen=True, slots=True)
class Leg:
    """One entry to write: `suffix` makes its id unique within the source it comes from."""

    kind: str
    debit: str
    credit: str
    amount: int
    suffix: str


def _leg(kind: str, debit: str, credit: str, amount: int, suffix: str) -> list[Leg]:
    """Nothing for a zero amount; a negative amount moves the other way (a correction of a correction)."""
    if amount == 0:
        return []
    if amount < 0:
        return [Leg(kind, credit, debit, -amount, suffix)]
    return [Leg(kind, debit, credit, amount, suffix)]


def split_gross(gross: int, weights: list[int]) -> list[int]:
    """A payment shared by several orders (one checkout): largest remainder, so the parts sum to gross."""
    return split_proportional(gross, weights)


def sale_legs(*, merchant_id: str, gross: int, fee_bps: int, suffix: str = "") -> list[Leg]:
    """The operator collected `gross` for the merchant: all of it is owed, less the platform fee.

    The fee is taken as its own entry, so fee + net = gross by construction.
    """
    payable = merchant_account(merchant_id)
    return (_leg(SALE, OPERATOR_CASH, payable, gross, f"sale{suffix}")
            + _leg(PLATFORM_FEE, payable, PLATFORM_FEES, bps_of(gross, fee_bps), f"fee{suffix}"))


@dataclass(frozen=True, slots=True)
class Collected:
    """What was posted so far for one merchant's share of one payment."""

    merchant_id: str
    gross: int           # the sale entry
    fee: int             # the platform-fee entry
    refunded: int = 0    # refund entries so far
    fee_refunded: int = 0


def refund_legs(shares: list[Collected], *, refunded_after: int, suffix: str = "") -> list[Leg]:
    """Give back money of a payment: `refunded_after` is the cumulative refund including this one.

    The cumulative refund is split over the merchants' shares by largest remainder, and each
    share's fee comes back in proportion to what was refunded of it (rounded down, cumulative):
    a full refund reverses exactly the sale and the fee, and no partial refund loses a cent.
    """
    total = sum(s.gross for s in shares)
    refunded_after = max(0, min(refunded_after, total))
    targets = split_proportional(refunded_after, [s.gross for s in shares])
    legs: list[Leg] = []
    for index, (share, target) in enumerate(zip(shares, targets, strict=True)):
        payable = merchant_account(share.merchant_id)
        tag = f"{suffix}:{index}" if len(shares) > 1 else suffix
        legs += _leg(REFUND, payable, OPERATOR_CASH, target - share.refunded, f"refund{tag}")
        fee_target = proportional_target(share.fee, target, share.gross)
        legs += _leg(PLATFORM_FEE_REFUND, PLATFORM_FEES, payable, fee_target - share.fee_refunded, f"fee_refund{tag}")
    return legs


def commission_legs(*, seller_id: str, referrer_id: str, basis: int, bps: int) -> list[Leg]:
    """The seller pays the referrer `bps` of the goods (subtotal, delivery fees excluded)."""
    if seller_id == referrer_id:
        return []
    return _leg(REFERRAL_COMMISSION, merchant_account(seller_id), merchant_account(referrer_id),
                bps_of(basis, bps), "commission")


def pickup_fee_legs(*, seller_id: str, host_id: str, fee: int) -> list[Leg]:
    """The guest seller pays the host whose pickup point handed the parcel over."""
    if seller_id == host_id:
        return []
    return _leg(PICKUP_FEE, merchant_account(seller_id), merchant_account(host_id), fee, "pickup")


REVERSAL_OF = {REFERRAL_COMMISSION: REFERRAL_COMMISSION_REVERSAL, PICKUP_FEE: PICKUP_FEE_REVERSAL}


def reversal_legs(*, kind: str, debit: str, credit: str, due: int, original_id: str) -> list[Leg]:
    """Move `due` of an original entry back (the other way); `kind` is the original's."""
    return _leg(REVERSAL_OF[kind], credit, debit, due, f"{REVERSAL_OF[kind]}:{original_id}")


def reversal_due(*, original: int, basis: int, returned_after: int, reversed_before: int) -> int:
    """How much more of an entry computed on `basis` to reverse once `returned_after` of it came back.

    Cumulative and rounded down, so a full return reverses exactly the original.
    """
    return proportional_target(original, returned_after, basis) - reversed_before


def points_legs(*, kind: str, debtor_id: str | None, creditor_id: str | None, amount: int) -> list[Leg]:
    """Points funding: the issuer (debtor) pays the acceptor (creditor); None is the network's operator.

    Loyalty records reversals as negative amounts: they move the other way.
    """
    debit = merchant_account(debtor_id) if debtor_id else OPERATOR_POINTS
    credit = merchant_account(creditor_id) if creditor_id else OPERATOR_POINTS
    if debit == credit:
        return []
    return _leg(f"points_{kind}", debit, credit, amount, "points")


def signed_for(account: str, *, debit: str, credit: str, amount: int) -> int:
    """The entry's effect on `account`'s balance (credits minus debits)."""
    return (amount if credit == account else 0) - (amount if debit == account else 0)
