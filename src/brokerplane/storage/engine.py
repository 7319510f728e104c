"""Engines for SQLite (WAL, foreign keys, durable commits, BEGIN IMMEDIATE) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import ConnectionPoolEntry

SQLITE_BUSY_TIMEOUT_MS = 10_000
CONNECT_TIMEOUT_S = 3


def normalize_url(url: str) -> URL:
    """Accept the URLs people paste (`postgresql://`, `postgres://`) and pick our drivers."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+pysqlite")
    return parsed


def make_engine(url: str, *, pool_size: int = 20) -> Engine:
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() == "postgresql":
        connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S}
        engine = create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_timeout=5,
            connect_args=connect_args,
            isolation_level="READ COMMITTED",
        )

        @event.listens_for(engine, "connect")
        def _durable(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
            # An acknowledged write must survive a crash, whatever the server's default says.
            with dbapi_conn.cursor() as cur:
                cur.execute("SET synchronous_commit TO on")
            dbapi_conn.commit()

        return engine
    raise ValueError(f"unsupported database URL {parsed.render_as_string(hide_password=True)}")


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        pool_size=8,
        max_overflow=16,
        pool_timeout=30,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        # The driver must not open transactions itself: we issue BEGIN ourselves below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front, so two writers never deadlock on upgrade.
        mode = "IMMEDIATE" if conn.get_execution_options().get("bp_write", True) else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
