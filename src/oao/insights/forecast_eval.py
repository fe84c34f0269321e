"""Rolling-origin evaluation of the demand forecasts on M5 data (m5_tiny: 280 Walmart item × store series).

The last `eval_windows` windows of 28 days of the data are scored; for each one, the per-series choice is
made on the `selection_windows` windows just before it, with models that saw only days up to each cutoff.
Nothing chosen or fitted for a window has seen that window. Every candidate is also scored alone in the
same run, so "ours" stands beside seasonal naive and exponential smoothing on identical series and days.

RMSSE per series uses M5's scale (mean squared one-step naive difference of the history up to the cutoff,
from the first non-zero sale); the WRMSSE-style mean weights each series by its dollar sales in the 28 days
before the cutoff.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from oao.insights.forecast import (
    ETS,
    GBM,
    SEASONAL_NAIVE,
    ForecastConfig,
    Progress,
    backtest_scores,
    candidate_forecasts,
    choose_models,
    scales_at_cutoffs,
    weighted_mean,
)

M5_TINY = Path("../shared/data/m5_tiny/tiny_m5_train.parquet")
OURS = "ours (chosen per series)"
M5_COVARIATES = ("price", "event", "snap")
EVENT_TYPES = ("Cultural", "National", "Religious", "Sporting")


def m5_config(**overrides: Any) -> ForecastConfig:
    # In M5, prices and the event calendar of the forecast days are given in advance.
    return replace(ForecastConfig(covariates=M5_COVARIATES, known_in_advance=M5_COVARIATES), **overrides)


def load_m5(path: Path | str = M5_TINY, *, series: int | None = None, seed: int = 0) -> pd.DataFrame:
    """m5_tiny as a demand frame: unique_id (store|item), ds, y, price, event (type code, 0 none), snap.

    Each series starts at its first sale (before it the item was not on the shelf). `series` keeps a
    random sample of that many series (same sample for the same seed)."""
    raw = pd.read_parquet(path, columns=["item_id", "store_id", "date", "value", "sell_price", "event_type_1",
                                         "snap"])
    raw["unique_id"] = raw["store_id"].astype(str) + "|" + raw["item_id"].astype(str)
    if series is not None:
        ids = np.sort(raw["unique_id"].unique())
        keep = np.random.default_rng(seed).choice(ids, size=min(series, len(ids)), replace=False)
        raw = raw[raw["unique_id"].isin(keep)]
    event = raw["event_type_1"].map({name: i + 1 for i, name in enumerate(EVENT_TYPES)}).fillna(0)
    df = pd.DataFrame({"unique_id": raw["unique_id"], "ds": pd.to_datetime(raw["date"]),
                       "y": raw["value"].astype(float), "price": raw["sell_price"].astype(float),
                       "event": event.astype(float), "snap": raw["snap"].astype(float)})
    df = df.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    first = df[df["y"] > 0].groupby("unique_id")["ds"].min()
    return df[df["ds"] >= df["unique_id"].map(first)].reset_index(drop=True)


def dollar_weights(df: pd.DataFrame, cutoff: pd.Timestamp, days: int = 28) -> pd.Series:
    """Each series' dollar sales (units × price) over the `days` days ending at `cutoff`, as shares summing to 1."""
    recent = df[(df["ds"] > cutoff - pd.Timedelta(days=days)) & (df["ds"] <= cutoff)]
    dollars = (recent["y"] * recent["price"].fillna(0)).groupby(recent["unique_id"]).sum()
    total = dollars.sum()
    return dollars / total if total > 0 else dollars


@dataclass
class WindowResult:
    cutoff: pd.Timestamp
    wrmsse: dict[str, float]  # model (or OURS) -> weighted mean RMSSE over series
    chosen: dict[str, int]  # model -> number of series that chose it


@dataclass
class EvalReport:
    series: int
    windows: list[WindowResult]
    selection_windows: int
    horizon: int
    seconds: float
    per_series: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)  # unique_id, cutoff, model, rmsse

    def mean(self, model: str) -> float:
        return float(np.mean([w.wrmsse.get(model, np.nan) for w in self.windows]))

    def ratio(self, model: str) -> float:
        return self.mean(model) / self.mean(SEASONAL_NAIVE)

    def models(self) -> list[str]:
        names = list(self.windows[0].wrmsse) if self.windows else []
        head = [m for m in (OURS, SEASONAL_NAIVE, ETS, GBM) if m in names]
        return head + sorted(m for m in names if m not in head)

    def text(self) -> str:
        lines = [f"{'model':<28}{'WRMSSE':>9}{'× snaive':>10}  " + "  ".join(
            f"{w.cutoff.date()}" for w in self.windows)]
        for m in self.models():
            per = "  ".join(f"{w.wrmsse.get(m, float('nan')):>10.4f}" for w in self.windows)
            lines.append(f"{m:<28}{self.mean(m):>9.4f}{self.ratio(m):>10.3f}  {per}")
        return "\n".join(lines)


def evaluate(df: pd.DataFrame, *, config: ForecastConfig | None = None, eval_windows: int = 3,
             selection_windows: int = 2, engine: Any = None, progress: Progress | None = None) -> EvalReport:
    """Score the per-series choice and every single candidate on the last `eval_windows` windows."""
    started = time.perf_counter()
    config = config or m5_config()
    cands = candidate_forecasts(df, config=config, backtest_windows=eval_windows + selection_windows,
                                include_future=False, engine=engine, progress=progress)
    cutoffs = sorted(pd.Timestamp(c) for c in cands["cutoff"].unique())
    scores = backtest_scores(cands, scales_at_cutoffs(df, cutoffs))
    results, per_series = [], []
    for i in range(selection_windows, len(cutoffs)):
        cutoff = cutoffs[i]
        chosen = choose_models(scores[scores["cutoff"].isin(cutoffs[i - selection_windows:i])])
        here = scores[scores["cutoff"] == cutoff]
        table = here.pivot(index="unique_id", columns="model", values="rmsse")
        pick = chosen.set_index("unique_id")["model"].reindex(table.index).fillna(config.default_model)
        col = table.columns.get_indexer(pick)
        ours = table.to_numpy()[np.arange(len(table)), col]
        table[OURS] = np.where(col >= 0, ours, np.nan)
        weights = dollar_weights(df, cutoff).reindex(table.index).fillna(0.0)
        wrmsse = {m: weighted_mean(table[m].to_numpy(), weights.to_numpy()) for m in table.columns}
        results.append(WindowResult(cutoff=cutoff, wrmsse=wrmsse, chosen=pick.value_counts().to_dict()))
        per_series.append(table.reset_index().melt(id_vars="unique_id", var_name="model", value_name="rmsse")
                          .assign(cutoff=cutoff))
    return EvalReport(series=df["unique_id"].nunique(), windows=results, selection_windows=selection_windows,
                      horizon=config.horizon, seconds=time.perf_counter() - started,
                      per_series=pd.concat(per_series, ignore_index=True) if per_series else pd.DataFrame())


def chosen_counts(report: EvalReport) -> dict[str, int]:
    total: dict[str, int] = {}
    for w in report.windows:
        for m, n in w.chosen.items():
            total[m] = total.get(m, 0) + n
    return dict(sorted(total.items(), key=lambda kv: -kv[1]))


def describe(report: EvalReport, *, data: str, extra: Sequence[str] = ()) -> str:
    ours, sn = report.mean(OURS), report.mean(SEASONAL_NAIVE)
    head = [f"data: {data}, {report.series} series; {len(report.windows)} evaluation windows of "
            f"{report.horizon} days (cutoffs {', '.join(str(w.cutoff.date()) for w in report.windows)}); choice on "
            f"the {report.selection_windows} windows before each", *extra, "", report.text(), "",
            f"ours / seasonal naive = {ours / sn:.3f} (goal <= 0.75); ours / ETS = {ours / report.mean(ETS):.3f}",
            f"chosen models (series × windows): {chosen_counts(report)}",
            f"time: {report.seconds:.1f} s"]
    return "\n".join(head)
