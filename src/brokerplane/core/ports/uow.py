"""The unit of work: one transaction whose repositories (the other port modules) share it; its
factory; where lagging reads are served."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Protocol, TypeVar

from brokerplane.core.idempotency import IdempotencyStore
from brokerplane.core.ports.access import (
    ApiKeyRepository,
    LockoutRepository,
    ManagerRepository,
    ManagerTokenRepository,
    SecondFactorRepository,
)
from brokerplane.core.ports.accounts import AccountRepository, ExportRepository
from brokerplane.core.ports.audit import AuditLog
from brokerplane.core.ports.catalog import AttributeRepository, GroupRepository, SymbolRepository
from brokerplane.core.ports.events import EventRepository
from brokerplane.core.ports.ledger import ApprovalRepository, LedgerRepository, ThresholdRepository
from brokerplane.core.ports.trading import TradingRepository
from brokerplane.core.ports.users import BackofficeRepository, UserRepository

T = TypeVar("T")


class UnitOfWork(Protocol):
    """One transaction: repositories share it; nothing is visible to others before commit."""

    @property
    def groups(self) -> GroupRepository: ...
    @property
    def accounts(self) -> AccountRepository: ...
    @property
    def symbols(self) -> SymbolRepository: ...
    @property
    def managers(self) -> ManagerRepository: ...
    @property
    def api_keys(self) -> ApiKeyRepository: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def ledger(self) -> LedgerRepository: ...
    @property
    def approvals(self) -> ApprovalRepository: ...
    @property
    def thresholds(self) -> ThresholdRepository: ...
    @property
    def idempotency(self) -> IdempotencyStore: ...
    @property
    def tokens(self) -> ManagerTokenRepository: ...
    @property
    def lockouts(self) -> LockoutRepository: ...
    @property
    def attributes(self) -> AttributeRepository: ...
    @property
    def users(self) -> UserRepository: ...
    @property
    def backoffice(self) -> BackofficeRepository: ...
    @property
    def trading(self) -> TradingRepository: ...
    @property
    def exports(self) -> ExportRepository: ...
    @property
    def events(self) -> EventRepository: ...
    @property
    def second_factor(self) -> SecondFactorRepository: ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction: an exception inside rolls back only what was done inside,
        queued audit records included, and is raised again (storage errors as core errors)."""
        ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = True) -> UnitOfWork: ...


class LaggingReads(Protocol):
    """Where reads that may lag a little behind the newest commit are served (a read replica):
    lists, reports, exports and exposure. A caller's reads still see that caller's own writes,
    and no read is served further behind than the configured bound."""

    def read(self, caller: str, fn: Callable[[UnitOfWork], T]) -> T: ...

    def wrote(self, caller: str) -> None: ...
