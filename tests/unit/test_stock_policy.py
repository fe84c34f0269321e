"""Replenishment arithmetic on figures small enough to check by hand (z(0.95) = 1.6449)."""

from __future__ import annotations

import pytest

from oao.insights.stock_policy import (
    LeftoverCase,
    StockPosition,
    critical_ratio,
    decide_leftover,
    demand_over,
    newsvendor_plan,
    newsvendor_units,
    order_up_to_plan,
    round_to_pack,
    z_score,
)


def test_the_z_score_of_a_95_percent_service_level_is_1_645_and_silly_levels_are_refused():
    assert z_score(0.95) == pytest.approx(1.6449, abs=1e-4)
    assert z_score(0.5) == pytest.approx(0.0)
    for level in (0.4, 1.0, 1.2):
        with pytest.raises(ValueError):
            z_score(level)


def test_the_order_up_to_level_covers_lead_time_plus_review_with_safety_stock():
    # 10 a day, sd 2, lead 2 days, review 1 day, 95 %: position = 5 + 4 - 1 = 8.
    plan = order_up_to_plan(daily_means=[10] * 7, error_sd=2, lead_time_days=2, review_days=1, service_level=0.95,
                            stock=StockPosition(on_hand=5, reserved=1, on_order=4))
    assert plan.demand_lead_time == 20
    assert plan.reorder_point == pytest.approx(20 + 1.6449 * 2 * 2 ** 0.5, abs=1e-3)  # 24.652
    assert plan.safety_stock == pytest.approx(1.6449 * 2 * 3 ** 0.5, abs=1e-3)  # 5.698
    assert plan.order_up_to == pytest.approx(35.698, abs=1e-3)
    assert plan.position == 8 and plan.below_reorder_point
    assert plan.quantity == 36 - 8  # S rounded up to 36 units


def test_the_order_is_rounded_up_to_whole_case_packs():
    plan = order_up_to_plan(daily_means=[10] * 7, error_sd=2, lead_time_days=2, review_days=1, service_level=0.95,
                            stock=StockPosition(on_hand=5, reserved=1, on_order=4), case_pack=12)
    assert plan.quantity == 36  # 28 units -> three trays of 12
    assert round_to_pack(13, 12) == 24 and round_to_pack(12, 12) == 12 and round_to_pack(-3, 6) == 0


def test_with_no_forecast_error_the_level_is_exactly_the_forecast():
    plan = order_up_to_plan(daily_means=[4, 6], error_sd=0, lead_time_days=1, review_days=1, service_level=0.99,
                            stock=StockPosition(on_hand=3, reserved=0, on_order=0))
    assert plan.safety_stock == 0 and plan.order_up_to == 10 and plan.reorder_point == 4
    assert plan.quantity == 7


def test_zero_demand_orders_nothing_and_a_well_stocked_shelf_orders_nothing():
    empty = order_up_to_plan(daily_means=[0, 0, 0], error_sd=0, lead_time_days=1, review_days=1,
                             service_level=0.95, stock=StockPosition(on_hand=0, reserved=0, on_order=0))
    assert empty.quantity == 0 and empty.reorder_point == 0
    full = order_up_to_plan(daily_means=[2] * 5, error_sd=1, lead_time_days=1, review_days=1, service_level=0.95,
                            stock=StockPosition(on_hand=50, reserved=0, on_order=0))
    assert full.quantity == 0 and not full.below_reorder_point


def test_reserved_units_do_not_count_as_stock_for_walk_in_demand():
    a = order_up_to_plan(daily_means=[5] * 3, error_sd=0, lead_time_days=1, review_days=1, service_level=0.9,
                         stock=StockPosition(on_hand=10, reserved=0, on_order=0))
    b = order_up_to_plan(daily_means=[5] * 3, error_sd=0, lead_time_days=1, review_days=1, service_level=0.9,
                         stock=StockPosition(on_hand=10, reserved=6, on_order=0))
    assert (a.quantity, b.quantity) == (0, 6)


def test_a_forecast_shorter_than_the_protection_interval_is_extended_with_its_average():
    assert demand_over([2, 4], 0, 4) == 2 + 4 + 3 + 3
    assert demand_over([2, 4], 1, 1) == 4
    assert demand_over([], 0, 0) == 0
    with pytest.raises(ValueError):
        demand_over([], 0, 1)


def test_the_critical_ratio_weighs_lost_margin_against_the_loss_on_a_leftover():
    # Price 10.00, cost 6.00, a leftover still brings 2.50: Cu = 4.00, Co = 3.50.
    assert critical_ratio(price_minor=1000, cost_minor=600, salvage_minor=250) == pytest.approx(400 / 750)
    assert critical_ratio(price_minor=600, cost_minor=600, salvage_minor=100) == 0  # no margin: no risk worth it
    assert critical_ratio(price_minor=1000, cost_minor=600, salvage_minor=600) == 1  # leftovers cost nothing


def test_a_price_below_cost_or_a_markdown_above_cost_is_refused():
    with pytest.raises(ValueError, match="below the cost"):
        critical_ratio(price_minor=500, cost_minor=600, salvage_minor=0)
    with pytest.raises(ValueError, match="above the cost"):
        critical_ratio(price_minor=1000, cost_minor=600, salvage_minor=700)
    with pytest.raises(ValueError):
        critical_ratio(price_minor=1000, cost_minor=600, salvage_minor=-1)


def test_the_newsvendor_orders_the_forecast_quantile_at_the_critical_ratio_less_usable_stock():
    # Mean 20, sd 5, ratio 0.5333: z = 0.0837, quantile 20.42 -> 21 units to have; 3 usable on the shelf.
    plan = newsvendor_plan(daily_means=[20, 20], error_sd=5, start_day=1, window_days=1, price_minor=1000,
                           cost_minor=600, salvage_minor=250, usable_stock=3, on_order=0)
    assert plan.critical_ratio == pytest.approx(0.5333, abs=1e-4)
    assert plan.target == 21 and plan.quantity == 18
    trays = newsvendor_plan(daily_means=[20, 20], error_sd=5, start_day=1, window_days=1, price_minor=1000,
                            cost_minor=600, salvage_minor=250, usable_stock=3, on_order=2, case_pack=10)
    assert trays.quantity == 20  # 16 units -> two trays of 10


def test_the_newsvendor_at_the_ratio_bounds_and_with_no_uncertainty():
    assert newsvendor_units(mean=10, sd=2, ratio=0) == 0
    assert newsvendor_units(mean=10, sd=2, ratio=1) == 17  # capped at the 99.9th percentile: 16.18
    assert newsvendor_units(mean=7.2, sd=0, ratio=0.3) == 8  # known demand: exactly enough
    assert newsvendor_units(mean=0, sd=0, ratio=0.9) == 0
    assert newsvendor_units(mean=1, sd=3, ratio=0.05) == 0  # a quantile below zero is no order
    with pytest.raises(ValueError):
        newsvendor_units(mean=1, sd=1, ratio=1.5)


def test_a_low_margin_fresh_product_orders_below_the_mean_and_a_high_margin_one_above():
    low = newsvendor_plan(daily_means=[20], error_sd=5, start_day=0, window_days=1, price_minor=1000,
                          cost_minor=900, salvage_minor=0, usable_stock=0, on_order=0)
    high = newsvendor_plan(daily_means=[20], error_sd=5, start_day=0, window_days=1, price_minor=1000,
                           cost_minor=300, salvage_minor=200, usable_stock=0, on_order=0)
    assert low.critical_ratio == pytest.approx(0.1) and low.target == 14  # 20 - 1.2816*5 = 13.59
    assert high.critical_ratio == pytest.approx(0.875) and high.target == 26  # 20 + 1.1503*5 = 25.75


def _case(**changes) -> LeftoverCase:
    base = {"leftover": 10, "full_price_demand": 2.6, "markdown_demand": 5.4, "keeps_overnight": False,
            "price_minor": 1000, "markdown_price_minor": 500}
    return LeftoverCase(**{**base, **changes})


def test_leftovers_the_rest_of_the_day_will_sell_are_kept_at_full_price():
    d = decide_leftover(_case(leftover=2))
    assert d.action == "keep" and d.expected_revenue_minor == 2000 and "full price" in d.explanation


def test_a_product_that_keeps_until_tomorrow_is_kept():
    d = decide_leftover(_case(keeps_overnight=True))
    assert d.action == "keep" and "tomorrow" in d.explanation


def test_a_surplus_is_marked_down_as_far_as_markdown_demand_goes_and_the_rest_written_off():
    d = decide_leftover(_case())  # 2 sell at full price, 5 at the markdown, 3 left
    assert (d.action, d.full_price_units, d.markdown_units, d.waste_units) == ("markdown", 2, 5, 3)
    assert d.markdown_price_minor == 500 and d.expected_revenue_minor == 2 * 1000 + 5 * 500


def test_what_the_markdown_cannot_sell_goes_to_another_channel_when_one_takes_it():
    d = decide_leftover(_case(channel="partner outlet", channel_value_minor=200))
    assert (d.action, d.markdown_units, d.move_units, d.waste_units) == ("markdown", 5, 3, 0)
    assert d.expected_revenue_minor == 2000 + 2500 + 600


def test_everything_moves_when_the_other_channel_pays_at_least_the_markdown_price():
    d = decide_leftover(_case(channel="partner outlet", channel_value_minor=500))
    assert (d.action, d.move_units, d.markdown_units) == ("move", 8, 0)


def test_too_late_for_a_markdown_and_no_channel_means_a_write_off():
    d = decide_leftover(_case(full_price_demand=0, markdown_demand=0.4))
    assert (d.action, d.waste_units, d.expected_revenue_minor) == ("write_off", 10, 0)


def test_a_markdown_above_the_full_price_is_refused():
    with pytest.raises(ValueError):
        decide_leftover(_case(markdown_price_minor=1200))
