"""The ledger's four-eyes rule, over the fakes: above the approval threshold an operation is
held for a second manager whoever asks (the approve right approves others' operations, never
one's own); where it cannot be held (`on_threshold="refuse"`) it is refused for everyone;
below the threshold nothing differs."""

from __future__ import annotations

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.approval.commands import DecideApproval, SetApprovalThreshold
from brokerplane.core.errors import (
    AmountLimitExceeded,
    ApprovalRequired,
    FieldError,
    InsufficientFunds,
    MissingScope,
    PermissionDenied,
    ValidationError,
)
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.group.model import Group
from brokerplane.core.kinds import Dialect
from brokerplane.core.ledger.commands import Posting, PostLedgerEntry
from tests.unit.fakes import FakeUowFactory

TELLER = Actor(manager_login=1001, scopes=frozenset({"balances:write"}), dialect=Dialect.MT5)
APPROVER = Actor(
    manager_login=1002,
    scopes=frozenset({"balances:write", "balances:approve"}),
    dialect=Dialect.MT5,
)
APPROVE_ONLY = Actor(
    manager_login=1003, scopes=frozenset({"balances:approve"}), dialect=Dialect.MT5
)


def _refuse(
    services: Application, login: int, operation: str, amount: object, actor: Actor = TELLER
) -> Posting:
    cmd = PostLedgerEntry(login, operation, amount, comment="mt5", on_threshold="refuse")  # type: ignore[arg-type]  # text the core reads
    return services.post_ledger_entry(cmd, actor)


def _state(uows: FakeUowFactory) -> tuple[object, ...]:
    s = uows.state
    accounts = {k: (a.balance, a.credit, a.bonus, a.updated_at) for k, a in s.accounts.items()}
    return accounts, list(s.ledger), list(s.audit), dict(s.approvals)


@pytest.fixture
def account(services: Application, admin: Actor, usd_group: Group) -> Account:
    """In real\\standard (USD), balance 5000.00; then USD operations above 1000.00 need approval."""
    acc = services.open_account(OpenAccount(group="real\\standard"), admin)
    services.post_ledger_entry(PostLedgerEntry(acc.login, "deposit", "5000"), admin)
    services.set_approval_threshold(SetApprovalThreshold("USD", "1000"), admin)
    return acc


def test_above_the_threshold_a_manager_without_the_approve_right_is_refused_and_nothing_changes(
    services: Application, uows: FakeUowFactory, account: Account
) -> None:
    before = _state(uows)
    with pytest.raises(ApprovalRequired) as err:
        _refuse(services, account.login, "deposit", "2500")
    assert err.value.code == "ledger.approval_required"
    assert err.value.fields == [FieldError("amount", "above the approval threshold (1000.00 USD)")]
    assert "second manager" in err.value.detail
    assert _state(uows) == before  # no entry, no approval held, no audit record


def test_above_the_threshold_the_refuse_rule_refuses_a_manager_with_the_approve_right_too(
    services: Application, uows: FakeUowFactory, account: Account
) -> None:
    before = _state(uows)
    with pytest.raises(ApprovalRequired):
        _refuse(services, account.login, "deposit", "2500", APPROVER)
    assert _state(uows) == before


def test_an_approver_s_own_operation_from_a_dialect_is_held_for_a_different_manager(
    services: Application, admin: Actor, account: Account
) -> None:
    posting = services.post_ledger_entry(
        PostLedgerEntry(account.login, "withdrawal", "1500", comment="mt5"), APPROVER
    )
    assert posting.status == "pending_approval" and posting.entry is None
    assert posting.approval is not None and posting.approval.dialect == "mt5"
    assert services.get_account(account.login, admin).balance == 500_000
    with pytest.raises(PermissionDenied):
        services.decide_approval(DecideApproval(posting.approval.id, True), APPROVER)
    other = Actor(
        manager_login=1004, scopes=frozenset({"balances:approve"}), dialect=Dialect.NATIVE
    )
    decision = services.decide_approval(DecideApproval(posting.approval.id, True), other)
    assert decision.posting is not None and decision.posting.entry is not None
    entry = decision.posting.entry
    assert (entry.manager_login, entry.approved_by) == (1002, 1004)
    assert services.get_account(account.login, admin).balance == 350_000


def test_below_or_at_the_threshold_the_refuse_rule_applies_like_any_posting(
    services: Application, account: Account
) -> None:
    at_limit = _refuse(services, account.login, "deposit", "1000")
    assert at_limit.status == "applied" and at_limit.entry is not None
    assert at_limit.entry.approved_by is None  # nobody's approval was needed
    assert _refuse(services, account.login, "withdrawal", "0.01").status == "applied"


def test_without_any_threshold_every_amount_is_applied_for_any_manager(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = services.open_account(OpenAccount(group="real\\standard"), admin)
    posting = _refuse(services, acc.login, "deposit", "99999999")
    assert posting.status == "applied" and posting.balance == 9_999_999_900


def test_the_approve_right_alone_does_not_allow_posting(
    services: Application, uows: FakeUowFactory, account: Account
) -> None:
    before = _state(uows)
    with pytest.raises(MissingScope):
        _refuse(services, account.login, "deposit", "2500", APPROVE_ONLY)
    assert _state(uows) == before


def test_even_the_admin_scope_does_not_apply_its_own_operation_above_the_threshold(
    services: Application, admin: Actor, account: Account
) -> None:
    with pytest.raises(ApprovalRequired):
        _refuse(services, account.login, "deposit", "2500", admin)
    held = services.post_ledger_entry(PostLedgerEntry(account.login, "deposit", "2500"), admin)
    assert held.status == "pending_approval"
    assert services.get_account(account.login, admin).balance == 500_000


def test_short_funds_are_reported_before_the_missing_approval(
    services: Application, uows: FakeUowFactory, account: Account
) -> None:
    before = _state(uows)
    with pytest.raises(InsufficientFunds):
        _refuse(services, account.login, "withdrawal", "6000")
    with pytest.raises(InsufficientFunds):
        _refuse(services, account.login, "withdrawal", "6000", APPROVER)
    assert _state(uows) == before


def test_the_per_operation_maximum_still_applies_to_an_approver(
    services: Application, account: Account
) -> None:
    with pytest.raises(AmountLimitExceeded):
        _refuse(services, account.login, "deposit", "100000000.01", APPROVER)


def test_a_group_threshold_decides_for_its_accounts_under_the_refuse_rule_too(
    services: Application, admin: Actor, account: Account
) -> None:
    services.set_approval_threshold(SetApprovalThreshold("USD", "5000", "real\\standard"), admin)
    assert _refuse(services, account.login, "deposit", "2500").status == "applied"
    services.create_group(CreateGroup("demo\\usd", "USD"), admin)
    other = services.open_account(OpenAccount(group="demo\\usd"), admin)
    with pytest.raises(ApprovalRequired):
        _refuse(services, other.login, "deposit", "2500")


def test_signed_operations_are_judged_by_their_magnitude(
    services: Application, account: Account
) -> None:
    with pytest.raises(ApprovalRequired):
        _refuse(services, account.login, "correction", "-1500")
    with pytest.raises(ApprovalRequired):
        _refuse(services, account.login, "credit", "1500")
    assert _refuse(services, account.login, "correction", "-1000").status == "applied"


def test_holding_stays_the_default_even_for_an_approver(
    services: Application, admin: Actor, account: Account
) -> None:
    posting = services.post_ledger_entry(
        PostLedgerEntry(account.login, "deposit", "2500"), APPROVER
    )
    assert posting.status == "pending_approval" and posting.approval is not None
    assert services.get_account(account.login, admin).balance == 500_000


def test_an_unknown_threshold_rule_is_refused(
    services: Application, uows: FakeUowFactory, account: Account
) -> None:
    before = _state(uows)
    with pytest.raises(ValidationError) as err:
        services.post_ledger_entry(
            PostLedgerEntry(account.login, "deposit", "10", on_threshold="apply"), APPROVER
        )
    assert err.value.fields[0].field == "on_threshold"
    assert _state(uows) == before
