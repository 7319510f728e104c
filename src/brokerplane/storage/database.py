"""Storage: an engine plus the unit-of-work factory and health probe the runtime hands out."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc

from brokerplane.storage.engine import make_engine
from brokerplane.storage.uow import SqlUnitOfWork


class Storage:
    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = url
        self.engine: Engine = make_engine(url, pool_size=pool_size)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def uow(self, *, write: bool = True) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, write=write)

    def ping(self) -> bool:
        try:
            with self.engine.connect().execution_options(bp_write=False) as conn:
                conn.execute(text("SELECT 1"))
            return True
        except (sa_exc.DBAPIError, sa_exc.TimeoutError):
            return False

    def dispose(self) -> None:
        self.engine.dispose()
