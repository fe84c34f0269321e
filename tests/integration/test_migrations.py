"""The Alembic migrations build exactly the schema the models describe."""

import os
import uuid

import pytest
from sqlalchemy import create_engine, inspect, text

from oao.core.db import normalise_url
from oao.migrate import check, upgrade
from oao.models import Base


def _fresh_pg_database():
    base = os.environ.get("OAO_TEST_PG_URL")
    if not base:
        if os.environ.get("OAO_TEST_REQUIRE_PG") == "1":
            pytest.fail("OAO_TEST_REQUIRE_PG=1 but OAO_TEST_PG_URL is not set")
        pytest.skip("PostgreSQL not configured")
    base = normalise_url(base)
    name = f"oao_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return admin, name, base.rsplit("/", 1)[0] + "/" + name


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrating_an_empty_database_gives_every_table_and_no_pending_change(backend, tmp_path):
    admin = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/migrated.sqlite3"
    else:
        admin, name, url = _fresh_pg_database()
    try:
        upgrade(url)
        check(url)  # raises if a model change has no migration
        engine = create_engine(normalise_url(url))
        tables = set(inspect(engine).get_table_names())
        engine.dispose()
        assert set(Base.metadata.tables) <= tables
        upgrade(url)  # running it again is a no-op
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
