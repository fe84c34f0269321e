"""Use cases of the insights domain: training runs of the recommendation tables, and serving them.

A run of kind `recommendations` reads the merchant's sale lines in one short read
transaction, fits outside any transaction (TIFU-KNN "for you" lists and item
neighbours, best sellers per location, overall and per age band, repurchase "due
soon" dates), then replaces the merchant's rows of insight_member_recs,
insight_item_neighbours, insight_popular and insight_due in ONE write transaction,
so a reader sees the old set or the new set, never half of each. The run row keeps
its seconds, peak memory, the number of sale lines and the parameters.

Training needs the `oao[insights]` extra (pandas, numpy, scipy); it is imported
inside the functions, so the app and the worker start without it. Serving
(`oao.insights.serving`) reads the tables with SQLAlchemy only.
"""

from __future__ import annotations

import importlib.util
import logging
import resource
import sys
import time
import tracemalloc
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from oao.config import Settings
from oao.core.auth import Principal
from oao.core.db import Database
from oao.core.errors import InvalidInput
from oao.core.ids import new_id
from oao.insights.models import DueItem, InsightEvent, ItemNeighbour, MemberRecommendation, PopularItem, TrainingRun
from oao.insights.serving import OVERALL, segment_for_band
from oao.members.consents import age_band
from oao.members.models import Member, MemberConsent
from oao.network import service as network

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

log = logging.getLogger("oao.insights")

RUN_KINDS = ("recommendations", "forecast")  # what POST /insights/runs asks for (the worker's train_insights job)
# A forecast needs some weeks of daily sales to say anything about a weekly cycle; the worker does not
# forecast a merchant whose first sale is more recent than this (an explicit request still runs).
FORECAST_MIN_HISTORY = timedelta(days=28)
LISTED_KINDS = ("recommendations", "forecast")  # forecast runs are written by insights.forecasting
FOR_YOU_K = 50
NEIGHBOURS_K = 20
POPULAR_K = 50
DUE_HORIZON = timedelta(days=60)  # due rows further out than this are not "soon" before the next runs
DUE_PER_MEMBER = 50
OPEN_STATUSES = ("requested", "running")
# A run left "running" this long was cut off (process stopped); the merchant may be trained again.
ABANDONED_AFTER = timedelta(hours=6)


def extra_installed() -> bool:
    """Whether the `oao[insights]` extra is there (checked without importing it)."""
    return all(importlib.util.find_spec(name) is not None for name in ("pandas", "numpy", "scipy"))


# --- runs ----------------------------------------------------------------------------------------

def _check_kind(kind: str) -> str:
    if kind not in RUN_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(RUN_KINDS)}, not {kind!r}.")
    return kind


def request_run(session: Session, *, merchant_id: str, kind: str = "recommendations", now: datetime) -> TrainingRun:
    """Ask the worker to train this merchant's `kind` soon; a run already asked for and not started is reused."""
    _check_kind(kind)
    network.get_merchant(session, merchant_id=merchant_id)
    pending = session.scalar(select(TrainingRun).where(TrainingRun.merchant_id == merchant_id,
                                                       TrainingRun.kind == kind, TrainingRun.status == "requested")
                             .order_by(TrainingRun.requested_at).limit(1))
    if pending is not None:
        return pending
    run = TrainingRun(id=new_id("irun"), merchant_id=merchant_id, kind=kind, status="requested", requested_at=now,
                      started_at=None, finished_at=None, seconds=None, peak_memory_bytes=None, events_used=None,
                      progress=0.0, details={})
    session.add(run)
    session.flush()
    return run


def list_runs(session: Session, *, principal: Principal, merchant_id: str | None, kind: str | None = None,
              limit: int = 50) -> list[TrainingRun]:
    """Training runs, newest first: a merchant's own (network admins: any merchant's, or all)."""
    if merchant_id is None and not principal.is_network_admin:
        merchant_id = principal.merchant_id
    if merchant_id is not None:
        principal.ensure_merchant(merchant_id, "merchant", merchant_id)
    query = select(TrainingRun).order_by(TrainingRun.requested_at.desc(), TrainingRun.id.desc()).limit(limit)
    if merchant_id is not None:
        query = query.where(TrainingRun.merchant_id == merchant_id)
    if kind is not None:
        if kind not in LISTED_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(LISTED_KINDS)}, not {kind!r}.")
        query = query.where(TrainingRun.kind == kind)
    return list(session.scalars(query))


def last_finished_run(session: Session, *, merchant_id: str, kind: str = "recommendations") -> TrainingRun | None:
    return session.scalar(select(TrainingRun).where(TrainingRun.merchant_id == merchant_id, TrainingRun.kind == kind,
                                                    TrainingRun.status == "finished")
                          .order_by(TrainingRun.finished_at.desc()).limit(1))


def claim_run(db: Database, *, merchant_id: str, kind: str, now: datetime, run_id: str | None) -> str | None:
    """Mark a run of `kind` running: the given one, else the merchant's requested one, else a new one.

    The conditional UPDATE decides between two workers claiming the same requested run."""
    with db.unit_of_work() as session:
        if run_id is None:
            run_id = session.scalar(select(TrainingRun.id).where(
                TrainingRun.merchant_id == merchant_id, TrainingRun.kind == kind,
                TrainingRun.status == "requested").order_by(TrainingRun.requested_at).limit(1))
        if run_id is None:
            run_id = new_id("irun")
            session.add(TrainingRun(id=run_id, merchant_id=merchant_id, kind=kind, status="running",
                                    requested_at=now, started_at=now, finished_at=None, seconds=None,
                                    peak_memory_bytes=None, events_used=None, progress=0.0, details={}))
            return run_id
        moved = session.execute(update(TrainingRun).where(TrainingRun.id == run_id,
                                                          TrainingRun.merchant_id == merchant_id,
                                                          TrainingRun.kind == kind,
                                                          TrainingRun.status == "requested")
                                .values(status="running", started_at=now, progress=0.0))
        return run_id if moved.rowcount == 1 else None  # type: ignore[attr-defined]


# --- training ------------------------------------------------------------------------------------

def _age_bands(session: Session, *, merchant_id: str, member_ids: list[str], now: datetime) -> dict[str, str]:
    """member_id -> age band, only for members who currently let this merchant see their age band.

    A read of the members' tables (consent and birth year) for one merchant at once: asking the members
    service one member at a time would cost two queries per member of a large history."""
    if not member_ids:
        return {}
    current = (MemberConsent.merchant_id == merchant_id) & (MemberConsent.data_class == "profile.age_band") & (
        MemberConsent.withdrawn_at.is_(None)) & (MemberConsent.expires_at.is_(None) | (MemberConsent.expires_at > now))
    rows = session.execute(select(Member.id, Member.birth_year)
                           .join(MemberConsent, MemberConsent.member_id == Member.id)
                           .where(current, Member.birth_year.is_not(None)))
    wanted = set(member_ids)
    return {mid: band for mid, year in rows if mid in wanted and (band := age_band(year, now)) is not None}


def _buyers(lines: pd.DataFrame) -> dict[str, int]:
    """product_id -> distinct buyers (members; a guest basket counts as one buyer)."""
    guest = "basket:" + lines["basket_ref"].astype(str)
    who = lines["member_id"].astype(object).where(lines["member_id"].notna(), guest)
    return {str(k): int(v) for k, v in who.groupby(lines["product_id"]).nunique().items()}


def _popular_rows(lines: pd.DataFrame, *, merchant_id: str, location_id: str, segment: str, run_id: str
                  ) -> list[dict[str, Any]]:
    from oao.insights.baselines import popular

    if lines.empty:
        return []
    buyers = _buyers(lines)
    return [{"merchant_id": merchant_id, "location_id": location_id, "segment": segment, "product_id": pid,
             "rank": rank, "score": float(score), "buyers": buyers.get(pid, 0), "run_id": run_id}
            for rank, (pid, score) in enumerate(popular(lines, POPULAR_K), start=1)]


def fit_tables(lines: pd.DataFrame, *, merchant_id: str, run_id: str, now: datetime, bands: dict[str, str],
               min_group: int) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Every row the run writes, per table, and the run's details (no database)."""
    from oao.insights.repurchase import fit_repurchase
    from oao.insights.tifuknn import TifuParams, fit_tifu

    params = TifuParams()
    tables: dict[str, list[dict[str, Any]]] = {"recs": [], "neighbours": [], "popular": [], "due": []}
    details: dict[str, Any] = {"tifu": asdict(params), "for_you_k": FOR_YOU_K, "neighbours_k": NEIGHBOURS_K,
                               "popular_k": POPULAR_K, "min_group_size": min_group,
                               "due_horizon_days": DUE_HORIZON.days}
    if lines.empty:
        details["note"] = "no sale lines: nothing to learn from"
        return tables, details
    with_member = lines[lines["member_id"].notna()]
    members = sorted(set(with_member["member_id"]))
    model = fit_tifu(lines, params)
    for member_id, ranked in model.recommend(members, FOR_YOU_K).items():
        tables["recs"] += [{"merchant_id": merchant_id, "member_id": member_id, "product_id": pid, "rank": rank,
                            "score": float(score), "run_id": run_id} for rank, (pid, score) in enumerate(ranked, 1)]
    for product_id, ranked in model.neighbours(NEIGHBOURS_K).items():
        tables["neighbours"] += [{"merchant_id": merchant_id, "product_id": product_id, "neighbour_id": pid,
                                  "rank": rank, "score": float(score), "run_id": run_id}
                                 for rank, (pid, score) in enumerate(ranked, 1)]
    tables["popular"] += _popular_rows(lines, merchant_id=merchant_id, location_id=OVERALL, segment=OVERALL,
                                       run_id=run_id)
    for location_id, part in lines[lines["location_id"].notna()].groupby("location_id"):
        tables["popular"] += _popular_rows(part, merchant_id=merchant_id, location_id=str(location_id),
                                           segment=OVERALL, run_id=run_id)
    segments: dict[str, int] = {}
    if bands:
        band_of = with_member["member_id"].map(bands)
        for band, part in with_member[band_of.notna()].groupby(band_of[band_of.notna()]):
            buyers = part["member_id"].nunique()
            # Fewer than k people: the list would describe (almost) a person, so it is not kept.
            if buyers >= min_group:
                segments[str(band)] = int(buyers)
                tables["popular"] += _popular_rows(part, merchant_id=merchant_id, location_id=OVERALL,
                                                   segment=segment_for_band(str(band)), run_id=run_id)
    details["segments"] = segments
    if not with_member.empty:
        due = [row for row in fit_repurchase(with_member, now=now).due(now=now)
               if row.due_at <= now + DUE_HORIZON]
        per_member: dict[str, int] = {}
        for row in due:  # soonest first per member
            if per_member.setdefault(row.member_id, 0) >= DUE_PER_MEMBER:
                continue
            per_member[row.member_id] += 1
            tables["due"].append({"merchant_id": merchant_id, "member_id": row.member_id,
                                  "product_id": row.product_id, "last_bought_at": row.last_bought_at,
                                  "interval_days": float(row.interval_days), "due_at": row.due_at,
                                  "confidence": float(row.confidence), "purchases": int(row.purchases),
                                  "run_id": run_id})
    details["rows"] = {name: len(rows) for name, rows in tables.items()}
    details["members"] = len(members)
    details["products"] = int(lines["product_id"].nunique())
    return tables, details


TABLES = {"recs": MemberRecommendation, "neighbours": ItemNeighbour, "popular": PopularItem, "due": DueItem}
INSERT_CHUNK = 5000


def replace_tables(session: Session, *, merchant_id: str, tables: dict[str, list[dict[str, Any]]]) -> None:
    """Swap the merchant's precomputed rows for these, inside the caller's (single) transaction."""
    for name, model in TABLES.items():
        session.execute(delete(model).where(model.merchant_id == merchant_id))
        rows = tables.get(name, [])
        for start in range(0, len(rows), INSERT_CHUNK):
            session.execute(insert(model), rows[start:start + INSERT_CHUNK])


def _memory_probe() -> tuple[bool, int]:
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    return started, tracemalloc.get_traced_memory()[0]


def _max_rss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)  # Linux reports KiB


def train_recommendations(db: Database, *, merchant_id: str, now: datetime, settings: Settings,
                          run_id: str | None = None) -> TrainingRun | None:
    """Train the merchant's recommendation tables now (the worker calls this; tests and the CLI may too).

    Returns the finished or failed run, or None when another worker took the requested run first.
    A failure is recorded on the run (status failed, the error in details) and logged, not raised."""
    run_id = claim_run(db, merchant_id=merchant_id, kind="recommendations", now=now, run_id=run_id)
    if run_id is None:
        return None
    t0 = time.perf_counter()
    started_tracing, base = _memory_probe()
    events = 0
    try:
        from oao.insights.events import lines_frame

        with db.read() as session:
            lines = lines_frame(session, merchant_id=merchant_id, kinds=("sale",))
            members = sorted({m for m in lines["member_id"] if m is not None}) if not lines.empty else []
            bands = _age_bands(session, merchant_id=merchant_id, member_ids=members, now=now)
        events = len(lines)
        tables, details = fit_tables(lines, merchant_id=merchant_id, run_id=run_id, now=now, bands=bands,
                                     min_group=settings.sharing_min_group_size)
        del lines
        peak = max(0, tracemalloc.get_traced_memory()[1] - base)
        details["memory"] = {"peak_traced_bytes": peak, "process_max_rss_bytes": _max_rss_bytes(),
                             "how": "tracemalloc peak (Python and numpy allocations) while reading and fitting"}
        fit_seconds = time.perf_counter() - t0
        with db.unit_of_work() as session:
            replace_tables(session, merchant_id=merchant_id, tables=tables)
            seconds = time.perf_counter() - t0
            details["fit_seconds"] = round(fit_seconds, 3)
            finish_run(session, run_id=run_id, now=now, seconds=seconds, peak=peak, events=events, details=details)
        log.info("insights: trained %s in %.1f s on %d sale lines (%s)", merchant_id, seconds, events,
                 details.get("rows"))
    except Exception as exc:  # noqa: BLE001 - recorded on the run and logged; the worker goes on
        log.exception("insights: training %s failed", merchant_id)
        fail_run(db, run_id=run_id, now=now, seconds=time.perf_counter() - t0, events=events, error=exc)
    finally:
        if started_tracing:
            tracemalloc.stop()
    return detached_run(db, run_id)


def finish_run(session: Session, *, run_id: str, now: datetime, seconds: float, peak: int, events: int,
               details: dict[str, Any]) -> None:
    """Mark a run finished, in the transaction that wrote its results (readers see both or neither).

    `now` is when the job started (its clock is read once), so the end is that plus the time it took."""
    session.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(
        status="finished", finished_at=now + timedelta(seconds=seconds), seconds=round(seconds, 3),
        peak_memory_bytes=peak, events_used=events, progress=1.0, details=details))


def fail_run(db: Database, *, run_id: str, now: datetime, seconds: float, events: int, error: Exception) -> None:
    """Record a failed run with its error; the lists of the last good run stay in place."""
    with db.unit_of_work() as session:
        session.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(
            status="failed", finished_at=now + timedelta(seconds=seconds), seconds=round(seconds, 3),
            events_used=events,
            details={"error": f"{type(error).__name__}: {error}"[:2000]}))


def detached_run(db: Database, run_id: str) -> TrainingRun:
    """The run as stored, usable after its session closed."""
    with db.read() as session:
        run = session.get(TrainingRun, run_id)
        assert run is not None
        session.expunge(run)
        return run


# --- the worker's job ------------------------------------------------------------------------------

def merchants_due(session: Session, *, now: datetime, retrain_after: timedelta,
                  kind: str = "recommendations") -> list[str]:
    """Merchants to train now: a run was requested, or the last attempt is older than `retrain_after`
    (or there was none) and the merchant has sale lines. Requested ones first.

    Cheap when nothing is due: one grouped query over the runs table, and an indexed EXISTS per
    merchant that would be due, which is only merchants never trained or trained long ago."""
    requested = list(session.scalars(select(TrainingRun.merchant_id).where(
        TrainingRun.kind == kind, TrainingRun.status == "requested")
        .group_by(TrainingRun.merchant_id).order_by(func.min(TrainingRun.requested_at))))
    # The last attempt: a finished or failed run (failing again every few seconds would help nobody),
    # or a running one that is not yet abandoned.
    attempt = func.max(func.coalesce(TrainingRun.finished_at, TrainingRun.started_at, TrainingRun.requested_at))
    last = dict(session.execute(select(TrainingRun.merchant_id, attempt).where(
        TrainingRun.kind == kind, TrainingRun.status != "requested")
        .group_by(TrainingRun.merchant_id)).all())
    running = set(session.scalars(select(TrainingRun.merchant_id).where(
        TrainingRun.kind == kind, TrainingRun.status == "running",
        TrainingRun.started_at > now - ABANDONED_AFTER)))
    due = [m for m in requested if m not in running]
    for merchant in network.list_merchants(session, merchant_id=None):
        if merchant.id in due or merchant.id in running:
            continue
        at = last.get(merchant.id)
        if at is not None and _aware(at) > now - retrain_after:
            continue
        first_sale = session.scalar(select(InsightEvent.occurred_at).where(
            InsightEvent.merchant_id == merchant.id, InsightEvent.kind == "sale")
            .order_by(InsightEvent.merchant_id, InsightEvent.occurred_at).limit(1))
        if first_sale is None:
            continue
        if kind == "forecast" and _aware(first_sale) > now - FORECAST_MIN_HISTORY:
            continue
        due.append(merchant.id)
    return due


def _aware(at: datetime) -> datetime:
    # An aggregate over a UTCDateTime column may come back as the driver gives it (naive on SQLite).
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


_missing_extra_logged = False


def train_due(db: Database, *, now: datetime, settings: Settings, max_merchants: int = 1) -> int:
    """The worker's "train_insights" job: train up to `max_merchants` due merchants; returns how many ran.

    One merchant per round by default: training holds the worker thread, and payments and points
    jobs should not wait behind a whole network's training."""
    global _missing_extra_logged
    if not extra_installed():
        if not _missing_extra_logged:
            log.warning("insights: training needs the oao[insights] extra (pandas, numpy, scipy); "
                        "recommendations are not retrained until it is installed")
            _missing_extra_logged = True
        return 0
    from oao.insights.forecasting import run_forecasts

    retrain_after = timedelta(hours=settings.insights_retrain_hours)
    trained = 0
    for kind in RUN_KINDS:
        with db.read() as session:
            due = merchants_due(session, now=now, retrain_after=retrain_after, kind=kind)
        for merchant_id in due[:max_merchants - trained]:
            if kind == "recommendations":
                run = train_recommendations(db, merchant_id=merchant_id, now=now, settings=settings)
            else:
                run = run_forecasts(db, merchant_id=merchant_id, now=now)
            trained += run is not None
        if trained >= max_merchants:
            break
    return trained
