"""Tables of the insights domain.

`insight_events` is the append-only event log every job reads: one row per sale
line, returned line or storefront product view. `(source, source_line)` is unique,
so consuming an outbox event or re-running an import twice adds nothing. It holds
no foreign keys on purpose: an import of a million lines must not pay for them,
and the log outlives the rows it mentions.

The `insight_member_recs`, `insight_item_neighbours`, `insight_popular`,
`insight_due` and `insight_forecasts` tables are what a training run precomputed;
serving reads them with one indexed query each. A run replaces a merchant's rows
of its kind in one transaction, so readers see the old or the new set, never half.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from oao.core.db import Base

EVENT_KINDS = ("sale", "return", "view")


class InsightEvent(Base):
    __tablename__ = "insight_events"
    __table_args__ = (
        UniqueConstraint("source", "source_line", name="uq_insight_event_source"),
        Index("ix_insight_events_merchant_at", "merchant_id", "occurred_at"),
        Index("ix_insight_events_member", "member_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    source: Mapped[str] = mapped_column(String(60))  # outbox event id, import id, or view id
    source_line: Mapped[int] = mapped_column(Integer)  # line index within the source
    kind: Mapped[str] = mapped_column(String(10))  # sale | return | view
    merchant_id: Mapped[str] = mapped_column(String(40))
    location_id: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20))  # pos | self_checkout | kiosk | online | partner | import
    product_id: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[str | None] = mapped_column(String(40))
    basket_ref: Mapped[str | None] = mapped_column(String(60))  # sale / order / invoice the line belongs to
    quantity: Mapped[int] = mapped_column(Integer)  # always >= 0; the kind says which way it went
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    occurred_at: Mapped[datetime]


class ProductRef(Base):
    """A merchant's own product code (from an imported history) and the catalog product it became."""

    __tablename__ = "insight_product_refs"

    merchant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    external_code: Mapped[str] = mapped_column(String(80), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(40))


class MemberRef(Base):
    """A merchant's own customer number (from an imported history) and the member it became."""

    __tablename__ = "insight_member_refs"

    merchant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    external_code: Mapped[str] = mapped_column(String(80), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(40))


class TransactionImport(Base):
    """One `oao import transactions` run, kept with its row-error report."""

    __tablename__ = "insight_imports"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # imp_…
    merchant_id: Mapped[str] = mapped_column(String(40), index=True)
    source_name: Mapped[str] = mapped_column(String(300))
    mapping: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20))  # running | finished | failed
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_imported: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    products_created: Mapped[int] = mapped_column(Integer, default=0)
    members_created: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any]]  # the first rejected rows: [{"row": n, "message": "..."}]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class TrainingRun(Base):
    """One training job (recommendations, repurchase or forecast): asked for, run, timed and measured."""

    __tablename__ = "insight_runs"
    __table_args__ = (Index("ix_insight_runs_kind_status", "kind", "status", "requested_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # irun_…
    merchant_id: Mapped[str] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # recommendations | forecast
    status: Mapped[str] = mapped_column(String(20))  # requested | running | finished | failed
    requested_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    seconds: Mapped[float | None] = mapped_column(Float)
    peak_memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    events_used: Mapped[int | None] = mapped_column(BigInteger)
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1 while running
    details: Mapped[dict[str, Any]]  # model parameters, figures, the error when failed


class MemberRecommendation(Base):
    """A member's precomputed "for you" list at one merchant (best first)."""

    __tablename__ = "insight_member_recs"
    __table_args__ = (Index("ix_insight_member_recs_rank", "merchant_id", "member_id", "rank"),)

    merchant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    run_id: Mapped[str] = mapped_column(String(40))


class ItemNeighbour(Base):
    """Products bought together with a product at one merchant (item-item neighbours, best first)."""

    __tablename__ = "insight_item_neighbours"
    __table_args__ = (Index("ix_insight_item_neighbours_rank", "merchant_id", "product_id", "rank"),)

    merchant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    neighbour_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    run_id: Mapped[str] = mapped_column(String(40))


class PopularItem(Base):
    """Best sellers at one merchant, per location ('' = all) and segment ('' = everyone, 'age:30-39', …).

    A segment row exists only when at least k distinct members bought in it (OAO_SHARING_MIN_GROUP_SIZE),
    so a segment list never describes one person."""

    __tablename__ = "insight_popular"
    __table_args__ = (Index("ix_insight_popular_rank", "merchant_id", "location_id", "segment", "rank"),)

    merchant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    location_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    segment: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    buyers: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(String(40))


class DueItem(Base):
    """When a member is expected to buy a product again (repurchase-interval model)."""

    __tablename__ = "insight_due"
    __table_args__ = (Index("ix_insight_due_member", "merchant_id", "member_id", "due_at"),)

    merchant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_bought_at: Mapped[datetime]
    interval_days: Mapped[float] = mapped_column(Float)
    due_at: Mapped[datetime]
    confidence: Mapped[float] = mapped_column(Float)  # 0..1: how regular this member's cycle is
    purchases: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(String(40))


class ForecastSeries(Base):
    """The model chosen for one location × product series by backtest, and its backtest error."""

    __tablename__ = "insight_forecast_series"

    merchant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    location_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    model: Mapped[str] = mapped_column(String(40))
    rmsse: Mapped[float | None] = mapped_column(Float)
    error_sd: Mapped[float] = mapped_column(Float)  # standard deviation of one-day forecast errors (units)
    mean_daily: Mapped[float] = mapped_column(Float)
    run_id: Mapped[str] = mapped_column(String(40))


class Forecast(Base):
    """Forecast daily demand (units) of one product at one location."""

    __tablename__ = "insight_forecasts"

    merchant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    location_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    mean: Mapped[float] = mapped_column(Float)
    model: Mapped[str] = mapped_column(String(40))
    run_id: Mapped[str] = mapped_column(String(40))


class PurchaseSuggestion(Base):
    """A suggested purchase order for one store, which staff accept, edit or reject."""

    __tablename__ = "insight_purchase_suggestions"
    __table_args__ = (Index("ix_insight_suggestions_location", "merchant_id", "location_id", "status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # sug_…
    merchant_id: Mapped[str] = mapped_column(String(40))
    location_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))  # proposed | accepted | rejected | superseded
    created_at: Mapped[datetime]
    expected_at: Mapped[datetime]  # when the goods would arrive (lead time)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(40))
    run_id: Mapped[str | None] = mapped_column(String(40))


class PurchaseSuggestionLine(Base):
    __tablename__ = "insight_purchase_suggestion_lines"

    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    suggestion_id: Mapped[str] = mapped_column(String(40), index=True)
    product_id: Mapped[str] = mapped_column(String(40))
    suggested_quantity: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)  # what staff will order (edited or as suggested)
    reason: Mapped[dict[str, Any]]  # forecast, on hand, reorder point, order-up-to / newsvendor figures
