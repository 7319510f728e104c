"""Four-eyes expiry and listing over the fakes: pending operations past their TTL expire,
decided ones never do; listing, filters, scopes, and the audit trail of every action."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.approval.model import Approval, ApprovalQuery
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.config import CoreConfig
from brokerplane.core.errors import ApprovalNotPending, MissingScope, ValidationError
from brokerplane.core.group.model import Group
from brokerplane.core.ledger.model import LedgerQuery
from tests.unit import approvals_support
from tests.unit.approvals_support import (
    APPROVER,
    REQUESTER,
    _approval_audit,
    _balance,
    _decide,
    _post,
)
from tests.unit.fakes import FakeClock, FakeUowFactory

# The approval tests' fixtures (tests/unit/approvals_support.py).
account = approvals_support.account
held = approvals_support.held


# --- expiry ----------------------------------------------------------------------------------


def test_maintenance_expires_pending_operations_past_their_ttl_and_audits_it(
    services: Application, admin: Actor, held: Approval, clock: FakeClock
) -> None:
    clock.advance(hours=72)

    assert services.run_maintenance() == (0, 1)

    expired = services.get_approval(held.id, APPROVER)
    assert (expired.state, expired.decided_at, expired.decided_by) == ("expired", clock.now, None)
    rec = _approval_audit(services, admin, held.id)[-1]
    assert (rec.action, rec.before, rec.after) == (
        "approval.expired",
        held.snapshot(),
        expired.snapshot(),
    )
    assert (rec.manager_login, rec.operator_id, rec.dialect) == (None, "maintenance", "system")
    assert services.run_maintenance() == (0, 0)


def test_a_pending_operation_is_not_expired_before_its_ttl(
    services: Application, held: Approval, clock: FakeClock
) -> None:
    clock.advance(hours=71, minutes=59, seconds=59)

    assert services.run_maintenance() == (0, 0)
    assert _decide(services, held.id).approval.state == "approved"


def test_approving_after_expiry_is_refused_as_not_pending(
    services: Application, admin: Actor, held: Approval, clock: FakeClock, uows: FakeUowFactory
) -> None:
    clock.advance(hours=73)
    entries = len(uows.state.ledger)

    with pytest.raises(ApprovalNotPending) as caught:
        _decide(services, held.id)

    assert caught.value.context == {"approval_id": held.id, "state": "expired"}
    assert _balance(services, admin, held.login) == 500000
    assert len(uows.state.ledger) == entries
    # deciding recorded the expiry without waiting for maintenance
    assert [r.action for r in _approval_audit(services, admin, held.id)] == [
        "approval.requested",
        "approval.expired",
    ]


def test_rejecting_after_expiry_is_refused_as_not_pending(
    services: Application, held: Approval, clock: FakeClock
) -> None:
    clock.advance(hours=72)
    services.run_maintenance()

    with pytest.raises(ApprovalNotPending):
        _decide(services, held.id, approve=False)


def test_decided_operations_never_expire(
    services: Application, admin: Actor, account: Account, clock: FakeClock
) -> None:
    first = _post(services, account.login, "deposit", "2000").approval
    second = _post(services, account.login, "deposit", "3000").approval
    assert first is not None and second is not None
    _decide(services, first.id)
    _decide(services, second.id, approve=False)
    clock.advance(days=30)

    assert services.run_maintenance() == (0, 0)
    states = [a.state for a in services.list_approvals(ApprovalQuery(), APPROVER)]
    assert states == ["approved", "rejected"]


def test_reading_approvals_shows_overdue_ones_as_expired(
    services: Application, held: Approval, clock: FakeClock
) -> None:
    clock.advance(hours=72)

    assert services.get_approval(held.id, REQUESTER).state == "expired"


def test_an_approval_ttl_comes_from_the_config(
    uows: FakeUowFactory, config: CoreConfig, clock: FakeClock, held: Approval, account: Account
) -> None:
    short = Application(uows, replace(config, approval_ttl=timedelta(minutes=5)), clock)

    quick = _post(short, account.login, "deposit", "2000").approval

    assert quick is not None and quick.expires_at == clock.now + timedelta(minutes=5)
    clock.advance(minutes=5)
    assert short.run_maintenance() == (0, 1)
    assert short.get_approval(held.id, APPROVER).state == "pending"


# --- listing ---------------------------------------------------------------------------------


@pytest.fixture
def several(services: Application, admin: Actor, account: Account, usd_group: Group) -> list[int]:
    """Five approvals: two on another account; one approved and one rejected."""
    other = services.open_account(OpenAccount(group="real\\standard"), admin).login
    ids = []
    for login, amount in [
        (account.login, "2000"),
        (other, "1500"),
        (account.login, "3000"),
        (other, "4000"),
        (account.login, "1100"),
    ]:
        approval = _post(services, login, "deposit", amount).approval
        assert approval is not None
        ids.append(approval.id)
    _decide(services, ids[0])
    _decide(services, ids[1], approve=False)
    return ids


def test_approvals_are_listed_oldest_first_and_filtered_by_state_and_login(
    services: Application, account: Account, several: list[int]
) -> None:
    def ids(**kw: object) -> list[int]:
        return [a.id for a in services.list_approvals(ApprovalQuery(**kw), REQUESTER)]  # type: ignore[arg-type]

    assert ids() == several
    assert ids(state="pending") == several[2:]
    assert ids(state="approved") == several[:1]
    assert ids(state="rejected") == several[1:2]
    assert ids(state="expired") == []
    assert ids(login=account.login) == [several[0], several[2], several[4]]
    assert ids(login=account.login, state="pending") == [several[2], several[4]]
    assert ids(after_id=several[1], limit=2) == several[2:4]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (ApprovalQuery(state="open"), "state"),
        (ApprovalQuery(limit=0), "limit"),
        (ApprovalQuery(limit=1001), "limit"),
    ],
)
def test_a_bad_approval_listing_is_refused(
    services: Application, several: list[int], query: ApprovalQuery, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        services.list_approvals(query, APPROVER)

    assert [f.field for f in caught.value.fields] == [field]


def test_reading_approvals_needs_a_money_scope(services: Application, held: Approval) -> None:
    reporter = Actor(1009, frozenset({"reports:read", "users:read"}))

    with pytest.raises(MissingScope):
        services.list_approvals(ApprovalQuery(), reporter)
    with pytest.raises(MissingScope):
        services.get_approval(held.id, reporter)


def test_every_approval_action_is_in_the_audit_trail(
    services: Application, admin: Actor, several: list[int], clock: FakeClock
) -> None:
    clock.advance(hours=72)
    services.run_maintenance()

    actions = [r.action for r in services.query_audit(AuditQuery(action="approval."), admin)]

    assert actions.count("approval.requested") == 5
    assert actions.count("approval.approved") == 1
    assert actions.count("approval.rejected") == 1
    assert actions.count("approval.expired") == 3
    assert services.verify_audit().ok
    assert services.list_ledger(LedgerQuery(), REQUESTER)[-1].approval_id == several[0]
