"""Training the recommendation tables on a small generated network: the run is recorded with its time,
memory and sale lines; the merchant's rows are replaced in one transaction (a failure leaves the old ones);
a retrain replaces them; age-band lists exist only for groups of k buyers; the worker's job trains only
merchants that are due and have sales, and does nothing without the insights extra."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from oao.config import Settings
from oao.insights import service
from oao.insights.models import (
    DueItem,
    InsightEvent,
    ItemNeighbour,
    MemberRecommendation,
    PopularItem,
    TrainingRun,
)
from oao.worker import Worker
from tests.conftest import T0
from tests.factories import auth
from tests.integration import insights_network as netmod

pytest.importorskip("pandas", reason="training needs the oao[insights] extra")

TABLES = (MemberRecommendation, ItemNeighbour, PopularItem, DueItem)


@pytest.fixture
def settings(db) -> Settings:
    # k = 5 so the small network has one age band big enough for its own list and one that is not.
    return Settings(database_url=db.url, embedded_worker=False, sharing_min_group_size=5)


@pytest.fixture
def net(db):
    with db.unit_of_work() as s:
        n = netmod.build(s, at=T0 - timedelta(days=200))
        thirties = netmod.add_members(s, n, 6, at=T0 - timedelta(days=200), birth_year=T0.year - 30, consent=True)
        fifties = netmod.add_members(s, n, 3, at=T0 - timedelta(days=200), birth_year=T0.year - 50, consent=True)
        no_consent = netmod.add_members(s, n, 4, at=T0 - timedelta(days=200), birth_year=T0.year - 50,
                                        consent=False)
        netmod.history(s, n, now=T0, shoppers=thirties + fifties + no_consent)
    return n


def _rows(db, merchant_id):
    with db.read() as s:
        return {m.__tablename__: list(s.execute(select(m.run_id, func.count()).where(m.merchant_id == merchant_id)
                                                .group_by(m.run_id)))
                for m in TABLES}


def test_a_run_fills_every_table_and_records_time_memory_and_lines(db, net, settings, clock):
    run = service.train_recommendations(db, merchant_id=net.merchant_id, now=clock.now(), settings=settings)
    assert run is not None and run.status == "finished", run.details if run else None
    assert run.seconds is not None and run.seconds > 0
    assert run.peak_memory_bytes is not None and run.peak_memory_bytes > 0
    with db.read() as s:
        lines = s.scalar(select(func.count()).select_from(InsightEvent))
    assert run.events_used == lines
    assert run.details["tifu"]["group_size"] >= 1 and run.details["for_you_k"] == 50
    for table, groups in _rows(db, net.merchant_id).items():
        assert [r for r, _ in groups] == [run.id], table
    with db.read() as s:
        mei = list(s.scalars(select(MemberRecommendation.product_id).where(
            MemberRecommendation.member_id == net.mei).order_by(MemberRecommendation.rank)))
        together = list(s.scalars(select(ItemNeighbour.neighbour_id).where(
            ItemNeighbour.product_id == net.products[2]).order_by(ItemNeighbour.rank)))
        due = s.scalar(select(DueItem.interval_days).where(DueItem.member_id == net.mei,
                                                           DueItem.product_id == net.products[0]))
        segments = set(s.scalars(select(PopularItem.segment).distinct()))
        locations = set(s.scalars(select(PopularItem.location_id).distinct()))
    assert set(mei[:2]) == {net.products[0], net.products[1]}  # what she buys every time comes first
    assert together[0] == net.products[3]  # p2 is always bought with p3
    assert due is not None and 9 <= due <= 11  # she buys p0 every 10 days
    # Mei and six consenting members in their thirties make a list; three in their fifties do not (k = 5),
    # and the four who did not consent to their age band count for nothing.
    assert segments == {"", "age:25-34"}
    assert run.details["segments"] == {"25-34": 7}
    assert locations == {"", net.shop, net.delivering}


def test_serving_after_training_gives_mei_her_own_items(db, net, settings, clock, client):
    service.train_recommendations(db, merchant_id=net.merchant_id, now=clock.now(), settings=settings)
    r = client.get(f"/api/v1/members/{net.mei_ref}/recommendations", headers=auth(net.staff_key),
                   params={"location": net.shop, "limit": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["personal"] is True
    assert body["items"][0]["kind"] == "for_you" and body["items"][0]["product_id"] in net.products[:2]


def test_a_retrain_replaces_the_rows_of_the_first_run(db, net, settings, clock):
    first = service.train_recommendations(db, merchant_id=net.merchant_id, now=clock.now(), settings=settings)
    with db.unit_of_work() as s:  # a new shopper appears with her own habit
        newcomer = netmod.add_members(s, net, 1, at=clock.now(), birth_year=None, consent=False)[0]
        for day in (20, 13, 6):
            netmod.sale(s, net, member_id=newcomer, product_ids=[net.products[5], net.products[7]],
                        at=clock.now() - timedelta(days=day))
    clock.advance(hours=1)
    second = service.train_recommendations(db, merchant_id=net.merchant_id, now=clock.now(), settings=settings)
    assert second.id != first.id and second.status == "finished"
    assert second.events_used == first.events_used + 6
    for table, groups in _rows(db, net.merchant_id).items():
        assert [r for r, _ in groups] == [second.id], table
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(MemberRecommendation)
                        .where(MemberRecommendation.member_id == newcomer)) > 0


def test_a_failed_write_leaves_the_previous_rows_and_marks_the_run_failed(db, net, settings, clock, monkeypatch):
    first = service.train_recommendations(db, merchant_id=net.merchant_id, now=clock.now(), settings=settings)
    before = _rows(db, net.merchant_id)
    real = service.replace_tables

    def half_then_fail(session, *, merchant_id, tables):
        real(session, merchant_id=merchant_id, tables={"recs": tables["recs"]})  # deletes all, writes one table
        raise RuntimeError("disk full")

    monkeypatch.setattr(service, "replace_tables", half_then_fail)
    failed = service.train_recommendations(db, merchant_id=net.merchant_id, now=clock.now(), settings=settings)
    assert failed.status == "failed" and "disk full" in failed.details["error"]
    assert _rows(db, net.merchant_id) == before  # readers never saw half a run
    assert all([r for r, _ in groups] == [first.id] for groups in before.values())


def test_a_merchant_without_sales_gets_an_empty_finished_run_when_asked(db, net, settings, clock):
    with db.unit_of_work() as s:
        asked = service.request_run(s, merchant_id=net.other_merchant_id, now=clock.now())
    run = service.train_recommendations(db, merchant_id=net.other_merchant_id, now=clock.now(), settings=settings)
    assert run.id == asked.id and run.status == "finished" and run.events_used == 0
    assert "no sale lines" in run.details["note"]


def _worker(db, clock, settings) -> Worker:
    return Worker(db=db, clock=clock, settings=settings)


@pytest.mark.slow
def test_the_worker_trains_merchants_with_sales_only_when_due(db, net, settings, clock, monkeypatch):
    # Forecast runs share the job and have their own schedule (tests/integration/test_forecasting_job.py).
    monkeypatch.setattr(service, "RUN_KINDS", ("recommendations",))
    worker = _worker(db, clock, settings)
    try:
        assert worker.outside_jobs["train_insights"]() == 1  # never trained, has sales
        assert worker.outside_jobs["train_insights"]() == 0  # the other merchant has no sales; nothing is due
        with db.read() as s:
            runs = list(s.execute(select(TrainingRun.merchant_id, TrainingRun.status)))
        assert [tuple(r) for r in runs] == [(net.merchant_id, "finished")]
        clock.advance(hours=23)
        assert worker.outside_jobs["train_insights"]() == 0  # trained less than a day ago
        with db.unit_of_work() as s:
            service.request_run(s, merchant_id=net.merchant_id, now=clock.now())
        assert worker.outside_jobs["train_insights"]() == 1  # asked for: trained now
        clock.advance(hours=24, seconds=1)
        assert worker.outside_jobs["train_insights"]() == 1  # stale again
        assert worker.outside_jobs["train_insights"]() == 0
        with db.read() as s:
            statuses = list(s.scalars(select(TrainingRun.status).order_by(TrainingRun.requested_at)))
        assert statuses == ["finished"] * 3
    finally:
        worker.http.close()


def test_the_worker_job_without_the_insights_extra_logs_once_and_does_nothing(db, net, settings, clock,
                                                                             monkeypatch, caplog):
    monkeypatch.setattr(service, "extra_installed", lambda: False)
    monkeypatch.setattr(service, "_missing_extra_logged", False)
    with caplog.at_level(logging.WARNING, logger="oao.insights"):
        assert service.train_due(db, now=clock.now(), settings=settings) == 0
        assert service.train_due(db, now=clock.now(), settings=settings) == 0
    assert len([r for r in caplog.records if "oao[insights]" in r.getMessage()]) == 1
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(TrainingRun)) == 0
