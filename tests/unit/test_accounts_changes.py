"""Account rules over the fakes when changing: updates, group moves, disabling and enabling,
and the logins every read and write accepts."""

from __future__ import annotations

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import DisableAccount, EnableAccount, UpdateAccount
from brokerplane.core.account.model import RIGHT_ENABLED, RIGHT_PASSWORD
from brokerplane.core.actor import Actor
from brokerplane.core.errors import AccountNotFound, CurrencyMismatch, FieldError, ValidationError
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.group.model import Group
from tests.unit.accounts_support import _open
from tests.unit.fakes import FakeClock, FakeUowFactory

# --- updates ---------------------------------------------------------------------------------


def test_update_names_every_unknown_and_read_only_field(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = _open(services, admin)

    with pytest.raises(ValidationError) as caught:
        services.update_account(
            UpdateAccount(acc.login, {"balance": 5, "nonsense": 1, "login": 9, "comment": "ok"}),
            admin,
        )

    assert caught.value.code == "validation.invalid"
    assert caught.value.fields == [
        FieldError("balance", "is read-only"),
        FieldError("login", "is read-only"),
        FieldError("nonsense", "is not an account field"),
    ]
    assert services.get_account(acc.login, admin).comment == ""


def test_opening_refuses_read_only_fields_in_the_profile(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    with pytest.raises(ValidationError) as caught:
        _open(services, admin, profile={"balance": 1_000_000, "colour": 1})

    assert caught.value.fields == [
        FieldError("balance", "is read-only"),
        FieldError("colour", "is not an account field"),
    ]
    assert uows.state.accounts == {}


def test_name_may_come_in_the_command_or_in_the_profile(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    assert _open(services, admin, name="Ann").name == "Ann"
    assert _open(services, admin, profile={"name": "Bob"}).name == "Bob"
    assert _open(services, admin, name="Cy", profile={"name": "Cy"}).name == "Cy"


def test_two_different_names_in_one_opening_are_refused(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    with pytest.raises(ValidationError) as caught:
        _open(services, admin, name="Ann", profile={"name": "Bob"})

    assert [f.field for f in caught.value.fields] == ["name"]


def test_update_without_fields_is_refused(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = _open(services, admin)

    with pytest.raises(ValidationError, match="nothing to change"):
        services.update_account(UpdateAccount(acc.login, {}), admin)


def test_update_of_a_missing_account_reports_the_login(services: Application, admin: Actor) -> None:
    with pytest.raises(AccountNotFound) as caught:
        services.update_account(UpdateAccount(424242, {"comment": "x"}), admin)

    assert caught.value.context == {"login": 424242}


def test_text_at_its_limit_is_kept_and_one_character_more_is_refused(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = _open(services, admin, profile={"comment": "c" * 63})

    with pytest.raises(ValidationError) as caught:
        services.update_account(UpdateAccount(acc.login, {"comment": "c" * 64}), admin)

    assert caught.value.fields == [FieldError("comment", "is longer than 63 characters")]
    assert services.get_account(acc.login, admin).comment == "c" * 63


def test_every_bad_field_is_reported_at_once(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    with pytest.raises(ValidationError) as caught:
        _open(
            services,
            admin,
            name="n" * 128,
            profile={"email": "not-an-email", "zip_code": "z" * 16, "swap_free": "yes"},
        )

    assert {f.field: f.message for f in caught.value.fields} == {
        "name": "is longer than 127 characters",
        "email": "is not an email address",
        "zip_code": "is longer than 15 characters",
        "swap_free": "must be true or false",
    }


def test_update_that_changes_nothing_writes_no_audit_record(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    acc = _open(services, admin, profile={"comment": "same"})
    records_before = len(uows.state.audit)

    services.update_account(UpdateAccount(acc.login, {"comment": "same"}), admin)

    assert len(uows.state.audit) == records_before


def test_update_stamps_updated_at_with_the_clock(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock
) -> None:
    acc = _open(services, admin)
    later = clock.advance(minutes=5)

    updated = services.update_account(UpdateAccount(acc.login, {"city": "Limassol"}), admin)

    assert (updated.registered_at, updated.updated_at) == (acc.registered_at, later)


# --- group moves -----------------------------------------------------------------------------


def test_moving_an_account_to_a_group_in_another_currency_is_refused(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    services.create_group(CreateGroup("real\\euro", "EUR"), admin)
    acc = _open(services, admin)

    with pytest.raises(CurrencyMismatch) as caught:
        services.update_account(UpdateAccount(acc.login, {"group": "real\\euro"}), admin)

    assert caught.value.code == "validation.currency_mismatch"
    assert [f.field for f in caught.value.fields] == ["group"]
    assert uows.state.accounts[acc.login].group_id == usd_group.id


def test_moving_an_account_within_its_currency_changes_group_and_group_id(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    vip = services.create_group(CreateGroup("real\\vip", "USD"), admin)
    acc = _open(services, admin)

    moved = services.update_account(UpdateAccount(acc.login, {"group": "real\\vip"}), admin)

    assert (moved.group, moved.group_id) == ("real\\vip", vip.id)
    assert services.get_account(acc.login, admin).group == "real\\vip"


def test_moving_to_an_unknown_group_is_refused(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = _open(services, admin)

    with pytest.raises(Exception) as caught:
        services.update_account(UpdateAccount(acc.login, {"group": "real\\nowhere"}), admin)

    assert caught.value.code == "group.not_found"  # type: ignore[attr-defined]


# --- disable / enable ------------------------------------------------------------------------


def test_disabling_clears_only_the_enabled_right_and_records_the_reason(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock
) -> None:
    acc = _open(services, admin)
    assert acc.rights & RIGHT_ENABLED and acc.rights & RIGHT_PASSWORD
    when = clock.advance(hours=1)

    disabled = services.disable_account(DisableAccount(acc.login, reason="KYC expired"), admin)

    assert not disabled.enabled
    assert disabled.rights == acc.rights & ~RIGHT_ENABLED
    assert (disabled.disabled_reason, disabled.disabled_at) == ("KYC expired", when)


def test_enabling_sets_the_enabled_right_and_clears_the_reason(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = _open(services, admin)
    services.disable_account(DisableAccount(acc.login, reason="KYC expired"), admin)

    enabled = services.enable_account(EnableAccount(acc.login), admin)

    assert enabled.enabled
    assert enabled.rights == acc.rights
    assert (enabled.disabled_reason, enabled.disabled_at) == ("", None)


def test_disable_and_enable_keep_the_history_of_the_account(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = _open(services, admin)
    services.disable_account(DisableAccount(acc.login, reason="fraud check"), admin)
    services.enable_account(EnableAccount(acc.login), admin)

    history = services.account_history(acc.login, admin)

    assert [r.action for r in history] == ["account.opened", "account.disabled", "account.enabled"]
    disabled = history[1]
    assert disabled.before is not None and disabled.after is not None
    assert disabled.before["rights"] & RIGHT_ENABLED
    assert not disabled.after["rights"] & RIGHT_ENABLED
    assert disabled.after["disabled_reason"] == "fraud check"
    assert history[2].after is not None and history[2].after["disabled_reason"] == ""


def test_disabling_a_disabled_account_changes_and_records_nothing(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    acc = _open(services, admin)
    first = services.disable_account(DisableAccount(acc.login, reason="first"), admin)
    records = len(uows.state.audit)

    again = services.disable_account(DisableAccount(acc.login, reason="second"), admin)

    assert again.disabled_reason == "first" == first.disabled_reason
    assert len(uows.state.audit) == records


def test_disable_reason_longer_than_255_characters_is_refused(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = _open(services, admin)

    with pytest.raises(ValidationError) as caught:
        services.disable_account(DisableAccount(acc.login, reason="r" * 256), admin)

    assert caught.value.fields == [FieldError("reason", "is longer than 255 characters")]
    assert services.get_account(acc.login, admin).enabled


@pytest.mark.parametrize("login", [0, -1, 2**63])
def test_a_login_outside_1_to_2_63_is_a_validation_error_in_every_read_and_write(
    services: Application, admin: Actor, login: int
) -> None:
    from brokerplane.core.account.commands import DisableAccount, ListAccounts
    from brokerplane.core.errors import ValidationError

    for call in (
        lambda: services.get_account(login, admin),
        lambda: services.disable_account(DisableAccount(login), admin),
        lambda: services.list_accounts(ListAccounts(logins=(login,)), admin),
    ):
        with pytest.raises(ValidationError) as caught:
            call()
        assert caught.value.fields[0].field in ("login", "logins")
