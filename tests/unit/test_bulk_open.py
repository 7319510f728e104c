"""Opening accounts in a batch over the fakes: the rules, logins and audit of one-by-one opening."""

from __future__ import annotations

from dataclasses import replace

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.errors import (
    GroupNotFound,
    LeverageOutOfRange,
    LoginAlreadyExists,
    LoginRangeExhausted,
    PermissionDenied,
    ValidationError,
)
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.group.model import Group
from tests.unit.conftest import SERVER_RANGE
from tests.unit.fakes import FakeUowFactory

RANGED = "real\\ranged"


def _ranged(services: Application, admin: Actor, low: int, high: int) -> None:
    settings = {"login_range_from": low, "login_range_to": high}
    services.create_group(CreateGroup(RANGED, "USD", settings), admin)


def _cmds(count: int, group: str = "real\\standard", **kw: object) -> list[OpenAccount]:
    return [OpenAccount(group=group, name=f"client {n}", **kw) for n in range(count)]  # type: ignore[arg-type]


def _opened_records(uows: FakeUowFactory) -> list[str]:
    return [r.entity_id for r in uows.state.audit if r.action == "account.opened"]


def test_a_batch_gets_the_logins_one_by_one_opening_would_and_each_is_audited(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    services.open_account(OpenAccount(group="real\\standard"), admin)

    opened = services.open_accounts(_cmds(4), admin)

    low = SERVER_RANGE[0]
    assert [a.login for a in opened] == [low + 1, low + 2, low + 3, low + 4]
    assert [uows.state.accounts[a.login].name for a in opened] == [f"client {n}" for n in range(4)]
    assert _opened_records(uows) == [str(login) for login in range(low, low + 5)]
    assert all(a.leverage == usd_group.default_leverage for a in opened)


def test_one_refused_command_opens_none_of_the_batch(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    cmds = _cmds(3)
    cmds[2] = replace(cmds[2], leverage=501)

    with pytest.raises(LeverageOutOfRange):
        services.open_accounts(cmds, admin)

    assert uows.state.accounts == {}
    assert _opened_records(uows) == []


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ({"group": "nope"}, GroupNotFound),
        ({"profile": {"balance": 5}}, ValidationError),
        ({"profile": {"email": "not an address"}}, ValidationError),
        ({"login": -1}, ValidationError),
    ],
)
def test_each_command_in_a_batch_is_checked(
    services: Application,
    admin: Actor,
    usd_group: Group,
    uows: FakeUowFactory,
    bad: dict[str, object],
    error: type[Exception],
) -> None:
    cmds = [
        OpenAccount(group="real\\standard"),
        replace(OpenAccount(group="real\\standard"), **bad),  # type: ignore[arg-type]
    ]

    with pytest.raises(error):
        services.open_accounts(cmds, admin)

    assert uows.state.accounts == {}


def test_opening_a_batch_needs_users_write(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    reader = replace(admin, scopes=frozenset({"users:read"}))

    with pytest.raises(PermissionDenied):
        services.open_accounts(_cmds(1), reader)


def test_explicit_logins_in_a_batch_are_skipped_by_the_allocation(
    services: Application, admin: Actor
) -> None:
    _ranged(services, admin, 5000, 5009)
    cmds = [
        OpenAccount(group=RANGED),
        OpenAccount(group=RANGED, login=5002),
        OpenAccount(group=RANGED),
        OpenAccount(group=RANGED),
    ]

    assert [a.login for a in services.open_accounts(cmds, admin)] == [5000, 5002, 5001, 5003]


def test_a_login_given_twice_in_one_batch_is_refused(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    cmds = [
        OpenAccount(group="real\\standard"),
        OpenAccount(group="real\\standard", login=SERVER_RANGE[0]),
    ]

    with pytest.raises(LoginAlreadyExists):
        services.open_accounts(cmds, admin)

    assert uows.state.accounts == {}


def test_a_batch_fills_gaps_once_the_top_of_the_range_is_taken(
    services: Application, admin: Actor
) -> None:
    _ranged(services, admin, 5000, 5005)
    for login in (5001, 5003, 5005):
        services.open_account(OpenAccount(group=RANGED, login=login), admin)

    assert [a.login for a in services.open_accounts(_cmds(3, RANGED), admin)] == [5000, 5002, 5004]
    with pytest.raises(LoginRangeExhausted):
        services.open_accounts(_cmds(1, RANGED), admin)


def test_a_run_reaching_the_top_of_the_range_goes_on_in_the_gaps_then_runs_out(
    services: Application, admin: Actor, uows: FakeUowFactory
) -> None:
    _ranged(services, admin, 5000, 5004)
    services.open_account(OpenAccount(group=RANGED, login=5001), admin)

    # 5002..5004 are above the highest used; then the gap at 5000; then nothing is left.
    assert [a.login for a in services.open_accounts(_cmds(4, RANGED), admin)] == [
        5002,
        5003,
        5004,
        5000,
    ]
    with pytest.raises(LoginRangeExhausted):
        services.open_accounts(_cmds(1, RANGED), admin)
    assert sorted(uows.state.accounts) == [5000, 5001, 5002, 5003, 5004]


def test_a_batch_can_mix_groups_and_keeps_their_ranges_apart(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    _ranged(services, admin, 5000, 5009)
    cmds = [
        OpenAccount(group=RANGED),
        OpenAccount(group="real\\standard"),
        OpenAccount(group=RANGED),
    ]

    opened = services.open_accounts(cmds, admin)

    assert [(a.group, a.login) for a in opened] == [
        (RANGED, 5000),
        ("real\\standard", SERVER_RANGE[0]),
        (RANGED, 5001),
    ]


def test_attributes_given_in_a_batch_are_stored(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    cmds = [OpenAccount(group="real\\standard", profile={"attributes": {"kyc": "passed"}})]

    login = services.open_accounts(cmds, admin)[0].login

    assert services.get_account(login, admin).attributes == {"kyc": "passed"}
