"""Account rules over the fakes when opening: passwords, leverage, and login allocation."""

from __future__ import annotations

import pytest

from brokerplane.application.app import Application
from brokerplane.core import passwords
from brokerplane.core.account.commands import UpdateAccount
from brokerplane.core.actor import Actor
from brokerplane.core.errors import (
    FieldError,
    LeverageOutOfRange,
    LoginAlreadyExists,
    LoginRangeExhausted,
    PasswordPolicyViolation,
    ValidationError,
)
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.group.model import Group
from tests.unit.accounts_support import GOOD_PASSWORD, _open, _ranged_group
from tests.unit.conftest import SERVER_RANGE
from tests.unit.fakes import FakeClock, FakeUowFactory

# --- passwords -------------------------------------------------------------------------------


def test_main_password_is_kept_only_as_a_verifier(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock, uows: FakeUowFactory
) -> None:
    acc = _open(services, admin, main_password=GOOD_PASSWORD)

    stored = uows.state.accounts[acc.login].main_password
    assert stored is not None and GOOD_PASSWORD not in stored
    assert passwords.verify(stored, GOOD_PASSWORD)
    assert not passwords.verify(stored, "1Ar#pqkJ")
    assert acc.last_pass_change == clock.now


@pytest.mark.parametrize(
    ("password", "complaint"),
    [
        ("1Ar#pqk", "must be 8 to 16 characters long"),
        ("1Ar#pqkjabcdefghi", "must be 8 to 16 characters long"),
        ("1AR#PQKJ", "needs a lowercase letter"),
        ("1ar#pqkj", "needs an uppercase letter"),
        ("Aar#pqkj", "needs a digit"),
        ("1Arxpqkj", "needs a special character"),
    ],
    ids=["7-chars", "17-chars", "no-lower", "no-upper", "no-digit", "no-special"],
)
def test_weak_main_password_is_refused_on_its_field_and_opens_nothing(
    services: Application,
    admin: Actor,
    usd_group: Group,
    uows: FakeUowFactory,
    password: str,
    complaint: str,
) -> None:
    with pytest.raises(PasswordPolicyViolation) as caught:
        _open(services, admin, main_password=password)

    assert caught.value.code == "validation.password"
    [problem] = caught.value.fields
    assert problem.field == "main_password"
    assert complaint in problem.message
    assert uows.state.accounts == {}
    assert [r.action for r in uows.state.audit] == ["group.created"]


def test_sixteen_character_password_is_the_longest_accepted(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = _open(services, admin, main_password="1Ar#pqkjabcdefgh")

    assert passwords.verify(acc.main_password, "1Ar#pqkjabcdefgh")


def test_investor_password_obeys_the_same_policy(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    with pytest.raises(PasswordPolicyViolation) as caught:
        _open(services, admin, main_password=GOOD_PASSWORD, investor_password="password")

    assert [f.field for f in caught.value.fields] == ["investor_password"]


def test_group_minimum_password_length_raises_the_floor(
    services: Application, admin: Actor
) -> None:
    services.create_group(CreateGroup("real\\strict", "USD", {"password_min_length": 12}), admin)

    with pytest.raises(PasswordPolicyViolation) as caught:
        _open(services, admin, group="real\\strict", main_password="1Ar#pqkjabc")
    acc = _open(services, admin, group="real\\strict", main_password="1Ar#pqkjabcd")

    assert "must be 12 to 16 characters long" in caught.value.fields[0].message
    assert passwords.verify(acc.main_password, "1Ar#pqkjabcd")


# --- leverage --------------------------------------------------------------------------------


def test_account_without_leverage_takes_the_group_default(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    assert _open(services, admin).leverage == 100


def test_leverage_equal_to_the_group_maximum_is_accepted(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    assert _open(services, admin, leverage=500).leverage == 500


@pytest.mark.parametrize("leverage", [0, -1, 501])
def test_leverage_outside_one_to_group_maximum_is_refused(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory, leverage: int
) -> None:
    with pytest.raises(LeverageOutOfRange) as caught:
        _open(services, admin, leverage=leverage)

    assert caught.value.code == "validation.leverage"
    assert caught.value.fields == [
        FieldError("leverage", "must be between 1 and 500 (group real\\standard)")
    ]
    assert uows.state.accounts == {}


def test_raising_leverage_above_the_group_maximum_is_refused(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    acc = _open(services, admin)

    with pytest.raises(LeverageOutOfRange):
        services.update_account(UpdateAccount(acc.login, {"leverage": 1000}), admin)

    assert uows.state.accounts[acc.login].leverage == 100


# --- logins ----------------------------------------------------------------------------------


def test_group_without_a_range_allocates_from_the_server_range(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    first, second = _open(services, admin), _open(services, admin)

    assert (first.login, second.login) == (SERVER_RANGE[0], SERVER_RANGE[0] + 1)


def test_group_with_a_range_allocates_from_its_own_range(
    services: Application, admin: Actor
) -> None:
    _ranged_group(services, admin, 5000, 5009)

    logins = [_open(services, admin, group="real\\ranged").login for _ in range(3)]

    assert logins == [5000, 5001, 5002]


def test_explicit_login_is_used_even_outside_every_range(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    assert _open(services, admin, login=777).login == 777


def test_login_zero_means_allocate(services: Application, admin: Actor, usd_group: Group) -> None:
    assert _open(services, admin, login=0).login == SERVER_RANGE[0]


def test_explicit_login_already_in_use_is_refused(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    _open(services, admin, login=777, name="first")

    with pytest.raises(LoginAlreadyExists) as caught:
        _open(services, admin, login=777, name="second")

    assert caught.value.code == "account.login_exists"
    assert caught.value.fields == [FieldError("login", "already in use")]
    assert uows.state.accounts[777].name == "first"


@pytest.mark.parametrize("login", [-5, 2**63, True])
def test_explicit_login_outside_the_storable_range_is_refused(
    services: Application, admin: Actor, usd_group: Group, login: int
) -> None:
    with pytest.raises(ValidationError) as caught:
        _open(services, admin, login=login)

    assert [f.field for f in caught.value.fields] == ["login"]


def test_exhausted_range_refuses_the_next_opening(
    services: Application, admin: Actor, uows: FakeUowFactory
) -> None:
    _ranged_group(services, admin, 5000, 5001)
    _open(services, admin, group="real\\ranged")
    _open(services, admin, group="real\\ranged")

    with pytest.raises(LoginRangeExhausted) as caught:
        _open(services, admin, group="real\\ranged")

    assert caught.value.code == "account.login_range_exhausted"
    assert caught.value.context == {"range_from": 5000, "range_to": 5001}
    assert sorted(uows.state.accounts) == [5000, 5001]


def test_allocation_fills_the_lowest_gap_once_the_top_of_the_range_is_taken(
    services: Application, admin: Actor
) -> None:
    _ranged_group(services, admin, 5000, 5004)
    for _ in range(3):
        _open(services, admin, group="real\\ranged")  # 5000, 5001, 5002
    _open(services, admin, group="real\\ranged", login=5004)

    assert _open(services, admin, group="real\\ranged").login == 5003
    with pytest.raises(LoginRangeExhausted):
        _open(services, admin, group="real\\ranged")


def test_allocation_restarts_at_the_bottom_when_only_the_top_login_is_taken(
    services: Application, admin: Actor
) -> None:
    _ranged_group(services, admin, 5000, 5004)
    _open(services, admin, group="real\\ranged", login=5004)

    assert _open(services, admin, group="real\\ranged").login == 5000
    assert _open(services, admin, group="real\\ranged").login == 5001
