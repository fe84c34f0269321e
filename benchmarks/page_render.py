"""Server-side render time of the busiest pages, on the demo network.

    .venv/bin/python benchmarks/page_render.py [--requests 300] [--database-url URL]

Loads the Hangzhou demo network into a fresh SQLite file (or the given empty
database), then requests each page in process and reads the app's own
`Server-Timing: app;dur=…` header: the time from the request entering the app
to the response being ready (routing, queries, template rendering), without
the HTTP client. Pages: the storefront home, product pages (a random demo
product each time), a storefront search, and the POS page of a store (staff
logged in). Baselines, in the same run: the landing page `/` (a template and no
database), and the JSON API's GET /api/v1/products/{id} for the same products
(one query, no template). Goal (issue 4): p95 under 50 ms for the storefront
home, the product page and the POS page.

Figures only: nothing is asserted about speed.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from common import format_summary, load_average, print_machine, summary_ms
from fastapi.testclient import TestClient
from sqlalchemy import select

from oao.app import create_app
from oao.catalog.models import Offer
from oao.config import Settings
from oao.core.clock import FixedClock
from oao.core.db import Database
from oao.demo.load import load_demo
from oao.demo.network import DEMO_PASSWORD
from oao.models import Base

# Monday 10:30 in Hangzhou: stores open, so pages show the daytime state.
NOW = datetime(2026, 11, 23, 2, 30, tzinfo=UTC)
GOAL_MS = 50.0
SEARCHES = ["milk", "cake", "tea", "serum"]


def _server_ms(client: TestClient, path: str) -> float:
    response = client.get(path)
    if response.status_code != 200:
        raise SystemExit(f"GET {path} answered {response.status_code}: {response.text[:300]}")
    timing = response.headers.get("server-timing", "")
    if not timing.startswith("app;dur="):
        raise SystemExit(f"GET {path} has no Server-Timing header")
    return float(timing.split("=", 1)[1]) / 1000


def _measure(name: str, requests: int, fn: Callable[[], float], warmup: int = 20) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    samples = [fn() for _ in range(requests)]
    stats = summary_ms(samples)
    print(format_summary(name, stats, width=34))
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database-url", default=None, help="an empty database (default: a temporary SQLite file)")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="oao-bench-pages-")
    url = args.database_url or f"sqlite:///{Path(tmp.name) / 'oao.sqlite3'}"
    print_machine()
    print(f"database: {url.split(':', 1)[0]}   requests per page: {args.requests}   load: {load_average()}")
    db = Database(url)
    Base.metadata.create_all(db.engine)
    clock = FixedClock(NOW)
    with db.unit_of_work() as session:
        creds = load_demo(session, now=NOW)
        product_ids = sorted(set(session.scalars(select(Offer.product_id).where(Offer.active.is_(True)))))
    print(f"demo network: {creds.counts}")
    settings = Settings(database_url=url, embedded_worker=False, log_level="WARNING")
    app = create_app(settings, db=db, clock=clock, start_worker=False)
    rng = random.Random(7)
    network_key = next(k.token for k in creds.api_keys if k.merchant is None)

    with TestClient(app) as shopper, TestClient(app) as clerk, TestClient(app) as api:
        api.headers["Authorization"] = f"Bearer {network_key}"
        login = clerk.post("/staff/login", data={"email": "staff.kaixuan@blueharbour.example",
                                                 "password": DEMO_PASSWORD}, follow_redirects=False)
        if login.status_code != 303:
            raise SystemExit(f"staff login failed: {login.status_code}")
        results = {
            "baseline: landing page /": _measure("baseline: landing page /", args.requests,
                                                 lambda: _server_ms(shopper, "/")),
            "baseline: API product JSON": _measure(
                "baseline: API product JSON", args.requests,
                lambda: _server_ms(api, f"/api/v1/products/{rng.choice(product_ids)}")),
            "storefront home /shop": _measure("storefront home /shop", args.requests,
                                              lambda: _server_ms(shopper, "/shop")),
            "product page": _measure("product page", args.requests,
                                     lambda: _server_ms(shopper, f"/shop/products/{rng.choice(product_ids)}")),
            "search page": _measure("search page", args.requests,
                                    lambda: _server_ms(shopper, f"/shop/search?q={rng.choice(SEARCHES)}")),
            "POS page /store/pos": _measure("POS page /store/pos", args.requests,
                                            lambda: _server_ms(clerk, "/store/pos")),
        }
    print()
    for name in ("storefront home /shop", "product page", "POS page /store/pos"):
        p95 = results[name]["p95"]
        verdict = "met" if p95 < GOAL_MS else "NOT met"
        print(f"goal p95 < {GOAL_MS:.0f} ms, {name}: {p95:.1f} ms ({verdict})")
    db.dispose()
    tmp.cleanup()


if __name__ == "__main__":
    main()
