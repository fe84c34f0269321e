"""The same forecasting code on a local Dask cluster (2 worker processes on 127.0.0.1) gives the same forecasts."""

from __future__ import annotations

import pytest

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")
pytest.importorskip("statsforecast")
pytest.importorskip("lightgbm")
distributed = pytest.importorskip("distributed")

from oao.insights.forecast import ForecastConfig, forecast  # noqa: E402
from oao.insights.forecast_gbm import GbmParams  # noqa: E402

pytestmark = pytest.mark.slow


def _demand(n_series: int = 6, days: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    ds = pd.date_range("2024-01-01", periods=days)
    frames = []
    for i in range(n_series):
        rate = (0.3 + i) * (1 + 0.6 * (ds.dayofweek >= 5))
        y = rng.poisson(rate).astype(float)
        y[0] = max(y[0], 1.0)
        frames.append(pd.DataFrame({"unique_id": f"loc_{i % 2}|p{i}", "ds": ds, "y": y,
                                    "price": 100.0 + 10 * (ds.month % 2)}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", processes=True,
                                       dashboard_address=None)
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


def test_forecasts_on_a_two_worker_dask_cluster_equal_the_in_process_ones(client):
    assert len(client.scheduler_info()["workers"]) == 2
    df = _demand()
    config = ForecastConfig(horizon=14, covariates=("price",), gbm=GbmParams(rounds=30, train_origins=20,
                                                                            min_data_in_leaf=20))
    here = forecast(df, config=config)
    steps = []
    there = forecast(df, config=config, engine=client, progress=lambda f, m: steps.append(f))

    key = ["unique_id", "ds"]
    a, b = here.forecasts.sort_values(key).reset_index(drop=True), there.forecasts.sort_values(key).reset_index(
        drop=True)
    assert len(a) == 6 * 14
    assert list(a["unique_id"]) == list(b["unique_id"]) and list(a["ds"]) == list(b["ds"])
    assert list(a["model"]) == list(b["model"])
    np.testing.assert_allclose(a["mean"], b["mean"], rtol=1e-6, atol=1e-9)
    sa, sb = here.series.sort_values("unique_id"), there.series.sort_values("unique_id")
    np.testing.assert_allclose(sa["error_sd"], sb["error_sd"], rtol=1e-6)
    # every candidate, LightGBM included (fitted as Dask tasks), agrees
    ca = here.candidates.sort_values(key).reset_index(drop=True)
    cb = there.candidates.sort_values(key).reset_index(drop=True)[ca.columns]
    np.testing.assert_allclose(ca.drop(columns=key).to_numpy(dtype=float), cb.drop(columns=key).to_numpy(dtype=float),
                               rtol=1e-6, atol=1e-9)
    assert steps[-1] == 1.0 and steps == sorted(steps)
