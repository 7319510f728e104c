"""What the four-eyes unit tests share: requester and approver, posting, threshold and decision
helpers, and the account and held operation they work on (fixtures the test modules bind)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.approval.commands import DecideApproval, Decision, SetApprovalThreshold
from brokerplane.core.approval.model import Approval, ApprovalThreshold
from brokerplane.core.audit.model import AuditQuery, AuditRecord
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.group.model import Group
from brokerplane.core.kinds import Dialect
from brokerplane.core.ledger.commands import Posting, PostLedgerEntry

REQUESTER = Actor(
    manager_login=1001,
    scopes=frozenset({"balances:write", "balances:approve"}),
    key_id="key-req",
    operator_id="alice",
    request_id="req-1",
    dialect=Dialect.NATIVE,
)
APPROVER = Actor(
    manager_login=1002,
    scopes=frozenset({"balances:approve"}),
    key_id="key-apr",
    operator_id="bob",
    request_id="req-2",
    dialect=Dialect.MT5,
)
TTL = timedelta(hours=72)


def _post(
    services: Application,
    login: int,
    operation: str,
    amount: object,
    actor: Actor = REQUESTER,
    **kw: Any,
) -> Posting:
    return services.post_ledger_entry(PostLedgerEntry(login, operation, amount, **kw), actor)  # type: ignore[arg-type]  # text the core reads


def _threshold(
    services: Application,
    admin: Actor,
    amount: str | None,
    currency: str = "USD",
    group: str | None = None,
) -> ApprovalThreshold | None:
    return services.set_approval_threshold(SetApprovalThreshold(currency, amount, group), admin)


def _decide(
    services: Application,
    approval_id: int,
    approve: bool = True,
    actor: Actor = APPROVER,
    comment: str = "",
) -> Decision:
    return services.decide_approval(DecideApproval(approval_id, approve, comment), actor)


def _balance(services: Application, admin: Actor, login: int) -> int:
    return services.get_account(login, admin).balance


def _approval_audit(services: Application, admin: Actor, approval_id: int) -> list[AuditRecord]:
    return services.query_audit(
        AuditQuery(entity_type="approval", entity_id=str(approval_id)), admin
    )


@pytest.fixture
def other_group(services: Application, admin: Actor) -> Group:
    return services.create_group(CreateGroup("demo\\usd", "USD"), admin)


@pytest.fixture
def account(services: Application, admin: Actor, usd_group: Group) -> Account:
    """In real\\standard (USD), balance 5000.00, credit 500.00; then USD above 1000 is held."""
    acc = services.open_account(OpenAccount(group="real\\standard"), admin)
    _post(services, acc.login, "deposit", "5000")
    _post(services, acc.login, "credit", "500")
    _threshold(services, admin, "1000")
    return acc


@pytest.fixture
def held(services: Application, account: Account) -> Approval:
    """A pending deposit of 2500.00."""
    posting = _post(services, account.login, "deposit", "2500", comment="wire", reference="W-7")
    assert posting.approval is not None
    return posting.approval
