"""Engines for SQLite (WAL, foreign keys, durable commits, BEGIN IMMEDIATE) and PostgreSQL."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry

SQLITE_BUSY_TIMEOUT_MS = 10_000
PING_IDLE_S = 1.0
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


def make_engine(
    url: str, *, pool_size: int = 20, connect_timeout: int = CONNECT_TIMEOUT_S
) -> Engine:
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() == "postgresql":
        connect_args: dict[str, Any] = {"connect_timeout": connect_timeout}
        engine = create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=5,
            connect_args=connect_args,
            isolation_level="READ COMMITTED",
        )
        _ping_when_idle(engine)

        @event.listens_for(engine, "connect")
        def _durable(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
            # An acknowledged write must survive a crash, whatever the server's default says.
            with dbapi_conn.cursor() as cur:
                cur.execute("SET synchronous_commit TO on")
            dbapi_conn.commit()

        return engine
    raise ValueError(f"unsupported database URL {parsed.render_as_string(hide_password=True)}")


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use when it sat idle for PING_IDLE_S or more (a
    restarted server or a dropped link shows there), and replace it when dead. A connection
    back in use within the second is not pinged: under load that saves a round trip on every
    transaction, and a connection that broke in that second fails its one transaction with
    StorageUnavailable, which also makes the pool replace every connection older than it."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        record.info["bp_idle_from"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        idle_from = record.info.get("bp_idle_from")
        if idle_from is None or time.monotonic() - idle_from < PING_IDLE_S:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error:
            alive = False
        if not alive:
            raise DisconnectionError("the pooled connection is dead; connecting again")


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

    writers = _WriterQueue()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front, so two writers never deadlock on upgrade.
        write = conn.get_execution_options().get("bp_write", True)
        if write:
            writers.enter(conn.connection.dbapi_connection)
        conn.exec_driver_sql(f"BEGIN {'IMMEDIATE' if write else 'DEFERRED'}")

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        writers.leave(dbapi_conn)

    @event.listens_for(engine, "invalidate")
    def _on_invalidate(dbapi_conn: Any, _record: ConnectionPoolEntry, _exc: Any) -> None:
        writers.leave(dbapi_conn)

    return engine


class _WriterQueue:
    """This process's SQLite writers wait their turn here, each holding it from BEGIN until its
    connection goes back to the pool. SQLite's own lock still decides who writes; this only
    spares the writers its busy handler, which polls with sleeps of up to 100 ms, so under
    concurrent writes the database would otherwise sit idle while writers sleep. A turn not
    granted within the busy timeout is not taken: SQLite's lock then decides, as before."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: object | None = None

    def enter(self, owner: object) -> None:
        if self._holder is owner:  # the same connection's next transaction
            return
        if self._lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            self._holder = owner

    def leave(self, owner: object) -> None:
        if owner is not None and self._holder is owner:
            self._holder = None
            self._lock.release()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def dialect_insert(name: str) -> Any:
    """The INSERT with ON CONFLICT of a dialect (postgresql, sqlite), imported when first used:
    the PostgreSQL dialect package loads every one of its drivers' modules, which a process
    on SQLite (a CLI command) has no use for."""
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert
