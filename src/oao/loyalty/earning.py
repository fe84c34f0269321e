"""Earning rules: how many points a sale earns, as pure functions.

A rule gives `points` for every `per_minor` minor units spent, times a
multiplier per line (a product's beats its category's) and one for the sales
channel (self-checkout earns double by default, S3). Multipliers are whole
percentages (100 = x1, 250 = x2.5) so everything stays in integers. A basket
below the minimum earns nothing; a cap limits what one member earns under the
rule per day, month or year (UTC calendar periods). The total is rounded down
once, over the whole basket, then spread over the lines in proportion (so a
return of some lines can reverse exactly their share).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from oao.loyalty.ledger import split_proportional

CHANNELS = ("online", "till", "kiosk", "self_checkout")
CAP_PERIODS = ("day", "month", "year")
# A kiosk that takes payment is self-checkout too (S3): both earn double unless a rule says otherwise.
DEFAULT_CHANNEL_MULTIPLIERS = {"kiosk": 200, "self_checkout": 200}


@dataclass(frozen=True, slots=True)
class SaleLine:
    product_id: str
    category: str | None
    quantity: int
    amount_minor: int


@dataclass(frozen=True, slots=True)
class Sale:
    merchant_id: str
    channel: str
    currency: str
    total_minor: int
    lines: list[SaleLine]


@dataclass(frozen=True, slots=True)
class Rule:
    currency: str
    points: int  # earned per `per_minor` minor units
    per_minor: int
    category_multipliers: dict[str, int] = field(default_factory=dict)
    product_multipliers: dict[str, int] = field(default_factory=dict)
    channel_multipliers: dict[str, int] = field(default_factory=dict)
    min_basket_minor: int = 0
    cap_points: int | None = None
    cap_period: str | None = None


@dataclass(frozen=True, slots=True)
class Earned:
    points: int
    line_points: list[int]
    reason: str  # "earned" | "capped" | "below minimum basket" | "currency differs" | "nothing to earn"


def line_multiplier(rule: Rule, line: SaleLine) -> int:
    """The line's multiplier in percent: the product's if set, else its category's, else 100."""
    if line.product_id in rule.product_multipliers:
        return rule.product_multipliers[line.product_id]
    if line.category is not None and line.category in rule.category_multipliers:
        return rule.category_multipliers[line.category]
    return 100


def earn(rule: Rule, sale: Sale, *, earned_in_period: int = 0) -> Earned:
    """Points the sale earns under the rule, given what the member already earned in the cap period."""
    zero = [0] * len(sale.lines)
    if sale.currency != rule.currency:
        return Earned(0, zero, "currency differs")
    if sale.total_minor < rule.min_basket_minor:
        return Earned(0, zero, "below minimum basket")
    channel = rule.channel_multipliers.get(sale.channel, 100)
    # Exact value of each line scaled by per_minor * 100 * 100, so one floor at the end.
    exact = [max(0, line.amount_minor) * rule.points * line_multiplier(rule, line) * channel for line in sale.lines]
    scale = rule.per_minor * 100 * 100
    points = sum(exact) // scale
    reason = "earned" if points else "nothing to earn"
    if rule.cap_points is not None:
        room = max(0, rule.cap_points - earned_in_period)
        if points > room:
            points, reason = room, "capped"
    return Earned(points, split_proportional(points, exact), reason)


def period_start(at: datetime, period: str) -> datetime:
    """Start of the UTC calendar day, month or year that contains `at` (the cap window)."""
    at = at.astimezone(UTC)
    if period == "day":
        return at.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if period == "year":
        return at.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    raise ValueError(f"unknown cap period {period!r}")
