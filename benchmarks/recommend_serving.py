"""Recommendation serving latency in process: GET /api/v1/members/{ref}/recommendations on a network the size
of The Complete Journey's member base.

    .venv/bin/python benchmarks/recommend_serving.py [--requests 1000] [--postgres | --pg-url URL]

Builds, in a SQLite file (and with --postgres in a throwaway PostgreSQL cluster, or with --pg-url in a fresh
database on a server you run), one merchant with a shop, a store that delivers to the shop's area and a
warehouse that ships; 5,000 products offered, 3,000 on the shop's shelves and all in the warehouse; 2,500
members (80 % share their purchase history, 60 % their age band) with 50 precomputed "for you" items each,
10 "due" items each, 20 neighbours per product, best sellers per location and per age band: what a training
run on that history would have written. Then it times, through FastAPI's TestClient (the whole app: API key
authentication, routing, validation, JSON), random requests of:

  (a) the blend (no kind), (b) kind=for_you, (c) kind=bought_together&basket=<3 products>,
  (d) kind=attributes&reading=skin_type:dry,
  baseline: GET /api/v1/products/{id} (one indexed row and the same middleware), in the same run.

Prints p50/p95/p99/max in ms and the goal (p99 <= 20 ms). Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from common import (
    T0,
    PostgresCluster,
    bulk_insert,
    format_summary,
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
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from oao.app import create_app
from oao.catalog.models import Offer, Product
from oao.config import Settings
from oao.core.auth import Role
from oao.core.clock import FixedClock
from oao.core.db import Database, normalise_url
from oao.core.ids import new_id
from oao.insights.models import DueItem, ItemNeighbour, MemberRecommendation, PopularItem
from oao.inventory.models import StockLevel
from oao.members import service as members
from oao.members.models import Member, MemberConsent
from oao.models import Base
from oao.network import service as network
from oao.network.models import Location, Merchant

GOAL_P99_MS = 20.0
SKIN = (["dry", "normal"], ["oily"], ["combination", "oily"], ["sensitive", "dry"], None)
BANDS = ("18-24", "25-34", "35-44", "45-54")


def build(db: Database, *, members_n: int, products_n: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    run = "irun_bench"
    with db.unit_of_work() as s:
        merchant = merchant_row("Bench Beauty")
        bulk_insert(s, Merchant, [merchant])
        m = merchant["id"]
        shop = location_row(m, "Bench Hubin", 30.2575, 120.1655)
        near = location_row(m, "Bench Kaixuan", 30.2750, 120.1900, delivery_radius_km=5.0)
        warehouse = location_row(m, "Bench Warehouse", 30.2300, 120.4200, kind="warehouse",
                                 shipping_lead_hours=24.0)
        bulk_insert(s, Location, [shop, near, warehouse])
        products = []
        for i in range(products_n):
            row = product_row(100_000 + i, f"Bench product {i}", "skincare")
            if (skin := SKIN[i % len(SKIN)]) is not None:
                row["attributes"] = {"skin_type": skin, "concern": rng.choice(["acne", "ageing", "dullness"])}
            products.append(row)
        bulk_insert(s, Product, products)
        pids = [p["id"] for p in products]
        bulk_insert(s, Offer, [offer_row(m, pid, 1000 + i % 500 * 10) for i, pid in enumerate(pids)])
        on_shelf = rng.sample(pids, int(products_n * 0.6))
        bulk_insert(s, StockLevel, [stock_row(m, shop["id"], pid, rng.randint(0, 20)) for pid in on_shelf]
                    + [stock_row(m, near["id"], pid, 5) for pid in rng.sample(pids, products_n // 5)]
                    + [stock_row(m, warehouse["id"], pid, 100) for pid in pids if rng.random() < 0.7])
        member_rows = [{"id": new_id("mem"), "email": f"hh{i}@example.com", "email_verified": True, "phone": None,
                        "phone_verified": False, "password_hash": None, "name": f"Household {i}",
                        "birth_year": 1950 + i % 50, "gender": None, "created_at": T0, "updated_at": T0}
                       for i in range(members_n)]
        bulk_insert(s, Member, member_rows)
        members.ensure_pairwise_key(s, now=T0)
        mids = [r["id"] for r in member_rows]
        consents = []
        for i, mid in enumerate(mids):
            classes = (["purchase_history"] if i % 5 else []) + (["profile.age_band"] if i % 5 < 3 else [])
            consents += [{"id": new_id("cns"), "member_id": mid, "merchant_id": m, "data_class": c,
                          "granted_at": T0, "expires_at": None, "withdrawn_at": None} for c in classes]
        bulk_insert(s, MemberConsent, consents)
        # Grocery-like skew: a few products are in most lists.
        weights = [1.0 / (1 + i) ** 0.8 for i in range(products_n)]
        recs, due = [], []
        for mid in mids:
            chosen = list(dict.fromkeys(rng.choices(pids, weights=weights, k=80)))[:50]
            recs += [{"merchant_id": m, "member_id": mid, "product_id": pid, "rank": r, "score": 1.0 / r,
                      "run_id": run} for r, pid in enumerate(chosen, 1)]
            due += [{"merchant_id": m, "member_id": mid, "product_id": pid, "last_bought_at": T0 - timedelta(days=20),
                     "interval_days": 25.0, "due_at": T0 + timedelta(days=rng.randint(-5, 30)), "confidence": 0.6,
                     "purchases": 4, "run_id": run} for pid in chosen[:10]]
        bulk_insert(s, MemberRecommendation, recs)
        bulk_insert(s, DueItem, due)
        neighbours = []
        for pid in pids:
            near_ids = [q for q in dict.fromkeys(rng.choices(pids, weights=weights, k=30)) if q != pid][:20]
            neighbours += [{"merchant_id": m, "product_id": pid, "neighbour_id": q, "rank": r, "score": 1.0 / r,
                            "run_id": run} for r, q in enumerate(near_ids, 1)]
        bulk_insert(s, ItemNeighbour, neighbours)
        popular = []
        for location_id, segment in [(shop["id"], ""), (near["id"], ""), ("", "")] + [("", f"age:{b}") for b in BANDS]:
            popular += [{"merchant_id": m, "location_id": location_id, "segment": segment, "product_id": pid,
                         "rank": r, "score": 1.0 / r, "buyers": 100, "run_id": run}
                        for r, pid in enumerate(pids[:50], 1)]
        bulk_insert(s, PopularItem, popular)
        key, _ = network.create_api_key(s, merchant_id=m, name="bench", now=T0, role=Role.STORE_STAFF)
        refs = [members.member_ref_for(s, merchant_id=m, member_id=mid) for mid in rng.sample(mids, 500)]
    return {"merchant": m, "shop": shop["id"], "key": key, "refs": refs, "products": pids,
            "rows": {"recs": len(recs), "due": len(due), "neighbours": len(neighbours), "popular": len(popular)}}


def run_backend(name: str, url: str, args: argparse.Namespace) -> None:
    print(f"\n{name}")
    db = Database(url)
    Base.metadata.create_all(db.engine)
    t = time.perf_counter()
    net = build(db, members_n=args.members, products_n=args.products, seed=args.seed)
    print(f"  built in {time.perf_counter() - t:.1f} s: {args.members:,} members, {args.products:,} products, "
          + ", ".join(f"{v:,} {k} rows" for k, v in net["rows"].items()))
    settings = Settings(database_url=url, embedded_worker=False)
    app = create_app(settings, db=db, clock=FixedClock(T0), start_worker=False)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    rng = random.Random(args.seed + 1)
    headers = {"Authorization": f"Bearer {net['key']}"}
    base = "/api/v1/members/{}/recommendations"
    cases = {
        "(a) blend, limit 10": lambda: (base.format(rng.choice(net["refs"])), {"location": net["shop"]}),
        "(b) for_you, limit 10": lambda: (base.format(rng.choice(net["refs"])),
                                          {"location": net["shop"], "kind": "for_you"}),
        "(c) bought_together, 3 items": lambda: (base.format(rng.choice(net["refs"])), {
            "location": net["shop"], "kind": "bought_together", "basket": ",".join(rng.sample(net["products"], 3))}),
        "(d) attributes skin_type:dry": lambda: (base.format(rng.choice(net["refs"])), {
            "location": net["shop"], "kind": "attributes", "reading": "skin_type:dry"}),
        "baseline GET /products/{id}": lambda: (f"/api/v1/products/{rng.choice(net['products'])}", {}),
    }
    with TestClient(app) as client:
        for make in cases.values():  # warm up: connections, caches, the first SQL compilations
            for _ in range(30):
                path, params = make()
                assert client.get(path, params=params, headers=headers).status_code == 200
        timings: dict[str, list[float]] = {k: [] for k in cases}
        sizes: dict[str, list[int]] = {k: [] for k in cases}
        for _ in range(args.requests):  # interleaved, so a slow moment of the machine hits every case alike
            for label, make in cases.items():
                path, params = make()
                t = time.perf_counter()
                r = client.get(path, params=params, headers=headers)
                timings[label].append(time.perf_counter() - t)
                if r.status_code != 200:
                    raise SystemExit(f"{label}: {r.status_code} {r.text[:300]}")
                body = r.json()
                sizes[label].append(len(body["items"]) if "items" in body else 1)
    for label in cases:
        mean_items = sum(sizes[label]) / len(sizes[label])
        print(format_summary(label, summary_ms(timings[label]), 30) + f"  items={mean_items:4.1f}")
    p99 = summary_ms(timings["(a) blend, limit 10"])["p99"]
    print(f"  goal p99 <= {GOAL_P99_MS:.0f} ms for the blend: {'met' if p99 <= GOAL_P99_MS else 'NOT met'} "
          f"(load average {load_average()})")
    db.dispose()


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=1000, help="timed requests per case (default 1000)")
    p.add_argument("--members", type=int, default=2500)
    p.add_argument("--products", type=int, default=5000)
    p.add_argument("--postgres", action="store_true", help="also on a throwaway PostgreSQL cluster")
    p.add_argument("--pg-url", help="also on a fresh database of this PostgreSQL server")
    p.add_argument("--seed", type=int, default=5)
    args = p.parse_args()
    if args.requests < 1 or args.members < 500 or args.products < 100:
        p.error("need --requests >= 1, --members >= 500, --products >= 100")
    return args


def _fresh_database(server_url: str, name: str) -> str:
    admin = create_engine(normalise_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = normalise_url(server_url).rsplit("/", 1)[0] + "/" + name

    def drop() -> None:
        admin = create_engine(normalise_url(server_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    on_exit(drop)
    return url


def main() -> None:
    args = parse_args()
    print("OAO recommendation serving benchmark (in process, TestClient, no network)")
    cluster = PostgresCluster() if args.postgres else None
    print_machine(cluster.version if cluster else None)
    workdir = Path(tempfile.mkdtemp(prefix="oao-bench-recs."))
    remove_workdir = on_exit(lambda: shutil.rmtree(workdir, ignore_errors=True))
    try:
        run_backend("SQLite", f"sqlite:///{workdir / 'recs.sqlite3'}", args)
        if args.pg_url:
            run_backend("PostgreSQL (server at --pg-url)", _fresh_database(args.pg_url, "oao_bench_recs"), args)
        if cluster is not None:
            with cluster:
                run_backend(f"PostgreSQL {cluster.version}", cluster.create_database("recs"), args)
    finally:
        remove_workdir()


if __name__ == "__main__":
    main()
