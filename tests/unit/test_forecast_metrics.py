"""Arithmetic of the forecast error measures and the daily demand frame, on hand-checked data."""

from __future__ import annotations

import math
from datetime import date

import pytest

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")
pytest.importorskip("statsforecast")

from oao.insights.forecast import (  # noqa: E402
    demand_frame,
    panel_scales,
    rmsse,
    rmsse_scale,
    series_key,
    split_key,
    weighted_mean,
)
from oao.insights.forecast_eval import dollar_weights  # noqa: E402
from oao.insights.forecast_gbm import make_panel  # noqa: E402


def test_the_rmsse_scale_starts_at_the_first_sale_and_averages_squared_one_day_changes():
    # from the first non-zero: 2, 4, 3 -> changes +2, -1 -> (4 + 1) / 2
    assert rmsse_scale(np.array([0, 0, 2, 4, 3])) == pytest.approx(2.5)


def test_rmsse_is_the_root_of_mean_squared_error_over_the_scale():
    # errors -1 and +1: mse 1; / 2.5 -> sqrt(0.4)
    assert rmsse([3, 3], [2, 4], 2.5) == pytest.approx(math.sqrt(0.4))
    assert rmsse([1, 2, 3], [1, 2, 3], 7.0) == 0.0


def test_a_history_that_never_moves_gets_a_unit_scale_instead_of_dividing_by_zero():
    assert rmsse_scale(np.array([0, 5, 5, 5])) == 1.0
    assert rmsse_scale(np.array([0, 0, 0])) == 1.0


def test_panel_scales_match_the_scale_of_each_series_cut_at_the_cutoff():
    df = pd.DataFrame({"unique_id": ["a"] * 6 + ["b"] * 4,
                       "ds": list(pd.date_range("2024-01-01", periods=6)) + list(pd.date_range("2024-01-03",
                                                                                                 periods=4)),
                       "y": [0, 1, 3, 0, 9, 9, 2, 2, 6, 1]})
    panel = make_panel(df, horizon=0)
    cutoff = 4  # 2024-01-05: a = 0 1 3 0 9, b = 2 2 6
    assert panel_scales(panel, cutoff) == pytest.approx([rmsse_scale(np.array([0, 1, 3, 0, 9])),
                                                         rmsse_scale(np.array([2, 2, 6]))])
    assert rmsse_scale(np.array([0, 1, 3, 0, 9])) == pytest.approx((4 + 9 + 81) / 3)


def test_the_weighted_mean_ignores_missing_values_and_zero_weights():
    assert weighted_mean([1.0, 3.0, float("nan")], [1.0, 3.0, 5.0]) == pytest.approx(2.5)
    assert math.isnan(weighted_mean([1.0], [0.0]))


def test_dollar_weights_are_shares_of_units_times_price_over_the_last_28_days():
    days = pd.date_range("2024-01-01", periods=40)
    df = pd.concat([pd.DataFrame({"unique_id": "a", "ds": days, "y": 1.0, "price": 2.0}),
                    pd.DataFrame({"unique_id": "b", "ds": days, "y": 3.0, "price": 2.0})])
    df.loc[(df["unique_id"] == "a") & (df["ds"] < days[12]), "y"] = 100.0  # before the 28 days: no weight
    w = dollar_weights(df, days[-1])
    assert w["a"] == pytest.approx(0.25)
    assert w["b"] == pytest.approx(0.75)


def _lines(rows):
    return pd.DataFrame([{"occurred_at": pd.Timestamp(at, tz="UTC"), "location_id": loc, "channel": "pos",
                          "product_id": prod, "member_id": None, "basket_ref": None, "quantity": q,
                          "amount_minor": q * 150, "kind": "sale"} for at, loc, prod, q in rows])


def test_the_demand_frame_fills_days_without_sales_with_zero_from_the_first_sale_to_the_end():
    lines = _lines([("2024-03-01 10:00", "loc_a", "p1", 2), ("2024-03-01 12:00", "loc_a", "p1", 1),
                    ("2024-03-03 09:00", "loc_a", "p1", 4), ("2024-03-04 09:00", "loc_a", "p2", 1)])
    df = demand_frame(lines, end=date(2024, 3, 5))
    p1 = df[df["product_id"] == "p1"]
    assert list(p1["ds"].dt.day) == [1, 2, 3, 4, 5]
    assert list(p1["y"]) == [3, 0, 4, 0, 0]
    assert p1["price"].iloc[0] == pytest.approx(150.0)
    assert math.isnan(p1["price"].iloc[1])
    p2 = df[df["product_id"] == "p2"]
    assert list(p2["y"]) == [1, 0]  # starts at its own first sale
    assert set(df["unique_id"]) == {series_key("loc_a", "p1"), series_key("loc_a", "p2")}
    assert split_key(series_key(None, "p9")) == (None, "p9")


def test_a_late_evening_sale_in_shanghai_counts_on_the_local_next_day():
    lines = _lines([("2024-03-01 17:00", "loc_sh", "p1", 1), ("2024-03-01 15:00", "loc_sh", "p1", 1)])
    df = demand_frame(lines, end=date(2024, 3, 2), timezones={"loc_sh": "Asia/Shanghai"})
    # 15:00 UTC = 23:00 local on the 1st; 17:00 UTC = 01:00 local on the 2nd
    assert list(df["y"]) == [1, 1]


def test_sales_after_the_end_day_are_left_out():
    lines = _lines([("2024-03-01 10:00", None, "p1", 1), ("2024-03-09 10:00", None, "p1", 5)])
    df = demand_frame(lines, end=date(2024, 3, 3))
    assert list(df["y"]) == [1, 0, 0]
    assert df["location_id"].isna().all()
