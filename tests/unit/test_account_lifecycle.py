"""Account rules over the fakes that MT5's user commands rest on: soft delete, password checks
and changes, lenient updates, required passwords, ApiData cells and the trade state."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from brokerplane.application.app import Application
from brokerplane.core import passwords
from brokerplane.core.account.api_data import normalize_api_data
from brokerplane.core.account.commands import (
    ChangePassword,
    CheckPassword,
    DeleteAccount,
    ListAccounts,
    OpenAccount,
    UpdateAccount,
)
from brokerplane.core.account.model import Account, TradeState
from brokerplane.core.actor import Actor
from brokerplane.core.errors import (
    AccountNotFound,
    CurrencyMismatch,
    GroupNotFound,
    LoginAlreadyExists,
    MissingScope,
    PasswordPolicyViolation,
    ValidationError,
)
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.group.model import Group
from brokerplane.core.kinds import Dialect
from brokerplane.core.ledger.commands import PostLedgerEntry
from tests.unit.fakes import FakeClock, FakeUowFactory

MAIN, INVESTOR = "1Ar#pqkj", "2Ar#pqkj"


def _open(services: Application, admin: Actor, **kw: Any) -> Account:
    cmd = OpenAccount(group="real\\standard", main_password=MAIN, investor_password=INVESTOR, **kw)
    return services.open_account(cmd, admin)


def _actor(*scopes: str) -> Actor:
    return Actor(manager_login=7, scopes=frozenset(scopes), dialect=Dialect.MT5)


# --- delete --------------------------------------------------------------------------------------


def test_a_deleted_account_reads_as_not_found_and_is_left_out_of_lists(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = _open(services, admin)
    other = _open(services, admin)

    services.delete_account(DeleteAccount(acc.login), admin)

    with pytest.raises(AccountNotFound):
        services.get_account(acc.login, admin)
    assert [a.login for a in services.list_accounts(ListAccounts(), admin)] == [other.login]
    with pytest.raises(AccountNotFound):
        services.delete_account(DeleteAccount(acc.login), admin)
    with pytest.raises(AccountNotFound):
        services.update_account(UpdateAccount(acc.login, {"name": "x"}), admin)
    with pytest.raises(AccountNotFound):
        services.post_ledger_entry(PostLedgerEntry(acc.login, "deposit", "1"), admin)


def test_a_deleted_accounts_login_is_never_reused(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = _open(services, admin)
    services.delete_account(DeleteAccount(acc.login), admin)

    assert _open(services, admin).login == acc.login + 1
    with pytest.raises(LoginAlreadyExists):
        _open(services, admin, login=acc.login)


def test_deleting_keeps_the_row_its_money_and_an_audit_record(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory, clock: FakeClock
) -> None:
    acc = _open(services, admin)
    services.post_ledger_entry(PostLedgerEntry(acc.login, "deposit", "10"), admin)

    services.delete_account(DeleteAccount(acc.login), admin)

    kept = uows.state.accounts[acc.login]
    assert (kept.deleted_at, kept.balance) == (clock.now, 1000)
    assert services.verify_ledger() == []
    last = uows.state.audit[-1]
    assert (last.action, last.entity_id) == ("account.deleted", str(acc.login))
    assert last.before is not None and last.before["deleted_at"] is None
    assert last.after is not None and last.after["deleted_at"] == clock.now.isoformat()


def test_deleting_needs_the_delete_right(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = _open(services, admin)

    with pytest.raises(MissingScope):
        services.delete_account(DeleteAccount(acc.login), _actor("users:read", "users:write"))
    services.delete_account(DeleteAccount(acc.login), _actor("users:delete"))


# --- passwords -----------------------------------------------------------------------------------


def test_opening_with_required_passwords_refuses_a_missing_one(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    for main, investor in ((MAIN, None), (None, INVESTOR)):
        cmd = OpenAccount(
            group="real\\standard",
            main_password=main,
            investor_password=investor,
            require_passwords=True,
        )
        with pytest.raises(PasswordPolicyViolation):
            services.open_account(cmd, admin)
    assert services.list_accounts(ListAccounts(), admin) == []


def test_check_password_matches_each_kind_and_nothing_else(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = _open(services, admin)

    def check(kind: str, password: str) -> bool:
        return services.check_password(
            CheckPassword(acc.login, kind, password), _actor("users:read")
        )

    assert check("main", MAIN) and check("investor", INVESTOR) and check(" Main ", MAIN)
    assert not check("main", INVESTOR) and not check("investor", MAIN)
    assert not check("api", MAIN)  # none set
    assert not check("main", "")
    with pytest.raises(ValidationError):
        check("phone", MAIN)


def test_change_password_takes_two_of_three_classes_within_the_group_length(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock
) -> None:
    acc = _open(services, admin)
    clock.advance(hours=1)

    for bad in ("abcdefgh", "ABCDEFGH", "12345678", "Abc1234", "Abcdefgh123456789"):
        with pytest.raises(PasswordPolicyViolation):
            services.change_password(ChangePassword(acc.login, "main", bad), admin)
    changed = services.change_password(ChangePassword(acc.login, "main", "abcdefg1"), admin)

    assert changed.last_pass_change == clock.now
    assert services.check_password(CheckPassword(acc.login, "main", "abcdefg1"), admin)
    assert not services.check_password(CheckPassword(acc.login, "main", MAIN), admin)


def test_change_password_follows_the_group_minimum(services: Application, admin: Actor) -> None:
    services.create_group(CreateGroup("real\\strict", "USD", {"password_min_length": 12}), admin)
    cmd = OpenAccount(group="real\\strict", main_password="1Ar#pqkj1234")
    acc = services.open_account(cmd, admin)

    with pytest.raises(PasswordPolicyViolation):
        services.change_password(ChangePassword(acc.login, "api", "Abcdefgh123"), admin)
    services.change_password(ChangePassword(acc.login, "api", "Abcdefgh1234"), admin)
    assert services.check_password(CheckPassword(acc.login, "api", "Abcdefgh1234"), admin)


def test_change_password_is_audited_without_the_password(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    acc = _open(services, admin)
    secret = "Investor2024"

    services.change_password(ChangePassword(acc.login, "investor", secret), admin)

    last = uows.state.audit[-1]
    assert last.action == "account.password_changed"
    assert last.after is not None and last.after["investor_password"] == "changed"
    assert secret not in repr(last) and passwords.md5_hex(secret) not in repr(last)


def test_change_password_needs_the_write_right(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = _open(services, admin)

    with pytest.raises(MissingScope):
        services.change_password(
            ChangePassword(acc.login, "main", "abcdefg1"), _actor("users:read")
        )


# --- lenient update ------------------------------------------------------------------------------


def test_a_lenient_update_applies_the_valid_changes_and_drops_the_rest(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = _open(services, admin)
    changes = {
        "leverage": 9999,
        "email": "nope",
        "rights": -1,
        "city": "Paris",
        "balance": 5,
        "login": 1,
        "no_such_field": 1,
        "comment": "x" * 64,
    }

    updated = services.update_account(UpdateAccount(acc.login, changes, skip_invalid=True), admin)

    assert updated == replace(acc, city="Paris", updated_at=updated.updated_at)
    with pytest.raises(ValidationError):
        services.update_account(UpdateAccount(acc.login, changes), admin)


def test_a_lenient_update_takes_a_new_leverage_before_judging_the_rest(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    settings = {"max_leverage": 50, "default_leverage": 10}
    services.create_group(CreateGroup("real\\low", "USD", settings), admin)
    acc = _open(services, admin, leverage=100)

    updated = services.update_account(
        UpdateAccount(
            acc.login, {"group": "real\\low", "city": "Oslo", "leverage": 50}, skip_invalid=True
        ),
        admin,
    )

    assert (updated.group, updated.leverage, updated.city) == ("real\\low", 50, "Oslo")


def test_a_lenient_update_without_personal_data_leaves_contact_fields_alone(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = _open(services, admin, profile={"email": "a@b.co", "city": "Rome", "name": "A"})
    clerk = _actor("users:read", "users:write")
    seen = services.get_account(acc.login, clerk)  # contact fields blank
    changes = {"email": seen.email, "city": seen.city, "name": "B"}

    services.update_account(UpdateAccount(acc.login, changes, skip_invalid=True), clerk)

    stored = services.get_account(acc.login, admin)
    assert (stored.email, stored.city, stored.name) == ("a@b.co", "Rome", "B")


def test_a_lenient_update_still_refuses_a_bad_group(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    services.create_group(CreateGroup("real\\eur", "EUR"), admin)
    acc = _open(services, admin)

    with pytest.raises(GroupNotFound):
        services.update_account(UpdateAccount(acc.login, {"group": "x"}, skip_invalid=True), admin)
    with pytest.raises(CurrencyMismatch):
        services.update_account(
            UpdateAccount(acc.login, {"group": "real\\eur"}, skip_invalid=True), admin
        )


def test_an_update_sets_or_removes_the_phone_password_and_audits_it_as_changed(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    acc = _open(services, admin)

    services.update_account(UpdateAccount(acc.login, {}, phone_password="1357"), admin)
    assert passwords.verify(uows.state.accounts[acc.login].phone_password, "1357")
    last = uows.state.audit[-1]
    assert last.after is not None and last.after["phone_password"] == "changed"
    assert "1357" not in repr(last.after)

    services.update_account(UpdateAccount(acc.login, {}, phone_password=""), admin)
    assert uows.state.accounts[acc.login].phone_password is None


# --- ApiData -------------------------------------------------------------------------------------


def test_api_data_cells_keep_the_last_value_field_in_mt5_order() -> None:
    cells = normalize_api_data(
        [
            {"ValueDouble": "1.5", "ValueInt": 3, "AppID": "1", "ID": "2"},
            {"AppID": 1, "ID": 3, "ValueInt": "-4", "ValueUInt": None},
            {"app_id": 2, "id": 0, "value_uint": "5"},
            {"AppID": 0, "ID": 0, "ValueInt": "0", "ValueUInt": "0", "ValueDouble": "0"},
            {"AppID": "0", "ID": "0"},
        ]
    )

    assert cells == [
        {"AppID": 1, "ID": 2, "ValueDouble": 1.5},
        {"AppID": 1, "ID": 3, "ValueInt": -4},
        {"AppID": 2, "ID": 0, "ValueUInt": 5},
    ]


@pytest.mark.parametrize(
    "cells",
    [
        "x",
        [1],
        [{"AppID": 1, "ID": 1}],
        [{"AppID": -1, "ID": 1, "ValueInt": 1}],
        [{"AppID": 1, "ID": 256, "ValueInt": 1}],
        [{"AppID": 1, "ID": 1, "ValueInt": 2**63}],
        [{"AppID": 1, "ID": 1, "ValueUInt": 2**64}],
        [{"AppID": 1, "ID": 1, "ValueInt": True}],
        [{"AppID": 1, "ID": 1, "ValueDouble": "inf"}],
        [{"AppID": n, "ID": 1, "ValueInt": 1} for n in range(1, 18)],
    ],
)
def test_invalid_api_data_is_refused(cells: Any) -> None:
    with pytest.raises(ValidationError):
        normalize_api_data(cells)


# --- trade state ---------------------------------------------------------------------------------


def test_the_trade_state_counts_credit_and_bonus_into_equity(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = _open(services, admin, leverage=200)
    for operation, amount in (("deposit", "100.10"), ("credit", "20"), ("bonus", "5.05")):
        services.post_ledger_entry(PostLedgerEntry(acc.login, operation, amount), admin)  # type: ignore[arg-type]  # text the core reads

    state = services.get_trade_state(acc.login, _actor("users:read"))

    assert (state.balance, state.credit, state.bonus) == (
        Decimal("100.10"),
        Decimal("20.00"),
        Decimal("5.05"),
    )
    assert (state.balance_with_bonus, state.equity, state.margin_free) == (
        Decimal("105.15"),
        Decimal("125.15"),
        Decimal("125.15"),
    )
    assert (state.margin, state.margin_level, state.leverage) == (Decimal(0), Decimal("0.00"), 200)


def test_the_margin_level_is_equity_over_margin_in_percent() -> None:
    state = TradeState(
        login=1,
        currency="USD",
        currency_digits=2,
        leverage=100,
        balance=Decimal("300"),
        credit=Decimal("0"),
        bonus=Decimal("0"),
        margin=Decimal("200"),
    )

    assert state.margin_level == Decimal("150.00")
