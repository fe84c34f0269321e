"""Settlement run over a million ledger entries, beside a plain SQL aggregate of the same rows.

    .venv/bin/python benchmarks/settlement_run.py [--entries 1000000] [--merchants 200] [--postgres]

Creates OAO's schema in a fresh SQLite file (default) or, with --postgres, in a
throwaway PostgreSQL cluster on 127.0.0.1 (benchmarks/common.py), and bulk-inserts
`--entries` rows into `settlement_entries`, spread evenly over 60 days: sales with
their platform fee, refunds with the fee back, referral commissions and pickup
fees between random merchants, points funding (the mix of docs/settlement.md).

Then, in the same process and on the same rows, it times:

1. the plain SQL aggregate: SUM(amount) GROUP BY account, currency, kind over the
   period's rows (credit side and debit side), the floor any settlement run has
   to pay to read the rows once;
2. `oao.settlement.service.settlement_run` for the last 30 days: every merchant's
   opening balance (one GROUP BY per side over the earlier rows), the period's
   rows streamed in batches and folded into positions by kind, and the check of
   every closing balance against an independent SUM up to the end;
3. one merchant's full statement (opening, lines with running balance, CSV).

Time is wall-clock (best of --repeat). Memory is the peak of Python allocations
during the run (tracemalloc, measured in a separate pass because tracing slows
Python down) and the process's peak RSS (getrusage). It checks that the run's
totals equal the SQL aggregate's, to the cent. Figures only: nothing is asserted
about speed.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

from common import T0, PostgresCluster, bulk_insert, merchant_row, print_machine
from sqlalchemy import func, select

from oao.core.db import Database
from oao.models import Base
from oao.network.models import Merchant
from oao.settlement import postings as p
from oao.settlement import service as settlement
from oao.settlement import statements
from oao.settlement.models import LedgerEntry

DAYS = 60
PERIOD_DAYS = 30
E = LedgerEntry.__table__.c


def generate(db: Database, *, entries: int, merchants: list[str], seed: int, chunk: int = 50_000) -> float:
    """Insert `entries` rows in chunks; returns seconds. Each business fact writes 1 or 2 rows."""
    rng = random.Random(seed)
    step = timedelta(days=DAYS) / entries
    started = time.perf_counter()
    written = 0
    n = 0
    while written < entries:
        rows: list[dict[str, object]] = []
        while len(rows) < chunk and written + len(rows) < entries:
            n += 1
            at = T0 + step * (written + len(rows))
            seller = rng.choice(merchants)
            roll = rng.random()
            if roll < 0.60:  # a wallet sale and its fee
                gross = rng.randint(100, 200_000)
                legs = p.sale_legs(merchant_id=seller, gross=gross, fee_bps=300)
            elif roll < 0.70:  # a refund and the fee back
                amount = rng.randint(100, 50_000)
                legs = p.refund_legs([p.Collected(seller, amount * 2, p.bps_of(amount * 2, 300))],
                                     refunded_after=amount)
            elif roll < 0.82:
                other = rng.choice(merchants)
                legs = p.commission_legs(seller_id=seller, referrer_id=other, basis=rng.randint(100, 100_000), bps=800)
            elif roll < 0.94:
                other = rng.choice(merchants)
                legs = p.pickup_fee_legs(seller_id=seller, host_id=other, fee=350)
            else:
                other = rng.choice(merchants)
                legs = p.points_legs(kind="redemption", debtor_id=other, creditor_id=seller,
                                     amount=rng.randint(1, 5_000))
            for leg in legs:
                if written + len(rows) >= entries:
                    break
                rows.append({"id": f"bench:{n}:{leg.suffix}", "kind": leg.kind, "debit_account": leg.debit,
                             "credit_account": leg.credit, "amount_minor": leg.amount, "currency": "CNY",
                             "reference": f"ref_{n}", "source_id": None, "reverses_id": None,
                             "basis_minor": None, "booked_at": at, "created_at": at})
        with db.unit_of_work() as s:
            bulk_insert(s, LedgerEntry, rows, batch=5_000)
        written += len(rows)
    return time.perf_counter() - started


def sql_aggregate(db: Database, start, end) -> dict[tuple[str, str, str], int]:
    """The plain SQL baseline: SUM GROUP BY (account, currency, kind), both sides, over the period's rows."""
    out: dict[tuple[str, str, str], int] = {}
    with db.read() as s:
        for side, sign in ((E.credit_account, 1), (E.debit_account, -1)):
            query = (select(side, E.currency, E.kind, func.sum(E.amount_minor))
                     .where(E.booked_at >= start, E.booked_at < end).group_by(side, E.currency, E.kind))
            for account, currency, kind, amount in s.execute(query):
                key = (account, currency, kind)
                out[key] = out.get(key, 0) + sign * int(amount)
    return out


def run(db: Database, start, end, *, verify: bool = True) -> settlement.SettlementRun:
    with db.read() as s:
        return settlement.settlement_run(s, start=start, end=end, verify=verify)


def best_of(repeat: int, fn):  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def traced_peak_mib(fn) -> float:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--merchants", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--postgres", action="store_true", help="run on a throwaway PostgreSQL cluster")
    args = parser.parse_args()

    cluster = None
    tmp = tempfile.TemporaryDirectory(prefix="oao-bench-settlement.")
    if args.postgres:
        cluster = PostgresCluster(fsync=False).start()
        db = Database(cluster.create_database("settlement"))
        backend = f"PostgreSQL {cluster.version}"
    else:
        db = Database(f"sqlite:///{Path(tmp.name) / 'settlement.sqlite3'}")
        backend = "SQLite (file, WAL)"
    print_machine(cluster.version if cluster else None)
    try:
        Base.metadata.create_all(db.engine)
        merchant_rows = [merchant_row(f"Merchant {i}") for i in range(args.merchants)]
        with db.unit_of_work() as s:
            bulk_insert(s, Merchant, merchant_rows)
        ids = [r["id"] for r in merchant_rows]
        load = generate(db, entries=args.entries, merchants=ids, seed=args.seed)
        if cluster is not None:
            cluster.sql("VACUUM ANALYZE settlement_entries", "settlement")
        else:
            with db.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        with db.read() as s:
            count = s.scalar(select(func.count()).select_from(LedgerEntry))
        end = T0 + timedelta(days=DAYS)
        start = end - timedelta(days=PERIOD_DAYS)
        with db.read() as s:
            in_period = s.scalar(select(func.count()).select_from(LedgerEntry).where(E.booked_at >= start))
        print(f"\nSettlement run on {backend}: {count:,} entries over {DAYS} days, {args.merchants} merchants, "
              f"loaded in {load:.1f} s ({count / load:,.0f} rows/s)")
        print(f"Period: last {PERIOD_DAYS} days = {in_period:,} entries; best of {args.repeat}\n")

        sql_s, sql_totals = best_of(args.repeat, lambda: sql_aggregate(db, start, end))
        run_s, result = best_of(args.repeat, lambda: run(db, start, end))
        bare_s, _ = best_of(args.repeat, lambda: run(db, start, end, verify=False))
        some = ids[0]

        def one_statement() -> int:
            with db.read() as s:
                st = settlement.statement(s, merchant_id=some, start=start, end=end)
            return len(statements.to_csv(st))

        stmt_s, csv_bytes = best_of(args.repeat, one_statement)
        peak_run = traced_peak_mib(lambda: run(db, start, end))
        peak_sql = traced_peak_mib(lambda: sql_aggregate(db, start, end))

        run_totals = {(pos.account, pos.currency, kind): v for pos in result.positions
                      for kind, v in pos.totals_by_kind.items()}
        sql_merchants = {k: v for k, v in sql_totals.items() if k[0].startswith("merchant:")}
        same = run_totals == sql_merchants
        print(f"  plain SQL aggregate (SUM … GROUP BY account, kind)   {sql_s:8.2f} s"
              f"   peak Python {peak_sql:7.1f} MiB")
        print(f"  settlement run, all merchants, with closing check    {run_s:8.2f} s"
              f"   peak Python {peak_run:7.1f} MiB")
        print(f"  settlement run without the closing check             {bare_s:8.2f} s")
        print(f"  one merchant's statement with lines + CSV            {stmt_s:8.2f} s   ({csv_bytes:,} bytes)")
        print(f"  run / SQL aggregate: {run_s / sql_s:.1f}x   positions: {len(result.positions)}   "
              f"entries read: {result.entries_read:,}   closing mismatches: {len(result.mismatches)}")
        print(f"  run totals equal the SQL aggregate to the cent: {same}")
        print(f"  process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    finally:
        db.dispose()
        if cluster is not None:
            cluster.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
