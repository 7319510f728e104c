"""Storage: an engine plus the unit-of-work factory and health probe the runtime hands out."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc

from brokerplane.core.audit.model import AuditKey
from brokerplane.core.errors import CoreError
from brokerplane.storage.engine import make_engine
from brokerplane.storage.uow import SqlUnitOfWork


class Storage:
    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = url
        self.engine: Engine = make_engine(url, pool_size=pool_size)
        # The audit key new records are sealed with (bootstrap sets it from the keyring).
        self.seal_key: AuditKey | None = None

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def uow(self, *, write: bool = True) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, write=write, seal_key=self.seal_key)

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

    def dispose(self) -> None:
        self.engine.dispose()
