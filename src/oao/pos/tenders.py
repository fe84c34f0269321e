"""How a counter sale is paid: do the tenders cover the total, and what change is due.

Pure logic over plain values (no database, no HTTP), so every rule is tested
in milliseconds. The rules are the ones a cashier follows:

- the tenders together must cover the total;
- only cash may exceed it, and the excess is handed back as change;
- a card, wallet or other tender is charged for an exact amount, so the
  non-cash tenders may never be more than the total;
- a cash tender that would all be handed back is refused too: if the card
  already pays the whole total, the cash was not needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from oao.core.money import Money

CASH = "cash"
# What a till takes. `pay_in_store_other` covers what a store books by hand
# (a bank transfer, a cheque). A wallet tender either names the OAO wallet
# payment that took the money (`reference` = its payment intent) or was taken
# on a terminal of its own; a points tender names the points hold it spends.
TENDER_KINDS = ("cash", "card", "wallet", "voucher", "pay_in_store_other", "points")
# The amount columns are 32-bit integers on every database we support.
MAX_AMOUNT_MINOR = 2_147_483_647
MAX_TENDERS = 20
SPLIT_METHOD = "split"  # the payment method of a sale paid with more than one kind of tender


class TenderError(ValueError):
    """The tenders cannot pay this sale; the message says why in a cashier's words."""


@dataclass(frozen=True, slots=True)
class Tender:
    kind: str
    amount_minor: int
    reference: str | None = None  # wallet: the payment intent id; points: the hold id


@dataclass(frozen=True, slots=True)
class Settlement:
    total_minor: int
    tendered_minor: int
    change_minor: int  # always handed back in cash
    tenders: tuple[Tender, ...]
    method: str  # the single tender kind, or "split"


def _fmt(amount_minor: int, currency: str) -> str:
    return Money(amount_minor, currency).format()


def payment_method(tenders: Sequence[Tender]) -> str:
    """The method recorded on the payment: the tender kind, or "split" when kinds are mixed."""
    kinds = {t.kind for t in tenders}
    if not kinds:
        return CASH
    return kinds.pop() if len(kinds) == 1 else SPLIT_METHOD


def settle(*, total_minor: int, currency: str, tenders: Sequence[Tender]) -> Settlement:
    """Check the tenders against the sale total and work out the change."""
    if total_minor < 0:
        raise TenderError("A sale total cannot be negative.")
    if len(tenders) > MAX_TENDERS:
        raise TenderError(f"A sale takes at most {MAX_TENDERS} tenders; {len(tenders)} were given.")
    for tender in tenders:
        if tender.kind not in TENDER_KINDS:
            raise TenderError(f"Tender kind {tender.kind!r} is not one of {', '.join(TENDER_KINDS)}.")
        if tender.kind == "points" and not tender.reference:
            raise TenderError("A points tender names the points hold it spends (hold_id).")
        if tender.reference is not None and tender.kind not in ("wallet", "points"):
            raise TenderError(f"Only wallet and points tenders refer to a payment or a hold, not {tender.kind}.")
        if tender.amount_minor <= 0:
            raise TenderError(f"A {tender.kind} tender must be a positive amount, "
                              f"got {tender.amount_minor} minor units.")
    cash = sum(t.amount_minor for t in tenders if t.kind == CASH)
    other = sum(t.amount_minor for t in tenders if t.kind != CASH)
    tendered = cash + other
    if tendered > MAX_AMOUNT_MINOR:
        raise TenderError(f"The tenders add up to more than {_fmt(MAX_AMOUNT_MINOR, currency)}, "
                          "which a till cannot take.")
    if tendered < total_minor:
        raise TenderError(f"The tenders add up to {_fmt(tendered, currency)} but the sale total is "
                          f"{_fmt(total_minor, currency)}; {_fmt(total_minor - tendered, currency)} is still due.")
    if other > total_minor:
        raise TenderError(f"Card and other non-cash tenders add up to {_fmt(other, currency)}, more than the "
                          f"sale total of {_fmt(total_minor, currency)}; only cash may exceed the total "
                          "(the difference is given back as change).")
    if tenders and total_minor == 0:
        raise TenderError("Nothing is due on this sale; leave the tenders out.")
    if cash and other == total_minor:
        raise TenderError(f"The non-cash tenders already pay the whole total of {_fmt(total_minor, currency)}; "
                          f"the cash tender of {_fmt(cash, currency)} would all be handed back, so leave it out.")
    return Settlement(total_minor=total_minor, tendered_minor=tendered, change_minor=tendered - total_minor,
                      tenders=tuple(tenders), method=payment_method(tenders))
