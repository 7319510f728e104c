"""In-memory fakes of the core's ports (core/ports/) and its clock, for unit tests of the rules.

A unit of work works on a deep copy of the committed state: commit swaps the copy in, leaving
the with-block without commit discards it, as a database transaction would. Objects handed in
or out are copies too, so a caller mutating one changes nothing stored. Audit records are queued
and sealed onto the hash chain at commit, as SqlUnitOfWork does. Each repository answers as its
SQL twin in storage/repositories/ does: the same filters, id order, joined names and token checks.

One module per port family: base (clock, state, the repositories' base), accounts, access,
users, money, records (request ids and audit), events, backoffice, trading, and uow (the unit of
work and its factory). Tests import from this package.
"""

from tests.unit.fakes.access import (
    FakeApiKeys,
    FakeLockouts,
    FakeManagers,
    FakeManagerTokens,
    FakeSecondFactor,
)
from tests.unit.fakes.accounts import FakeAccounts, FakeGroups, FakeSymbols
from tests.unit.fakes.backoffice import FakeBackoffice, FakeExports
from tests.unit.fakes.base import FakeClock, FakeState, ReadOnlyViolation
from tests.unit.fakes.events import FakeEvents
from tests.unit.fakes.money import FakeApprovals, FakeLedger, FakeThresholds
from tests.unit.fakes.records import FakeAudit, FakeIdempotency
from tests.unit.fakes.trading import FakeTrading
from tests.unit.fakes.uow import FakeUnitOfWork, FakeUowFactory
from tests.unit.fakes.users import FakeAttributes, FakeUsers

__all__ = [
    "FakeAccounts",
    "FakeApiKeys",
    "FakeApprovals",
    "FakeAttributes",
    "FakeAudit",
    "FakeBackoffice",
    "FakeClock",
    "FakeEvents",
    "FakeExports",
    "FakeGroups",
    "FakeIdempotency",
    "FakeLedger",
    "FakeLockouts",
    "FakeManagerTokens",
    "FakeManagers",
    "FakeSecondFactor",
    "FakeState",
    "FakeSymbols",
    "FakeThresholds",
    "FakeTrading",
    "FakeUnitOfWork",
    "FakeUowFactory",
    "FakeUsers",
    "ReadOnlyViolation",
]
