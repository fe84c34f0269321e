"""Points-ledger throughput through the service on PostgreSQL, with pgbench on the same cluster as the baseline.

    .venv/bin/python benchmarks/ledger_throughput.py [--clients 8] [--duration 20] [--mix transfers|holds]

Starts a throwaway PostgreSQL cluster on 127.0.0.1, runs pgbench (TPC-B-like,
same number of clients and duration) in its own database, then creates OAO's
schema in another, a network programme, M merchants and N members holding
points, and starts N client *processes* (one connection each, so Python's GIL
is not the bottleneck) that post transfers through
`oao.loyalty.service.create_transfers`, one transfer per unit of work
(`Database.unit_of_work()`, committed), alternating an earn (merchant issuance
-> member) and a spend (member -> merchant redemption, refused if it would
overdraw). With `--mix holds` each iteration is a checkout instead:
`hold_points` then `post_hold`, two units of work and two transfers.

Prints transfers/s, commit latency percentiles, refusals and errors, the CPU
split and the ratio to pgbench's TPS against the 50 % goal. Everything it
started is stopped at the end, also on Ctrl-C or an error. Figures only:
nothing is asserted about speed.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import re
import time
from collections import Counter
from pathlib import Path

from common import (
    T0,
    PostgresCluster,
    bulk_insert,
    format_summary,
    load_average,
    merchant_row,
    print_machine,
    summary_ms,
)
from sqlalchemy import func, select

from oao.core.db import Database
from oao.core.ids import new_id
from oao.loyalty import service as loyalty
from oao.loyalty.models import Account, Lot, Transfer
from oao.loyalty.transfers import InsufficientPoints, TransferSpec
from oao.models import Base
from oao.network.models import Merchant

GOAL_RATIO = 0.50
START_POINTS = 1_000_000


def run_pgbench(cluster: PostgresCluster, *, clients: int, duration: int, scale: int) -> dict[str, float]:
    cluster.create_database("pgbench")
    init = cluster.run_client("pgbench", "-i", "-q", "-s", str(scale), "pgbench")
    if init.returncode != 0:
        raise RuntimeError(f"pgbench -i failed:\n{init.stderr}")
    run = cluster.run_client("pgbench", "-c", str(clients), "-j", str(clients), "-T", str(duration), "pgbench",
                             timeout=duration + 120)
    if run.returncode != 0:
        raise RuntimeError(f"pgbench failed:\n{run.stdout}\n{run.stderr}")
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", run.stdout)
    latency = re.search(r"latency average = ([\d.]+) ms", run.stdout)
    if tps is None:
        raise RuntimeError(f"could not read pgbench's TPS from:\n{run.stdout}")
    return {"tps": float(tps.group(1)), "latency_ms": float(latency.group(1)) if latency else float("nan")}


# --- setup --------------------------------------------------------------------------------

def build_ledger(db: Database, *, merchants: int, members: int) -> dict[str, object]:
    """A network programme, merchants with issuance and redemption accounts, members holding points."""
    merchant_rows = [merchant_row(f"Tenant {i + 1}") for i in range(merchants)]
    with db.unit_of_work() as s:
        bulk_insert(s, Merchant, merchant_rows)
        programme = loyalty.network_programme(s)
        programme.expiry_days = None
        account_rows, lot_rows, transfer_rows = [], [], []
        issuance, redemption = [], []
        for m in merchant_rows:
            for kind, bucket in (("issuance", issuance), ("redemption", redemption)):
                account_id = new_id("lac")
                bucket.append(account_id)
                account_rows.append(_account(account_id, programme.id, kind, m["id"]))
        grantor = new_id("lac")
        account_rows.append(_account(grantor, programme.id, "issuance", "network", debits=members * START_POINTS))
        member_accounts = []
        for i in range(members):
            account_id = new_id("lac")
            member_accounts.append(account_id)
            account_rows.append(_account(account_id, programme.id, "member", f"mem_bench_{i}",
                                         credits=START_POINTS))
            transfer_rows.append({"id": f"seed:{i}", "seq": new_id("ltr"), "programme_id": programme.id,
                                  "debit_account_id": grantor, "credit_account_id": account_id,
                                  "amount": START_POINTS, "kind": "single", "pending_id": None, "code": "grant",
                                  "linked_id": None, "timeout_at": None, "reference": None, "created_at": T0})
            lot_rows.append({"id": new_id("lot"), "account_id": account_id, "programme_id": programme.id,
                             "member_id": f"mem_bench_{i}", "issuer_merchant_id": None, "points": START_POINTS,
                             "remaining": START_POINTS, "earned_at": T0, "expires_at": None,
                             "transfer_id": f"seed:{i}"})
        bulk_insert(s, Account, account_rows)
        bulk_insert(s, Transfer, transfer_rows)
        bulk_insert(s, Lot, lot_rows)
        return {"programme": programme.id, "issuance": issuance, "redemption": redemption,
                "members": member_accounts, "member_ids": [f"mem_bench_{i}" for i in range(members)],
                "merchants": [m["id"] for m in merchant_rows]}


def _account(account_id: str, programme_id: str, kind: str, owner: str, *, debits: int = 0,
             credits: int = 0) -> dict[str, object]:
    return {"id": account_id, "programme_id": programme_id, "kind": kind, "owner_key": owner,
            "debits_must_not_exceed_credits": kind == "member", "credits_must_not_exceed_debits": False,
            "debits_pending": 0, "debits_posted": debits, "credits_pending": 0, "credits_posted": credits,
            "created_at": T0}


# --- the load -----------------------------------------------------------------------------

def client(n: int, url: str, ledger: dict, mix: str, start_at: float, window: tuple[float, float], seed: int,
           out: mp.Queue) -> None:
    rng = random.Random(seed * 1000 + n)
    db = Database(url, pool_size=1)
    latencies: list[float] = []
    counts: Counter[str] = Counter()
    members, issuance, redemption = ledger["members"], ledger["issuance"], ledger["redemption"]
    with db.unit_of_work() as s:  # connect before the clock starts
        s.execute(select(func.now()))
    while time.monotonic() < start_at:
        time.sleep(0.01)
    i = 0
    while time.monotonic() < window[1]:
        i += 1
        m = rng.randrange(len(issuance))
        who = rng.randrange(len(members))
        t0 = time.monotonic()
        try:
            if mix == "holds":
                hold_id = f"chk_{n}_{i}"
                with db.unit_of_work() as s:
                    loyalty.hold_points(s, hold_id=hold_id, member_id=ledger["member_ids"][who],
                                        programme_id=ledger["programme"], points=rng.randint(1, 50),
                                        accepting_merchant_id=ledger["merchants"][m], now=T0)
                with db.unit_of_work() as s:
                    loyalty.post_hold(s, hold_id=hold_id, now=T0)
                done = 2
            else:
                earn = i % 2 == 1
                debit, credit = (issuance[m], members[who]) if earn else (members[who], redemption[m])
                with db.unit_of_work() as s:
                    loyalty.create_transfers(s, transfers=[TransferSpec(
                        id=f"b{n}_{i}", programme_id=ledger["programme"], debit_account_id=debit,
                        credit_account_id=credit, amount=rng.randint(1, 50), code="earn" if earn else "spend")],
                        now=T0)
                done = 1
            outcome = "ok"
        except InsufficientPoints:
            outcome, done = "refused", 0
        except Exception as exc:  # counted and shown: an error is a finding, not a crash of the benchmark
            outcome, done = type(exc).__name__, 0
        t1 = time.monotonic()
        if window[0] <= t1 <= window[1]:
            counts[outcome] += 1
            counts["transfers"] += done
            if outcome == "ok":
                latencies.append(t1 - t0)
    db.dispose()
    out.put((dict(counts), latencies))


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    kids = [int(x) for x in text.split()]
    return kids + [g for k in kids for g in _children(k)]


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> float:
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def run_load(url: str, ledger: dict, *, clients: int, mix: str, warmup: float, duration: float, seed: int,
             postmaster: int) -> tuple[Counter[str], list[float], dict[str, float]]:
    ctx = mp.get_context("spawn")  # a fresh interpreter per client: no inherited engine or connection
    out: mp.Queue = ctx.Queue()
    start_at = time.monotonic() + 8.0  # time for the spawned interpreters to import and connect
    window = (start_at + warmup, start_at + warmup + duration)
    procs = [ctx.Process(target=client, args=(n, url, ledger, mix, start_at, window, seed, out), daemon=True)
             for n in range(clients)]
    for p in procs:
        p.start()
    time.sleep(max(0.0, window[0] - time.monotonic()))
    groups = {"clients (Python)": [p.pid for p in procs if p.pid], "PostgreSQL": [postmaster, *_children(postmaster)]}
    before = {k: _cpu_seconds(v) for k, v in groups.items()} | {"whole machine": _machine_busy()}
    wall0 = time.monotonic()
    time.sleep(max(0.0, window[1] - time.monotonic()))
    after = {k: _cpu_seconds(v) for k, v in groups.items()} | {"whole machine": _machine_busy()}
    wall = time.monotonic() - wall0
    total: Counter[str] = Counter()
    latencies: list[float] = []
    for _ in procs:
        counts, lat = out.get(timeout=120)
        total.update(counts)
        latencies += lat
    for p in procs:
        p.join(timeout=30)
    return total, latencies, {k: (after[k] - before[k]) / wall for k in before}


# --- main ---------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=8, help="client processes, also pgbench's -c/-j (default 8)")
    p.add_argument("--duration", type=int, default=20, help="measured seconds, also pgbench's -T (default 20)")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first (default 3)")
    p.add_argument("--mix", choices=("transfers", "holds"), default="transfers",
                   help="transfers: one create_transfers per unit of work; holds: hold_points + post_hold")
    p.add_argument("--merchants", type=int, default=10, help="merchants (hot accounts, like pgbench's branches)")
    p.add_argument("--members", type=int, default=10_000)
    p.add_argument("--fsync", choices=("on", "off"), default="on", help="PostgreSQL durability (default on)")
    p.add_argument("--pgbench-scale", type=int, default=10)
    p.add_argument("--no-pgbench", action="store_true", help="skip the baseline")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    if min(args.clients, args.duration, args.merchants, args.members) < 1:
        p.error("counts and durations must be at least 1")
    return args


def main() -> None:
    args = parse_args()
    print("OAO points-ledger throughput benchmark")
    cluster = PostgresCluster(fsync=args.fsync == "on", max_connections=200)
    print_machine(cluster.version)
    with cluster:
        print(f"PostgreSQL {cluster.version} on 127.0.0.1:{cluster.port}: fsync={cluster.sql('SHOW fsync')}, "
              f"synchronous_commit={cluster.sql('SHOW synchronous_commit')}")
        pg = None
        if not args.no_pgbench:
            print(f"pgbench: -i -s {args.pgbench_scale}, then -c {args.clients} -j {args.clients} "
                  f"-T {args.duration} (TPC-B-like) ...", flush=True)
            pg = run_pgbench(cluster, clients=args.clients, duration=args.duration, scale=args.pgbench_scale)
            print(f"  pgbench: {pg['tps']:.0f} TPS (without connection time), average latency "
                  f"{pg['latency_ms']:.2f} ms", flush=True)
        url = cluster.create_database("oao")
        db = Database(url)
        Base.metadata.create_all(db.engine)
        started = time.monotonic()
        ledger = build_ledger(db, merchants=args.merchants, members=args.members)
        db.dispose()
        cluster.sql("VACUUM ANALYZE", "oao")
        cluster.sql("CHECKPOINT")
        print(f"ledger: {args.merchants} merchants, {args.members} members with {START_POINTS:,} points each, "
              f"loaded in {time.monotonic() - started:.1f} s")
        postmaster = int((cluster.dir / "data" / "postmaster.pid").read_text().split()[0])
        print(f"OAO: {args.clients} client processes, mix={args.mix}, {args.warmup:.0f} s warm-up + "
              f"{args.duration} s measured ...", flush=True)
        counts, latencies, cpu = run_load(url, ledger, clients=args.clients, mix=args.mix, warmup=args.warmup,
                                          duration=args.duration, seed=args.seed, postmaster=postmaster)
        check = Database(url)
        with check.read() as s:
            sums = s.execute(select(func.sum(Account.debits_posted), func.sum(Account.credits_posted),
                                    func.sum(Account.debits_pending), func.sum(Account.credits_pending))).one()
            negative = s.scalar(select(func.count()).select_from(Account).where(
                Account.kind == "member", Account.credits_posted < Account.debits_posted + Account.debits_pending))
            in_db = s.scalar(select(func.count()).select_from(Transfer))
        check.dispose()

    per_s = counts["transfers"] / args.duration
    print("\nResults")
    print(f"  transfers posted in {args.duration} s: {counts['transfers']}  ->  {per_s:.0f} transfers/s "
          f"({counts['ok']} iterations ok, {counts['refused']} refused for lack of points)")
    print(format_summary("iteration (ok)", summary_ms(latencies)))
    errors = {k: v for k, v in counts.items() if k not in ("ok", "refused", "transfers")}
    print(f"  errors: {errors or 'none'}; transfers in the database: {in_db}")
    print(f"  books: debits posted {sums[0]} = credits posted {sums[1]}: {sums[0] == sums[1]}; pending "
          f"{sums[2]} = {sums[3]}: {sums[2] == sums[3]}; negative member balances: {negative}")
    print(f"  load average at the end (1/5/15 min): {load_average()}")
    print(f"  CPU while measuring (cores busy, out of {os.cpu_count()}): "
          + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()))
    if pg is not None:
        ratio = per_s / pg["tps"]
        print(f"  baseline pgbench: {pg['tps']:.0f} TPS with {args.clients} clients")
        print(f"  ratio transfers/s / pgbench TPS = {ratio:.1%}  (goal >= {GOAL_RATIO:.0%}: "
              f"{'met' if ratio >= GOAL_RATIO else 'NOT met'})")


if __name__ == "__main__":
    main()
