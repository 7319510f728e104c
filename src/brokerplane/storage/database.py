"""Storage: an engine plus the unit-of-work factory and health probe the runtime hands out."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, event, text
from sqlalchemy import exc as sa_exc

from brokerplane.core.audit.model import AuditKey
from brokerplane.core.errors import CoreError
from brokerplane.core.ports import CredentialWatch
from brokerplane.storage.credentials import PgCredentialWatch, SqliteCredentialWatch, watch_for
from brokerplane.storage.engine import make_engine
from brokerplane.storage.ratelimits import SqlRateLimits
from brokerplane.storage.uow import SqlUnitOfWork

if TYPE_CHECKING:
    from brokerplane.storage.replica import ReplicaReads

_ERROR_KINDS = {
    "OperationalError": "operational",
    "InterfaceError": "interface",
    "IntegrityError": "integrity",
    "DataError": "data",
    "ProgrammingError": "programming",
    "InternalError": "internal",
    "NotSupportedError": "not_supported",
}


class Storage:
    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = url
        self.engine: Engine = make_engine(url, pool_size=pool_size)
        # The read replica lag-tolerant reads go to (use_replica); None: all on this engine.
        self.replica: ReplicaReads | None = None
        # Rate limits every process over this database shares (api/native/auth.py).
        self.rate_limits = SqlRateLimits(self.engine)
        # The audit key new records are sealed with (bootstrap sets it from the keyring).
        self.seal_key: AuditKey | None = None
        # Told the ledger kinds of each commit, and each database error by its kind (the
        # server's metrics set them; None: nobody listens).
        self.on_ledger_commit: Callable[[list[str]], None] | None = None
        self.on_error: Callable[[str], None] | None = None
        # Told the types of the events each commit wrote to the outbox.
        self.on_events: Callable[[list[str]], None] | None = None
        event.listen(self.engine, "handle_error", self._database_error)
        self._credentials: SqliteCredentialWatch | PgCredentialWatch | None = None

    def _database_error(self, context: Any) -> None:
        hook = self.on_error
        if hook is None:
            return
        if getattr(context, "is_disconnect", False):
            kind = "disconnect"
        else:
            error = context.sqlalchemy_exception or context.original_exception
            kind = _ERROR_KINDS.get(type(error).__name__, "other")
        with contextlib.suppress(Exception):  # counting must not change the error raised
            hook(kind)

    def credential_watch(self) -> CredentialWatch | None:
        """What tells this process that an API key or a manager changed anywhere (one per
        Storage; None for a database no other process can see)."""
        if self._credentials is None:
            self._credentials = watch_for(self.engine)
        return self._credentials

    def pool_status(self) -> dict[str, int]:
        """Connections of the pool: `size` kept open, `checked_out` in use now, `overflow`
        opened beyond the size (negative while the pool has not filled up yet)."""
        pool: Any = self.engine.pool
        status: dict[str, int] = {}
        for name, method in (
            ("size", "size"),
            ("checked_out", "checkedout"),
            ("checked_in", "checkedin"),
            ("overflow", "overflow"),
        ):
            read = getattr(pool, method, None)
            if callable(read):
                status[name] = int(read())
        return status

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def uow(self, *, write: bool = True) -> SqlUnitOfWork:
        return SqlUnitOfWork(
            self.engine,
            write=write,
            seal_key=self.seal_key,
            on_commit=self.on_ledger_commit,
            on_error=self.on_error,
            on_events=self.on_events,
        )

    def newest_seal_key(self) -> tuple[int, str | None] | None:
        """The newest audit record's id and sealing key id; None when the database cannot
        tell (unreachable, or not migrated to a schema that has keys)."""
        try:
            with self.uow(write=False) as uow:
                return uow.audit.newest_seal_key()
        except (CoreError, sa_exc.DBAPIError):
            return None

    def ping(self) -> bool:
        try:
            with self.engine.connect().execution_options(bp_write=False) as conn:
                conn.execute(text("SELECT 1"))
            return True
        except (sa_exc.DBAPIError, sa_exc.TimeoutError):
            return False

    def use_replica(
        self, url: str, *, max_lag_s: float, retry_s: float, pool_size: int = 20
    ) -> ReplicaReads:
        """Serve lists, reports, exports and exposure from the streaming replica at `url`."""
        from brokerplane.storage.replica import ReplicaReads, ReplicaUrlError

        try:
            self.replica = ReplicaReads(
                self.engine,
                self.uow,
                url,
                max_lag_s=max_lag_s,
                retry_s=retry_s,
                pool_size=pool_size,
            )
        except (ValueError, sa_exc.ArgumentError) as exc:  # the replica's URL, not the primary's
            raise ReplicaUrlError(url, exc) from None
        return self.replica

    def dispose(self) -> None:
        if self.replica is not None:
            self.replica.dispose()
        if self._credentials is not None:
            self._credentials.close()
        self.engine.dispose()
