"""What the ledger's unit tests share: the actors, posting and reading helpers, and the
accounts they post to (fixtures the test modules bind by name)."""

from __future__ import annotations

from typing import Any

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.group.model import Group
from brokerplane.core.kinds import Dialect
from brokerplane.core.ledger.commands import Posting, PostLedgerEntry
from tests.unit.fakes import FakeUowFactory

TELLER = Actor(
    manager_login=1001,
    scopes=frozenset({"balances:write"}),
    key_id="key-1",
    operator_id="teller@backoffice",
    request_id="req-1",
    dialect=Dialect.NATIVE,
    ip="198.51.100.7",
)
REPORTER = Actor(manager_login=1003, scopes=frozenset({"reports:read"}))


def _post(
    services: Application,
    login: int,
    operation: str,
    amount: object,
    actor: Actor = TELLER,
    **kw: Any,
) -> Posting:
    return services.post_ledger_entry(PostLedgerEntry(login, operation, amount, **kw), actor)  # type: ignore[arg-type]  # text the core reads


def _figures(services: Application, admin: Actor, login: int) -> tuple[int, int, int]:
    acc = services.get_account(login, admin)
    return acc.balance, acc.credit, acc.bonus


def _state(uows: FakeUowFactory) -> tuple[object, ...]:
    """Everything a failed posting must leave untouched."""
    s = uows.state
    accounts = {k: (a.balance, a.credit, a.bonus, a.updated_at) for k, a in s.accounts.items()}
    return accounts, list(s.ledger), list(s.audit), dict(s.approvals)


@pytest.fixture
def account(services: Application, admin: Actor, usd_group: Group) -> Account:
    return services.open_account(OpenAccount(group="real\\standard"), admin)


@pytest.fixture
def funded(services: Application, account: Account) -> Account:
    """Balance 1000.00, credit 100.00, bonus 50.00."""
    _post(services, account.login, "deposit", "1000")
    _post(services, account.login, "credit_in", "100")
    _post(services, account.login, "bonus_in", "50")
    return account
