"""Watching for changes to API keys, managers and manager tokens, by any process (0022).

A server process keeps the keys it verified in memory (application.keycache) and trusts them
only while `token()` is unchanged. Triggers announce every UPDATE and DELETE of `api_keys`,
`managers` and `manager_tokens`, however it was made:

- PostgreSQL: the triggers `NOTIFY brokerplane_credentials` at commit; each process listens
  on a connection of its own and counts what arrives. PostgreSQL signals the listening
  sessions while the changing transaction commits, before its COMMIT is answered, but the
  listening session sends the notice only when it next runs, which on a busy machine can be
  after the change's caller has heard of the commit and sent its next request elsewhere (a
  revoked key was seen accepted that way, 8 times in 200). So `token()` makes a round trip
  on the listening connection (`SELECT 1`): a session with a notice pending sends it before
  it answers, so every change committed before the round trip began is counted when it ends.
  Callers arriving while a round trip is under way wait for the next one and share it, so a
  process makes at most one at a time. A lost listening connection tells nothing until it is
  open again, and a new one starts a new count (what was missed in between cannot be known).
  The notice carries the changed table's schema; only those of the schemas on this
  connection's search path are counted, so databases holding several brokerplane schemas (one
  per white-label installation, or per test worker) do not make each other's processes forget
  the keys they verified.
- SQLite: the triggers count changes in `credential_changes`; `PRAGMA data_version` on a
  connection of the watch's own says whether any other connection committed since it last
  looked (it is kept in the database's shared memory: no read of the file), and only then is
  the counter read.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import threading
import time
from typing import Any

from sqlalchemy import Engine

CHANNEL = "brokerplane_credentials"
RETRY_S = 1.0  # a lost connection is opened again at most this often


class _Unknown:
    """A token equal to nothing: nothing remembered is trusted."""


class SqliteCredentialWatch:
    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._version: int | None = None
        self._changes: int | None = None
        self._opened = itertools.count()
        self._epoch = 0
        self._closed = False  # closed with its Storage: never opened again

    def token(self, *, connect: bool) -> object | None:
        with self._lock:
            try:
                if self._conn is None or self._pid != os.getpid():
                    if not connect or self._closed:
                        return None
                    self._conn = sqlite3.connect(
                        self._path, timeout=1.0, isolation_level=None, check_same_thread=False
                    )
                    self._pid, self._version = os.getpid(), None
                    self._epoch = next(self._opened)
                version = self._conn.execute("PRAGMA data_version").fetchone()[0]
                if version != self._version:
                    row = self._conn.execute(
                        "SELECT changes FROM credential_changes WHERE id = 1"
                    ).fetchone()
                    self._version, self._changes = version, (row[0] if row else None)
                return (self._epoch, self._changes)
            except sqlite3.Error:
                self._close()
                return None

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._close()


class PgCredentialWatch:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._conn: Any = None
        self._pid = 0
        self._count = 0
        self._epoch = 0
        self._tried = 0.0
        # Round trips are numbered by when they began; a caller may use one that began after
        # it arrived (tickets come from one counter: `next` is atomic under the GIL).
        self._tickets = itertools.count()
        self._synced_from = -1  # the ticket of the newest round trip completed
        # Closed with its Storage: never opened again (a connection opened by a late caller
        # after the close would be left open).
        self._closed = False
        self._schemas: frozenset[str] = frozenset()  # the search path's: whose notices count

    def _open(self) -> None:
        # A connection made as the engine makes them (same server, options, search path),
        # taken out of the pool for good.
        fairy = self._engine.raw_connection()
        try:
            fairy.detach()
            conn: Any = fairy.dbapi_connection
            if conn.info.transaction_status != 0:  # the pool may hand it over in a transaction
                conn.rollback()
            conn.autocommit = True
            schemas = conn.execute("SELECT current_schemas(false)").fetchone()[0]
            conn.add_notify_handler(self._notified)
            started = next(self._tickets)
            conn.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            fairy.close()
            raise
        self._conn, self._pid = conn, os.getpid()
        self._schemas = frozenset(schemas)
        self._epoch += 1
        self._count = 0
        self._synced_from = started

    def _notified(self, notice: Any) -> None:
        """A notice received during a round trip (called with the lock held); its payload is
        the schema of the table that changed."""
        if notice.payload in self._schemas:
            self._count += 1

    def token(self, *, connect: bool) -> object | None:
        """The count of changes announced so far, including every change committed before
        this call: one round trip on the listening connection (shared with the callers that
        arrive while it is under way)."""
        arrived = next(self._tickets)
        with self._lock:
            if self._conn is None or self._pid != os.getpid():
                self._conn = None
                now = time.monotonic()
                if not connect or self._closed or now - self._tried < RETRY_S:
                    return None
                self._tried = now
                try:
                    self._open()
                except Exception:
                    return None
            if self._synced_from > arrived:  # a round trip that began after this call
                return (self._epoch, self._count)
            try:
                started = next(self._tickets)
                _round_trip(self._conn)  # notices pending arrive before its answer
                self._synced_from = started
            except Exception:
                self._close()
                return None
            return (self._epoch, self._count)

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._close()


def _round_trip(conn: Any) -> None:
    """`SELECT 1` on the listening connection, and the notices that arrived before its answer
    handed to the connection's handlers, as `conn.execute("SELECT 1")` does, on libpq
    directly: without a cursor, a query conversion and a result set made for a constant."""
    from psycopg import pq  # PostgreSQL only: not imported where SQLite is all there is

    pgconn = conn.pgconn
    result = pgconn.exec_(b"SELECT 1")
    try:
        while (notice := pgconn.notifies()) is not None:  # as psycopg's own fetch does
            if pgconn.notify_handler is not None:
                pgconn.notify_handler(notice)
        if result.status != pq.ExecStatus.TUPLES_OK:
            raise OSError(f"the listening connection's round trip failed: {result.status}")
    finally:
        result.clear()


def watch_for(engine: Engine) -> SqliteCredentialWatch | PgCredentialWatch | None:
    """The watch for the engine's database; None where none is possible (in-memory SQLite)."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        return PgCredentialWatch(engine)
    database = url.database or ""
    if (
        url.get_backend_name() == "sqlite"
        and database
        and database != ":memory:"
        and ("mode=memory" not in str(url.query))
    ):
        return SqliteCredentialWatch(database)
    return None
