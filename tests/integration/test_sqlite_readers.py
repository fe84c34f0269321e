"""On the embedded SQLite default, reading never waits for a writer: a store's
screens keep working while a long import or a burst of orders holds the write lock.
(PostgreSQL readers never wait for writers anyway.)"""

import sqlite3
import time

from fastapi.testclient import TestClient

from oao.app import create_app
from oao.config import Settings
from oao.core.clock import FixedClock
from oao.core.db import Database
from oao.models import Base
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth


def test_reads_answer_while_another_connection_holds_the_write_lock(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/oao.sqlite3")
    Base.metadata.create_all(db.engine)
    with db.unit_of_work() as s:
        m = f.merchant(s, "Corner Bakery", at=T0)
        store = f.location(s, m, "Corner Bakery Hubin", 30.2590, 120.1630, at=T0)
        key = f.api_key(s, m, at=T0)
    app = create_app(Settings(database_url=db.url, embedded_worker=False), db=db, clock=FixedClock(T0),
                     start_worker=False)
    writer = sqlite3.connect(str(tmp_path / "oao.sqlite3"), timeout=1, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        with TestClient(app) as client:
            started = time.monotonic()
            response = client.get(f"/api/v1/stock?location_id={store.id}", headers=auth(key))
            assert response.status_code == 200
            assert time.monotonic() - started < 5, "the read did not queue behind the writer"
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        db.dispose()
