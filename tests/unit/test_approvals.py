"""Four-eyes approval over the fakes: thresholds, held operations, decisions and expiry."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.approval.commands import DecideApproval, Decision, SetApprovalThreshold
from brokerplane.core.approval.model import Approval, ApprovalQuery, ApprovalThreshold
from brokerplane.core.audit.model import AuditQuery, AuditRecord
from brokerplane.core.config import CoreConfig
from brokerplane.core.errors import (
    AmountLimitExceeded,
    ApprovalNotFound,
    ApprovalNotPending,
    GroupNotFound,
    InsufficientFunds,
    InvalidAmount,
    MissingScope,
    PermissionDenied,
    ValidationError,
)
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.group.model import Group
from brokerplane.core.kinds import Dialect
from brokerplane.core.ledger.commands import Posting, PostLedgerEntry
from brokerplane.core.ledger.model import LedgerQuery
from tests.unit.fakes import FakeClock, FakeUowFactory

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
    services: Application, login: int, operation: str, amount: object, actor: Actor = REQUESTER,
    **kw: Any,
) -> Posting:  # fmt: skip
    return services.post_ledger_entry(PostLedgerEntry(login, operation, amount, **kw), actor)  # type: ignore[arg-type]  # text the core reads


def _threshold(
    services: Application, admin: Actor, amount: str | None, currency: str = "USD",
    group: str | None = None,
) -> ApprovalThreshold | None:  # fmt: skip
    return services.set_approval_threshold(SetApprovalThreshold(currency, amount, group), admin)


def _decide(
    services: Application, approval_id: int, approve: bool = True, actor: Actor = APPROVER,
    comment: str = "",
) -> Decision:  # fmt: skip
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


# --- thresholds ------------------------------------------------------------------------------


def test_a_currency_threshold_holds_operations_strictly_above_it(
    services: Application, admin: Actor, account: Account
) -> None:
    at = _post(services, account.login, "deposit", "1000.00")
    above = _post(services, account.login, "deposit", "1000.01")

    assert (at.status, above.status) == ("applied", "pending_approval")
    assert _balance(services, admin, account.login) == 600000


def test_a_threshold_is_set_in_minor_units_of_its_currency_and_listed(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock
) -> None:
    threshold = _threshold(services, admin, "1234.5", currency="usd")

    listed = services.list_approval_thresholds(admin)
    assert listed == [threshold]
    t = listed[0]
    assert (t.currency, t.amount, t.currency_digits, t.group_id, t.group, t.updated_at) == (
        "USD", 123450, 2, 0, None, clock.now,
    )  # fmt: skip


def test_thresholds_are_listed_by_currency_then_group(
    services: Application, admin: Actor, usd_group: Group, other_group: Group
) -> None:
    _threshold(services, admin, "5", group="demo\\usd")
    _threshold(services, admin, "7", currency="EUR")
    _threshold(services, admin, "6", group="real\\standard")
    _threshold(services, admin, "4")

    listed = services.list_approval_thresholds(REQUESTER)

    assert [(t.currency, t.group, t.amount) for t in listed] == [
        ("EUR", None, 700), ("USD", None, 400), ("USD", "real\\standard", 600),
        ("USD", "demo\\usd", 500),
    ]  # fmt: skip


def test_a_group_threshold_overrides_its_currencys_for_that_group_only(
    services: Application, admin: Actor, account: Account, other_group: Group
) -> None:
    elsewhere = services.open_account(OpenAccount(group="demo\\usd"), admin).login
    _threshold(services, admin, "50", group="real\\standard")

    assert _post(services, account.login, "deposit", "60").status == "pending_approval"
    assert _post(services, elsewhere, "deposit", "60").status == "applied"
    assert _post(services, elsewhere, "deposit", "1000.01").status == "pending_approval"


def test_a_higher_group_threshold_lets_through_what_the_currency_would_hold(
    services: Application, admin: Actor, account: Account
) -> None:
    _threshold(services, admin, "3000", group="real\\standard")

    assert _post(services, account.login, "deposit", "2000").status == "applied"
    assert _post(services, account.login, "deposit", "3000.01").status == "pending_approval"


def test_a_group_threshold_without_a_currency_takes_the_groups(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    threshold = _threshold(services, admin, "10", currency="", group="real\\standard")

    assert threshold is not None
    assert (threshold.currency, threshold.group_id, threshold.group, threshold.amount) == (
        "USD", usd_group.id, "real\\standard", 1000,
    )  # fmt: skip


def test_another_currencys_threshold_does_not_hold_operations(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = services.open_account(OpenAccount(group="real\\standard"), admin)
    _threshold(services, admin, "1", currency="EUR")

    assert _post(services, acc.login, "deposit", "100").status == "applied"


def test_a_zero_threshold_holds_every_operation(
    services: Application, admin: Actor, account: Account
) -> None:
    _threshold(services, admin, "0")

    assert _post(services, account.login, "deposit", "0.01").status == "pending_approval"


def test_setting_a_threshold_again_replaces_it(
    services: Application, admin: Actor, account: Account
) -> None:
    _threshold(services, admin, "3000")

    assert [t.amount for t in services.list_approval_thresholds(admin)] == [300000]
    assert _post(services, account.login, "deposit", "2000").status == "applied"


def test_removing_a_threshold_lets_every_amount_through(
    services: Application, admin: Actor, account: Account
) -> None:
    removed = _threshold(services, admin, None)

    assert removed is None
    assert services.list_approval_thresholds(admin) == []
    assert _post(services, account.login, "deposit", "99999").status == "applied"


def test_removing_a_group_threshold_falls_back_to_the_currencys(
    services: Application, admin: Actor, account: Account
) -> None:
    _threshold(services, admin, "5000", group="real\\standard")
    _threshold(services, admin, None, group="real\\standard")

    assert _post(services, account.login, "deposit", "2000").status == "pending_approval"


def test_setting_and_removing_thresholds_is_audited(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    _threshold(services, admin, "10")
    _threshold(services, admin, "20")
    _threshold(services, admin, None)
    _threshold(services, admin, None)  # nothing left to remove: nothing recorded

    records = services.query_audit(AuditQuery(action="approval_threshold."), admin)

    assert [(r.action, r.entity_id, r.before, r.after) for r in records] == [
        ("approval_threshold.set", "USD:0", None,
         {"currency": "USD", "group_id": 0, "amount": 1000}),
        ("approval_threshold.set", "USD:0", {"currency": "USD", "group_id": 0, "amount": 1000},
         {"currency": "USD", "group_id": 0, "amount": 2000}),
        ("approval_threshold.removed", "USD:0",
         {"currency": "USD", "group_id": 0, "amount": 2000}, None),
    ]  # fmt: skip


@pytest.mark.parametrize("scopes", [{"balances:write", "balances:approve", "users:read"}, set()])
def test_only_an_admin_may_set_thresholds(
    services: Application, usd_group: Group, uows: FakeUowFactory, scopes: set[str]
) -> None:
    with pytest.raises(MissingScope) as caught:
        _threshold(services, replace(APPROVER, scopes=frozenset(scopes)), "10")

    assert caught.value.context == {"scope": "admin"}
    assert uows.state.thresholds == {}


def test_listing_thresholds_needs_a_money_scope(services: Application, usd_group: Group) -> None:
    with pytest.raises(MissingScope):
        services.list_approval_thresholds(Actor(1009, frozenset({"reports:read"})))


@pytest.mark.parametrize("amount", ["-1", -0.01, "10.001", "ten", "NaN", "inf", True, [10]])
def test_a_threshold_that_is_not_a_non_negative_amount_is_refused(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory, amount: object
) -> None:
    with pytest.raises(InvalidAmount) as caught:
        _threshold(services, admin, amount)  # type: ignore[arg-type]  # what a caller may send

    assert [f.field for f in caught.value.fields] == ["amount"]
    assert uows.state.thresholds == {}


def test_a_threshold_for_an_unknown_group_is_refused(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    with pytest.raises(GroupNotFound):
        _threshold(services, admin, "10", group="real\\nope")


@pytest.mark.parametrize("currency", ["", "US D", "TOOLONGCUR", "€"])
def test_a_threshold_needs_a_currency_code(
    services: Application, admin: Actor, usd_group: Group, currency: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        _threshold(services, admin, "10", currency=currency)

    assert [f.field for f in caught.value.fields] == ["currency"]


# --- held operations -------------------------------------------------------------------------


def test_an_operation_above_the_threshold_is_held_and_nothing_is_applied(
    services: Application, admin: Actor, account: Account, uows: FakeUowFactory, clock: FakeClock
) -> None:
    entries = len(uows.state.ledger)

    posting = _post(services, account.login, "deposit", "2500", comment="wire", reference="W-7")

    assert (posting.status, posting.kind, posting.amount, posting.entry) == (
        "pending_approval", "deposit", 250000, None,
    )  # fmt: skip
    assert posting.operation_id is None
    assert (posting.balance, posting.credit, posting.bonus) == (500000, 50000, 0)
    assert (posting.comment, posting.reference) == ("wire", "W-7")
    held = posting.approval
    assert held is not None and held.id >= 1
    assert (held.state, held.login, held.kind, held.amount, held.currency) == (
        "pending", account.login, "deposit", 250000, "USD",
    )  # fmt: skip
    assert (held.requested_at, held.expires_at) == (clock.now, clock.now + TTL)
    assert (held.requested_by, held.requested_key, held.requested_operator, held.request_id,
            held.dialect) == (1001, "key-req", "alice", "req-1", "native")  # fmt: skip
    assert (held.comment, held.reference) == ("wire", "W-7")
    assert _balance(services, admin, account.login) == 500000
    assert len(uows.state.ledger) == entries
    assert services.get_approval(held.id, REQUESTER) == held


@pytest.mark.parametrize(
    ("operation", "amount", "kind", "change"),
    [("withdrawal", "1500", "withdrawal", -150000), ("correction", "-1500", "correction", -150000),
     ("charge", "1000.01", "charge", -100001), ("credit", "1500", "credit_in", 150000)],
)  # fmt: skip
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
        "approval.requested", "approval", None, held.snapshot(),
    )  # fmt: skip
    assert (rec.manager_login, rec.operator_id, rec.request_id, rec.at) == (
        1001, "alice", "req-1", clock.now,
    )  # fmt: skip


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
        "applied", "deposit", 250000, 750000,
    )  # fmt: skip
    assert (decided.state, decided.decided_by, decided.decided_operator, decided.decided_at,
            decided.decision_comment, decided.entry_id) == (
        "approved", 1002, "bob", clock.now, "checked", entry.id,
    )  # fmt: skip
    assert _balance(services, admin, held.login) == 750000
    assert (entry.manager_login, entry.key_id, entry.operator_id, entry.request_id,
            entry.dialect) == (1001, "key-req", "alice", "req-1", "native")  # fmt: skip
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
        "correction", -499999, 1, 50000,
    )  # fmt: skip
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
    assert (rejected.state, rejected.decided_by, rejected.decided_at, rejected.decision_comment,
            rejected.entry_id) == ("rejected", 1002, clock.now, "no paperwork", None)  # fmt: skip
    assert _balance(services, admin, held.login) == 500000
    assert len(uows.state.ledger) == entries
    last = _approval_audit(services, admin, held.id)[-1]
    assert (last.action, last.after) == ("approval.rejected", rejected.snapshot())


@pytest.mark.parametrize(("first", "state"), [(True, "approved"), (False, "rejected")])
@pytest.mark.parametrize("second", [True, False])
def test_a_decided_operation_cannot_be_decided_again(
    services: Application, admin: Actor, held: Approval, uows: FakeUowFactory, first: bool,
    state: str, second: bool,
) -> None:  # fmt: skip
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
    services: Application, held: Approval, uows: FakeUowFactory, config: CoreConfig,
    clock: FakeClock,
) -> None:  # fmt: skip
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
        "approval.expired", held.snapshot(), expired.snapshot(),
    )  # fmt: skip
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
        "approval.requested", "approval.expired",
    ]  # fmt: skip


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
    for login, amount in [(account.login, "2000"), (other, "1500"), (account.login, "3000"),
                          (other, "4000"), (account.login, "1100")]:  # fmt: skip
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
    [(ApprovalQuery(state="open"), "state"), (ApprovalQuery(limit=0), "limit"),
     (ApprovalQuery(limit=1001), "limit")],
)  # fmt: skip
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


def test_a_threshold_too_large_for_storage_is_refused(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    with pytest.raises(InvalidAmount):
        _threshold(services, admin, "1e30")

    assert uows.state.thresholds == {}
