"""How much to order: order-up-to levels, the newsvendor, and what to do with leftovers at closing.

Pure arithmetic over plain numbers (stdlib only), so every figure on a purchase
suggestion can be checked by hand. Demand is the forecast mean per day; its
uncertainty is the standard deviation of one-day forecast errors (the backtest's
`error_sd`). Days are assumed independent, so the error over n days has sd
σ·√n: optimistic for strongly autocorrelated series, but it is the textbook
figure and the one staff can follow.

Three decisions:

- Products that keep (or are not perishable): a periodic-review (R, S) policy.
  The reorder point protects the lead time L: demand over L + z·σ·√L. The
  order-up-to level S protects L + R, because after this order the next chance
  to order is R days away: demand over L+R + z·σ·√(L+R). Each review orders
  S − position, position = on hand + on order − reserved, in whole case packs.
- Fresh products whose batch cannot outlast the next delivery: the newsvendor.
  Order the forecast quantile at the critical ratio Cu / (Cu + Co), Cu = price −
  cost (margin lost per missed sale), Co = cost − salvage (lost per unit left
  over; salvage = what a leftover unit still brings at the markdown).
- Leftovers at closing: sell at full price what the rest of the day's forecast
  covers; a product that keeps is kept; the rest is marked down as far as the
  markdown demand goes, and what is left after that goes to another channel
  (a partner outlet) when one takes it, else it is written off. If the other
  channel pays at least the markdown price per unit, everything goes there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any, Literal

# A critical ratio of 1 (leftovers cost nothing) would ask for an infinite quantile; capped at the
# 99.9th percentile (mean + 3.09 sd), which is already more than any store would bake.
MAX_CRITICAL_RATIO = 0.999
_STANDARD = NormalDist()


def z_score(service_level: float) -> float:
    """The standard normal quantile for a cycle service level (0.95 -> 1.645)."""
    if not 0.5 <= service_level < 1:
        raise ValueError(f"A service level is a probability from 0.5 to below 1, not {service_level}.")
    return _STANDARD.inv_cdf(service_level)


def demand_over(daily_means: Sequence[float], start: int, days: int) -> float:
    """Forecast demand for `days` days from day `start` (day 0 is today).

    A forecast shorter than asked for is extended with its own average: the
    horizon ran out, and the average is the least surprising continuation."""
    if start < 0 or days < 0:
        raise ValueError("start and days cannot be negative")
    if days == 0:
        return 0.0
    if not daily_means:
        raise ValueError("a forecast needs at least one day")
    if any(m < 0 or not math.isfinite(m) for m in daily_means):
        raise ValueError("forecast means must be finite and not negative")
    average = sum(daily_means) / len(daily_means)
    return sum(daily_means[d] if d < len(daily_means) else average for d in range(start, start + days))


def round_to_pack(quantity: int, case_pack: int) -> int:
    """Round a positive quantity up to whole case packs (12 in a tray: 13 -> 24)."""
    if case_pack < 1:
        raise ValueError("a case pack holds at least one unit")
    if quantity <= 0:
        return 0
    return -(-quantity // case_pack) * case_pack


@dataclass(frozen=True, slots=True)
class StockPosition:
    on_hand: int
    reserved: int  # held for open orders: not available to walk-in demand
    on_order: int  # open expected receipts

    @property
    def position(self) -> int:
        return self.on_hand + self.on_order - self.reserved


@dataclass(frozen=True, slots=True)
class ReviewPlan:
    """The (R, S) order for one product, with every figure that led to it."""

    policy: Literal["order_up_to"]
    lead_time_days: int
    review_days: int
    service_level: float
    z: float
    error_sd: float
    demand_lead_time: float
    demand_protection: float  # over lead time + review period
    safety_stock: float  # z·σ·√(L+R), part of the order-up-to level
    reorder_point: float
    order_up_to: float
    on_hand: int
    reserved: int
    on_order: int
    position: int
    below_reorder_point: bool
    case_pack: int
    quantity: int

    def as_reason(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def order_up_to_plan(*, daily_means: Sequence[float], error_sd: float, lead_time_days: int, review_days: int,
                     service_level: float, stock: StockPosition, case_pack: int = 1) -> ReviewPlan:
    """Reorder point, order-up-to level and the quantity that brings the position up to it."""
    if lead_time_days < 0 or review_days < 1:
        raise ValueError("lead time cannot be negative and the review period is at least one day")
    if error_sd < 0 or not math.isfinite(error_sd):
        raise ValueError("the forecast error sd must be finite and not negative")
    z = z_score(service_level)
    protection_days = lead_time_days + review_days
    demand_lead = demand_over(daily_means, 0, lead_time_days)
    demand_protection = demand_over(daily_means, 0, protection_days)
    reorder_point = demand_lead + z * error_sd * math.sqrt(lead_time_days)
    safety = z * error_sd * math.sqrt(protection_days)
    order_up_to = demand_protection + safety
    # Whole units: the level is rounded up (a fraction of a croissant still needs a croissant).
    needed = math.ceil(order_up_to - 1e-9) - stock.position
    return ReviewPlan(
        policy="order_up_to", lead_time_days=lead_time_days, review_days=review_days, service_level=service_level,
        z=z, error_sd=error_sd, demand_lead_time=demand_lead, demand_protection=demand_protection,
        safety_stock=safety, reorder_point=reorder_point, order_up_to=order_up_to, on_hand=stock.on_hand,
        reserved=stock.reserved, on_order=stock.on_order, position=stock.position,
        below_reorder_point=stock.position <= reorder_point, case_pack=case_pack,
        quantity=round_to_pack(needed, case_pack))


def critical_ratio(*, price_minor: int, cost_minor: int, salvage_minor: int) -> float:
    """Cu / (Cu + Co): the share of days on which the newsvendor quantity should cover demand.

    Refuses a price below cost (every sale loses money: do not stock it) and a
    salvage above cost (leftovers would make money: no order is ever too big)."""
    if min(price_minor, cost_minor, salvage_minor) < 0:
        raise ValueError("price, cost and salvage cannot be negative")
    if price_minor < cost_minor:
        raise ValueError(f"The price {price_minor} is below the cost {cost_minor}: every sale loses money.")
    if salvage_minor > cost_minor:
        raise ValueError(f"The markdown value {salvage_minor} is above the cost {cost_minor}: "
                         "leftovers would make money, so no quantity would be enough.")
    underage = price_minor - cost_minor
    overage = cost_minor - salvage_minor
    if underage == 0:
        return 0.0  # selling brings nothing over the cost: nothing is worth the risk of a leftover
    return underage / (underage + overage)


def newsvendor_units(*, mean: float, sd: float, ratio: float) -> int:
    """The smallest whole number of units covering demand with probability `ratio` (normal demand).

    Whole units are rounded up, as the discrete newsvendor does (the smallest Q with
    F(Q) ≥ ratio); demand below zero does not exist, so the quantile is floored at 0."""
    if not 0 <= ratio <= 1:
        raise ValueError(f"A critical ratio is between 0 and 1, not {ratio}.")
    if mean < 0 or sd < 0 or not (math.isfinite(mean) and math.isfinite(sd)):
        raise ValueError("mean and sd must be finite and not negative")
    if ratio == 0 or (mean == 0 and sd == 0):
        return 0
    if sd == 0:
        return math.ceil(mean - 1e-9)
    quantile = mean + sd * _STANDARD.inv_cdf(min(ratio, MAX_CRITICAL_RATIO))
    return max(0, math.ceil(quantile - 1e-9))


@dataclass(frozen=True, slots=True)
class NewsvendorPlan:
    """A single-period order for a fresh product, with the figures that led to it."""

    policy: Literal["newsvendor"]
    window_days: int  # days the batch sells for (its shelf life, at most the review period)
    mean: float  # forecast demand over the window
    sd: float
    price_minor: int
    cost_minor: int
    salvage_minor: int
    critical_ratio: float
    target: int  # units to have for the window
    usable_stock: int  # stock that will still be sellable in the window
    on_order: int
    case_pack: int
    quantity: int

    def as_reason(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def newsvendor_plan(*, daily_means: Sequence[float], error_sd: float, start_day: int, window_days: int,
                    price_minor: int, cost_minor: int, salvage_minor: int, usable_stock: int, on_order: int,
                    case_pack: int = 1) -> NewsvendorPlan:
    """Units to order so the batch arriving on `start_day` meets the window's demand at the critical ratio."""
    if window_days < 1 or start_day < 0:
        raise ValueError("the selling window is at least one day and starts today or later")
    if error_sd < 0 or not math.isfinite(error_sd):
        raise ValueError("the forecast error sd must be finite and not negative")
    ratio = critical_ratio(price_minor=price_minor, cost_minor=cost_minor, salvage_minor=salvage_minor)
    mean = demand_over(daily_means, start_day, window_days)
    sd = error_sd * math.sqrt(window_days)
    target = newsvendor_units(mean=mean, sd=sd, ratio=ratio)
    return NewsvendorPlan(
        policy="newsvendor", window_days=window_days, mean=mean, sd=sd, price_minor=price_minor,
        cost_minor=cost_minor, salvage_minor=salvage_minor, critical_ratio=ratio, target=target,
        usable_stock=usable_stock, on_order=on_order, case_pack=case_pack,
        quantity=round_to_pack(target - max(0, usable_stock) - on_order, case_pack))


# --- leftovers at closing ------------------------------------------------------------------------

LeftoverAction = Literal["keep", "markdown", "move", "write_off"]


@dataclass(frozen=True, slots=True)
class LeftoverCase:
    leftover: int  # units on the shelf not held for orders
    full_price_demand: float  # forecast demand for the rest of today's opening hours
    markdown_demand: float  # demand for the rest of today at the markdown price
    keeps_overnight: bool  # still sellable tomorrow at full price
    price_minor: int
    markdown_price_minor: int
    channel: str | None = None  # another channel that takes leftovers (a partner outlet), if any
    channel_value_minor: int = 0  # what that channel brings per unit


@dataclass(frozen=True, slots=True)
class LeftoverDecision:
    action: LeftoverAction
    full_price_units: int
    markdown_price_minor: int | None
    markdown_units: int
    channel: str | None
    move_units: int
    waste_units: int
    expected_revenue_minor: int
    explanation: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide_leftover(case: LeftoverCase) -> LeftoverDecision:
    """Keep, mark down, move to another channel or write off: the rule in the module docstring."""
    if case.leftover < 0:
        raise ValueError("leftover stock cannot be negative")
    if case.markdown_price_minor > case.price_minor or min(case.markdown_price_minor, case.channel_value_minor) < 0:
        raise ValueError("a markdown price is between zero and the full price")
    full = min(case.leftover, max(0, math.floor(case.full_price_demand + 1e-9)))
    surplus = case.leftover - full

    def decision(action: LeftoverAction, explanation: str, *, markdown: int = 0, move: int = 0,
                 waste: int = 0) -> LeftoverDecision:
        return LeftoverDecision(
            action=action, full_price_units=full if action != "keep" else case.leftover,
            markdown_price_minor=case.markdown_price_minor if markdown else None, markdown_units=markdown,
            channel=case.channel if move else None, move_units=move, waste_units=waste,
            expected_revenue_minor=(full if action != "keep" else case.leftover) * case.price_minor
            + markdown * case.markdown_price_minor + move * case.channel_value_minor,
            explanation=explanation)

    if surplus == 0:
        what = "Nothing left over." if case.leftover == 0 else (
            f"The {case.leftover} left are expected to sell at full price before closing.")
        return decision("keep", what)
    if case.keeps_overnight:
        return decision("keep", f"{surplus} more than today's remaining demand, but it keeps until tomorrow: "
                                "sell it at full price then.")
    has_channel = case.channel is not None and case.channel_value_minor > 0
    if has_channel and case.channel_value_minor >= case.markdown_price_minor:
        return decision("move", f"Move {surplus} to {case.channel}: it pays at least the markdown price a unit.",
                        move=surplus)
    markdown = min(surplus, max(0, math.floor(case.markdown_demand + 1e-9)))
    rest = surplus - markdown
    if markdown:
        tail = (f" and move the other {rest} to {case.channel}" if has_channel and rest else
                f"; about {rest} will still be left and written off" if rest else "")
        return decision("markdown", f"Mark {surplus} down: about {markdown} should sell before closing{tail}.",
                        markdown=markdown, move=rest if has_channel else 0, waste=0 if has_channel else rest)
    if has_channel:
        return decision("move", f"Too late for a markdown to sell: move {surplus} to {case.channel}.", move=surplus)
    return decision("write_off", f"Too late for a markdown to sell and no other channel takes it: write off "
                                 f"{surplus}.", waste=surplus)
