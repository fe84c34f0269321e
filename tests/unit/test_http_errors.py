"""Database contention becomes a 503 the client can retry; anything else stays a bug (500)."""

import sqlite3

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from oao.core.http import _is_contention, install_problem_handlers


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def test_lock_timeouts_and_deadlocks_count_as_contention():
    assert _is_contention(OperationalError("stmt", {}, sqlite3.OperationalError("database is locked")))
    assert _is_contention(OperationalError("stmt", {}, _PgError("40P01")))
    assert _is_contention(OperationalError("stmt", {}, _PgError("40001")))
    assert not _is_contention(OperationalError("stmt", {}, sqlite3.OperationalError("no such table: x")))


def _app(exc: Exception) -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise exc

    return TestClient(app, raise_server_exceptions=False)


def test_a_busy_database_answers_503_with_retry_after():
    response = _app(OperationalError("stmt", {}, sqlite3.OperationalError("database is locked"))).get("/boom")
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.json()["type"] == "/problems/busy" and "Retry" in response.json()["detail"]


def test_an_unexpected_error_is_a_500_problem_that_leaks_nothing():
    response = _app(RuntimeError("secret internals")).get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "secret" not in response.text
