"""Engine, declarative base and unit of work, the same on SQLite and PostgreSQL.

SQLite runs in WAL mode and every transaction starts with BEGIN IMMEDIATE, so
writers queue on the busy timeout instead of failing half-way; PostgreSQL
relies on row locks taken by conditional UPDATEs. Services never commit: the
request or job that owns a unit of work does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import JSON, DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from oao.core.errors import NotFound

T = TypeVar("T")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def get_or_404(session: Session, model: type[T], ident: str, what: str) -> T:
    """The row with this primary key, or a 404 problem naming what was looked for."""
    row = session.get(model, ident)
    if row is None:
        raise NotFound(f"No {what} {ident!r}.")
    return row


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


def normalise_url(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=pool_size, max_overflow=20)
        _configure_sqlite(engine)
        return engine
    # No server-side prepared statements: after five runs PostgreSQL may switch a
    # prepared query to a generic plan, and for the quote's stock subqueries
    # (skewed product popularity) a generic plan was 100x slower than a custom one.
    return create_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True,
                         connect_args={"prepare_threshold": None})


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take over transaction control so BEGIN IMMEDIATE is ours to issue.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Readers take a plain (deferred) BEGIN: in WAL mode they read a snapshot
        # and never wait for, nor block, the single writer.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


READ_ONLY = "oao_read_only"


class Database:
    """Owns the engine and hands out units of work."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, pool_size=pool_size)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self._read_sessions = sessionmaker(self.engine.execution_options(**{READ_ONLY: True}),
                                           expire_on_commit=False, autoflush=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A transaction: committed if the block ends normally, rolled back otherwise."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A transaction that only reads; on SQLite it neither waits for nor blocks writers."""
        session = self._read_sessions()
        try:
            yield session
            if session.new or session.dirty or session.deleted:
                raise RuntimeError("a read-only unit of work tried to write")
            session.rollback()
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
