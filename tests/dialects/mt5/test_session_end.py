"""An MT5 session ends when its manager's password changes or the manager is disabled: the
next command is refused as "authenticate again" and posts nothing; a fresh handshake with the
new password works."""

from __future__ import annotations

import httpx
from click.testing import CliRunner

from brokerplane.cli.main import main
from brokerplane.core.access.commands import UpdateManager
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.ledger.model import LedgerQuery
from tests.dialects.mt5.conftest import MANAGER, PASSWORD, Mt5, handshake

PERMISSIONS = "8 Not enough permissions"
NEW_PASSWORD = "N3w#Passw0rd"


def _cli(*args: str) -> None:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _account(mt5: Mt5) -> int:
    acc = mt5.services.open_account(OpenAccount(group="demoforex", name="John Smith"), mt5.admin)
    return int(acc.login)


def _deposit(mt5: Mt5, login: int, amount: str = "100") -> httpx.Response:
    return mt5.get("trade/balance", login=login, type=2, balance=amount, comment="deposit")


def _posted(mt5: Mt5, login: int) -> list[int]:
    return [e.amount for e in mt5.services.list_ledger(LedgerQuery(login=login), mt5.admin)]


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["retcode"] == PERMISSIONS


def test_a_password_set_with_the_cli_ends_the_session_before_the_next_balance_posts(
    mt5: Mt5, database_url: str
) -> None:
    login = _account(mt5)
    mt5.ok(_deposit(mt5, login))

    _cli(
        "manager",
        "set-password",
        "--database-url",
        database_url,
        str(MANAGER),
        "--password",
        NEW_PASSWORD,
    )

    _refused(_deposit(mt5, login, "5000"))
    _refused(mt5.get("user/get", login=login))  # the session is gone, not just one command
    assert _posted(mt5, login) == [10000]
    assert handshake(mt5.client, MANAGER, PASSWORD).status_code == 403
    assert handshake(mt5.client, MANAGER, NEW_PASSWORD).status_code == 200
    mt5.ok(_deposit(mt5, login, "5"))
    assert _posted(mt5, login) == [10000, 500]


def test_a_manager_disabled_with_the_cli_has_its_session_ended_and_nothing_posts(
    mt5: Mt5, database_url: str
) -> None:
    login = _account(mt5)
    _cli("manager", "disable", "--database-url", database_url, str(MANAGER))

    _refused(_deposit(mt5, login))
    assert _posted(mt5, login) == []
    _cli("manager", "enable", "--database-url", database_url, str(MANAGER))
    _refused(_deposit(mt5, login))  # enabling again does not revive the ended session
    assert handshake(mt5.client, MANAGER, PASSWORD).status_code == 200
    mt5.ok(_deposit(mt5, login))


def test_a_change_that_keeps_the_password_keeps_the_session(mt5: Mt5) -> None:
    login = _account(mt5)
    mt5.services.update_manager(UpdateManager(MANAGER, name="Renamed"), mt5.admin)
    mt5.ok(_deposit(mt5, login))


def test_another_managers_new_password_leaves_this_session_alone(mt5: Mt5) -> None:
    other = mt5.as_manager(1006)
    login = _account(mt5)
    mt5.services.update_manager(UpdateManager(1006, password=NEW_PASSWORD), mt5.admin)
    mt5.ok(_deposit(mt5, login))
    _refused(other.get("trade/balance", login=login, type=2, balance="1"))
    assert _posted(mt5, login) == [10000]


def test_a_disable_ends_the_session_even_when_enabled_again_before_the_next_command(
    mt5: Mt5, database_url: str
) -> None:
    login = _account(mt5)
    mt5.ok(_deposit(mt5, login))

    _cli("manager", "disable", "--database-url", database_url, str(MANAGER))
    _cli("manager", "enable", "--database-url", database_url, str(MANAGER))

    _refused(_deposit(mt5, login, "5000"))  # as after a new password: authenticate again
    _refused(mt5.get("user/get", login=login))
    assert _posted(mt5, login) == [10000]
    assert handshake(mt5.client, MANAGER, PASSWORD).status_code == 200
    mt5.ok(_deposit(mt5, login, "5"))
    assert _posted(mt5, login) == [10000, 500]
