"""The fake unit of work and its factory."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from tests.unit.fakes.access import (
    FakeApiKeys,
    FakeLockouts,
    FakeManagers,
    FakeManagerTokens,
    FakeSecondFactor,
)
from tests.unit.fakes.accounts import FakeAccounts, FakeGroups, FakeSymbols
from tests.unit.fakes.backoffice import FakeBackoffice, FakeExports
from tests.unit.fakes.base import FakeState, _copy
from tests.unit.fakes.events import FakeEvents
from tests.unit.fakes.money import FakeApprovals, FakeLedger, FakeThresholds
from tests.unit.fakes.records import FakeAudit, FakeIdempotency
from tests.unit.fakes.trading import FakeTrading
from tests.unit.fakes.users import FakeAttributes, FakeUsers


class FakeUnitOfWork:
    def __init__(self, factory: FakeUowFactory, write: bool) -> None:
        self._factory = factory
        self.write = write
        self.work = FakeState()
        self.committed = False
        self.groups = FakeGroups(self)
        self.accounts = FakeAccounts(self)
        self.symbols = FakeSymbols(self)
        self.managers = FakeManagers(self)
        self.api_keys = FakeApiKeys(self)
        self.audit = FakeAudit(self)
        self.ledger = FakeLedger(self)
        self.approvals = FakeApprovals(self)
        self.thresholds = FakeThresholds(self)
        self.idempotency = FakeIdempotency(self)
        self.tokens = FakeManagerTokens(self)
        self.lockouts = FakeLockouts(self)
        self.attributes = FakeAttributes(self)
        self.users = FakeUsers(self)
        self.backoffice = FakeBackoffice(self)
        self.trading = FakeTrading(self)
        self.exports = FakeExports(self)
        self.events = FakeEvents(self)
        self.second_factor = FakeSecondFactor(self)

    def __enter__(self) -> FakeUnitOfWork:
        if self.write:
            self._factory.write_lock.acquire()  # writers take turns, like BEGIN IMMEDIATE
        self.work = _copy(self._factory.state)
        self._factory.opened += 1
        return self

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        self._factory.savepoints += 1
        saved, mark = _copy(self.work), len(self.audit.pending)
        try:
            yield
        except BaseException:
            self.work = saved
            del self.audit.pending[mark:]
            raise

    def commit(self) -> None:
        if self._factory.fail_next_commit is not None:
            error, self._factory.fail_next_commit = self._factory.fail_next_commit, None
            raise error
        self.audit.seal()
        self._factory.state = self.work
        self._factory.commits += 1
        self.committed = True
        self.work = _copy(self.work)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.work = FakeState()  # whatever was not committed is gone
        self.audit.pending = []
        if self.write:
            self._factory.write_lock.release()


class FakeUowFactory:
    """The UnitOfWorkFactory port over one in-memory state; tests may inspect `state`."""

    def __init__(self) -> None:
        self.state = FakeState()
        self.write_lock = threading.RLock()
        self.opened = 0
        self.commits = 0
        self.fail_next_commit: BaseException | None = None
        self.savepoints = 0  # savepoints opened, by every unit of work

    def __call__(self, *, write: bool = True) -> FakeUnitOfWork:
        return FakeUnitOfWork(self, write)
