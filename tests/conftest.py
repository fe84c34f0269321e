"""Shared fixtures: a real database per test (SQLite file and PostgreSQL), a
fixed clock, the app and an in-process HTTP client.

Tests that take `db` run twice, once per backend. PostgreSQL comes from
OAO_TEST_PG_URL (the test script starts a throwaway server and sets it); when
it is missing those runs skip, unless OAO_TEST_REQUIRE_PG=1 (as in CI), where
a missing server is an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from oao.app import create_app
from oao.config import Settings
from oao.core.clock import FixedClock
from oao.core.db import Database, normalise_url
from oao.models import Base

# Tuesday 17 November 2026, 10:00 in Asia/Shanghai: stores are open.
T0 = datetime(2026, 11, 17, 2, 0, tzinfo=UTC)


def _pg_base_url() -> str | None:
    url = os.environ.get("OAO_TEST_PG_URL")
    if not url:
        if os.environ.get("OAO_TEST_REQUIRE_PG") == "1":
            pytest.fail("OAO_TEST_REQUIRE_PG=1 but OAO_TEST_PG_URL is not set")
        return None
    return normalise_url(url)


@pytest.fixture(scope="session")
def pg_url(worker_id: str) -> Iterator[str | None]:
    """One PostgreSQL database per xdist worker, schema created once."""
    base = _pg_base_url()
    if base is None:
        yield None
        return
    name = f"oao_test_{worker_id}_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + "/" + name
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path, pg_url: str | None) -> Iterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path}/oao.sqlite3")
        Base.metadata.create_all(database.engine)
    else:
        if pg_url is None:
            pytest.skip("PostgreSQL not configured (set OAO_TEST_PG_URL or use scripts/test)")
        database = Database(pg_url)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with database.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield database
    database.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def settings(db: Database) -> Settings:
    return Settings(database_url=db.url, embedded_worker=False)


@pytest.fixture
def app(settings: Settings, db: Database, clock: FixedClock):
    return create_app(settings, db=db, clock=clock, start_worker=False)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
