"""A global LightGBM demand model over every series at once (pure: numpy, pandas, LightGBM).

One model learns from all series together, so a product with little history borrows the
weekday shape, price response and event effects of the others. It is a *direct* model: a row
is (series, origin, horizon k) and its features are computed from what was known at the origin
(recent means, same-weekday means, last year's value, lags) plus what is known in advance about
the target day (weekday, date, events, planned prices). No prediction is fed back as an input,
so errors do not compound over the 28 days and no row ever sees a value after its origin.

Covariates that are *not* known in advance (a price observed only through sales, say) are
frozen at their value on the cutoff day, so a backtest cannot learn from the future through them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

SEASON = 7
YEAR = 364  # 52 weeks: the same weekday one year earlier


@dataclass(frozen=True)
class GbmParams:
    # Tuned on m5_tiny windows that end before the evaluation windows (benchmarks/forecast_eval.py):
    # 500 rounds at 0.03 beat 250 at 0.04; two years of origins instead of one bought nothing;
    # tweedie beat poisson.
    rounds: int = 500
    learning_rate: float = 0.03
    num_leaves: int = 48
    min_data_in_leaf: int = 200
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    train_origins: int = 52  # weekly origins back from the cutoff (one year)
    objective: str = "tweedie"  # tweedie | poisson | regression
    tweedie_variance_power: float = 1.2
    num_threads: int = 1
    seed: int = 0


@dataclass
class Panel:
    """Series as rows of day-indexed matrices; NaN before a series starts and after the history ends."""

    ids: np.ndarray
    days: pd.DatetimeIndex  # history days, then the horizon days
    y: np.ndarray  # (n, len(days))
    n_history: int
    covariates: dict[str, np.ndarray] = field(default_factory=dict)
    known_in_advance: frozenset[str] = frozenset()


def make_panel(df: pd.DataFrame, *, horizon: int, future: pd.DataFrame | None = None,
               covariates: Sequence[str] = (), known_in_advance: Sequence[str] = ()) -> Panel:
    """Pivot a long demand frame (unique_id, ds, y, covariates…) into matrices extended by `horizon` days.

    `future` holds the covariates of the horizon days (unique_id, ds, covariates…); those missing are
    carried forward from the last history day."""
    ids = np.array(sorted(df["unique_id"].unique()))
    first, last = df["ds"].min(), df["ds"].max()
    days = pd.date_range(first, last + pd.Timedelta(days=horizon), freq="D")
    n_history = int((last - first).days) + 1
    row = pd.Index(ids).get_indexer(df["unique_id"])
    col = ((df["ds"] - first).dt.days).to_numpy()
    y = np.full((len(ids), len(days)), np.nan)
    y[row, col] = df["y"].to_numpy(dtype=float)
    covs: dict[str, np.ndarray] = {}
    for name in covariates:
        m = np.full((len(ids), len(days)), np.nan)
        m[row, col] = df[name].to_numpy(dtype=float)
        if future is not None and name in future:
            f = future[future["unique_id"].isin(ids)]
            frow = pd.Index(ids).get_indexer(f["unique_id"])
            fcol = ((f["ds"] - first).dt.days).to_numpy()
            keep = (fcol >= n_history) & (fcol < len(days))
            m[frow[keep], fcol[keep]] = f[name].to_numpy(dtype=float)[keep]
        covs[name] = _ffill(m)
    return Panel(ids=ids, days=days, y=y, n_history=n_history, covariates=covs,
                 known_in_advance=frozenset(known_in_advance))


def _ffill(m: np.ndarray) -> np.ndarray:
    idx = np.where(np.isnan(m), 0, np.arange(m.shape[1])[None, :])
    np.maximum.accumulate(idx, axis=1, out=idx)
    return m[np.arange(m.shape[0])[:, None], idx]


class _State:
    """Running sums of one panel cut at `cutoff`: everything the features of an origin <= cutoff need."""

    def __init__(self, panel: Panel, cutoff: int) -> None:
        y = panel.y.copy()
        y[:, cutoff + 1:] = np.nan
        self.y = y
        self.cutoff = cutoff
        valid = ~np.isnan(y)
        z = np.where(valid, y, 0.0)
        n = y.shape[0]
        self.cs = np.concatenate([np.zeros((n, 1)), np.cumsum(z, axis=1)], axis=1)
        self.cs2 = np.concatenate([np.zeros((n, 1)), np.cumsum(z * z, axis=1)], axis=1)
        self.cn = np.concatenate([np.zeros((n, 1)), np.cumsum(valid, axis=1)], axis=1)
        self.cz = np.concatenate([np.zeros((n, 1)), np.cumsum(valid & (z == 0), axis=1)], axis=1)
        idx = np.arange(y.shape[1])
        self.last_sale = np.maximum.accumulate(np.where(z > 0, idx[None, :], -10_000), axis=1)
        self.start = np.where(valid.any(axis=1), valid.argmax(axis=1), y.shape[1])
        self.covs = {}
        for name, m in panel.covariates.items():
            if name in panel.known_in_advance:
                self.covs[name] = m
            else:  # frozen at the cutoff: the model cannot know tomorrow's value of it
                frozen = m.copy()
                frozen[:, cutoff + 1:] = m[:, [cutoff]]
                self.covs[name] = frozen
        self.dow = panel.days.dayofweek.to_numpy()
        self.dom = panel.days.day.to_numpy()
        self.month = panel.days.month.to_numpy()

    def window(self, c: np.ndarray, o: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        lo = max(o + 1 - w, 0)
        return c[:, o + 1] - c[:, lo], self.cn[:, o + 1] - self.cn[:, lo]

    def mean(self, o: int, w: int) -> np.ndarray:
        s, n = self.window(self.cs, o, w)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def _origin_features(st: _State, o: int) -> dict[str, np.ndarray]:
    f: dict[str, np.ndarray] = {}
    for w in (7, 28, 91, YEAR):
        f[f"mean_{w}"] = st.mean(o, w)
    s, n = st.window(st.cs, o, 28)
    s2, _ = st.window(st.cs2, o, 28)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = s / np.maximum(n, 1)
        f["sd_28"] = np.where(n > 1, np.sqrt(np.maximum(s2 / np.maximum(n, 1) - m * m, 0)), np.nan)
        zeros, _ = st.window(st.cz, o, 28)
        f["zero_share_28"] = np.where(n > 0, zeros / np.maximum(n, 1), np.nan)
        f["trend_7_28"] = f["mean_7"] / (f["mean_28"] + 0.1)
        f["trend_28_91"] = f["mean_28"] / (f["mean_91"] + 0.1)
    f["days_since_sale"] = np.minimum(o - st.last_sale[:, o], 400).astype(float)
    f["age"] = np.minimum(o - st.start, 1000).astype(float)
    if "price" in st.covs:
        price = st.covs["price"]
        with np.errstate(invalid="ignore", divide="ignore"):
            f["_price_recent"] = np.nanmean(price[:, max(o - 27, 0):o + 1], axis=1)
            f["_price_max"] = np.nanmax(price[:, :o + 1], axis=1)
    for lag in range(SEASON):
        f[f"lag_{lag}"] = st.y[:, o - lag] if o - lag >= 0 else np.full(st.y.shape[0], np.nan)
    return f


def _rows(st: _State, o: int, horizons: Sequence[int]) -> pd.DataFrame:
    base = _origin_features(st, o)
    n = st.y.shape[0]
    frames = []
    level = base["mean_28"]
    for k in horizons:
        t = o + k
        d0 = o - ((o - t) % SEASON)  # the last day <= o on the target's weekday
        same_dow = np.stack([st.y[:, d0 - SEASON * j] if d0 - SEASON * j >= 0 else np.full(n, np.nan)
                             for j in range(12)], axis=1)
        f = dict(base)
        f["horizon"] = np.full(n, float(k))
        f["dow"] = np.full(n, float(st.dow[t]))
        f["day_of_month"] = np.full(n, float(st.dom[t]))
        f["month"] = np.full(n, float(st.month[t]))
        with np.errstate(invalid="ignore", divide="ignore"):
            f["dow_mean_4"] = np.nanmean(same_dow[:, :4], axis=1)
            f["dow_mean_12"] = np.nanmean(same_dow, axis=1)
            f["dow_ratio_12"] = f["dow_mean_12"] / (np.nanmean(st.y[:, max(d0 - 83, 0):o + 1], axis=1) + 0.1)
            f["dow_level"] = f["dow_ratio_12"] * level
        ly = t - YEAR
        f["last_year"] = st.y[:, ly] if ly >= 0 else np.full(n, np.nan)
        f["last_year_week"] = (np.nanmean(st.y[:, max(ly - 3, 0):ly + 4], axis=1) if ly >= 3
                               else np.full(n, np.nan))
        for name, m in st.covs.items():
            f[name] = m[:, t]
            if name == "price":
                with np.errstate(invalid="ignore", divide="ignore"):
                    f["price_change"] = m[:, t] / base["_price_recent"]
                    f["price_vs_max"] = m[:, t] / base["_price_max"]
            else:
                f[f"{name}_next_day"] = m[:, t + 1] if t + 1 < m.shape[1] else np.full(n, np.nan)
        f["_series"] = np.arange(n, dtype=float)
        f["_target"] = st.y[:, t] if t < st.y.shape[1] else np.full(n, np.nan)
        frames.append(f)
    names = list(frames[0])
    data = np.concatenate([np.column_stack([f[c] for c in names]) for f in frames], axis=0)
    out = pd.DataFrame(data, columns=names)
    # a series enters an origin only once it has begun
    return out[(o - st.start[out["_series"].to_numpy().astype(int)]) >= 0]


CATEGORICAL = ["dow"]


def _lgb_params(params: GbmParams) -> dict[str, Any]:
    return {"objective": params.objective, "tweedie_variance_power": params.tweedie_variance_power,
            "learning_rate": params.learning_rate, "num_leaves": params.num_leaves,
            "min_data_in_leaf": params.min_data_in_leaf, "feature_fraction": params.feature_fraction,
            "bagging_fraction": params.bagging_fraction, "bagging_freq": 1, "lambda_l2": 1.0,
            "num_threads": params.num_threads, "seed": params.seed, "deterministic": True,
            "force_row_wise": True, "verbose": -1}


def fit_predict(panel: Panel, *, cutoff: int, horizon: int, params: GbmParams = GbmParams()) -> np.ndarray:
    """Train on origins up to `cutoff` (a day index) and predict days cutoff+1 … cutoff+horizon.

    Returns an (n_series, horizon) array; NaN for series that had not started by the cutoff."""
    with warnings.catch_warnings():  # all-NaN windows of young series are expected and become NaN features
        warnings.simplefilter("ignore", RuntimeWarning)
        return _fit_predict(panel, cutoff=cutoff, horizon=horizon, params=params)


def _fit_predict(panel: Panel, *, cutoff: int, horizon: int, params: GbmParams) -> np.ndarray:
    import lightgbm as lgb

    st = _State(panel, cutoff)
    train = []
    for j in range(1, params.train_origins + 1):
        o = cutoff - SEASON * j  # same weekday as the cutoff, so horizon k always lands on the same weekday
        if o < 28:
            break
        ks = [k for k in range(1, horizon + 1) if o + k <= cutoff]
        rows = _rows(st, o, ks)
        rows = rows[rows["_target"].notna() & (rows["age"] >= 27)]
        train.append(rows)
    test = _rows(st, cutoff, range(1, horizon + 1))
    out = np.full((len(panel.ids), horizon), np.nan)
    if not train or sum(len(t) for t in train) < 200:
        return out
    data = pd.concat(train, ignore_index=True)
    features = [c for c in data.columns if not c.startswith("_")]
    dataset = lgb.Dataset(data[features], label=data["_target"].clip(lower=0), categorical_feature=CATEGORICAL,
                          free_raw_data=True)
    booster = lgb.train(_lgb_params(params), dataset, num_boost_round=params.rounds)
    pred = np.maximum(booster.predict(test[features]), 0.0)
    out[test["_series"].to_numpy().astype(int), test["horizon"].to_numpy().astype(int) - 1] = pred
    return out
