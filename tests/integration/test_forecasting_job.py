"""The forecast job on a real database: sale lines in the log -> stored forecasts, replaced on every run."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")
pytest.importorskip("statsforecast")
pytest.importorskip("lightgbm")

from oao.insights.forecast import ForecastConfig  # noqa: E402
from oao.insights.forecast_gbm import GbmParams  # noqa: E402
from oao.insights.forecasting import forecast_for, run_forecasts  # noqa: E402
from oao.insights.models import Forecast, ForecastSeries, InsightEvent, TrainingRun  # noqa: E402
from tests import factories as f  # noqa: E402
from tests.conftest import T0  # noqa: E402

pytestmark = pytest.mark.slow  # statsforecast compiles its models on first use (~30 s)

SMALL = ForecastConfig(gbm=GbmParams(rounds=20, train_origins=10, min_data_in_leaf=20))
TODAY = date(2026, 11, 17)  # T0 is 10:00 on the 17th in Shanghai


def _history(db, *, days: int = 100) -> tuple[str, str, list[str], int]:
    """Two Shanghai stores, three products each, daily sales with a weekend peak; one product sells rarely."""
    rng = np.random.default_rng(3)
    with db.unit_of_work() as s:
        m = f.merchant(s, "Forecast Bakery", at=T0)
        other = f.merchant(s, "Someone Else", at=T0)
        a = f.location(s, m, "North", 30.25, 120.2, at=T0)
        b = f.location(s, m, "South", 30.20, 120.2, at=T0)
        rows = []
        for loc in (a, b):
            for p, rate in (("prd_bread", 6.0), ("prd_cake", 2.0), ("prd_rare", 0.1)):
                for d in range(days, 0, -1):
                    day = T0 - timedelta(days=d)
                    lam = rate * (1.6 if day.astimezone(UTC).weekday() >= 5 else 1.0)
                    q = int(rng.poisson(lam)) if d != days else 1
                    if q:
                        rows.append({"source": f"imp_{loc.id}_{p}", "source_line": d, "kind": "sale",
                                     "merchant_id": m.id, "location_id": loc.id, "channel": "pos", "product_id": p,
                                     "member_id": None, "basket_ref": None, "quantity": q,
                                     "amount_minor": q * 800, "currency": "CNY", "occurred_at": day})
        # a sale today (after local midnight) is not history yet: the day is not over
        rows.append({"source": "today", "source_line": 0, "kind": "sale", "merchant_id": m.id, "location_id": a.id,
                     "channel": "pos", "product_id": "prd_bread", "member_id": None, "basket_ref": None,
                     "quantity": 500, "amount_minor": 400_000, "currency": "CNY", "occurred_at": T0})
        s.execute(insert(InsightEvent), rows)
        s.add(ForecastSeries(merchant_id=other.id, location_id="loc_x", product_id="p", model="AutoETS", rmsse=1.0,
                             error_sd=1.0, mean_daily=1.0, run_id="irun_other"))
        return m.id, a.id, [a.id, b.id], len(rows) - 1


def test_a_forecast_run_stores_a_chosen_model_and_daily_means_per_location_and_product(db):
    merchant_id, north, locations, lines = _history(db)
    seen = []
    run = run_forecasts(db, merchant_id=merchant_id, now=T0, horizon_days=14, config=SMALL,
                        progress=lambda frac, msg: seen.append(frac))
    assert run is not None and run.status == "finished", run and run.details
    assert run.kind == "forecast" and run.progress == 1.0
    assert run.events_used == lines
    assert run.seconds > 0 and run.peak_memory_bytes > 0
    assert run.details["series"] == 6 and seen and seen[-1] == 1.0
    with db.read() as s:
        series = list(s.scalars(select(ForecastSeries).where(ForecastSeries.merchant_id == merchant_id)))
        assert {(x.location_id, x.product_id) for x in series} == {
            (loc, p) for loc in locations for p in ("prd_bread", "prd_cake", "prd_rare")}
        for x in series:
            assert x.run_id == run.id and x.error_sd > 0 and x.rmsse is not None
        bread = next(x for x in series if x.location_id == north and x.product_id == "prd_bread")
        # about 6 a day, more at the weekend; today's 500 were not counted
        assert 4.0 < bread.mean_daily < 12.0
        bread_model, bread_sd, bread_mean = bread.model, bread.error_sd, bread.mean_daily
        days = sorted(set(s.scalars(select(Forecast.day).where(Forecast.merchant_id == merchant_id))))
        assert days[0] == TODAY and len(days) == 14
        assert s.scalar(select(func.count()).select_from(Forecast).where(Forecast.merchant_id == merchant_id)) == 84

        views = forecast_for(s, merchant_id=merchant_id, location_id=north, product_ids=["prd_bread", "prd_none"],
                             start=TODAY + timedelta(days=10), days=7)
    assert set(views) == {"prd_bread"}
    v = views["prd_bread"]
    assert len(v.daily_means) == 7 and v.model == bread_model and v.error_sd == pytest.approx(bread_sd)
    assert v.daily_means[-1] == pytest.approx(bread_mean)  # day 16 is past the stored 14: the mean


def test_running_again_replaces_the_merchants_rows_and_leaves_other_merchants_alone(db):
    merchant_id, _, _, _ = _history(db, days=60)
    first = run_forecasts(db, merchant_id=merchant_id, now=T0, horizon_days=14, config=SMALL)
    later = T0 + timedelta(days=1)
    second = run_forecasts(db, merchant_id=merchant_id, now=later, horizon_days=7, config=SMALL)
    assert first is not None and second is not None and second.status == "finished"
    with db.read() as s:
        runs = set(s.scalars(select(Forecast.run_id).where(Forecast.merchant_id == merchant_id)))
        assert runs == {second.id}
        days = sorted(set(s.scalars(select(Forecast.day).where(Forecast.merchant_id == merchant_id))))
        assert days == [TODAY + timedelta(days=1 + d) for d in range(7)]
        assert set(s.scalars(select(ForecastSeries.run_id).where(ForecastSeries.merchant_id == merchant_id))) == {
            second.id}
        assert s.scalar(select(func.count()).select_from(ForecastSeries).where(
            ForecastSeries.run_id == "irun_other")) == 1
        kinds = list(s.scalars(select(TrainingRun.kind).where(TrainingRun.merchant_id == merchant_id)))
        assert kinds == ["forecast", "forecast"]


def test_a_merchant_without_sales_gets_an_empty_finished_run(db):
    with db.unit_of_work() as s:
        m = f.merchant(s, "New Shop", at=T0)
        merchant_id = m.id
    run = run_forecasts(db, merchant_id=merchant_id, now=datetime(2026, 11, 17, 2, tzinfo=UTC), config=SMALL)
    assert run is not None and run.status == "finished" and run.details["series"] == 0


def test_the_worker_forecasts_a_merchant_with_four_weeks_of_sales_and_not_one_with_less(db):
    from oao.config import Settings
    from oao.insights import service

    merchant_id, _, _, _ = _history(db, days=40)
    with db.unit_of_work() as s:
        young = f.merchant(s, "New Bakery", at=T0)
        store = f.location(s, young, "Fresh", 30.22, 120.2, at=T0)
        s.execute(insert(InsightEvent), [{
            "source": "young", "source_line": d, "kind": "sale", "merchant_id": young.id, "location_id": store.id,
            "channel": "pos", "product_id": "prd_bread", "member_id": None, "basket_ref": None, "quantity": 3,
            "amount_minor": 2400, "currency": "CNY", "occurred_at": T0 - timedelta(days=d)} for d in range(1, 10)])
        due = service.merchants_due(s, now=T0, retrain_after=timedelta(hours=24), kind="forecast")
    assert merchant_id in due and young.id not in due
    settings = Settings(database_url="sqlite://", insights_retrain_hours=24)
    assert service.train_due(db, now=T0, settings=settings, max_merchants=3) >= 1
    with db.read() as s:
        kinds = {(r.merchant_id, r.kind, r.status) for r in s.scalars(select(TrainingRun))}
        assert (merchant_id, "forecast", "finished") in kinds
        assert not any(m == young.id and k == "forecast" for m, k, _ in kinds)
        # a second round the same day has nothing left to forecast for that merchant
        assert merchant_id not in service.merchants_due(s, now=T0, retrain_after=timedelta(hours=24),
                                                        kind="forecast")
