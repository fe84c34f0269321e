"""The forecast job: a merchant's sale lines -> daily demand forecasts per location × product, stored.

A run reads the sale lines of the last `history_days` in one short read transaction, fits and chooses the
models outside any transaction (oao.insights.forecast), then replaces the merchant's rows of
insight_forecast_series and insight_forecasts in ONE write transaction, so REPLENISH reads the old set or
the new set, never half of each. The run row (TrainingRun, kind "forecast") keeps its seconds, peak
memory, the number of sale lines used and its progress while it runs.

Days are the locations' own days: forecasts start at the merchant's "today" (local) and the history ends
at yesterday, so a half-finished day never looks like a bad day.

Needs the `oao[insights]` extra, imported inside the functions; `forecast_for` reads with SQLAlchemy only.
"""

from __future__ import annotations

import logging
import math
import resource
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from oao.core.db import Database
from oao.insights.models import Forecast, ForecastSeries, TrainingRun
from oao.insights.service import claim_run, detached_run, fail_run, finish_run
from oao.network import service as network

log = logging.getLogger("oao.insights.forecasting")

RUN_KIND = "forecast"
HISTORY_DAYS = 730  # two years: enough for last year's same week, bounded memory for big merchants
INSERT_CHUNK = 5000
PROGRESS_EVERY_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class ForecastView:
    product_id: str
    daily_means: list[float]  # one per day from `start`
    error_sd: float  # sd of a one-day forecast error (units), from the backtest
    model: str
    mean_daily: float


def _timezones(session: Session, merchant_id: str) -> tuple[dict[str, str], str]:
    zones = {loc.id: loc.timezone for loc in network.list_locations(session, merchant_id=merchant_id,
                                                                    include_inactive=True)}
    common = Counter(zones.values()).most_common(1)
    return zones, (common[0][0] if common else "UTC")


def _progress_writer(db: Database, run_id: str, report: Callable[[float, str], None] | None
                     ) -> Callable[[float, str], None]:
    last = [0.0]

    def progress(fraction: float, message: str) -> None:
        if report:
            report(fraction, message)
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY_SECONDS and fraction < 1.0:
            return  # a short transaction per step, not per series
        last[0] = now
        with db.unit_of_work() as session:
            session.execute(update(TrainingRun).where(TrainingRun.id == run_id)
                            .values(progress=round(min(max(fraction, 0.0), 1.0) * 0.95, 4)))

    return progress


def build_rows(result: Any, *, merchant_id: str, run_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows of insight_forecast_series and insight_forecasts from a ForecastResult."""
    from oao.insights.forecast import split_key

    series_rows = []
    for r in result.series.itertuples(index=False):
        location, product = split_key(r.unique_id)
        series_rows.append({"merchant_id": merchant_id, "location_id": location or "", "product_id": product,
                            "model": r.model, "rmsse": None if math.isnan(r.rmsse) else float(r.rmsse),
                            "error_sd": float(r.error_sd), "mean_daily": float(r.mean_daily), "run_id": run_id})
    forecast_rows = []
    for r in result.forecasts.itertuples(index=False):
        location, product = split_key(r.unique_id)
        forecast_rows.append({"merchant_id": merchant_id, "location_id": location or "", "product_id": product,
                              "day": r.ds.date(), "mean": float(r.mean), "model": r.model, "run_id": run_id})
    return series_rows, forecast_rows


def replace_forecasts(session: Session, *, merchant_id: str, series_rows: list[dict[str, Any]],
                      forecast_rows: list[dict[str, Any]]) -> None:
    """Swap the merchant's forecast rows for these, inside the caller's (single) transaction."""
    for model, rows in ((ForecastSeries, series_rows), (Forecast, forecast_rows)):
        session.execute(delete(model).where(model.merchant_id == merchant_id))
        for start in range(0, len(rows), INSERT_CHUNK):
            session.execute(insert(model), rows[start:start + INSERT_CHUNK])


def run_forecasts(db: Database, *, merchant_id: str, now: datetime, horizon_days: int = 28, engine: Any = None,
                  history_days: int = HISTORY_DAYS, config: Any = None, run_id: str | None = None,
                  progress: Callable[[float, str], None] | None = None) -> TrainingRun | None:
    """Forecast the merchant's daily demand per location × product for `horizon_days` from today, and store it.

    `engine`: None (in process) or a `distributed.Client` / Fugue engine (see oao.insights.forecast).
    Returns the finished or failed run (a failure is recorded on it and logged, not raised), or None when
    another process took the requested run first."""
    from dataclasses import replace

    from oao.insights.events import lines_frame
    from oao.insights.forecast import ForecastConfig, demand_frame
    from oao.insights.forecast import forecast as fit_forecast

    run_id = claim_run(db, merchant_id=merchant_id, kind=RUN_KIND, now=now, run_id=run_id)
    if run_id is None:
        return None
    t0 = time.perf_counter()
    started_tracing = not tracemalloc.is_tracing()
    if started_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    events = 0
    try:
        with db.read() as session:
            zones, main_zone = _timezones(session, merchant_id)
            today = now.astimezone(ZoneInfo(main_zone)).date()
            day_start = datetime.combine(today, datetime.min.time(), ZoneInfo(main_zone))
            lines = lines_frame(session, merchant_id=merchant_id, kinds=("sale",),
                                since=day_start - timedelta(days=history_days), until=day_start)
        events = len(lines)
        demand = demand_frame(lines, end=today - timedelta(days=1), timezones=zones, default_timezone=main_zone)
        del lines
        config = config or ForecastConfig(covariates=("price",))  # a price seen only through sales: frozen
        config = replace(config, horizon=horizon_days)
        details: dict[str, Any] = {"horizon_days": horizon_days, "history_days": history_days,
                                   "first_day": str(today), "engine": type(engine).__name__ if engine else None}
        series_rows: list[dict[str, Any]] = []
        forecast_rows: list[dict[str, Any]] = []
        if not demand.empty:
            result = fit_forecast(demand[["unique_id", "ds", "y", "price"]], config=config, engine=engine,
                                  progress=_progress_writer(db, run_id, progress))
            series_rows, forecast_rows = build_rows(result, merchant_id=merchant_id, run_id=run_id)
            scored = result.series["rmsse"].dropna()
            details.update(series=len(series_rows), models=dict(Counter(result.series["model"])),
                           mean_backtest_rmsse=round(float(scored.mean()), 4) if len(scored) else None)
        else:
            details["series"] = 0
        peak = max(0, tracemalloc.get_traced_memory()[1] - base)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        details["memory"] = {"peak_traced_bytes": peak,
                             "process_max_rss_bytes": int(rss if sys.platform == "darwin" else rss * 1024),
                             "how": "tracemalloc peak (Python and numpy allocations) while reading and fitting"}
        details["fit_seconds"] = round(time.perf_counter() - t0, 3)
        with db.unit_of_work() as session:
            replace_forecasts(session, merchant_id=merchant_id, series_rows=series_rows, forecast_rows=forecast_rows)
            finish_run(session, run_id=run_id, now=now, seconds=time.perf_counter() - t0, peak=peak,
                       events=events, details=details)
        log.info("forecasts: %s, %d series in %.1f s", merchant_id, len(series_rows), time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - recorded on the run and logged; the caller goes on
        log.exception("forecasts: %s failed", merchant_id)
        fail_run(db, run_id=run_id, now=now, seconds=time.perf_counter() - t0, events=events, error=exc)
    finally:
        if started_tracing:
            tracemalloc.stop()
    return detached_run(db, run_id)


def forecast_for(session: Session, *, merchant_id: str, location_id: str, product_ids: list[str], start: date,
                 days: int) -> dict[str, ForecastView]:
    """The stored forecasts of these products at a location for [start, start + days).

    A day outside the stored horizon takes the series' mean daily demand. Products without a forecast
    are left out (the caller decides what no forecast means)."""
    if not product_ids:
        return {}
    series = {s.product_id: s for s in session.scalars(select(ForecastSeries).where(
        ForecastSeries.merchant_id == merchant_id, ForecastSeries.location_id == location_id,
        ForecastSeries.product_id.in_(product_ids)))}
    daily: dict[str, dict[date, float]] = {}
    for f in session.scalars(select(Forecast).where(
            Forecast.merchant_id == merchant_id, Forecast.location_id == location_id,
            Forecast.product_id.in_(list(series)), Forecast.day >= start, Forecast.day < start + timedelta(days=days))):
        daily.setdefault(f.product_id, {})[f.day] = max(0.0, float(f.mean))
    out = {}
    for pid, s in series.items():
        known = daily.get(pid, {})
        means = [known.get(start + timedelta(days=d), max(0.0, float(s.mean_daily))) for d in range(days)]
        out[pid] = ForecastView(product_id=pid, daily_means=means, error_sd=max(0.0, float(s.error_sd)),
                                model=s.model, mean_daily=float(s.mean_daily))
    return out
