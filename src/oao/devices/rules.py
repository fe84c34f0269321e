"""When a device's report should reorder: pure decisions over plain data.

A reading says a level ("12 percent left") or a consumption ("2 doses used since the
last report"); a press of a one-press button asks for the item now. The rule says
the threshold, the limits and whether it is on. What the database knows (the last
level, the rule's open order, what her device orders spent this month) comes in as
`History`. The order itself is placed by devices.service; the spend cap is checked
there too, once the quote has priced the reorder (`over_cap`).

Reasons are short stable codes a device or a page can act on; `REASON_WORDS` says
each in plain words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

ABOVE_THRESHOLD = "above_threshold"
CAP_REACHED = "cap_reached"
ORDER_OPEN = "order_open"
TOO_SOON = "too_soon"
OUT_OF_STOCK = "out_of_stock"
RULE_DISABLED = "rule_disabled"
STALE_READING = "stale_reading"
LEVEL_UNKNOWN = "level_unknown"
NOT_ENOUGH_POINTS = "not_enough_points"
UNAVAILABLE = "unavailable"
ORDERED = "ordered"

REASON_WORDS = {
    ORDERED: "Reordered.",
    ABOVE_THRESHOLD: "Still enough left: the level is above the reorder threshold.",
    CAP_REACHED: "Not ordered: it would go over this month's spending cap.",
    ORDER_OPEN: "Not ordered: the last reorder is still on its way.",
    TOO_SOON: "Not ordered: the last reorder was placed too recently.",
    OUT_OF_STOCK: "Not ordered: the shop has none in stock to send.",
    RULE_DISABLED: "Not ordered: automatic reordering is switched off for this item.",
    STALE_READING: "Ignored: a newer reading had already arrived.",
    LEVEL_UNKNOWN: "Not ordered: a consumption report needs a known level or the rule's full capacity.",
    NOT_ENOUGH_POINTS: "Not ordered: not enough points to pay for it.",
    UNAVAILABLE: "Not ordered: the chosen way to receive it is not available.",
}


@dataclass(frozen=True, slots=True)
class RuleFacts:
    enabled: bool
    threshold: int | None
    capacity: int | None
    min_gap: timedelta


@dataclass(frozen=True, slots=True)
class History:
    """What is known before this report."""

    level: int | None = None
    level_at: datetime | None = None
    open_order: bool = False  # a reorder of this rule is placed and not yet completed or cancelled
    last_order_at: datetime | None = None  # when the rule last placed an order that was not cancelled
    refilled_since_level: bool = False  # a reorder was completed after `level_at`: assume it was refilled


@dataclass(frozen=True, slots=True)
class Report:
    kind: str  # "level" | "consumed" | "press"
    value: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    reorder: bool
    reason: str
    level: int | None  # the level to remember (None: keep what was known)
    level_at: datetime | None


def new_level(rule: RuleFacts, history: History, report: Report) -> tuple[int | None, bool]:
    """The level after this report and whether it is known. A stale reading changes nothing.

    A consumption report counts down from the last level, or from the rule's capacity when there is
    none yet or a reorder was delivered since (the member refilled the machine).
    """
    if report.kind == "press":
        return history.level, history.level is not None
    if history.level_at is not None and report.at < history.level_at:
        return history.level, history.level is not None
    if report.kind == "level":
        return report.value, True
    base = rule.capacity if history.level is None or history.refilled_since_level else history.level
    if base is None or report.value is None:
        return None, False
    return max(base - report.value, 0), True


def decide(rule: RuleFacts, history: History, report: Report, *, now: datetime) -> Decision:
    """Whether this report reorders, or the reason it does not (the spend cap and stock come later)."""
    level, known = new_level(rule, history, report)
    stale = report.kind != "press" and history.level_at is not None and report.at < history.level_at
    keep_level = (level, report.at) if known and not stale and report.kind != "press" else (None, None)

    def skip(reason: str) -> Decision:
        return Decision(False, reason, *keep_level)

    if stale:
        return skip(STALE_READING)
    if not rule.enabled:
        return skip(RULE_DISABLED)
    if report.kind != "press":
        if not known or level is None:
            return skip(LEVEL_UNKNOWN)
        if rule.threshold is None or level > rule.threshold:
            return skip(ABOVE_THRESHOLD)
    if history.open_order:
        return skip(ORDER_OPEN)
    if history.last_order_at is not None and now - history.last_order_at < rule.min_gap:
        return skip(TOO_SOON)
    return Decision(True, ORDERED, *keep_level)


def month_start(now: datetime) -> datetime:
    """The start of the calendar month in UTC: spend caps count device orders placed since then."""
    at = now.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def over_cap(cap_minor: int | None, spent_minor: int, order_minor: int) -> bool:
    """True when placing an order of `order_minor` would take this month's device spend over the cap."""
    return cap_minor is not None and spent_minor + order_minor > cap_minor
