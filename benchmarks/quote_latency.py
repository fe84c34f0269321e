"""Quote latency in process, on a city of 10,000 locations and 100,000 stock rows.

    .venv/bin/python benchmarks/quote_latency.py [--requests 200] [--postgres] [--profile]

Builds a Hangzhou-sized network (stores, pickup points, dark stores, a few
warehouses; offers and stock skewed to popular products) in a SQLite file,
and with --postgres also in a throwaway PostgreSQL cluster. Then, for R random
carts (1-3 lines) sent to a random door or picked up at a chosen store, it
times (a) the full service path, oao.fulfillment.service.build_quote in a
unit of work (H3 pre-filter, stock/offer/workload queries, the pure engine,
pricing, storing the quote, commit), and (b) the pure engine `quote(...)`
alone on the very snapshot (a) gave it, with fresh Site objects, as the
baseline. Prints p50/p95/p99/max in ms and the goal (p99 <= 25 ms).

Figures only: nothing is asserted about speed.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from common import (
    ALWAYS_OPEN,
    T0,
    PostgresCluster,
    bulk_insert,
    format_summary,
    hours,
    load_average,
    location_row,
    merchant_row,
    offer_row,
    on_exit,
    print_machine,
    product_row,
    stock_row,
    summary_ms,
)

from oao.catalog.models import Offer, Product
from oao.config import Settings
from oao.core.auth import Principal, Role
from oao.core.db import Database
from oao.fulfillment import quote as engine
from oao.fulfillment import service
from oao.inventory.models import StockLevel
from oao.models import Base
from oao.network.models import Location, Merchant, PartnerAgreement

GOAL_P99_MS = 25.0
BOX = ((30.0, 30.5), (119.95, 120.45))
# Where people and shops cluster: (lat, lon, spread in degrees, weight).
CENTRES = [
    (30.255, 120.165, 0.030, 5),
    (30.210, 120.210, 0.025, 3),
    (30.165, 120.270, 0.030, 2),
    (30.290, 120.120, 0.025, 2),
    (30.310, 120.200, 0.030, 2),
    (30.420, 120.300, 0.030, 1),
    (30.270, 120.060, 0.025, 1),
]
LOCAL = timezone(timedelta(hours=8))
DAY = datetime(2026, 11, 20, tzinfo=LOCAL)  # a Friday


@dataclass
class City:
    locations: int = 0
    stock_rows: int = 0
    products: int = 0
    offers: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    # what the request generator draws from
    assortments: dict[str, list[str]] = field(default_factory=dict)  # retail merchant -> products, popular first
    merchant_weights: dict[str, int] = field(default_factory=dict)
    pickup_ids: list[str] = field(default_factory=list)


def _point(rng: random.Random) -> tuple[float, float]:
    """70% around the urban centres, 30% anywhere in the box."""
    (lat0, lat1), (lon0, lon1) = BOX
    if rng.random() < 0.7:
        lat, lon, spread, _ = rng.choices(CENTRES, weights=[c[3] for c in CENTRES])[0]
        return (min(lat1, max(lat0, rng.gauss(lat, spread))), min(lon1, max(lon0, rng.gauss(lon, spread))))
    return rng.uniform(lat0, lat1), rng.uniform(lon0, lon1)


def _popular(rng: random.Random, items: list[str], k: int) -> list[str]:
    """k distinct items, the first of the list far more likely (a long tail)."""
    chosen: dict[str, None] = {}
    while len(chosen) < min(k, len(items)):
        chosen[items[min(len(items) - 1, int(rng.paretovariate(1.2)) - 1)]] = None
        if rng.random() < 0.3:  # and some of the tail
            chosen[rng.choice(items)] = None
    return list(chosen)[:k]


def build_city(
    db: Database, rng: random.Random, *, locations: int = 10_000, stock_rows: int = 100_000, products: int = 5_000
) -> City:
    city = City(products=products)
    product_rows = [product_row(10_000 + i, f"Product {i + 1}") for i in range(products)]
    catalog = [p["id"] for p in product_rows]
    chains = [merchant_row(n) for n in ("Hema Fresh", "Lianhua", "Wumart", "Tmall Mart", "Century Mart", "Kedi")]
    small = [merchant_row(f"Local shop {i + 1}") for i in range(48)]
    operators = [merchant_row(n) for n in ("Cainiao Station", "Hive Box", "FamilyMart Collect")]
    merchants = chains + small + operators
    retail = chains + small
    weights = {m["id"]: (60 if m in chains else 2) for m in retail}
    city.merchant_weights = weights
    # Assortments: chains sell much of the catalogue, small shops a slice; popular products first.
    offers = []
    for m in retail:
        size = rng.randint(1500, 2500) if m in chains else rng.randint(100, 400)
        start = rng.randrange(0, products // 4)
        own = catalog[start : start + size]
        city.assortments[m["id"]] = own
        offers += [offer_row(m["id"], p, rng.randrange(300, 80_000, 10)) for p in own]

    n_wh, n_dark, n_pickup = 50, locations // 8, int(locations * 0.32)
    n_store = locations - n_wh - n_dark - n_pickup
    rows: list[dict[str, Any]] = []
    for i in range(n_wh):
        m = chains[i % len(chains)]
        rows.append(
            location_row(
                m["id"],
                f"{m['name']} warehouse {i + 1}",
                *_point(rng),
                kind="warehouse",
                opening_hours=ALWAYS_OPEN,
                shipping_lead_hours=rng.choice((6.0, 12.0, 24.0)),
                shipping_fee_minor=rng.choice((800, 1000, 1500)),
                pick_minutes=30,
            )
        )
    for i in range(n_dark):
        m = rng.choice(chains[:4])
        rows.append(
            location_row(
                m["id"],
                f"{m['name']} dark store {i + 1}",
                *_point(rng),
                kind="dark_store",
                opening_hours=hours("07:00", "23:00"),
                sells_in_store=False,
                accepts_pickups=False,
                delivery_radius_km=3.0,
                pick_minutes=8,
                delivery_capacity_per_hour=rng.randint(20, 40),
                delivery_fee_minor=500,
            )
        )
    for i in range(n_pickup):
        m = rng.choice(operators)
        rows.append(
            location_row(
                m["id"],
                f"{m['name']} point {i + 1}",
                *_point(rng),
                kind="pickup_point",
                opening_hours=rng.choice((ALWAYS_OPEN, hours("09:00", "21:00"))),
                sells_in_store=False,
                accepts_pickups=True,
                accepts_partner_pickups=True,
            )
        )
    for i in range(n_store):
        m = rng.choices(retail, weights=[weights[r["id"]] for r in retail])[0]
        delivers = rng.random() < 0.3
        rows.append(
            location_row(
                m["id"],
                f"{m['name']} store {i + 1}",
                *_point(rng),
                kind="store",
                opening_hours=rng.choice((ALWAYS_OPEN, hours("08:00", "22:00"), hours("10:00", "21:30"))),
                accepts_partner_pickups=rng.random() < 0.15,
                delivery_radius_km=rng.choice((3.0, 5.0)) if delivers else 0.0,
                delivery_capacity_per_hour=rng.randint(4, 12) if delivers else 0,
                delivery_fee_minor=rng.choice((500, 800, 1000)) if delivers else 0,
                pick_minutes=rng.choice((10, 15, 20)),
            )
        )
    city.locations, city.kinds = len(rows), Counter(r["kind"] for r in rows)
    city.pickup_ids = [r["id"] for r in rows if r["accepts_pickups"]]

    # Stock: warehouses deep, dark stores broad, stores a few lines each, up to stock_rows in all.
    quota = {"warehouse": stock_rows * 3 // 10 // n_wh, "dark_store": stock_rows * 3 // 10 // n_dark}
    left = stock_rows - quota["warehouse"] * n_wh - quota["dark_store"] * n_dark  # spread over the stores
    stock: list[dict[str, Any]] = []
    store_no = 0
    for r in rows:
        if r["kind"] == "pickup_point":
            continue
        if r["kind"] == "store":
            want = left * (store_no + 1) // n_store - left * store_no // n_store
            store_no += 1
        else:
            want = quota[r["kind"]]
        for p in _popular(rng, city.assortments[r["merchant_id"]], want):
            stock.append(stock_row(r["merchant_id"], r["id"], p, rng.choice((1, 2, 3, 5, 8, 12, 20, 50))))
    city.stock_rows, city.offers = len(stock), len(offers)
    agreements = [
        {
            "id": f"agr_bench_{i}_{j}",
            "host_merchant_id": host["id"],
            "guest_merchant_id": guest["id"],
            "pickup_fee_minor": 200,
            "status": "active",
            "created_at": T0,
            "ended_at": None,
        }
        for i, host in enumerate(operators)
        for j, guest in enumerate(retail)
    ]
    with db.unit_of_work() as s:
        bulk_insert(s, Merchant, merchants)
        bulk_insert(s, Product, product_rows)
        bulk_insert(s, Offer, offers)
        bulk_insert(s, Location, rows)
        bulk_insert(s, StockLevel, stock)
        bulk_insert(s, PartnerAgreement, agreements)
    return city


@dataclass(frozen=True)
class Request:
    items: list[service.ItemIn]
    destination: dict[str, Any] | None
    pickup_location_id: str | None
    at: datetime


def make_requests(city: City, rng: random.Random, n: int, pickup_share: float) -> list[Request]:
    retail = list(city.merchant_weights)
    out = []
    for _ in range(n):
        m = rng.choices(retail, weights=[city.merchant_weights[r] for r in retail])[0]
        products = _popular(rng, city.assortments[m], rng.randint(1, 3))
        items = [service.ItemIn(quantity=rng.choice((1, 1, 1, 2)), product_id=p) for p in products]
        at = (DAY + timedelta(minutes=rng.randint(7 * 60, 23 * 60))).astimezone(UTC)
        if rng.random() < pickup_share:
            out.append(Request(items, None, rng.choice(city.pickup_ids), at))
        else:
            lat, lon = _point(rng)
            out.append(Request(items, {"latitude": lat, "longitude": lon, "address": ""}, None, at))
    return out


def fresh(snapshot: engine.Snapshot) -> engine.Snapshot:
    """The same snapshot with new Site objects, so no calendar parsed by (a) is reused."""
    return replace(snapshot, sites={k: replace(v) for k, v in snapshot.sites.items()})


@dataclass
class Figures:
    service_s: list[float] = field(default_factory=list)
    engine_inside_s: list[float] = field(default_factory=list)
    engine_alone_s: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    sites: list[int] = field(default_factory=list)
    options: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    stopped_by_budget: bool = False


def measure(
    db: Database,
    requests: list[Request],
    *,
    warmup: int,
    budget_s: float,
    settings: Settings,
    profile: cProfile.Profile | None,
) -> Figures:
    """Time the quotes after the warm-up ones, until all are done or the time budget is spent."""
    principal = Principal(
        kind="api_key", id="key_benchmark", name="benchmark", role=Role.NETWORK_ADMIN, merchant_id=None
    )
    captured: list[tuple[Any, ...]] = []
    real_quote = service.quote

    def capturing_quote(
        request: engine.QuoteRequest, snapshot: engine.Snapshot, params: engine.QuoteParams | None = None
    ) -> list[engine.Option]:
        t0 = time.perf_counter()
        options = real_quote(request, snapshot, params)
        captured.append((request, snapshot, params, time.perf_counter() - t0))
        return options

    figures = Figures()
    service.quote = capturing_quote  # this process only: lets (b) reuse the snapshot (a) built
    try:
        deadline = float("inf")
        for i, req in enumerate(requests):
            if i == warmup:
                deadline = time.monotonic() + budget_s
            if time.monotonic() > deadline:
                figures.stopped_by_budget = True
                break
            captured.clear()
            counted = i >= warmup
            if counted and profile is not None:
                profile.enable()
            t0 = time.perf_counter()
            try:
                with db.unit_of_work() as s:
                    record = service.build_quote(
                        s,
                        principal=principal,
                        items=req.items,
                        destination=req.destination,
                        pickup_location_id=req.pickup_location_id,
                        at=req.at,
                        now=req.at,
                        settings=settings,
                    )
                    n_options = len(record.options)
            except Exception as exc:  # counted and shown, the run goes on
                figures.errors[type(exc).__name__] += 1
                continue
            finally:
                elapsed = time.perf_counter() - t0
                if counted and profile is not None:
                    profile.disable()
            if not counted or not captured:
                continue
            request, snapshot, params, inside = captured[0]
            copy = fresh(snapshot)
            t1 = time.perf_counter()
            real_quote(request, copy, params)
            alone = time.perf_counter() - t1
            kind = "pickup at a chosen place" if req.pickup_location_id else "to a door"
            figures.service_s.append(elapsed)
            figures.by_kind.setdefault(kind, []).append(elapsed)
            figures.engine_inside_s.append(inside)
            figures.engine_alone_s.append(alone)
            figures.sites.append(len(snapshot.sites))
            figures.options.append(n_options)
    finally:
        service.quote = real_quote
    return figures


def report(backend: str, f: Figures) -> dict[str, float]:
    full = summary_ms(f.service_s)
    print(
        f"\n{backend}: {len(f.service_s)} quotes measured; candidate sites per quote: mean "
        f"{sum(f.sites) / max(1, len(f.sites)):.0f}, max {max(f.sites, default=0)}; options per quote: mean "
        f"{sum(f.options) / max(1, len(f.options)):.1f}; errors: {dict(f.errors) or 'none'}"
    )
    if f.stopped_by_budget:
        print("  (stopped by --time-budget before all requested quotes; p99 rests on fewer samples)")
    print(format_summary("(a) build_quote, full path", full, 38))
    for kind, values in sorted(f.by_kind.items()):
        print(format_summary(f"    of which {kind}", summary_ms(values), 38))
    print(format_summary("    engine time inside (a)", summary_ms(f.engine_inside_s), 38))
    print(format_summary("(b) quote() alone, same snapshot", summary_ms(f.engine_alone_s), 38))
    verdict = "met" if full["p99"] <= GOAL_P99_MS else "NOT met"
    print(f"  load average now (1/5/15 min): {load_average()}")
    print(f"  goal: p99 of (a) <= {GOAL_P99_MS:.0f} ms in process: {verdict} (p99 = {full['p99']:.1f} ms)")
    return full


def run_backend(name: str, url: str, args: argparse.Namespace) -> None:
    db = Database(url)
    try:
        Base.metadata.create_all(db.engine)
        rng = random.Random(args.seed)
        started = time.monotonic()
        city = build_city(db, rng, locations=args.locations, stock_rows=args.stock_rows, products=args.products)
        print(
            f"{name}: city of {city.locations} locations ({', '.join(f'{v} {k}' for k, v in city.kinds.items())}),"
            f" {city.stock_rows} stock rows, {city.products} products, {city.offers} offers, "
            f"loaded in {time.monotonic() - started:.1f} s",
            flush=True,
        )
        with db.engine.begin() as conn:  # planner statistics, as a running database would have
            conn.exec_driver_sql("ANALYZE")
        requests = make_requests(city, random.Random(args.seed + 1), args.requests + args.warmup, args.pickup_share)
        profile = cProfile.Profile() if args.profile else None
        figures = measure(
            db, requests, warmup=args.warmup, budget_s=args.time_budget, settings=Settings(), profile=profile
        )
        report(name, figures)
        if profile is not None:
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(30)
            print(f"\ncProfile of (a) on {name} (cumulative, top 30; timings inflated by the profiler):")
            print("\n".join(out.getvalue().splitlines()[:60]))
    finally:
        db.dispose()


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=200, help="measured quotes per backend (default 200)")
    p.add_argument("--warmup", type=int, default=20, help="unmeasured quotes first (default 20)")
    p.add_argument(
        "--time-budget",
        type=float,
        default=120.0,
        help="stop measuring a backend after this many seconds even if fewer quotes were timed (default 120)",
    )
    p.add_argument("--locations", type=int, default=10_000)
    p.add_argument("--stock-rows", type=int, default=100_000)
    p.add_argument("--products", type=int, default=5_000)
    p.add_argument(
        "--pickup-share",
        type=float,
        default=0.3,
        help="share of quotes for pickup at a chosen place instead of a door (default 0.3)",
    )
    p.add_argument("--postgres", action="store_true", help="also run on a throwaway PostgreSQL cluster")
    p.add_argument("--fsync", choices=("on", "off"), default="on", help="PostgreSQL durability (default on)")
    p.add_argument("--profile", action="store_true", help="print a cProfile of the full path")
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args()
    if args.requests < 1 or args.locations < 200 or args.stock_rows < args.locations or args.products < 500:
        p.error("need --requests >= 1, --locations >= 200, --stock-rows >= --locations, --products >= 500")
    return args


def main() -> None:
    args = parse_args()
    print("OAO quote latency benchmark (in process, no network)")
    cluster = PostgresCluster(fsync=args.fsync == "on") if args.postgres else None
    print_machine(cluster.version if cluster else None)
    workdir = Path(tempfile.mkdtemp(prefix="oao-bench-quote."))
    remove_workdir = on_exit(lambda: shutil.rmtree(workdir, ignore_errors=True))
    try:
        run_backend("SQLite", f"sqlite:///{workdir / 'city.sqlite3'}", args)
        if cluster is not None:
            with cluster:
                run_backend(f"PostgreSQL {cluster.version} (fsync={args.fsync})", cluster.create_database("city"), args)
    finally:
        remove_workdir()


if __name__ == "__main__":
    main()
