"""A bounded run of the m5_tiny evaluation (10 series, one scored window): the figures exist and make sense."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytest.importorskip("pandas")
pytest.importorskip("statsforecast")
pytest.importorskip("lightgbm")

from oao.insights.forecast import ETS, GBM, SEASONAL_NAIVE  # noqa: E402
from oao.insights.forecast_eval import OURS, describe, evaluate, load_m5, m5_config  # noqa: E402
from oao.insights.forecast_gbm import GbmParams  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "../shared/data/m5_tiny/tiny_m5_train.parquet"

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not DATA.exists(), reason="../shared/data/m5_tiny is absent (real data lives outside the repo)")
def test_ten_m5_series_are_scored_for_every_model_in_the_same_run():
    df = load_m5(DATA, series=10, seed=1)
    assert df["unique_id"].nunique() == 10
    assert (df.groupby("unique_id")["y"].first() > 0).all()  # each series starts at its first sale
    config = m5_config(gbm=GbmParams(rounds=30, train_origins=12, min_data_in_leaf=20))
    report = evaluate(df, config=config, eval_windows=1, selection_windows=1)
    assert len(report.windows) == 1 and str(report.windows[0].cutoff.date()) == "2016-03-27"
    for model in (OURS, SEASONAL_NAIVE, ETS, GBM):
        assert 0 < report.mean(model) < 5, model
    assert report.ratio(SEASONAL_NAIVE) == 1.0
    assert sum(report.windows[0].chosen.values()) == 10
    per = report.per_series[report.per_series["model"] == SEASONAL_NAIVE]
    assert len(per) == 10 and per["rmsse"].map(math.isfinite).all()
    text = describe(report, data="m5_tiny sample")
    assert "ours / seasonal naive" in text and "SeasonalNaive" in text
