"""Per-series model choice by backtest, the global LightGBM model's honesty, and intermittent demand."""

from __future__ import annotations

import pytest

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")
pytest.importorskip("statsforecast")
pytest.importorskip("lightgbm")

from oao.insights.forecast import (  # noqa: E402
    AVERAGE,
    ETS,
    GBM,
    SEASONAL_NAIVE,
    ForecastConfig,
    choose_models,
    forecast,
)
from oao.insights.forecast_gbm import GbmParams, make_panel  # noqa: E402
from oao.insights.forecast_gbm import fit_predict as gbm_fit_predict  # noqa: E402

CUTS = [pd.Timestamp("2024-01-28"), pd.Timestamp("2024-02-25")]


def _scores(rows):
    return pd.DataFrame(rows, columns=["unique_id", "cutoff", "model", "rmsse", "sse", "days"])


def test_each_series_keeps_the_model_with_the_lower_mean_backtest_error():
    scores = _scores([
        ("a", CUTS[0], SEASONAL_NAIVE, 1.0, 28.0, 28), ("a", CUTS[1], SEASONAL_NAIVE, 1.2, 56.0, 28),
        ("a", CUTS[0], ETS, 0.7, 14.0, 28), ("a", CUTS[1], ETS, 0.9, 28.0, 28),
        ("b", CUTS[0], SEASONAL_NAIVE, 0.5, 7.0, 28), ("b", CUTS[1], SEASONAL_NAIVE, 0.5, 7.0, 28),
        ("b", CUTS[0], ETS, 0.6, 9.0, 28), ("b", CUTS[1], ETS, 0.6, 9.0, 28),
    ])
    chosen = choose_models(scores).set_index("unique_id")
    assert chosen.at["a", "model"] == ETS
    assert chosen.at["a", "rmsse"] == pytest.approx(0.8)
    # error sd of the chosen model: root of mean squared daily error over both windows = sqrt(42 / 56)
    assert chosen.at["a", "error_sd"] == pytest.approx(np.sqrt(42 / 56))
    assert chosen.at["b", "model"] == SEASONAL_NAIVE


def test_a_series_leaves_the_overall_best_model_only_when_its_own_best_is_clearly_better():
    scores = _scores([
        ("a", CUTS[0], ETS, 0.50, 1.0, 28), ("a", CUTS[0], SEASONAL_NAIVE, 0.90, 1.0, 28),
        ("b", CUTS[0], ETS, 0.60, 1.0, 28), ("b", CUTS[0], SEASONAL_NAIVE, 0.58, 1.0, 28),  # 3% better: noise
        ("c", CUTS[0], ETS, 0.60, 1.0, 28), ("c", CUTS[0], SEASONAL_NAIVE, 0.40, 1.0, 28),  # 33% better
    ])
    chosen = choose_models(scores, margin=0.1).set_index("unique_id")["model"]
    assert chosen.to_dict() == {"a": ETS, "b": ETS, "c": SEASONAL_NAIVE}
    assert choose_models(scores, margin=0.0).set_index("unique_id").at["b", "model"] == SEASONAL_NAIVE


def test_a_model_scored_on_fewer_windows_cannot_win_on_the_easier_one():
    scores = _scores([
        ("a", CUTS[0], ETS, 0.9, 1.0, 28), ("a", CUTS[1], ETS, 0.9, 1.0, 28),
        ("a", CUTS[1], GBM, 0.1, 1.0, 28),  # only the second window: left out
    ])
    assert choose_models(scores).iloc[0]["model"] == ETS


def _series(seed: int, days: int, rate: float, weekly: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2023-01-02", periods=days)
    lam = rate * (1 + (0.8 * (ds.dayofweek >= 5)) if weekly else np.ones(days))
    y = rng.poisson(lam).astype(float)
    y[0] = max(y[0], 1.0)
    return pd.DataFrame({"unique_id": f"s{seed}", "ds": ds, "y": y})


def test_the_lightgbm_model_never_sees_past_its_cutoff():
    df = pd.concat([_series(i, 300, 3.0 + i, weekly=True) for i in range(6)], ignore_index=True)
    cutoff = 240
    params = GbmParams(rounds=20, train_origins=20, min_data_in_leaf=20)
    before = gbm_fit_predict(make_panel(df, horizon=28), cutoff=cutoff, horizon=28, params=params)
    # scramble every day after the cutoff: the forecast made at the cutoff must not move
    tampered = df.copy()
    after = tampered["ds"] > pd.Timestamp("2023-01-02") + pd.Timedelta(days=cutoff)
    tampered.loc[after, "y"] = 1000.0
    again = gbm_fit_predict(make_panel(tampered, horizon=28), cutoff=cutoff, horizon=28, params=params)
    np.testing.assert_allclose(before, again)
    assert np.isfinite(before).all() and (before >= 0).all()


def test_intermittent_series_get_a_sane_level_and_not_seasonal_naive():
    # sold on about one day in ten: last week's copy is mostly zeros with random spikes
    df = pd.concat([_series(i, 400, 0.1) for i in range(8)], ignore_index=True)
    result = forecast(df, config=ForecastConfig(use_gbm=False, combinations=()))
    series = result.series.set_index("unique_id")
    assert (series["model"] != SEASONAL_NAIVE).all()
    assert series["mean_daily"].between(0.03, 0.3).all()
    assert (series["error_sd"] > 0).all()


def test_the_forecast_is_the_chosen_candidate_and_young_series_get_the_average():
    old = _series(1, 200, 5.0, weekly=True)
    young = _series(2, 9, 4.0)
    young["ds"] = young["ds"] + pd.Timedelta(days=191)  # its 9 days end with the old series
    df = pd.concat([old, young], ignore_index=True)
    result = forecast(df, config=ForecastConfig(use_gbm=False, combinations=(), horizon=14))
    assert len(result.forecasts) == 2 * 14
    assert result.forecasts["ds"].min() == df["ds"].max() + pd.Timedelta(days=1)
    chosen = result.series.set_index("unique_id")
    model = chosen.at["s1", "model"]
    got = result.forecasts[result.forecasts["unique_id"] == "s1"]["mean"].to_numpy()
    cand = result.candidates[result.candidates["unique_id"] == "s1"][model].to_numpy()
    np.testing.assert_allclose(got, np.maximum(cand, 0))
    assert not np.isnan(chosen.at["s1", "rmsse"])
    assert chosen.at["s2", "model"] == AVERAGE  # nine days: no backtest, too young for ETS
    assert np.isnan(chosen.at["s2", "rmsse"])
    assert chosen.at["s2", "mean_daily"] == pytest.approx(young["y"].mean())
