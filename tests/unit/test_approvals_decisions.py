"""Held operations over the fakes and deciding them: what is held, approving applies as
requested, rejecting applies nothing, who may decide, and the rechecks at approval."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.approval.model import Approval
from brokerplane.core.config import CoreConfig
from brokerplane.core.errors import (
    AmountLimitExceeded,
    ApprovalNotFound,
    ApprovalNotPending,
    InsufficientFunds,
    MissingScope,
    PermissionDenied,
    ValidationError,
)
from tests.unit import approvals_support
from tests.unit.approvals_support import (
    APPROVER,
    REQUESTER,
    TTL,
    _approval_audit,
    _balance,
    _decide,
    _post,
)
from tests.unit.fakes import FakeClock, FakeUowFactory

# The approval tests' fixtures (tests/unit/approvals_support.py).
account = approvals_support.account
held = approvals_support.held


# --- held operations -------------------------------------------------------------------------


def test_an_operation_above_the_threshold_is_held_and_nothing_is_applied(
    services: Application, admin: Actor, account: Account, uows: FakeUowFactory, clock: FakeClock
) -> None:
    entries = len(uows.state.ledger)

    posting = _post(services, account.login, "deposit", "2500", comment="wire", reference="W-7")

    assert (posting.status, posting.kind, posting.amount, posting.entry) == (
        "pending_approval",
        "deposit",
        250000,
        None,
    )
    assert posting.operation_id is None
    assert (posting.balance, posting.credit, posting.bonus) == (500000, 50000, 0)
    assert (posting.comment, posting.reference) == ("wire", "W-7")
    held = posting.approval
    assert held is not None and held.id >= 1
    assert (held.state, held.login, held.kind, held.amount, held.currency) == (
        "pending",
        account.login,
        "deposit",
        250000,
        "USD",
    )
    assert (held.requested_at, held.expires_at) == (clock.now, clock.now + TTL)
    assert (
        held.requested_by,
        held.requested_key,
        held.requested_operator,
        held.request_id,
        held.dialect,
    ) == (1001, "key-req", "alice", "req-1", "native")
    assert (held.comment, held.reference) == ("wire", "W-7")
    assert _balance(services, admin, account.login) == 500000
    assert len(uows.state.ledger) == entries
    assert services.get_approval(held.id, REQUESTER) == held


@pytest.mark.parametrize(
    ("operation", "amount", "kind", "change"),
    [
        ("withdrawal", "1500", "withdrawal", -150000),
        ("correction", "-1500", "correction", -150000),
        ("charge", "1000.01", "charge", -100001),
        ("credit", "1500", "credit_in", 150000),
    ],
)
def test_removals_are_held_by_their_size_whatever_their_sign(
    services: Application, account: Account, operation: str, amount: str, kind: str, change: int
) -> None:
    posting = _post(services, account.login, operation, amount)

    assert (posting.status, posting.kind, posting.amount) == ("pending_approval", kind, change)


def test_a_held_operation_that_could_never_apply_is_refused_at_once(
    services: Application, account: Account, uows: FakeUowFactory
) -> None:
    with pytest.raises(InsufficientFunds):
        _post(services, account.login, "withdrawal", "5000.01")
    with pytest.raises(InsufficientFunds):
        _post(services, account.login, "credit", "-1500")

    assert uows.state.approvals == {}


def test_holding_is_audited_as_approval_requested(
    services: Application, admin: Actor, held: Approval, clock: FakeClock
) -> None:
    [rec] = _approval_audit(services, admin, held.id)

    assert (rec.action, rec.entity_type, rec.before, rec.after) == (
        "approval.requested",
        "approval",
        None,
        held.snapshot(),
    )
    assert (rec.manager_login, rec.operator_id, rec.request_id, rec.at) == (
        1001,
        "alice",
        "req-1",
        clock.now,
    )


# --- deciding --------------------------------------------------------------------------------


def test_another_manager_approving_applies_the_operation_as_requested(
    services: Application, admin: Actor, held: Approval, clock: FakeClock
) -> None:
    clock.advance(hours=1)

    decision = _decide(services, held.id, comment="checked")

    decided, posting = decision.approval, decision.posting
    assert posting is not None and posting.entry is not None
    entry = posting.entry
    assert (posting.status, posting.kind, posting.amount, posting.balance) == (
        "applied",
        "deposit",
        250000,
        750000,
    )
    assert (
        decided.state,
        decided.decided_by,
        decided.decided_operator,
        decided.decided_at,
        decided.decision_comment,
        decided.entry_id,
    ) == (
        "approved",
        1002,
        "bob",
        clock.now,
        "checked",
        entry.id,
    )
    assert _balance(services, admin, held.login) == 750000
    assert (
        entry.manager_login,
        entry.key_id,
        entry.operator_id,
        entry.request_id,
        entry.dialect,
    ) == (1001, "key-req", "alice", "req-1", "native")
    assert (entry.approval_id, entry.approved_by, entry.at) == (held.id, 1002, clock.now)
    assert (entry.comment, entry.reference) == ("wire", "W-7")
    assert services.get_approval(held.id, APPROVER) == decided
    assert services.verify_ledger() == []


def test_approving_a_held_removal_takes_the_money(
    services: Application, admin: Actor, account: Account
) -> None:
    held = _post(services, account.login, "correction", "-4999.99").approval
    assert held is not None

    posting = _decide(services, held.id).posting

    assert posting is not None
    assert (posting.kind, posting.amount, posting.balance, posting.credit) == (
        "correction",
        -499999,
        1,
        50000,
    )
    assert _balance(services, admin, account.login) == 1


def test_approval_is_audited_with_the_entry_it_posted(
    services: Application, admin: Actor, held: Approval
) -> None:
    decision = _decide(services, held.id, comment="ok")

    records = _approval_audit(services, admin, held.id)
    assert [r.action for r in records] == ["approval.requested", "approval.approved"]
    approved = records[-1]
    assert approved.before == held.snapshot()
    assert approved.after == decision.approval.snapshot()
    assert approved.after is not None and approved.after["entry_id"] is not None
    assert (approved.manager_login, approved.operator_id, approved.dialect) == (1002, "bob", "mt5")
    posted = services.account_history(held.login, admin)[-1]
    assert (posted.action, posted.manager_login) == ("ledger.entry_posted", 1002)
    assert posted.after is not None and posted.after["entry"]["approval_id"] == held.id


def test_the_requester_cannot_approve_their_own_operation(
    services: Application, admin: Actor, held: Approval, uows: FakeUowFactory
) -> None:
    with pytest.raises(PermissionDenied) as caught:
        _decide(services, held.id, actor=REQUESTER)

    assert caught.value.code == "auth.permission_denied"
    assert caught.value.context == {"approval_id": held.id}
    assert services.get_approval(held.id, REQUESTER).state == "pending"
    assert _balance(services, admin, held.login) == 500000


def test_the_requester_cannot_reject_their_own_operation_either(
    services: Application, held: Approval
) -> None:
    with pytest.raises(PermissionDenied):
        _decide(services, held.id, approve=False, actor=replace(REQUESTER, key_id="other-key"))


def test_an_actor_without_a_manager_cannot_decide(
    services: Application, admin: Actor, held: Approval
) -> None:
    with pytest.raises(PermissionDenied):
        _decide(services, held.id, actor=admin)

    assert services.get_approval(held.id, APPROVER).state == "pending"


def test_deciding_needs_the_approve_scope(services: Application, held: Approval) -> None:
    writer = replace(APPROVER, scopes=frozenset({"balances:write", "users:write"}))

    with pytest.raises(MissingScope) as caught:
        _decide(services, held.id, actor=writer)

    assert caught.value.context == {"scope": "balances:approve"}


def test_rejecting_applies_nothing_and_is_audited(
    services: Application, admin: Actor, held: Approval, uows: FakeUowFactory, clock: FakeClock
) -> None:
    entries = len(uows.state.ledger)

    decision = _decide(services, held.id, approve=False, comment="no paperwork")

    assert decision.posting is None
    rejected = decision.approval
    assert (
        rejected.state,
        rejected.decided_by,
        rejected.decided_at,
        rejected.decision_comment,
        rejected.entry_id,
    ) == ("rejected", 1002, clock.now, "no paperwork", None)
    assert _balance(services, admin, held.login) == 500000
    assert len(uows.state.ledger) == entries
    last = _approval_audit(services, admin, held.id)[-1]
    assert (last.action, last.after) == ("approval.rejected", rejected.snapshot())


@pytest.mark.parametrize(("first", "state"), [(True, "approved"), (False, "rejected")])
@pytest.mark.parametrize("second", [True, False])
def test_a_decided_operation_cannot_be_decided_again(
    services: Application,
    admin: Actor,
    held: Approval,
    uows: FakeUowFactory,
    first: bool,
    state: str,
    second: bool,
) -> None:
    _decide(services, held.id, approve=first)
    balance, entries = _balance(services, admin, held.login), len(uows.state.ledger)
    third = replace(APPROVER, manager_login=1003)

    with pytest.raises(ApprovalNotPending) as caught:
        _decide(services, held.id, approve=second, actor=third)

    assert caught.value.code == "approval.not_pending"
    assert caught.value.context == {"approval_id": held.id, "state": state}
    assert (_balance(services, admin, held.login), len(uows.state.ledger)) == (balance, entries)


def test_approval_rechecks_funds_and_leaves_the_operation_pending_when_they_are_gone(
    services: Application, admin: Actor, account: Account, uows: FakeUowFactory
) -> None:
    held = _post(services, account.login, "withdrawal", "3000").approval
    assert held is not None
    for _ in range(3):
        _post(services, account.login, "withdrawal", "900")  # balance now 2300.00

    with pytest.raises(InsufficientFunds):
        _decide(services, held.id)

    assert services.get_approval(held.id, APPROVER).state == "pending"
    assert _balance(services, admin, account.login) == 230000
    assert [r.action for r in _approval_audit(services, admin, held.id)] == ["approval.requested"]


def test_approval_rechecks_the_per_operation_limit(
    services: Application,
    held: Approval,
    uows: FakeUowFactory,
    config: CoreConfig,
    clock: FakeClock,
) -> None:
    stricter = Application(uows, replace(config, max_operation_amount=Decimal("2000")), clock)

    with pytest.raises(AmountLimitExceeded):
        _decide(stricter, held.id)

    assert services.get_approval(held.id, APPROVER).state == "pending"


def test_a_held_operation_approved_once_funds_return_is_applied(
    services: Application, admin: Actor, account: Account
) -> None:
    held = _post(services, account.login, "withdrawal", "3000").approval
    assert held is not None
    _post(services, account.login, "withdrawal", "900")
    _post(services, account.login, "withdrawal", "900")
    _post(services, account.login, "withdrawal", "900")
    with pytest.raises(InsufficientFunds):
        _decide(services, held.id)
    _post(services, account.login, "deposit", "800")

    posting = _decide(services, held.id).posting

    assert posting is not None and posting.balance == 10000


def test_an_unknown_approval_is_not_found(services: Application, held: Approval) -> None:
    with pytest.raises(ApprovalNotFound) as caught:
        _decide(services, held.id + 1)
    with pytest.raises(ApprovalNotFound):
        services.get_approval(held.id + 1, APPROVER)

    assert caught.value.context == {"approval_id": held.id + 1}


@pytest.mark.parametrize("approval_id", [0, -1, True, "1"])
def test_an_approval_id_must_be_a_positive_integer(
    services: Application, held: Approval, approval_id: object
) -> None:
    with pytest.raises(ValidationError) as caught:
        _decide(services, approval_id)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        services.get_approval(approval_id, APPROVER)  # type: ignore[arg-type]

    assert [f.field for f in caught.value.fields] == ["approval_id"]


def test_a_decision_comment_longer_than_255_characters_is_refused(
    services: Application, held: Approval
) -> None:
    with pytest.raises(ValidationError) as caught:
        _decide(services, held.id, comment="x" * 256)

    assert [f.field for f in caught.value.fields] == ["comment"]
    assert services.get_approval(held.id, APPROVER).state == "pending"
