"""The pure decision of a device report: reorder, or the reason not to, on hand-made cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from oao.devices.rules import History, Report, RuleFacts, decide, month_start, new_level, over_cap

NOW = datetime(2026, 11, 17, 2, 0, tzinfo=UTC)
RULE = RuleFacts(enabled=True, threshold=20, capacity=100, min_gap=timedelta(hours=24))


def level(value: int, at: datetime = NOW) -> Report:
    return Report(kind="level", value=value, at=at)


def test_a_level_at_or_below_the_threshold_reorders_and_above_it_does_not():
    assert decide(RULE, History(), level(20), now=NOW).reorder is True
    assert decide(RULE, History(), level(3), now=NOW).reorder is True
    above = decide(RULE, History(), level(21), now=NOW)
    assert (above.reorder, above.reason, above.level, above.level_at) == (False, "above_threshold", 21, NOW)


def test_an_open_order_blocks_a_second_reorder_whatever_the_level():
    decision = decide(RULE, History(open_order=True, last_order_at=NOW - timedelta(days=3)), level(0), now=NOW)
    assert (decision.reorder, decision.reason, decision.level) == (False, "order_open", 0)


def test_the_minimum_gap_counts_from_the_last_order_not_cancelled():
    recent = History(last_order_at=NOW - timedelta(hours=23))
    assert decide(RULE, recent, level(5), now=NOW).reason == "too_soon"
    old_enough = History(last_order_at=NOW - timedelta(hours=24))
    assert decide(RULE, old_enough, level(5), now=NOW).reorder is True
    no_gap = RuleFacts(enabled=True, threshold=20, capacity=None, min_gap=timedelta(0))
    assert decide(no_gap, recent, level(5), now=NOW).reorder is True


def test_a_disabled_rule_never_orders_but_still_remembers_the_level():
    off = RuleFacts(enabled=False, threshold=20, capacity=100, min_gap=timedelta(0))
    decision = decide(off, History(), level(2), now=NOW)
    assert (decision.reorder, decision.reason, decision.level) == (False, "rule_disabled", 2)


def test_a_reading_older_than_the_last_known_one_is_ignored():
    history = History(level=50, level_at=NOW)
    decision = decide(RULE, history, level(1, at=NOW - timedelta(minutes=5)), now=NOW)
    assert (decision.reorder, decision.reason, decision.level_at) == (False, "stale_reading", None)


def test_consumption_counts_down_from_the_last_level_or_the_capacity_after_a_refill():
    assert new_level(RULE, History(), Report("consumed", 30, NOW)) == (70, True)
    assert new_level(RULE, History(level=40, level_at=NOW - timedelta(days=1)), Report("consumed", 30, NOW)) == (
        10, True)
    refilled = History(level=5, level_at=NOW - timedelta(days=9), refilled_since_level=True)
    assert new_level(RULE, refilled, Report("consumed", 30, NOW)) == (70, True)
    assert new_level(RULE, History(level=10, level_at=NOW), Report("consumed", 30, NOW)) == (0, True)  # not below 0
    unknown = RuleFacts(enabled=True, threshold=20, capacity=None, min_gap=timedelta(0))
    assert new_level(unknown, History(), Report("consumed", 3, NOW)) == (None, False)
    assert decide(unknown, History(), Report("consumed", 3, NOW), now=NOW).reason == "level_unknown"


def test_a_press_ignores_the_threshold_but_not_the_open_order_or_the_switch():
    button = RuleFacts(enabled=True, threshold=None, capacity=None, min_gap=timedelta(0))
    pressed = Report(kind="press", value=None, at=NOW)
    assert decide(button, History(), pressed, now=NOW).reorder is True
    assert decide(button, History(open_order=True), pressed, now=NOW).reason == "order_open"
    assert decide(RuleFacts(False, None, None, timedelta(0)), History(), pressed, now=NOW).reason == "rule_disabled"
    # A press says nothing about the level: what was known stays.
    assert decide(button, History(level=7, level_at=NOW), pressed, now=NOW).level_at is None


def test_a_rule_without_threshold_never_reorders_on_a_reading():
    button = RuleFacts(enabled=True, threshold=None, capacity=None, min_gap=timedelta(0))
    assert decide(button, History(), level(0), now=NOW).reason == "above_threshold"


def test_the_cap_month_is_the_utc_calendar_month_and_an_exact_fit_is_allowed():
    assert month_start(datetime(2026, 11, 30, 23, 59, tzinfo=UTC)) == datetime(2026, 11, 1, tzinfo=UTC)
    # 1 December 07:00 in Shanghai is still 30 November in UTC.
    shanghai_morning = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert month_start(shanghai_morning).month == 11
    assert over_cap(10_000, 9_500, 500) is False
    assert over_cap(10_000, 9_500, 501) is True
    assert over_cap(None, 10**9, 10**9) is False
