"""SqlUnitOfWork: one transaction over every repository, and the core errors that storage
failures mean."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc

from brokerplane.core.audit.model import AuditKey
from brokerplane.core.errors import Conflict, StorageUnavailable, ValidationError
from brokerplane.storage.repositories.access import (
    SqlApiKeys,
    SqlLockouts,
    SqlManagers,
    SqlManagerTokens,
)
from brokerplane.storage.repositories.accounts import SqlAccounts
from brokerplane.storage.repositories.approvals import SqlApprovals, SqlThresholds
from brokerplane.storage.repositories.attributes import SqlAttributes
from brokerplane.storage.repositories.audit import SqlAudit
from brokerplane.storage.repositories.backoffice import SqlBackoffice
from brokerplane.storage.repositories.events import SqlEvents
from brokerplane.storage.repositories.exports import SqlExports
from brokerplane.storage.repositories.groups import SqlGroups
from brokerplane.storage.repositories.idempotency import SqlIdempotency
from brokerplane.storage.repositories.ledger import SqlLedger
from brokerplane.storage.repositories.second_factor import SqlSecondFactor
from brokerplane.storage.repositories.symbols import SqlSymbols
from brokerplane.storage.repositories.trading import SqlTrading
from brokerplane.storage.repositories.users import SqlUsers

log = logging.getLogger("brokerplane.storage")

_CONNECTION_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


def _storage_error(exc: BaseException | None) -> Exception | None:
    """The core error a storage exception means, or None when it is not one."""
    if isinstance(exc, _CONNECTION_ERRORS):
        return StorageUnavailable("the database is unavailable")
    if isinstance(exc, sa_exc.IntegrityError):
        return Conflict("the change conflicts with data already stored")
    if isinstance(exc, sa_exc.DataError):
        # e.g. a NUL character or a number out of range: bad input, not a server fault
        return ValidationError("a value cannot be stored (a NUL character, or out of range)")
    return None


class SqlUnitOfWork:
    groups: SqlGroups
    accounts: SqlAccounts
    symbols: SqlSymbols
    managers: SqlManagers
    api_keys: SqlApiKeys
    audit: SqlAudit
    ledger: SqlLedger
    approvals: SqlApprovals
    thresholds: SqlThresholds
    idempotency: SqlIdempotency
    attributes: SqlAttributes
    tokens: SqlManagerTokens
    lockouts: SqlLockouts
    users: SqlUsers
    backoffice: SqlBackoffice
    trading: SqlTrading
    exports: SqlExports
    events: SqlEvents
    second_factor: SqlSecondFactor

    def __init__(
        self,
        engine: Engine,
        *,
        write: bool = True,
        seal_key: AuditKey | None = None,
        on_commit: Callable[[list[str]], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_events: Callable[[list[str]], None] | None = None,
    ) -> None:
        self._engine = engine
        self._on_events = on_events  # told the types of the events each commit wrote
        self._write = write
        self._seal_key = seal_key
        self._on_commit = on_commit  # told the ledger kinds each commit made durable
        self._on_error = on_error  # told of a pool that had no connection to give in time
        self._conn: Connection | None = None

    def __enter__(self) -> SqlUnitOfWork:
        try:
            conn = self._engine.connect().execution_options(bp_write=self._write)
            if not self._write and conn.dialect.name == "postgresql":
                # Reads see one snapshot across statements, as SQLite's WAL readers do.
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            conn.begin()
        except _CONNECTION_ERRORS as err:
            if isinstance(err, sa_exc.TimeoutError) and self._on_error is not None:
                self._on_error("pool_timeout")
            raise StorageUnavailable("the database is unreachable") from err
        self._conn = conn
        self.groups = SqlGroups(conn)
        self.accounts = SqlAccounts(conn)
        self.symbols = SqlSymbols(conn)
        self.managers = SqlManagers(conn)
        self.api_keys = SqlApiKeys(conn)
        self.audit = SqlAudit(conn, self._seal_key)
        self.ledger = SqlLedger(conn)
        self.approvals = SqlApprovals(conn)
        self.thresholds = SqlThresholds(conn)
        self.idempotency = SqlIdempotency(conn)
        self.attributes = SqlAttributes(conn)
        self.tokens = SqlManagerTokens(conn)
        self.lockouts = SqlLockouts(conn)
        self.users = SqlUsers(conn)
        self.backoffice = SqlBackoffice(conn)
        self.trading = SqlTrading(conn)
        self.exports = SqlExports(conn)
        self.events = SqlEvents(conn)
        self.second_factor = SqlSecondFactor(conn)
        return self

    @property
    def connection(self) -> Connection:
        assert self._conn is not None, "unit of work used outside its with-block"
        return self._conn

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        conn = self.connection
        mark = len(self.audit.pending)
        entries = len(self.ledger.added)
        try:
            nested = conn.begin_nested()
        except _CONNECTION_ERRORS as err:
            raise StorageUnavailable("the database is unavailable") from err
        try:
            yield
        except BaseException as exc:
            del self.audit.pending[mark:]
            del self.ledger.added[entries:]
            try:
                if nested.is_active:
                    nested.rollback()
            except sa_exc.DBAPIError as err:
                raise StorageUnavailable("the database is unavailable") from err
            translated = _storage_error(exc)
            if translated is not None:
                raise translated from exc
            raise
        try:
            nested.commit()
        except sa_exc.DBAPIError as exc:
            translated = _storage_error(exc)
            raise (translated or StorageUnavailable("the database is unavailable")) from exc

    def commit(self) -> None:
        try:
            self.audit.flush()
            self.connection.commit()
        except _CONNECTION_ERRORS as err:
            raise StorageUnavailable("the database could not commit") from err
        added, self.ledger.added = self.ledger.added, []
        if added and self._on_commit is not None:
            try:
                self._on_commit(added)
            except Exception:  # counting must never fail a committed command
                log.exception("the ledger commit hook failed")
        written, self.audit.written = self.audit.written, []
        if written and self._on_events is not None:
            try:
                self._on_events(written)
            except Exception:  # counting must never fail a committed command
                log.exception("the events commit hook failed")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self._conn
        self._conn = None
        if conn is not None:
            try:
                if conn.in_transaction():
                    conn.rollback()
                conn.close()
            except sa_exc.DBAPIError:
                conn.invalidate()
        translated = _storage_error(exc)
        if translated is not None:
            raise translated from exc
