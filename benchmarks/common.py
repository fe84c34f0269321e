"""Shared by the benchmarks: a throwaway PostgreSQL cluster, the machine's
description, percentiles, cleanup on exit and bulk loading of network rows.

Benchmarks print figures; nothing here asserts anything about speed.
"""

from __future__ import annotations

import atexit
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from oao.core.geo import search_cell
from oao.core.ids import new_id

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def hours(open_: str, close: str) -> dict[str, list[list[str]]]:
    return {day: [[open_, close]] for day in DAYS}


ALWAYS_OPEN = hours("00:00", "24:00")


# --- cleanup ------------------------------------------------------------------------------

_cleanups: list[Callable[[], None]] = []


def _run_cleanups() -> None:
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as exc:  # one failed cleanup must not skip the others
            print(f"cleanup failed: {exc}", file=sys.stderr)


def _on_sigterm(signum: int, _frame: Any) -> None:
    # SystemExit unwinds through every try/finally, like Ctrl-C does.
    raise SystemExit(128 + signum)


def on_exit(fn: Callable[[], None]) -> Callable[[], None]:
    """Run fn at exit (normal end, error, Ctrl-C or SIGTERM), last registered first.

    Returns a function that runs it now and unregisters it, for try/finally."""
    if not _cleanups:
        atexit.register(_run_cleanups)
        signal.signal(signal.SIGTERM, _on_sigterm)
    _cleanups.append(fn)

    def run_now() -> None:
        if fn in _cleanups:
            _cleanups.remove(fn)
            fn()

    return run_now


# --- the machine --------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def machine_lines(postgres_version: str | None = None) -> list[str]:
    lines = [
        f"CPU        {_cpu_model()}, {os.cpu_count()} cores",
        f"RAM        {_ram_gib():.1f} GiB",
        f"OS         {platform.platform()}",
        f"Python     {platform.python_version()} ({sys.executable})",
        f"SQLite     {sqlite3.sqlite_version}",
    ]
    if postgres_version:
        lines.append(f"PostgreSQL {postgres_version}")
    return lines


def load_average() -> str:
    """1/5/15-minute load: other work on a shared machine skews every figure printed."""
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def print_machine(postgres_version: str | None = None) -> None:
    print("Machine")
    for line in machine_lines(postgres_version):
        print("  " + line)
    print(f"  load average at start (1/5/15 min): {load_average()}")


# --- figures ------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list (p in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil without floats drifting
    return sorted_values[min(len(sorted_values), int(rank)) - 1]


def summary_ms(seconds: Iterable[float]) -> dict[str, float]:
    values = sorted(s * 1000 for s in seconds)
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": values[-1] if values else float("nan"),
        "mean": sum(values) / len(values) if values else float("nan"),
    }


def format_summary(name: str, s: dict[str, float], width: int = 30) -> str:
    return (
        f"  {name:<{width}} n={s['n']:<6} p50={s['p50']:7.1f}  p95={s['p95']:7.1f}  "
        f"p99={s['p99']:7.1f}  max={s['max']:7.1f}  mean={s['mean']:7.1f} ms"
    )


# --- a throwaway PostgreSQL ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bindir() -> Path | None:
    """Where initdb, pg_ctl and pgbench live (pg_config can exist without a server)."""
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True).stdout.strip()
        if out and (Path(out) / "initdb").exists():
            return Path(out)
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parent.name.split(".")],
        reverse=True,
    )
    for d in candidates:
        if (d / "initdb").exists():
            return d
    return None


def ensure_postgresql() -> Path:
    """The server binaries; as root they are installed with apt-get like scripts/test does."""
    found = pg_bindir()
    if found is not None:
        return found
    if os.geteuid() != 0:
        sys.exit(
            "PostgreSQL server binaries (initdb, pg_ctl, pgbench) are missing. Install them with\n"
            "    sudo apt-get install -y --no-install-recommends postgresql postgresql-contrib\n"
            "and run the benchmark again."
        )
    print("Installing Debian's postgresql with apt-get (not found on this machine) ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql", "postgresql-contrib"],
    ):
        done = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    found = pg_bindir()
    if found is None:
        sys.exit("postgresql was installed but no initdb was found")
    return found


class PostgresCluster:
    """initdb + pg_ctl in a temporary directory, on 127.0.0.1 and a free port.

    As root the server runs as the `postgres` user (PostgreSQL refuses root);
    stop() stops it and removes the directory, and is registered to run at exit.
    """

    def __init__(self, *, fsync: bool = True, max_connections: int = 200, extra: Sequence[str] = ()) -> None:
        self.bindir = ensure_postgresql()
        self.fsync = fsync
        self.max_connections = max_connections
        self.extra = list(extra)
        self.dir: Path | None = None
        self.port = 0
        self._stop_now: Callable[[], None] | None = None

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    def _as_pg(self, args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        if self.as_root:
            args = ["runuser", "-u", "postgres", "--", *args]
        return subprocess.run(args, cwd=self.dir, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)

    @property
    def version(self) -> str:
        out = subprocess.run([str(self.bindir / "postgres"), "--version"], capture_output=True, text=True)
        found = re.search(r"\d+(\.\d+)+", out.stdout)
        return found.group(0) if out.returncode == 0 and found else "unknown"

    def start(self) -> PostgresCluster:
        self.dir = Path(tempfile.mkdtemp(prefix="oao-bench-pg."))
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.dir.chmod(0o700)
        self._stop_now = on_exit(self.stop)
        done = self._as_pg(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.dir / "data"),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-locale",
            ]
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        sync = "on" if self.fsync else "off"
        opts = [
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories='{self.dir}'",
            f"-c max_connections={self.max_connections}",
            f"-c fsync={sync}",
            f"-c synchronous_commit={sync}",
            f"-c full_page_writes={sync}",
            "-c shared_buffers=256MB",
            *[f"-c {o}" for o in self.extra],
        ]
        last = ""
        for _ in range(5):  # a port found free can be taken before the server binds it
            self.port = free_port()
            done = self._as_pg(
                [
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.dir / "data"),
                    "-l",
                    str(self.dir / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    " ".join([*opts, f"-c port={self.port}"]),
                    "start",
                ]
            )
            if done.returncode == 0:
                return self
            last = done.stdout + done.stderr
        log = (self.dir / "server.log").read_text() if (self.dir / "server.log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start:\n{last}\n{log}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def run_client(self, tool: str, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """A client program (psql, createdb, pgbench) over TCP; trust auth needs no password."""
        cmd = [str(self.bindir / tool), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", *args]
        return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout)

    def sql(self, statement: str, database: str = "postgres") -> str:
        done = self.run_client("psql", "-X", "-At", "-d", database, "-c", statement)
        if done.returncode != 0:
            raise RuntimeError(f"psql {statement!r} failed: {done.stderr}")
        return done.stdout.strip()

    def create_database(self, name: str) -> str:
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.dir is None:
            return
        if (self.dir / "data" / "postmaster.pid").exists():
            self._as_pg(
                [str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "-t", "30", "stop"]
            )
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        if self._stop_now is not None:
            self._stop_now()


# --- bulk loading -------------------------------------------------------------------------


def bulk_insert(session: Session, model: type, rows: list[dict[str, Any]], batch: int = 5000) -> None:
    """executemany-style INSERTs, thousands of rows per round trip (no ORM objects)."""
    for start in range(0, len(rows), batch):
        session.execute(insert(model), rows[start : start + batch])


def merchant_row(name: str, currency: str = "CNY") -> dict[str, Any]:
    return {
        "id": new_id("mer"),
        "name": name,
        "slug": name.lower().replace(" ", "-") + "-" + new_id("x")[-6:],
        "currency": currency,
        "created_at": T0,
    }


def location_row(
    merchant_id: str,
    name: str,
    lat: float,
    lon: float,
    *,
    kind: str = "store",
    opening_hours: dict[str, Any] | None = None,
    **caps: Any,
) -> dict[str, Any]:
    """A locations row with the same defaults as the tests' factory."""
    row = {
        "id": new_id("loc"),
        "merchant_id": merchant_id,
        "name": name,
        "kind": kind,
        "latitude": lat,
        "longitude": lon,
        "search_cell": search_cell(lat, lon),
        "address": f"{name}, Hangzhou",
        "timezone": "Asia/Shanghai",
        "opening_hours": opening_hours or ALWAYS_OPEN,
        "closures": [],
        "sells_in_store": kind == "store",
        "accepts_pickups": kind in ("store", "pickup_point"),
        "accepts_partner_pickups": False,
        "delivery_radius_km": 0.0,
        "pick_minutes": 15,
        "delivery_capacity_per_hour": 0,
        "delivery_fee_minor": 0,
        "shipping_lead_hours": None,
        "shipping_fee_minor": 0,
        "active": True,
        "created_at": T0,
    }
    unknown = set(caps) - set(row)
    if unknown:
        raise ValueError(f"unknown location fields {sorted(unknown)}")
    row.update(caps)
    return row


def gtin13(n: int) -> str:
    """A valid GTIN-13 with company prefix 690 and the check digit computed."""
    body = f"690{n:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def product_row(n: int, title: str, category: str = "general") -> dict[str, Any]:
    code = gtin13(n)
    return {
        "id": new_id("prd"),
        "gtin": code,
        "gtin14": code.zfill(14),
        "title": title,
        "brand": "Acme",
        "category": category,
        "attributes": {},
        "perishable": False,
        "shelf_life_days": None,
        "created_by_merchant_id": None,
        "created_at": T0,
    }


def offer_row(merchant_id: str, product_id: str, price_minor: int, currency: str = "CNY") -> dict[str, Any]:
    return {
        "id": new_id("ofr"),
        "merchant_id": merchant_id,
        "product_id": product_id,
        "price_minor": price_minor,
        "currency": currency,
        "channel_prices": {},
        "active": True,
        "updated_at": T0,
    }


def stock_row(merchant_id: str, location_id: str, product_id: str, on_hand: int) -> dict[str, Any]:
    return {
        "id": new_id("stk"),
        "merchant_id": merchant_id,
        "location_id": location_id,
        "product_id": product_id,
        "on_hand": on_hand,
        "reserved": 0,
        "updated_at": T0,
    }


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not happen within {timeout:.0f} s")
