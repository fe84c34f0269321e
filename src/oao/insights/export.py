"""`oao insights export`: the event log as Parquet files, one per kind (sale.parquet, return.parquet,
view.parquet), for jobs and notebooks outside OAO (DuckDB, pandas, Spark read them as they are).

One file per kind rather than a partitioned directory: three kinds never make many partitions, and a
reader usually wants one kind. The log is read in keyset pages (`id > last`, by id) and each page is
written as a row group, so memory stays at one page whatever the size of the log. Files are written
under a temporary name and renamed at the end, so a reader never sees half a file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oao.core.clock import as_utc
from oao.insights.models import EVENT_KINDS, InsightEvent

PAGE = 100_000
COLUMNS = ("id", "source", "source_line", "kind", "merchant_id", "location_id", "channel", "product_id", "member_id",
           "basket_ref", "quantity", "amount_minor", "currency", "occurred_at")


@dataclass
class ExportReport:
    files: dict[str, Path] = field(default_factory=dict)  # kind -> file
    rows: dict[str, int] = field(default_factory=dict)  # kind -> rows written


def parquet_schema() -> Any:
    import pyarrow as pa

    text = pa.string()
    return pa.schema([("id", pa.int64()), ("source", text), ("source_line", pa.int32()), ("kind", text),
                      ("merchant_id", text), ("location_id", text), ("channel", text), ("product_id", text),
                      ("member_id", text), ("basket_ref", text), ("quantity", pa.int64()),
                      ("amount_minor", pa.int64()), ("currency", text), ("occurred_at", pa.timestamp("us", tz="UTC"))])


def _filters(kind: str, merchant_id: str | None, since: datetime | None) -> list[Any]:
    where = [InsightEvent.kind == kind]
    if merchant_id is not None:
        where.append(InsightEvent.merchant_id == merchant_id)
    if since is not None:
        where.append(InsightEvent.occurred_at >= as_utc(since))
    return where


def count_events(session: Session, *, merchant_id: str | None = None, since: datetime | None = None) -> int:
    return sum(session.scalar(select(func.count()).select_from(InsightEvent).where(*_filters(k, merchant_id, since)))
               or 0 for k in EVENT_KINDS)


def export_events(session: Session, out_dir: str | Path, *, merchant_id: str | None = None,
                  since: datetime | None = None, page: int = PAGE,
                  progress: Callable[[int], None] | None = None) -> ExportReport:
    """Write the log (of one merchant, from `since`) to `out_dir`/<kind>.parquet; kinds without rows get none."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    schema = parquet_schema()
    table = InsightEvent.__table__
    report, done = ExportReport(), 0
    for kind in EVENT_KINDS:
        target, partial = out / f"{kind}.parquet", out / f".{kind}.parquet.partial"
        writer, last_id, written = None, None, 0
        try:
            while True:
                query = select(*(table.c[c] for c in COLUMNS)).where(*_filters(kind, merchant_id, since))
                if last_id is not None:
                    query = query.where(table.c.id > last_id)
                rows = session.execute(query.order_by(table.c.id).limit(page)).all()
                if not rows:
                    break
                columns = list(zip(*rows, strict=True))
                batch = pa.RecordBatch.from_arrays(
                    [pa.array(values, type=schema.field(name).type) for name, values in zip(COLUMNS, columns,
                                                                                            strict=True)],
                    schema=schema)
                if writer is None:
                    writer = pq.ParquetWriter(partial, schema, compression="zstd")
                writer.write_batch(batch)
                last_id, written, done = rows[-1][0], written + len(rows), done + len(rows)
                if progress:
                    progress(done)
        finally:
            if writer is not None:
                writer.close()
        if written:
            partial.replace(target)
            report.files[kind], report.rows[kind] = target, written
        elif target.exists():
            target.unlink()  # an older export's file would now say something the log does not
    return report
