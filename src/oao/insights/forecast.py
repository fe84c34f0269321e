"""Daily demand forecasts per location × product, with the model chosen per series by backtest.

Pure: pandas, numpy, statsforecast and LightGBM over plain frames; no database. The app never
imports this module (the `oao[insights]` extra is needed).

How a forecast is made:
1. `demand_frame` turns sale lines into one row per series and day (zero on days without a sale,
   from the series' first sale to the end day).
2. `candidate_forecasts` runs every candidate model at several cutoffs: the last `backtest_windows`
   windows of `horizon` days inside the history, and the end of the history (the real forecast).
   Statistical models come from statsforecast (seasonal naive, ETS, Croston, ADIDA, IMAPA); the
   global LightGBM model (forecast_gbm.py) adds price, weekday and event features.
3. Each series keeps the candidate with the lowest mean RMSSE over its backtest windows; its one-day
   error sd (what safety stock needs) is the root mean squared error of that model in those windows.

`engine` makes the same code run on a cluster: a `distributed.Client` (statsforecast's Fugue backend
over a Dask DataFrame, and the LightGBM fits as Dask tasks) or any Fugue execution engine.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from oao.insights.forecast_gbm import GbmParams, Panel, make_panel
from oao.insights.forecast_gbm import fit_predict as gbm_fit_predict

Progress = Callable[[float, str], None]  # (fraction done 0..1, what is running)

SEASONAL_NAIVE = "SeasonalNaive"
ETS = "AutoETS"
GBM = "LightGBM"
AVERAGE = "Average28"  # mean of the last 28 days; also what a series too young for any model gets
STATS_MODELS = (SEASONAL_NAIVE, ETS, "CrostonClassic", "ADIDA", "IMAPA")
KEY_SEPARATOR = "|"


@dataclass(frozen=True)
class ForecastConfig:
    horizon: int = 28
    backtest_windows: int = 2
    season_length: int = 7
    # ETS on five years of daily data costs ~50× more than on one and follows recent level no better.
    stats_history_days: int = 364
    stats_models: tuple[str, ...] = STATS_MODELS
    use_gbm: bool = True
    gbm: GbmParams = field(default_factory=GbmParams)
    # equal-weight averages of candidates, themselves candidates ("LightGBM+AutoETS")
    combinations: tuple[tuple[str, ...], ...] = ((GBM, ETS),)
    covariates: tuple[str, ...] = ()  # extra columns of the demand frame the LightGBM model may use
    known_in_advance: tuple[str, ...] = ()  # covariates whose future values are known (planned prices, events)
    default_model: str = ETS  # for a series without any backtest window
    n_jobs: int = 1


@dataclass
class ForecastResult:
    forecasts: pd.DataFrame  # unique_id, ds, mean, model: the chosen model's forecast
    series: pd.DataFrame  # unique_id, model, rmsse, error_sd, mean_daily
    candidates: pd.DataFrame  # unique_id, ds, one column per candidate (the future horizon)
    backtest: pd.DataFrame  # unique_id, cutoff, model, rmsse, sse, days


# ---------------------------------------------------------------------------- demand frame

def series_key(location_id: str | None, product_id: str) -> str:
    return f"{location_id or ''}{KEY_SEPARATOR}{product_id}"


def split_key(unique_id: str) -> tuple[str | None, str]:
    location, product = unique_id.split(KEY_SEPARATOR, 1)
    return (location or None), product


def demand_frame(lines: pd.DataFrame, *, end: date, timezones: dict[str, str] | None = None,
                 default_timezone: str = "UTC") -> pd.DataFrame:
    """Daily units per location × product from sale lines (the `lines_frame` columns).

    A sale counts on the local day of its location (`timezones`: location id -> IANA zone), so a
    Shanghai store's morning is not split across two UTC days. Days without a sale between a series'
    first sale and `end` are zeros: a product that did not sell is information, not a gap.
    Returns unique_id, location_id, product_id, ds, y, price (average unit price that day, in minor
    units; NaN on days without a sale)."""
    columns = ["unique_id", "location_id", "product_id", "ds", "y", "price"]
    sold = lines[lines["quantity"] > 0]
    if sold.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c in ("y", "price") else "object") for c in columns})
    sold = sold.assign(location_id=sold["location_id"].fillna(""))
    days = pd.Series(pd.NaT, index=sold.index, dtype="datetime64[ns]")
    zones = timezones or {}
    for location, idx in sold.groupby("location_id").groups.items():
        zone = zones.get(str(location), default_timezone)
        local = sold.loc[idx, "occurred_at"].dt.tz_convert(zone)
        days.loc[idx] = local.dt.tz_localize(None).dt.normalize().to_numpy()
    sold = sold.assign(ds=days)
    end_ts = pd.Timestamp(end)
    sold = sold[sold["ds"] <= end_ts]
    daily = (sold.groupby(["location_id", "product_id", "ds"], sort=True)
             .agg(y=("quantity", "sum"), amount=("amount_minor", "sum")).reset_index())
    frames = []
    for (location, product), g in daily.groupby(["location_id", "product_id"], sort=True):
        full = pd.date_range(g["ds"].min(), end_ts, freq="D")
        g = g.set_index("ds").reindex(full)
        y = g["y"].fillna(0).to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            price = (g["amount"] / g["y"]).to_numpy(dtype=float)
        frames.append(pd.DataFrame({"unique_id": series_key(location, product), "location_id": location or None,
                                    "product_id": product, "ds": full, "y": y, "price": price}))
    if not frames:
        return pd.DataFrame({c: [] for c in columns})
    return pd.concat(frames, ignore_index=True)[columns]


# ---------------------------------------------------------------------------- error measures

def rmsse_scale(history: np.ndarray) -> float:
    """Mean squared one-step naive difference of the history from its first non-zero value (M5's RMSSE scale).

    A history that never moved (all equal) has no scale; 1.0 is used so its errors count in units."""
    h = np.asarray(history, dtype=float)
    h = h[~np.isnan(h)]
    nonzero = np.flatnonzero(h)
    if len(nonzero) == 0:
        return 1.0
    h = h[nonzero[0]:]
    if len(h) < 2:
        return 1.0
    scale = float(np.mean(np.diff(h) ** 2))
    return scale if scale > 0 else 1.0


def rmsse(actual: Sequence[float], forecast: Sequence[float], scale: float) -> float:
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    return math.sqrt(float(np.mean((a - f) ** 2)) / scale)


def weighted_mean(values: Sequence[float], weights: Sequence[float]) -> float:
    v, w = np.asarray(values, dtype=float), np.asarray(weights, dtype=float)
    keep = ~np.isnan(v) & (w > 0)
    total = w[keep].sum()
    return float((v[keep] * w[keep]).sum() / total) if total > 0 else float("nan")


def panel_scales(panel: Panel, cutoff: int) -> np.ndarray:
    """`rmsse_scale` of every series' history up to day index `cutoff` (inclusive), vectorised."""
    y = panel.y[:, :cutoff + 1]
    z = np.where(np.isnan(y), 0.0, y)
    started = np.maximum.accumulate(z > 0, axis=1)  # from the first non-zero on
    d2 = np.diff(z, axis=1) ** 2
    pair = started[:, :-1] & started[:, 1:] & ~np.isnan(y[:, 1:])
    n = pair.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(n > 0, (d2 * pair).sum(axis=1) / np.maximum(n, 1), 0.0)
    return np.where(scale > 0, scale, 1.0)


# ---------------------------------------------------------------------------- candidates

def _stats_model(name: str, season: int) -> Any:
    from statsforecast import models as m

    if name == SEASONAL_NAIVE:
        return m.SeasonalNaive(season_length=season)
    if name == ETS:
        # additive weekly season, no trend: on daily retail data a trend extrapolated 28 days does harm
        return m.AutoETS(season_length=season, model="ZNA")
    return getattr(m, name)()


def _run_stats(df: pd.DataFrame, *, config: ForecastConfig, n_windows: int, engine: Any) -> pd.DataFrame:
    """statsforecast over `df`: cross-validation windows (n_windows > 0) or the future (n_windows == 0)."""
    from statsforecast import StatsForecast
    from statsforecast.models import HistoricAverage

    sf = StatsForecast(models=[_stats_model(n, config.season_length) for n in config.stats_models], freq="D",
                       n_jobs=config.n_jobs if engine is None else 1, fallback_model=HistoricAverage())
    h = config.horizon

    def call(data: Any) -> Any:
        if n_windows:
            return sf.cross_validation(h=h, df=data, n_windows=n_windows, step_size=h,
                                       input_size=config.stats_history_days)
        return sf.forecast(h=h, df=data)

    data = df[["unique_id", "ds", "y"]]
    if engine is None:
        out = call(data)
    elif _is_dask_client(engine):
        import dask.dataframe as dd

        workers = max(1, len(engine.scheduler_info().get("workers", {})))
        ddf = dd.from_pandas(data, npartitions=max(1, min(data["unique_id"].nunique(), 2 * workers)))
        out = engine.compute(call(ddf)).result()
    else:
        import fugue.api as fa

        with fa.engine_context(engine):
            out = fa.as_pandas(call(data))
    out = pd.DataFrame(out)
    out["ds"] = pd.to_datetime(out["ds"])
    if "cutoff" in out:
        out["cutoff"] = pd.to_datetime(out["cutoff"])
        out = out.drop(columns=["y"], errors="ignore")
    return out.sort_values(["unique_id", "ds"] + (["cutoff"] if "cutoff" in out else [])).reset_index(drop=True)


def _is_dask_client(engine: Any) -> bool:
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - dask is part of the insights extra
        return False
    return isinstance(engine, Client)


def _gbm_at_cutoffs(panel: Panel, cutoffs: list[int], *, config: ForecastConfig, engine: Any,
                    step: Callable[[str], None]) -> dict[int, np.ndarray]:
    if _is_dask_client(engine):
        # one task per cutoff: the fits run side by side on the cluster's workers
        scattered = engine.scatter(panel, broadcast=True)
        futures = {c: engine.submit(gbm_fit_predict, scattered, cutoff=c, horizon=config.horizon, params=config.gbm,
                                    pure=False) for c in cutoffs}
        results = {}
        for c, fut in futures.items():
            results[c] = fut.result()
            step(f"LightGBM fitted at cutoff {panel.days[c].date()}")
        return results
    results = {}
    for c in cutoffs:
        results[c] = gbm_fit_predict(panel, cutoff=c, horizon=config.horizon, params=config.gbm)
        step(f"LightGBM fitted at cutoff {panel.days[c].date()}")
    return results


def candidate_forecasts(df: pd.DataFrame, *, config: ForecastConfig = ForecastConfig(), backtest_windows: int,
                        include_future: bool = True, future: pd.DataFrame | None = None, engine: Any = None,
                        progress: Progress | None = None) -> pd.DataFrame:
    """Every candidate's forecasts at the last `backtest_windows` cutoffs (each `horizon` days apart, ending
    `horizon` days before the last day) and, with `include_future`, for the days after the history.

    Returns unique_id, cutoff, ds, y (NaN in the future), and one column per candidate model. A model
    trained for a cutoff sees only days up to it; that is what makes the backtest honest."""
    h = config.horizon
    df = df.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    panel = make_panel(df, horizon=h, future=future, covariates=config.covariates,
                       known_in_advance=config.known_in_advance)
    last = panel.n_history - 1
    cutoffs = [last - h * w for w in range(backtest_windows, 0, -1)] + ([last] if include_future else [])
    cutoffs = [c for c in cutoffs if c >= 0]
    steps = len(cutoffs) * (1 + config.use_gbm) + 1
    done = [0]

    def step(message: str) -> None:
        done[0] += 1
        if progress:
            progress(min(done[0] / steps, 1.0), message)

    if progress:
        progress(0.0, f"{len(panel.ids)} series, {len(cutoffs)} cutoff(s)")
    seen = ~np.isnan(panel.y[:, :panel.n_history])
    start = np.where(seen.any(axis=1), np.argmax(seen, axis=1), panel.n_history)  # each series' first day
    frames = []
    min_days = 2 * config.season_length
    windows = [c for c in cutoffs if c < last]
    if windows:
        # only series old enough at the first window take part; the others are judged on fewer windows below
        old = panel.ids[(windows[0] - start + 1) >= min_days]
        if len(old):
            sub = df[df["unique_id"].isin(old) & (df["ds"] <= panel.days[last])]
            frames.append(_run_stats(sub, config=config, n_windows=len(windows), engine=engine))
        step("statistical models backtested")
    if include_future:
        young = set(panel.ids[(last - start + 1) < min_days])
        ready = df[~df["unique_id"].isin(young)]
        ready = ready[ready["ds"] > panel.days[last] - pd.Timedelta(days=config.stats_history_days)]
        if len(ready):
            fut = _run_stats(ready, config=config, n_windows=0, engine=engine)
            fut["cutoff"] = panel.days[last]
            frames.append(fut)
        step("statistical models forecast")
    stats = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["unique_id", "ds", "cutoff"])

    # one skeleton row per series, cutoff and day: stats, LightGBM and the average are joined onto it
    gbm = _gbm_at_cutoffs(panel, cutoffs, config=config, engine=engine, step=step) if config.use_gbm else {}
    skeleton = []
    for c in cutoffs:
        alive = np.flatnonzero(start <= c)
        days = panel.days[c + 1:c + 1 + h]
        block = pd.DataFrame({"unique_id": np.repeat(panel.ids[alive], h), "cutoff": panel.days[c],
                              "ds": np.tile(days, len(alive)),
                              "y": panel.y[alive, c + 1:c + 1 + h].reshape(-1)})
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a series with no day in the window: 0
            avg = np.nanmean(panel.y[alive, max(c - 27, 0):c + 1], axis=1)
        block[AVERAGE] = np.repeat(np.nan_to_num(avg), h)
        if c in gbm:
            block[GBM] = gbm[c][alive].reshape(-1)
        skeleton.append(block)
    out = pd.concat(skeleton, ignore_index=True)
    if len(stats):
        out = out.merge(stats, on=["unique_id", "cutoff", "ds"], how="left")
    for combo in config.combinations:
        if all(m in out for m in combo):
            out["+".join(combo)] = out[list(combo)].mean(axis=1, skipna=False)
    if progress:
        progress(1.0, "candidates ready")
    return out


def candidate_names(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in ("unique_id", "cutoff", "ds", "y")]


# ---------------------------------------------------------------------------- choice

def backtest_scores(cands: pd.DataFrame, scales: pd.DataFrame) -> pd.DataFrame:
    """RMSSE and squared error of each candidate per series and backtest window.

    `scales`: unique_id, cutoff, scale (the RMSSE scale of the history up to that cutoff)."""
    past = cands[cands["y"].notna()]
    models = candidate_names(cands)
    if past.empty or scales.empty:
        return pd.DataFrame(columns=["unique_id", "cutoff", "model", "rmsse", "sse", "days"])
    long = past.melt(id_vars=["unique_id", "cutoff", "ds", "y"], value_vars=models, var_name="model",
                     value_name="f").dropna(subset=["f"])
    long["se"] = (long["y"] - long["f"]) ** 2
    g = long.groupby(["unique_id", "cutoff", "model"], sort=True).agg(sse=("se", "sum"), days=("se", "size"))
    g = g.reset_index().merge(scales, on=["unique_id", "cutoff"], how="left")
    g["rmsse"] = np.sqrt(g["sse"] / g["days"] / g["scale"])
    return g[["unique_id", "cutoff", "model", "rmsse", "sse", "days"]]


def choose_models(scores: pd.DataFrame, *, margin: float = 0.1, windows: int | None = None) -> pd.DataFrame:
    """Per series, the candidate with the lowest mean RMSSE over the windows every candidate was scored on,
    shrunk towards the candidate that is best over all series.

    Two or three 28-day windows are a noisy judge of one series: a series leaves the overall best candidate
    only when its own best beats it by more than `margin` (a share) on its backtest. A candidate missing a
    window (not enough history then) cannot win on fewer, easier windows.
    Returns unique_id, model, rmsse, error_sd (root mean squared one-day error of the chosen model)."""
    if scores.empty:
        return pd.DataFrame(columns=["unique_id", "model", "rmsse", "error_sd"])
    per = scores.groupby(["unique_id", "model"]).agg(rmsse=("rmsse", "mean"), sse=("sse", "sum"),
                                                      days=("days", "sum"), n=("rmsse", "size")).reset_index()
    most = per.groupby("unique_id")["n"].transform("max") if windows is None else windows
    per = per[per["n"] >= most]
    # ties (a series of zeros): prefer the order below, simplest first
    order = {m: i for i, m in enumerate([SEASONAL_NAIVE, ETS, "ADIDA", "IMAPA", "CrostonClassic", AVERAGE, GBM])}
    per["_order"] = per["model"].map(order).fillna(len(order))
    own = per.sort_values(["unique_id", "rmsse", "_order"]).groupby("unique_id").head(1).set_index("unique_id")
    overall = per.groupby("model")["rmsse"].mean().idxmin()
    default = per[per["model"] == overall].set_index("unique_id")
    keep_default = default["rmsse"].reindex(own.index) * (1 - margin) <= own["rmsse"]
    best = pd.concat([default.loc[keep_default[keep_default].index], own.loc[keep_default[~keep_default].index]])
    best = best.reset_index()
    best = best.assign(error_sd=np.sqrt(best["sse"] / best["days"]))
    return best[["unique_id", "model", "rmsse", "error_sd"]].sort_values("unique_id").reset_index(drop=True)


def scales_at_cutoffs(df: pd.DataFrame, cutoffs: Sequence[pd.Timestamp]) -> pd.DataFrame:
    panel = make_panel(df[["unique_id", "ds", "y"]], horizon=0)
    frames = []
    for cutoff in cutoffs:
        idx = int((pd.Timestamp(cutoff) - panel.days[0]).days)
        if 0 <= idx < panel.n_history:
            frames.append(pd.DataFrame({"unique_id": panel.ids, "cutoff": pd.Timestamp(cutoff),
                                        "scale": panel_scales(panel, idx)}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["unique_id", "cutoff", "scale"])


def assemble(cands: pd.DataFrame, chosen: pd.DataFrame, *, default_model: str, history: pd.DataFrame,
             cutoff: pd.Timestamp) -> ForecastResult:
    """The chosen model's forecasts after `cutoff`; series without a backtest take `default_model`
    (or the average, when too young for it), with the error sd of their recent days."""
    future = cands[cands["cutoff"] == cutoff].copy()
    models = candidate_names(future)
    ids = future["unique_id"].unique()
    choice = chosen.set_index("unique_id")
    recent = history[history["ds"] > cutoff - pd.Timedelta(days=28)].groupby("unique_id")["y"]
    sd_recent = recent.std(ddof=0).fillna(0.0)
    mean_recent = recent.mean().fillna(0.0)
    rows = []
    for uid in ids:
        if uid in choice.index:
            model, score, sd = choice.at[uid, "model"], choice.at[uid, "rmsse"], choice.at[uid, "error_sd"]
        else:
            model, score = default_model, float("nan")
            # no backtest: a Poisson-like guess that never claims to know better than the data's own spread
            sd = max(float(sd_recent.get(uid, 0.0)), math.sqrt(float(mean_recent.get(uid, 0.0))))
        rows.append((uid, model, score, float(sd)))
    series = pd.DataFrame(rows, columns=["unique_id", "model", "rmsse", "error_sd"])
    pick = future.merge(series[["unique_id", "model"]], on="unique_id")
    values = pick[models].to_numpy(dtype=float)
    col = pd.Index(models).get_indexer(pick["model"])
    mean = np.where(col >= 0, values[np.arange(len(pick)), np.maximum(col, 0)], np.nan)
    missing = np.isnan(mean)  # the chosen (or default) model had no forecast for this series: average
    mean[missing] = pick[AVERAGE].to_numpy(dtype=float)[missing]
    pick["model"] = np.where(missing, AVERAGE, pick["model"])
    forecasts = pd.DataFrame({"unique_id": pick["unique_id"], "ds": pick["ds"], "mean": np.maximum(mean, 0.0),
                              "model": pick["model"]})
    used = forecasts.groupby("unique_id").agg(model=("model", "first"), mean_daily=("mean", "mean")).reset_index()
    series = series.drop(columns="model").merge(used, on="unique_id")
    series = series[["unique_id", "model", "rmsse", "error_sd", "mean_daily"]]
    candidates = future.drop(columns=["cutoff", "y"]).reset_index(drop=True)
    return ForecastResult(forecasts=forecasts.reset_index(drop=True), series=series, candidates=candidates,
                          backtest=pd.DataFrame())


def forecast(df: pd.DataFrame, *, config: ForecastConfig = ForecastConfig(), future: pd.DataFrame | None = None,
             engine: Any = None, progress: Progress | None = None) -> ForecastResult:
    """Backtest every candidate on the last `config.backtest_windows` windows, choose per series, and
    forecast the `config.horizon` days after the history with the chosen model.

    `df`: unique_id, ds, y (+ covariates), every series running to the same last day (see `demand_frame`).
    `future`: covariates of the horizon days, when some are known in advance."""
    cands = candidate_forecasts(df, config=config, backtest_windows=config.backtest_windows, include_future=True,
                                future=future, engine=engine, progress=progress)
    cutoff = pd.Timestamp(df["ds"].max())
    past_cutoffs = sorted(c for c in cands["cutoff"].unique() if c < cutoff)
    scores = backtest_scores(cands, scales_at_cutoffs(df, past_cutoffs))
    result = assemble(cands, choose_models(scores), default_model=config.default_model, history=df, cutoff=cutoff)
    result.backtest = scores
    return result
