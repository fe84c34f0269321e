"""Order throughput over real HTTP, with pgbench on the same PostgreSQL as the baseline.

    .venv/bin/python benchmarks/order_throughput.py [--clients 8] [--workers 2] [--duration 20]

Starts a throwaway PostgreSQL cluster on 127.0.0.1, runs pgbench (TPC-B-like,
same number of clients and duration) in its own database, loads a network
(merchants, stores, products, plenty of stock, one API key) into another,
starts OAO with uvicorn in separate processes, and lets N client threads
repeatedly ask for a quote for a random cart picked up at a random store and
order it (pay at pickup, with an Idempotency-Key). Prints orders/s, latency
percentiles, errors by status and the ratio to pgbench's TPS. Everything it
started is stopped at the end, also on Ctrl-C or an error.

Figures only: nothing is asserted about speed.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from common import (
    ALWAYS_OPEN,
    T0,
    PostgresCluster,
    bulk_insert,
    format_summary,
    free_port,
    load_average,
    location_row,
    merchant_row,
    offer_row,
    on_exit,
    print_machine,
    product_row,
    stock_row,
    summary_ms,
    wait_for,
)

from oao.catalog.models import Offer, Product
from oao.core.db import Database
from oao.inventory.models import StockLevel
from oao.models import Base
from oao.network import service as network_service
from oao.network.models import Location, Merchant

GOAL_RATIO = 0.40
MERCHANTS = ("FreshHub", "CloudMall", "QuickMart", "Sweet Lane", "Lakeside Books", "Qiantang Sports")


# --- setup --------------------------------------------------------------------------------


@dataclass
class Network:
    api_key: str
    store_ids: list[str]
    product_ids: list[str]


def build_network(
    db: Database, *, merchants: int, stores: int, products: int, units: int, rng: random.Random
) -> Network:
    """Stores spread over Hangzhou, every store stocking every product of its merchant."""
    merchant_rows = [
        merchant_row(MERCHANTS[i % len(MERCHANTS)] + (f" {i}" if i >= len(MERCHANTS) else "")) for i in range(merchants)
    ]
    store_rows = []
    for i in range(stores):
        m = merchant_rows[i % merchants]
        store_rows.append(
            location_row(
                m["id"],
                f"{m['name']} store {i + 1}",
                rng.uniform(30.15, 30.35),
                rng.uniform(120.05, 120.30),
                kind="store",
                opening_hours=ALWAYS_OPEN,
                pick_minutes=rng.choice((10, 15, 20)),
            )
        )
    product_rows = [product_row(1000 + i, f"Product {i + 1}") for i in range(products)]
    offer_rows = [
        offer_row(m["id"], p["id"], rng.randrange(500, 50_000, 100)) for m in merchant_rows for p in product_rows
    ]
    stock_rows = [stock_row(s["merchant_id"], s["id"], p["id"], units) for s in store_rows for p in product_rows]
    with db.unit_of_work() as s:
        bulk_insert(s, Merchant, merchant_rows)
        bulk_insert(s, Location, store_rows)
        bulk_insert(s, Product, product_rows)
        bulk_insert(s, Offer, offer_rows)
        bulk_insert(s, StockLevel, stock_rows)
        # A network-admin key may place any seller's option.
        token, _ = network_service.create_api_key(s, merchant_id=None, name="benchmark", now=T0)
    return Network(token, [r["id"] for r in store_rows], [r["id"] for r in product_rows])


def run_pgbench(cluster: PostgresCluster, *, clients: int, duration: int, scale: int) -> dict[str, float]:
    cluster.create_database("pgbench")
    init = cluster.run_client("pgbench", "-i", "-q", "-s", str(scale), "pgbench")
    if init.returncode != 0:
        raise RuntimeError(f"pgbench -i failed:\n{init.stderr}")
    run = cluster.run_client(
        "pgbench", "-c", str(clients), "-j", str(clients), "-T", str(duration), "pgbench", timeout=duration + 120
    )
    if run.returncode != 0:
        raise RuntimeError(f"pgbench failed:\n{run.stdout}\n{run.stderr}")
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", run.stdout)
    latency = re.search(r"latency average = ([\d.]+) ms", run.stdout)
    if tps is None:
        raise RuntimeError(f"could not read pgbench's TPS from:\n{run.stdout}")
    return {"tps": float(tps.group(1)), "latency_ms": float(latency.group(1)) if latency else float("nan")}


# `uvicorn --workers N` as of uvicorn 0.54 binds its listening socket with proto 0, so
# asyncio never sets TCP_NODELAY on accepted connections and every keep-alive request
# after the first waits ~40 ms for a delayed ACK (Kludex/uvicorn#3149). `oao serve`
# binds its own TCP_NODELAY socket; --stock-uvicorn shows the difference.


class Server:
    """OAO under uvicorn with W worker processes, in its own process group.

    plain_cli=True runs the stock `uvicorn oao.app:create_app --factory --workers W`."""

    def __init__(self, *, database_url: str, workers: int, plain_cli: bool = False) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkstemp(prefix="oao-bench-server.", suffix=".log")[1])
        env = dict(os.environ, OAO_DATABASE_URL=database_url, OAO_EMBEDDED_WORKER="false", OAO_LOG_LEVEL="WARNING")
        if plain_cli:
            cmd = [
                sys.executable,
                "-m",
                "uvicorn",
                "oao.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--no-access-log",
            ]
        else:
            oao = str(Path(sys.executable).with_name("oao"))
            cmd = [oao, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)]
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self._stop_now = on_exit(self.stop)

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the OAO server exited:\n{self.log.read_text()[-3000:]}")
            try:
                return httpx.get(self.base + "/api/openapi.json", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, 60, "the OAO server answering")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the group this script started
                self.proc.wait(timeout=10)
        self.log.unlink(missing_ok=True)

    def close(self) -> None:
        self._stop_now()


# --- CPU accounting (why the figures are what they are) -------------------------------


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    kids = [int(x) for x in text.split()]
    return kids + [g for k in kids for g in _children(k)]


def _cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError):
            continue
    return total / tick


def _machine_busy_seconds() -> float:
    """Non-idle CPU seconds of the whole machine (every process, ours or not)."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(groups: dict[str, list[int]]) -> dict[str, float]:
    snap = {name: _cpu_seconds(pids) for name, pids in groups.items()}
    snap["whole machine"] = _machine_busy_seconds()
    return snap


# --- the load -----------------------------------------------------------------------------


@dataclass
class ClientStats:
    quote_s: list[float] = field(default_factory=list)
    order_s: list[float] = field(default_factory=list)
    round_trip_s: list[float] = field(default_factory=list)
    orders: int = 0
    quote_errors: Counter[str] = field(default_factory=Counter)
    order_errors: Counter[str] = field(default_factory=Counter)
    no_pickup_option: int = 0


def client_loop(
    n: int,
    base: str,
    network: Network,
    window: tuple[float, float],
    stop_at: float,
    seed: int,
    stats: ClientStats,
    orders_only: bool = False,
) -> None:
    rng = random.Random(seed * 1000 + n)
    start, end = window
    headers = {"Authorization": f"Bearer {network.api_key}"}
    with httpx.Client(base_url=base + "/api/v1", headers=headers, timeout=60) as http:
        i = 0
        # --orders-only: a few carts per client, each quoted once (a quote stays valid
        # for 10 minutes), then ordered again and again: order placement alone.
        carts = [
            (
                [
                    {"product_id": p, "quantity": rng.randint(1, 2)}
                    for p in rng.sample(network.product_ids, rng.randint(1, 3))
                ],
                rng.choice(network.store_ids),
            )
            for _ in range(10)
        ]
        quoted: dict[int, tuple[dict, dict]] = {}
        while time.monotonic() < stop_at:
            i += 1
            if orders_only:
                which = i % len(carts)
                lines, store = carts[which]
            else:
                lines = [
                    {"product_id": p, "quantity": rng.randint(1, 2)}
                    for p in rng.sample(network.product_ids, rng.randint(1, 3))
                ]
                store = rng.choice(network.store_ids)
            t0 = time.monotonic()
            if orders_only and which in quoted:
                quote, chosen = quoted[which]
                t1 = t0
            else:
                try:
                    q = http.post("/quotes", json={"lines": lines, "pickup_location_id": store})
                except httpx.HTTPError as exc:
                    if start <= time.monotonic() <= end:
                        stats.quote_errors[type(exc).__name__] += 1
                    continue
                t1 = time.monotonic()
                counted = start <= t1 <= end
                if q.status_code != 201:
                    if counted:
                        stats.quote_errors[str(q.status_code)] += 1
                    continue
                if counted:
                    stats.quote_s.append(t1 - t0)
                quote = q.json()
                options = [o for o in quote["options"] if o["kind"] == "pickup"]
                chosen = next((o for o in options if o["pickup_location"]["id"] == store), None)
                chosen = chosen or (options[0] if options else None)
                if chosen is None:
                    if counted:
                        stats.no_pickup_option += 1
                    continue
                if orders_only:
                    quoted[which] = (quote, chosen)
            body = {
                "quote_id": quote["id"],
                "option_id": chosen["id"],
                "payment_method": "pay_at_pickup",
                "customer": {"name": f"Bench shopper {n}-{i}"},
            }
            try:
                r = http.post("/orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
            except httpx.HTTPError as exc:
                if start <= time.monotonic() <= end:
                    stats.order_errors[type(exc).__name__] += 1
                continue
            t2 = time.monotonic()
            if not start <= t2 <= end:
                continue
            if r.status_code == 201:
                stats.orders += 1
                stats.order_s.append(t2 - t1)
                stats.round_trip_s.append(t2 - t0)
            else:
                stats.order_errors[str(r.status_code)] += 1


def run_load(
    base: str,
    network: Network,
    *,
    clients: int,
    warmup: float,
    duration: float,
    seed: int,
    cpu_groups: Callable[[], dict[str, list[int]]],
    orders_only: bool = False,
) -> tuple[ClientStats, float, dict[str, float]]:
    now = time.monotonic()
    window = (now + warmup, now + warmup + duration)
    per_client = [ClientStats() for _ in range(clients)]
    threads = [
        threading.Thread(
            target=client_loop, args=(n, base, network, window, window[1], seed, st, orders_only), daemon=True
        )
        for n, st in enumerate(per_client)
    ]
    for t in threads:
        t.start()
    time.sleep(max(0.0, window[0] - time.monotonic()))
    groups = cpu_groups()  # after the warm-up: the pools have opened their database connections
    cpu_before, wall_before = cpu_snapshot(groups), time.monotonic()
    time.sleep(max(0.0, window[1] - time.monotonic()))
    cpu_after, wall = cpu_snapshot(groups), time.monotonic() - wall_before
    for t in threads:
        t.join(timeout=120)
    total = ClientStats()
    for st in per_client:
        total.quote_s += st.quote_s
        total.order_s += st.order_s
        total.round_trip_s += st.round_trip_s
        total.orders += st.orders
        total.quote_errors.update(st.quote_errors)
        total.order_errors.update(st.order_errors)
        total.no_pickup_option += st.no_pickup_option
    cpu = {name: (cpu_after[name] - cpu_before[name]) / wall for name in cpu_before}
    return total, duration, cpu


# --- main ---------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=8, help="concurrent clients, also pgbench's -c/-j (default 8)")
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 2, help="uvicorn worker processes (default: the core count)"
    )
    p.add_argument("--duration", type=int, default=20, help="measured seconds, also pgbench's -T (default 20)")
    p.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds first (default 5)")
    p.add_argument("--merchants", type=int, default=4)
    p.add_argument("--stores", type=int, default=50)
    p.add_argument("--products", type=int, default=200)
    p.add_argument(
        "--fsync",
        choices=("on", "off"),
        default="on",
        help="PostgreSQL fsync/synchronous_commit/full_page_writes (default on, as in production)",
    )
    p.add_argument("--pgbench-scale", type=int, default=10)
    p.add_argument("--no-pgbench", action="store_true", help="skip the pgbench baseline")
    p.add_argument(
        "--stock-uvicorn",
        action="store_true",
        help="run the plain `uvicorn --workers W` CLI, whose connections lack TCP_NODELAY (uvicorn#3149)",
    )
    p.add_argument(
        "--orders-only",
        action="store_true",
        help="measure order placement alone: each client quotes a few carts once, then orders from them",
    )
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    if min(args.clients, args.workers, args.duration, args.merchants, args.stores, args.products) < 1:
        p.error("counts and durations must be at least 1")
    return args


def main() -> None:
    args = parse_args()
    rng = random.Random(args.seed)
    print("OAO order throughput benchmark")
    cluster = PostgresCluster(fsync=args.fsync == "on", max_connections=200)
    print_machine(cluster.version)
    with cluster:
        print(
            f"PostgreSQL {cluster.version} on 127.0.0.1:{cluster.port}: fsync={cluster.sql('SHOW fsync')}, "
            f"synchronous_commit={cluster.sql('SHOW synchronous_commit')}, "
            f"max_connections={cluster.sql('SHOW max_connections')}"
        )
        pg: dict[str, float] | None = None
        if not args.no_pgbench:
            print(
                f"pgbench: -i -s {args.pgbench_scale}, then -c {args.clients} -j {args.clients} "
                f"-T {args.duration} (TPC-B-like) ...",
                flush=True,
            )
            pg = run_pgbench(cluster, clients=args.clients, duration=args.duration, scale=args.pgbench_scale)
            print(
                f"  pgbench: {pg['tps']:.0f} TPS (without connection time), average latency {pg['latency_ms']:.2f} ms",
                flush=True,
            )

        url = cluster.create_database("oao")
        db = Database(url)
        Base.metadata.create_all(db.engine)
        started = time.monotonic()
        network = build_network(
            db, merchants=args.merchants, stores=args.stores, products=args.products, units=1_000_000, rng=rng
        )
        db.dispose()
        cluster.sql("VACUUM ANALYZE", "oao")
        cluster.sql("CHECKPOINT")
        print(
            f"network: {args.merchants} merchants, {args.stores} stores, {args.products} products, "
            f"{args.stores * args.products} stock rows, loaded in {time.monotonic() - started:.1f} s"
        )

        server = Server(database_url=url, workers=args.workers, plain_cli=args.stock_uvicorn)
        try:
            server.wait_ready()
            postmaster = int((cluster.dir / "data" / "postmaster.pid").read_text().split()[0])

            def groups() -> dict[str, list[int]]:
                return {
                    "OAO server": [server.proc.pid, *_children(server.proc.pid)],
                    "PostgreSQL": [postmaster, *_children(postmaster)],
                    "load generator": [os.getpid()],
                }

            launch = (
                "the plain `uvicorn --workers` CLI (no TCP_NODELAY)"
                if args.stock_uvicorn
                else "`oao serve` (its own TCP_NODELAY socket)"
            ) + ("; orders only (carts quoted once per client)" if args.orders_only else "; a quote before every order")
            print(
                f"OAO: {launch} with {args.workers} worker processes on {server.base}; {args.clients} clients, "
                f"{args.warmup:.0f} s warm-up + {args.duration} s measured ...",
                flush=True,
            )
            stats, seconds, cpu = run_load(
                server.base,
                network,
                clients=args.clients,
                warmup=args.warmup,
                duration=args.duration,
                seed=args.seed,
                cpu_groups=groups,
                orders_only=args.orders_only,
            )
        finally:
            server.close()
        in_db = cluster.sql("SELECT count(*) FROM orders", "oao")

    orders_per_s = stats.orders / seconds
    print("\nResults")
    print(
        f"  orders placed (201) in {seconds:.0f} s: {stats.orders}  ->  {orders_per_s:.1f} orders/s "
        f"({len(stats.quote_s) / seconds:.1f} quotes/s); orders in the database overall: {in_db}"
    )
    print(format_summary("POST /quotes", summary_ms(stats.quote_s)))
    print(format_summary("POST /orders", summary_ms(stats.order_s)))
    if not args.orders_only:
        print(format_summary("quote + order round trip", summary_ms(stats.round_trip_s)))
    print(
        f"  quote errors by status: {dict(stats.quote_errors) or 'none'}; "
        f"order errors by status: {dict(stats.order_errors) or 'none'}; "
        f"quotes without a pickup option: {stats.no_pickup_option}"
    )
    print(f"  load average at the end (1/5/15 min): {load_average()}")
    print(
        "  CPU used while measuring (cores busy, out of "
        f"{os.cpu_count()}): " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
    )
    if pg is not None:
        ratio = orders_per_s / pg["tps"]
        verdict = "met" if ratio >= GOAL_RATIO else "NOT met"
        print(f"  baseline pgbench: {pg['tps']:.0f} TPS with {args.clients} clients")
        print(f"  ratio orders/s / pgbench TPS = {ratio:.1%}  (goal >= {GOAL_RATIO:.0%}: {verdict})")


if __name__ == "__main__":
    main()
