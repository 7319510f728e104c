"""Reach and personal data over the fakes: what a manager limited to some groups or white
labels may see and touch, and what a manager without `personal_data` reads of a contact."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import (
    DisableAccount,
    EnableAccount,
    ListAccounts,
    OpenAccount,
    UpdateAccount,
)
from brokerplane.core.account.model import PERSONAL_FIELDS, Account
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.approval.commands import DecideApproval, SetApprovalThreshold
from brokerplane.core.approval.model import ApprovalQuery
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.errors import (
    AccountNotFound,
    ApprovalNotFound,
    CoreError,
    GroupNotFound,
    MissingScope,
    PermissionDenied,
)
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.kinds import Dialect
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.ledger.model import LedgerQuery
from tests.unit.fakes import FakeUowFactory

# Four accounts: in demo\usd under BESTBROKER, in demo\vip under BESTBROKER, in demo\usd under
# OTHERBROKER, and in real\standard under OTHERBROKER.
BEST, VIP, OTHER, REAL = 200_001, 200_002, 200_003, 200_004
EVERY = frozenset({BEST, VIP, OTHER, REAL})
MISSING = 299_999
WORKER = frozenset(SCOPES) - {"admin"}

DEMO = Actor(2001, WORKER, group_mask="demo\\*", dialect=Dialect.NATIVE)
BRAND = Actor(2002, WORKER, white_labels="BESTBROKER", dialect=Dialect.NATIVE)
NOVIP = Actor(2003, WORKER, group_mask="demo\\*,!demo\\vip", dialect=Dialect.NATIVE)
# What each limited manager reaches of the four accounts.
LIMITS = [
    pytest.param(DEMO, frozenset({BEST, VIP, OTHER}), id="demo-groups"),
    pytest.param(BRAND, frozenset({BEST, VIP}), id="white-label"),
    pytest.param(NOVIP, frozenset({BEST, OTHER}), id="demo-less-vip"),
]
# An unlimited manager that asks for money to move (so another may approve it).
REQUESTER = Actor(1001, WORKER, dialect=Dialect.NATIVE)

CONTACT = {
    "email": "ann@example.com", "phone": "+44 20 7946 0000", "address": "1 High Street",
    "city": "London", "state": "LDN", "zip_code": "EC1BEST 1BB", "id_document": "P1234567",
    "bank_account": "GB00BANK0001", "mqid": "ABCD1234",
}  # fmt: skip


@dataclass
class World:
    services: Application
    uows: FakeUowFactory
    admin: Actor

    def stored(self) -> tuple[dict[int, Account], int, int, int]:
        """What the database holds that a refused command must leave alone."""
        s = self.uows.state
        return copy.deepcopy(s.accounts), len(s.audit), len(s.ledger), len(s.approvals)


@pytest.fixture
def world(services: Application, uows: FakeUowFactory, admin: Actor) -> World:
    for name, broker in (("demo\\usd", "BESTBROKER"), ("demo\\vip", "BESTBROKER"),
                         ("real\\standard", "OTHERBROKER")):  # fmt: skip
        services.create_group(CreateGroup(name, "USD", {"broker": broker}), admin)
    accounts: list[tuple[int, str, dict[str, Any]]] = [
        (BEST, "demo\\usd", {}), (VIP, "demo\\vip", {}),
        (OTHER, "demo\\usd", {"broker": "OTHERBROKER"}), (REAL, "real\\standard", {}),
    ]  # fmt: skip
    for login, group, extra in accounts:
        profile: dict[str, Any] = {**CONTACT, "comment": f"account {login}", **extra}
        services.open_account(
            OpenAccount(group=group, login=login, name=f"Client {login}", profile=profile), admin
        )
    return World(services, uows, admin)


def _refusal(expected: type[CoreError], call: Callable[..., object], *args: object) -> CoreError:
    with pytest.raises(expected) as caught:
        call(*args)
    return caught.value


def _shape(err: CoreError, subject: object) -> tuple[object, ...]:
    """An error with the subject (login, group name, approval id) masked out."""
    text = str(subject)
    context = {k: ("<subject>" if str(v) == text else v) for k, v in err.context.items()}
    return (
        type(err),
        err.code,
        err.title,
        err.detail.replace(text, "<subject>"),
        context,
        err.fields,
    )


def _logins(accounts: list[Account]) -> set[int]:
    return {a.login for a in accounts}


# --- lists -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("actor", "visible"), LIMITS)
def test_a_limited_manager_lists_only_the_accounts_within_its_reach(
    world: World, actor: Actor, visible: frozenset[int]
) -> None:
    services = world.services

    assert _logins(services.list_accounts(ListAccounts(), actor)) == visible
    assert _logins(list(services.iter_accounts(ListAccounts(), actor))) == visible
    assert _logins(services.list_accounts(ListAccounts(logins=tuple(EVERY)), actor)) == visible
    assert _logins(services.list_accounts(ListAccounts(group_mask="real\\*"), actor)) == set()
    assert _logins(services.list_accounts(ListAccounts(group_mask="*"), actor)) == visible


@pytest.mark.parametrize(("actor", "visible"), LIMITS)
def test_a_limited_managers_list_pages_through_its_reach_without_gaps(
    world: World, actor: Actor, visible: frozenset[int]
) -> None:
    first = world.services.list_accounts(ListAccounts(limit=1), actor)
    rest = world.services.list_accounts(ListAccounts(after_login=first[0].login), actor)

    assert [a.login for a in first + rest] == sorted(visible)


def test_a_manager_whose_mask_matches_no_group_lists_nothing(world: World) -> None:
    nowhere = Actor(2004, WORKER, group_mask="archive\\*")

    assert world.services.list_accounts(ListAccounts(), nowhere) == []
    assert world.services.list_groups(nowhere) == []
    assert world.services.list_ledger(LedgerQuery(), nowhere) == []
    assert world.services.list_approvals(ApprovalQuery(), nowhere) == []


def test_reach_masks_ignore_case_like_every_mask(world: World) -> None:
    lower = Actor(2005, WORKER, group_mask="DEMO\\*,!Demo\\VIP", white_labels="bestbroker")

    assert _logins(world.services.list_accounts(ListAccounts(), lower)) == {BEST}
    assert world.services.get_account(BEST, lower).login == BEST
    with pytest.raises(AccountNotFound):
        world.services.get_account(VIP, lower)


def test_an_unlimited_manager_lists_every_account(world: World) -> None:
    assert _logins(world.services.list_accounts(ListAccounts(), REQUESTER)) == EVERY


# --- reads and writes of one account ---------------------------------------------------------


@pytest.mark.parametrize(("actor", "visible"), LIMITS)
def test_an_account_out_of_reach_reads_exactly_as_a_login_that_does_not_exist(
    world: World, actor: Actor, visible: frozenset[int]
) -> None:
    services = world.services
    for read in (services.get_account, services.account_history):
        missing = _shape(_refusal(AccountNotFound, read, MISSING, actor), MISSING)
        for login in EVERY - visible:
            assert _shape(_refusal(AccountNotFound, read, login, actor), login) == missing


@pytest.mark.parametrize(("actor", "visible"), LIMITS)
def test_accounts_within_reach_are_read_and_written_as_usual(
    world: World, actor: Actor, visible: frozenset[int]
) -> None:
    for login in visible:
        assert world.services.get_account(login, actor).login == login
        assert world.services.account_history(login, actor)[0].action == "account.opened"
        updated = world.services.update_account(UpdateAccount(login, {"comment": "seen"}), actor)
        assert updated.comment == "seen"
        assert not world.services.disable_account(DisableAccount(login), actor).enabled
        assert world.services.enable_account(EnableAccount(login), actor).enabled


@pytest.mark.parametrize(("actor", "visible"), LIMITS)
def test_writes_to_an_account_out_of_reach_are_refused_as_not_found_and_change_nothing(
    world: World, actor: Actor, visible: frozenset[int]
) -> None:
    services = world.services
    hidden = EVERY - visible
    for login in hidden:  # disabled, so enabling it would change it
        services.disable_account(DisableAccount(login, "held"), world.admin)
    writes: list[tuple[Callable[..., object], Callable[[int], object]]] = [
        (services.update_account, lambda login: UpdateAccount(login, {"comment": "x"})),
        (services.update_account, lambda login: UpdateAccount(login, {"group": "demo\\usd"})),
        (services.disable_account, lambda login: DisableAccount(login, "again")),
        (services.enable_account, EnableAccount),
    ]
    before = world.stored()

    for write, command in writes:
        missing = _shape(_refusal(AccountNotFound, write, command(MISSING), actor), MISSING)
        for login in hidden:
            refused = _refusal(AccountNotFound, write, command(login), actor)
            assert _shape(refused, login) == missing

    assert world.stored() == before


@pytest.mark.parametrize("actor", [DEMO, NOVIP], ids=["demo-groups", "demo-less-vip"])
def test_an_account_cannot_be_opened_in_a_group_out_of_reach_nor_one_moved_there(
    world: World, actor: Actor
) -> None:
    services = world.services
    targets = ["real\\standard"] + (["demo\\vip"] if actor is NOVIP else [])
    unknown_open = _refusal(GroupNotFound, services.open_account, OpenAccount("nope"), actor)
    unknown_move = _refusal(
        GroupNotFound, services.update_account, UpdateAccount(BEST, {"group": "nope"}), actor
    )
    before = world.stored()

    for group in targets:
        opened = _refusal(
            GroupNotFound, services.open_account, OpenAccount(group, login=200_100), actor
        )
        moved = _refusal(
            GroupNotFound, services.update_account, UpdateAccount(BEST, {"group": group}), actor
        )
        assert _shape(opened, group) == _shape(unknown_open, "nope")
        assert _shape(moved, group) == _shape(unknown_move, "nope")

    assert world.stored() == before
    assert services.open_account(OpenAccount("demo\\usd"), actor).group == "demo\\usd"


def _names_the_broker_field(err: CoreError) -> bool:
    return [f.field for f in err.fields] == ["broker"]


def test_a_white_label_manager_opens_only_under_its_own_white_label(world: World) -> None:
    services = world.services
    before = world.stored()

    # real\\standard's accounts are OTHERBROKER's unless told otherwise
    defaulted = _refusal(
        PermissionDenied, services.open_account, OpenAccount("real\\standard", login=200_100), BRAND
    )
    named = _refusal(
        PermissionDenied,
        services.open_account,
        OpenAccount("demo\\usd", login=200_100, profile={"broker": "OTHERBROKER"}),
        BRAND,
    )
    assert _names_the_broker_field(defaulted) and _names_the_broker_field(named)
    assert world.stored() == before

    opened = services.open_account(
        OpenAccount("real\\standard", login=200_100, profile={"broker": "BESTBROKER"}), BRAND
    )
    assert (opened.group, opened.broker) == ("real\\standard", "BESTBROKER")


def test_a_white_label_manager_cannot_hand_an_account_to_another_white_label(
    world: World,
) -> None:
    before = world.stored()

    refused = _refusal(
        PermissionDenied,
        world.services.update_account,
        UpdateAccount(BEST, {"broker": "OTHERBROKER"}),
        BRAND,
    )

    assert _names_the_broker_field(refused)
    assert world.stored() == before
    assert world.services.get_account(BEST, BRAND).broker == "BESTBROKER"


def test_a_limited_manager_may_move_an_account_between_groups_it_reaches(world: World) -> None:
    moved = world.services.update_account(UpdateAccount(BEST, {"group": "demo\\vip"}), DEMO)

    assert moved.group == "demo\\vip"
    with pytest.raises(AccountNotFound):  # out of NOVIP's reach from now on
        world.services.get_account(BEST, NOVIP)


# --- groups ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "reached"),
    [(DEMO, ["demo\\usd", "demo\\vip"]), (NOVIP, ["demo\\usd"]),
     (BRAND, ["demo\\usd", "demo\\vip", "real\\standard"])],
    ids=["demo-groups", "demo-less-vip", "white-label"],
)  # fmt: skip
def test_groups_out_of_reach_are_left_out_of_the_list_and_read_as_unknown(
    world: World, actor: Actor, reached: list[str]
) -> None:
    services = world.services

    assert [g.name for g in services.list_groups(actor)] == reached
    assert [g.name for g in services.list_groups(actor, "*\\vip")] == [
        n for n in reached if n.endswith("vip")
    ]
    unknown = _shape(_refusal(GroupNotFound, services.get_group, "nope", actor), "nope")
    for name in {"demo\\usd", "demo\\vip", "real\\standard"} - set(reached):
        refused = _refusal(GroupNotFound, services.get_group, name, actor)
        assert _shape(refused, name) == unknown


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
    [DEMO, BRAND, NOVIP, Actor(2020, frozenset({"admin"}), group_mask="demo\\*"),
     Actor(2021, frozenset({"reports:read"}), white_labels="BESTBROKER")],
    ids=["demo-groups", "white-label", "demo-less-vip", "admin-demo-groups", "reporter-brand"],
)  # fmt: skip
def test_a_manager_of_limited_reach_cannot_query_the_audit_trail(
    world: World, actor: Actor
) -> None:
    with pytest.raises(PermissionDenied, match="/users/\\{login\\}/history"):
        world.services.query_audit(AuditQuery(), actor)


def test_a_manager_of_unlimited_reach_queries_the_audit_trail(world: World) -> None:
    reporter = Actor(1003, frozenset({"reports:read"}), group_mask=" * ", white_labels="*")

    records = world.services.query_audit(AuditQuery(entity_type="account"), reporter)

    assert {r.entity_id for r in records} == {str(login) for login in EVERY}


# --- personal data ---------------------------------------------------------------------------

PLAIN = Actor(1010, frozenset({"users:read", "users:write", "reports:read"}))
PERSONAL = Actor(1011, frozenset({"users:read", "users:write", "reports:read", "personal_data"}))


def _without_contacts(acc: Account) -> dict[str, Any]:
    return {k: v for k, v in asdict(acc).items() if k not in PERSONAL_FIELDS}


def test_without_personal_data_contact_fields_read_back_empty_and_nothing_else_changes(
    world: World,
) -> None:
    full = world.services.get_account(BEST, PERSONAL)

    seen = world.services.get_account(BEST, PLAIN)

    assert {f: getattr(full, f) for f in PERSONAL_FIELDS} == CONTACT
    assert {f: getattr(seen, f) for f in PERSONAL_FIELDS} == dict.fromkeys(CONTACT, "")
    assert _without_contacts(seen) == _without_contacts(full)
    assert (seen.name, seen.comment, seen.group) == (
        f"Client {BEST}",
        f"account {BEST}",
        "demo\\usd",
    )
    assert world.uows.state.accounts[BEST].email == CONTACT["email"]  # only the reading is blank


def test_without_personal_data_lists_and_reports_blank_contact_fields(world: World) -> None:
    for accounts in (
        world.services.list_accounts(ListAccounts(), PLAIN),
        list(world.services.iter_accounts(ListAccounts(), PLAIN)),
    ):
        assert len(accounts) == len(EVERY)
        assert all(getattr(a, f) == "" for a in accounts for f in PERSONAL_FIELDS)
    listed = world.services.list_accounts(ListAccounts(), PERSONAL)
    assert all(a.email == CONTACT["email"] for a in listed)


def test_without_personal_data_history_and_audit_snapshots_blank_contact_fields(
    world: World,
) -> None:
    services = world.services
    services.update_account(UpdateAccount(BEST, {"email": "new@example.com", "comment": "c"}),
                            world.admin)  # fmt: skip
    reporter = Actor(1012, frozenset({"users:read", "reports:read"}))

    history = services.account_history(BEST, reporter)
    trail = services.query_audit(AuditQuery(entity_type="account", entity_id=str(BEST)), reporter)

    for records in (history, trail):
        assert [r.action for r in records] == ["account.opened", "account.updated"]
        opened, updated = records
        assert opened.before is None and opened.after is not None
        assert all(opened.after[f] == "" for f in PERSONAL_FIELDS)
        assert updated.before is not None and updated.after is not None
        assert (updated.before["email"], updated.after["email"]) == ("", "")
        assert (updated.before["comment"], updated.after["comment"]) == (f"account {BEST}", "c")
        assert updated.after["name"] == f"Client {BEST}"
    told = services.account_history(BEST, PERSONAL)[1]
    assert told.after is not None and told.after["email"] == "new@example.com"
    stored = next(r for r in world.uows.state.audit if r.action == "account.updated")
    assert stored.after is not None and stored.after["email"] == "new@example.com"
    assert services.verify_audit().ok


def test_filtering_accounts_by_email_needs_personal_data(world: World) -> None:
    with pytest.raises(MissingScope, match="personal_data"):
        world.services.list_accounts(ListAccounts(email=CONTACT["email"]), PLAIN)
    with pytest.raises(MissingScope, match="personal_data"):
        list(world.services.iter_accounts(ListAccounts(email=CONTACT["email"]), PLAIN))

    found = world.services.list_accounts(ListAccounts(email="ANN@example.com"), PERSONAL)
    assert _logins(found) == EVERY


def test_a_limited_manager_with_personal_data_finds_by_email_only_within_reach(
    world: World,
) -> None:
    found = world.services.list_accounts(ListAccounts(email=CONTACT["email"]), NOVIP)

    assert _logins(found) == {BEST, OTHER}


def test_a_writer_without_personal_data_stores_contacts_it_then_reads_back_empty(
    world: World,
) -> None:
    services = world.services

    opened = services.open_account(
        OpenAccount("demo\\usd", login=200_200, profile={"email": "bo@example.com"}), PLAIN
    )
    updated = services.update_account(UpdateAccount(200_200, {"phone": "+1 555 0100"}), PLAIN)

    assert (opened.email, updated.email, updated.phone) == ("", "", "")
    stored = world.uows.state.accounts[200_200]
    assert (stored.email, stored.phone) == ("bo@example.com", "+1 555 0100")


# --- a manager with admin but limited reach --------------------------------------------------

LIMITED_ADMIN = Actor(2020, frozenset({"admin"}), group_mask="demo\\*", dialect=Dialect.NATIVE)


def test_admin_rights_do_not_widen_reach(world: World) -> None:
    services = world.services
    before = world.stored()

    assert _logins(services.list_accounts(ListAccounts(), LIMITED_ADMIN)) == {BEST, VIP, OTHER}
    with pytest.raises(AccountNotFound):
        services.get_account(REAL, LIMITED_ADMIN)
    with pytest.raises(AccountNotFound):
        services.update_account(UpdateAccount(REAL, {"comment": "x"}), LIMITED_ADMIN)
    with pytest.raises(AccountNotFound):
        services.post_ledger_entry(PostLedgerEntry(REAL, "deposit", "1"), LIMITED_ADMIN)
    with pytest.raises(GroupNotFound):
        services.open_account(OpenAccount("real\\standard"), LIMITED_ADMIN)
    with pytest.raises(GroupNotFound):
        services.get_group("real\\standard", LIMITED_ADMIN)
    with pytest.raises(GroupNotFound):
        services.set_approval_threshold(
            SetApprovalThreshold("USD", "10", "real\\standard"), LIMITED_ADMIN
        )
    with pytest.raises(PermissionDenied):
        services.query_audit(AuditQuery(), LIMITED_ADMIN)

    assert world.stored() == before


def test_admin_rights_include_personal_data_within_reach(world: World) -> None:
    acc = world.services.get_account(BEST, LIMITED_ADMIN)

    assert {f: getattr(acc, f) for f in PERSONAL_FIELDS} == CONTACT
    found = world.services.list_accounts(ListAccounts(email=CONTACT["email"]), LIMITED_ADMIN)
    assert _logins(found) == {BEST, VIP, OTHER}
