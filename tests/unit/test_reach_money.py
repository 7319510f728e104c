"""Reach over the fakes, money and the audit trail: postings, ledger history, approvals and
thresholds of accounts and groups out of reach; who may query the audit trail."""

from __future__ import annotations

import pytest

from brokerplane.core.actor import Actor
from brokerplane.core.approval.commands import DecideApproval, SetApprovalThreshold
from brokerplane.core.approval.model import ApprovalQuery
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.errors import AccountNotFound, ApprovalNotFound, PermissionDenied
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.ledger.model import LedgerQuery
from tests.unit import reach_support
from tests.unit.reach_support import (
    BRAND,
    DEMO,
    EVERY,
    LIMITS,
    MISSING,
    NOVIP,
    REQUESTER,
    World,
    _refusal,
    _shape,
)

# The reach tests' fixtures (tests/unit/reach_support.py).
world = reach_support.world


# --- money -----------------------------------------------------------------------------------


@pytest.fixture
def funded(world: World) -> World:
    """100.00 deposited on each of the four accounts."""
    for login in sorted(EVERY):
        world.services.post_ledger_entry(PostLedgerEntry(login, "deposit", "100"), REQUESTER)
    return world


@pytest.mark.parametrize(("actor", "visible"), LIMITS)
def test_money_cannot_be_moved_on_an_account_out_of_reach(
    funded: World, actor: Actor, visible: frozenset[int]
) -> None:
    services = funded.services
    post = services.post_ledger_entry
    missing = _refusal(AccountNotFound, post, PostLedgerEntry(MISSING, "deposit", "5"), actor)
    before = funded.stored()

    for login in EVERY - visible:
        for op, amount in (("deposit", "5"), ("withdrawal", "5"), ("credit", "-5")):
            refused = _refusal(AccountNotFound, post, PostLedgerEntry(login, op, amount), actor)  # type: ignore[arg-type]  # text the core reads
            assert _shape(refused, login) == _shape(missing, MISSING)

    assert funded.stored() == before
    for login in visible:
        posting = services.post_ledger_entry(PostLedgerEntry(login, "deposit", "5"), actor)
        assert posting.status == "applied"


@pytest.mark.parametrize(("actor", "visible"), LIMITS)
def test_ledger_history_shows_only_entries_of_accounts_within_reach(
    funded: World, actor: Actor, visible: frozenset[int]
) -> None:
    services = funded.services

    assert {e.login for e in services.list_ledger(LedgerQuery(), actor)} == visible
    assert {e.login for e in services.iter_ledger(LedgerQuery(), actor)} == visible
    first = services.list_ledger(LedgerQuery(limit=1), actor)
    rest = services.list_ledger(LedgerQuery(after_id=first[0].id), actor)
    assert sorted(e.login for e in first + rest) == sorted(visible)
    missing = _refusal(AccountNotFound, services.list_ledger, LedgerQuery(login=MISSING), actor)
    for login in EVERY - visible:
        refused = _refusal(AccountNotFound, services.list_ledger, LedgerQuery(login=login), actor)
        assert _shape(refused, login) == _shape(missing, MISSING)
    for login in visible:
        assert [e.login for e in services.list_ledger(LedgerQuery(login=login), actor)] == [login]


@pytest.fixture
def held(funded: World) -> dict[int, int]:
    """USD above 1000.00 is held: a 5000.00 deposit asked for on each account, login -> id."""
    services = funded.services
    services.set_approval_threshold(SetApprovalThreshold("USD", "1000"), funded.admin)
    ids = {}
    for login in sorted(EVERY):
        posting = services.post_ledger_entry(PostLedgerEntry(login, "deposit", "5000"), REQUESTER)
        assert posting.approval is not None
        ids[login] = posting.approval.id
    return ids


@pytest.mark.parametrize(("actor", "visible"), LIMITS)
def test_approvals_of_accounts_out_of_reach_are_neither_listed_nor_read(
    funded: World, held: dict[int, int], actor: Actor, visible: frozenset[int]
) -> None:
    services = funded.services
    listed = services.list_approvals(ApprovalQuery(), actor)
    assert {a.login for a in listed} == visible
    pending = services.list_approvals(ApprovalQuery(state="pending"), actor)
    assert {a.login for a in pending} == visible
    missing = _shape(_refusal(ApprovalNotFound, services.get_approval, 9999, actor), 9999)

    for login in EVERY - visible:
        assert services.list_approvals(ApprovalQuery(login=login), actor) == []
        refused = _refusal(ApprovalNotFound, services.get_approval, held[login], actor)
        assert _shape(refused, held[login]) == missing
    for login in visible:
        assert services.get_approval(held[login], actor).login == login


@pytest.mark.parametrize(("actor", "visible"), LIMITS)
@pytest.mark.parametrize("approve", [True, False], ids=["approve", "reject"])
def test_an_approval_of_an_account_out_of_reach_cannot_be_decided(
    funded: World, held: dict[int, int], actor: Actor, visible: frozenset[int], approve: bool
) -> None:
    services = funded.services
    decide = services.decide_approval
    missing = _shape(_refusal(ApprovalNotFound, decide, DecideApproval(9999, approve), actor), 9999)
    before = funded.stored()

    for login in EVERY - visible:
        approval_id = held[login]
        refused = _refusal(ApprovalNotFound, decide, DecideApproval(approval_id, approve), actor)
        assert _shape(refused, approval_id) == missing

    assert funded.stored() == before
    assert {a.state for a in services.list_approvals(ApprovalQuery(), REQUESTER)} == {"pending"}
    login = min(visible)
    decided = services.decide_approval(DecideApproval(held[login], approve), actor)
    assert decided.approval.state == ("approved" if approve else "rejected")


def test_approval_thresholds_of_groups_out_of_reach_are_not_listed(
    funded: World,
) -> None:
    services = funded.services
    services.set_approval_threshold(
        SetApprovalThreshold("USD", "50", "real\\standard"), funded.admin
    )
    services.set_approval_threshold(SetApprovalThreshold("USD", "70", "demo\\usd"), funded.admin)

    listed = services.list_approval_thresholds(DEMO)

    assert [t.group for t in listed if t.group] == ["demo\\usd"]


# --- the audit trail -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "actor",
    [
        DEMO,
        BRAND,
        NOVIP,
        Actor(2020, frozenset({"admin"}), group_mask="demo\\*"),
        Actor(2021, frozenset({"reports:read"}), white_labels="BESTBROKER"),
    ],
    ids=["demo-groups", "white-label", "demo-less-vip", "admin-demo-groups", "reporter-brand"],
)
def test_a_manager_of_limited_reach_cannot_query_the_audit_trail(
    world: World, actor: Actor
) -> None:
    with pytest.raises(PermissionDenied, match="/users/\\{login\\}/history"):
        world.services.query_audit(AuditQuery(), actor)


def test_a_manager_of_unlimited_reach_queries_the_audit_trail(world: World) -> None:
    reporter = Actor(1003, frozenset({"reports:read"}), group_mask=" * ", white_labels="*")

    records = world.services.query_audit(AuditQuery(entity_type="account"), reporter)

    assert {r.entity_id for r in records} == {str(login) for login in EVERY}
