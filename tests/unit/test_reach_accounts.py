"""Reach over the fakes, accounts and groups: what a manager limited to some groups or white
labels lists, reads, writes, opens and moves, and which groups it sees."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from brokerplane.core.account.commands import (
    DisableAccount,
    EnableAccount,
    ListAccounts,
    OpenAccount,
    UpdateAccount,
)
from brokerplane.core.actor import Actor
from brokerplane.core.approval.model import ApprovalQuery
from brokerplane.core.errors import AccountNotFound, CoreError, GroupNotFound, PermissionDenied
from brokerplane.core.ledger.model import LedgerQuery
from tests.unit import reach_support
from tests.unit.reach_support import (
    BEST,
    BRAND,
    DEMO,
    EVERY,
    LIMITS,
    MISSING,
    NOVIP,
    REQUESTER,
    VIP,
    WORKER,
    World,
    _logins,
    _refusal,
    _shape,
)

# The reach tests' fixtures (tests/unit/reach_support.py).
world = reach_support.world


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
    [
        (DEMO, ["demo\\usd", "demo\\vip"]),
        (NOVIP, ["demo\\usd"]),
        (BRAND, ["demo\\usd", "demo\\vip", "real\\standard"]),
    ],
    ids=["demo-groups", "demo-less-vip", "white-label"],
)
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
