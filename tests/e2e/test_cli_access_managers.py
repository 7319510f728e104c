"""The manager commands of `brokerplane` (create, list, disable, enable, set-password, grant,
revoke, set-reach), run in-process through click's CliRunner, with what they change read back
through the services."""

from __future__ import annotations

import json

import pytest

from brokerplane.bootstrap import Runtime
from brokerplane.core import passwords
from brokerplane.core.actor import Actor
from brokerplane.core.errors import Unauthorized
from tests.e2e.cli_access_support import (
    PASSWORD,
    create_manager,
    issue,
    ok,
    ok_json,
    refused,
    run,
    state_of,
)

# What the command line or the wire answers: SQLite only (tests/storage runs the SQL on both).
pytestmark = pytest.mark.engines("sqlite")


# --------------------------------------------------------------------------- manager create


def test_manager_create_stores_rights_and_reach_and_only_verifiers_of_the_password(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    shown = ok_json(
        "manager",
        "create",
        "--database-url",
        database_url,
        "--login",
        "2001",
        "--name",
        "Provisioning",
        "--password",
        PASSWORD,
        "--rights",
        "users:read,users:write",
        "--groups",
        "demo\\*,!demo\\vip",
        "--brokers",
        "BESTBROKER,BESTBROKER_UK",
    )
    assert shown["rights"] == ["users:read", "users:write"]
    assert (shown["groups"], shown["brokers"]) == ("demo\\*,!demo\\vip", "BESTBROKER,BESTBROKER_UK")
    assert shown["password_set"] is True
    assert "password" not in shown  # given, so not printed back
    stored = runtime.app.get_manager(2001)
    assert stored is not None
    assert stored.rights == {"users:read", "users:write"}
    assert (stored.group_mask, stored.white_labels) == (
        "demo\\*,!demo\\vip",
        "BESTBROKER,BESTBROKER_UK",
    )
    assert passwords.verify(stored.verifiers["password"], PASSWORD)
    assert PASSWORD not in json.dumps(stored.verifiers)


def test_manager_create_without_a_password_prints_a_generated_one_that_verifies(
    runtime: Runtime, database_url: str
) -> None:
    shown = ok_json(
        "manager",
        "create",
        "--database-url",
        database_url,
        "--login",
        "2002",
        "--name",
        "Finance",
        "--rights",
        "balances:write",
        "--groups",
        "*",
    )
    stored = runtime.app.get_manager(2002)
    assert stored is not None
    assert stored.white_labels == "*"  # --brokers defaults to every white label
    assert passwords.verify(stored.verifiers["password"], shown["password"])


def test_manager_create_with_no_password_stores_no_verifier(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    shown = ok_json(
        "manager",
        "create",
        "--database-url",
        database_url,
        "--login",
        "2007",
        "--name",
        "Keys only",
        "--no-password",
        "--rights",
        "reports:read",
        "--groups",
        "*",
    )
    assert shown["password_set"] is False
    assert "password" not in shown
    stored = runtime.app.get_manager(2007)
    assert stored is not None
    assert stored.verifiers == {}
    line = refused(
        "manager",
        "create",
        "--database-url",
        database_url,
        "--login",
        "2008",
        "--name",
        "Both",
        "--no-password",
        "--password",
        PASSWORD,
        "--rights",
        "reports:read",
        "--groups",
        "*",
    )
    assert line == "Error: give --password or --no-password, not both"
    assert runtime.app.get_manager(2008) is None


def test_manager_create_prints_a_table_and_the_generated_password_once(
    database_url: str,
) -> None:
    result = ok(
        "manager",
        "create",
        "--database-url",
        database_url,
        "--login",
        "2003",
        "--name",
        "Dashboard",
        "--rights",
        "users:read,reports:read",
        "--groups",
        "demo*",
    )
    assert "manager 2003 created" in result.stdout
    assert "password (shown once)" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--rights", "users:read,users:everything", "--groups", "*"),
            "rights: unknown: users:everything",
        ),
        (("--rights", ",", "--groups", "*"), "rights: name at least one"),
        (("--rights", "users:read", "--groups", "demo*,,real*"), "groups: has an empty"),
        (("--rights", "users:read", "--groups", "demo!x"), "groups: has an empty or malformed"),
        (("--rights", "users:read", "--groups", "*", "--brokers", "!"), "brokers: has an empty"),
        (
            ("--rights", "users:read", "--groups", "*", "--password", "short"),
            "password: must be 8 to 64",
        ),
    ],
)
def test_manager_create_refuses_bad_input_in_one_line_and_creates_nothing(
    runtime: Runtime, admin: Actor, database_url: str, args: tuple[str, ...], message: str
) -> None:
    before = state_of(runtime, admin)
    line = refused(
        "manager",
        "create",
        "--database-url",
        database_url,
        "--login",
        "2004",
        "--name",
        "Bad",
        *args,
    )
    assert line.startswith("Error: validation.")
    assert message in line
    assert state_of(runtime, admin) == before


def test_manager_create_needs_groups(runtime: Runtime, admin: Actor, database_url: str) -> None:
    result = run(
        "manager",
        "create",
        "--database-url",
        database_url,
        "--login",
        "2005",
        "--name",
        "No reach",
        "--rights",
        "users:read",
    )
    assert result.exit_code == 2
    assert "Missing option '--groups'" in result.stderr
    assert runtime.app.get_manager(2005) is None


def test_manager_create_takes_the_old_group_mask_flag(runtime: Runtime, database_url: str) -> None:
    ok(
        "manager",
        "create",
        "--database-url",
        database_url,
        "--login",
        "2006",
        "--name",
        "Old",
        "--rights",
        "users:read",
        "--group-mask",
        "real*",
    )
    stored = runtime.app.get_manager(2006)
    assert stored is not None
    assert stored.group_mask == "real*"


# --------------------------------------------------------------------------- manager list


def test_manager_list_shows_rights_reach_and_keys_but_no_secret_verifier_or_password(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    create_manager(runtime, admin)
    secret = issue(runtime, admin)
    stored = runtime.app.get_manager(2001)
    assert stored is not None
    shown = ok_json("manager", "list", "--database-url", database_url)
    assert shown["items"] == [
        {
            "login": 2001,
            "name": "Worker",
            "enabled": True,
            "rights": ["reports:read", "users:read"],
            "groups": "demo*",
            "brokers": "*",
            "password_set": True,
            "created_at": shown["items"][0]["created_at"],
            "updated_at": shown["items"][0]["updated_at"],
            "active_keys": 1,
        }
    ]
    table = ok("manager", "list", "--database-url", database_url).stdout
    assert "2001" in table
    assert "demo*" in table
    for text in (json.dumps(shown), table):
        assert "verifier" not in text
        assert PASSWORD not in text
        assert secret not in text
        assert all(v not in text for v in stored.verifiers.values())


# --------------------------------------------------------------------------- disable / enable


def test_manager_disable_stops_all_its_keys_at_once_and_enable_restores_them(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    create_manager(runtime, admin)
    first, second = issue(runtime, admin), issue(runtime, admin, scopes="reports:read")
    result = ok("manager", "disable", "--database-url", database_url, "2001")
    assert "manager 2001 disabled" in result.stdout
    for secret in (first, second):
        with pytest.raises(Unauthorized):
            runtime.app.authenticate_key(secret)
    assert ok_json("manager", "disable", "--database-url", database_url, "2001")["enabled"] is False
    listed = ok("key", "list", "--database-url", database_url, "--manager", "2001").stdout
    assert "active (manager disabled)" in listed

    assert ok_json("manager", "enable", "--database-url", database_url, "2001")["enabled"] is True
    assert runtime.app.authenticate_key(first).manager.login == 2001
    assert runtime.app.authenticate_key(second).scopes == {"reports:read"}


@pytest.mark.parametrize("command", ["disable", "enable", "set-password", "grant", "revoke"])
def test_manager_commands_refuse_an_unknown_manager(
    runtime: Runtime, admin: Actor, database_url: str, command: str
) -> None:
    extra = ("users:read",) if command in ("grant", "revoke") else ()
    before = state_of(runtime, admin)
    line = refused("manager", command, "--database-url", database_url, "4242", *extra)
    assert line == "Error: manager.not_found: manager 4242 does not exist"
    assert state_of(runtime, admin) == before


# --------------------------------------------------------------------------- set-password


def test_manager_set_password_replaces_the_verifiers(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    create_manager(runtime, admin)
    result = ok(
        "manager",
        "set-password",
        "--database-url",
        database_url,
        "2001",
        "--password",
        "N3w#Passw0rd",
    )
    assert result.stdout.strip() == "password of manager 2001 changed"
    assert "N3w#Passw0rd" not in result.output
    stored = runtime.app.get_manager(2001)
    assert stored is not None
    assert passwords.verify(stored.verifiers["password"], "N3w#Passw0rd")
    assert not passwords.verify(stored.verifiers["password"], PASSWORD)

    generated = ok_json("manager", "set-password", "--database-url", database_url, "2001")
    stored = runtime.app.get_manager(2001)
    assert stored is not None
    assert passwords.verify(stored.verifiers["password"], generated["password"])
    assert stored.verifiers["mt5"] == passwords.mt5_webapi_hash(generated["password"])


def test_manager_set_password_refuses_a_short_password(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    create_manager(runtime, admin)
    before = state_of(runtime, admin)
    line = refused(
        "manager", "set-password", "--database-url", database_url, "2001", "--password", "short"
    )
    assert "password: must be 8 to 64 characters" in line
    assert state_of(runtime, admin) == before


# --------------------------------------------------------------------------- grant / revoke


def test_grant_and_revoke_change_rights_and_a_revoked_right_leaves_the_keys_at_once(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    create_manager(runtime, admin)
    shown = ok_json(
        "manager", "grant", "--database-url", database_url, "2001", "balances:write, users:write"
    )
    assert shown["rights"] == ["balances:write", "reports:read", "users:read", "users:write"]
    secret = issue(runtime, admin, scopes="users:read,balances:write")
    assert runtime.app.authenticate_key(secret).scopes == {"users:read", "balances:write"}

    result = ok("manager", "revoke", "--database-url", database_url, "2001", "balances:write")
    assert result.stdout.strip() == "manager 2001 rights: reports:read, users:read, users:write"
    assert runtime.app.authenticate_key(secret).scopes == {"users:read"}


@pytest.mark.parametrize(
    ("command", "rights", "message"),
    [
        ("grant", "users:read,superuser", "grant: unknown: superuser"),
        ("revoke", "everything", "revoke: unknown: everything"),
        ("grant", " , ", "grant: name at least one"),
    ],
)
def test_grant_and_revoke_refuse_unknown_rights_and_change_nothing(
    runtime: Runtime, admin: Actor, database_url: str, command: str, rights: str, message: str
) -> None:
    create_manager(runtime, admin)
    before = state_of(runtime, admin)
    line = refused("manager", command, "--database-url", database_url, "2001", rights)
    assert message in line
    assert state_of(runtime, admin) == before


# --------------------------------------------------------------------------- set-reach


def test_set_reach_changes_groups_and_brokers(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    create_manager(runtime, admin)
    shown = ok_json(
        "manager",
        "set-reach",
        "--database-url",
        database_url,
        "2001",
        "--groups",
        "real\\*,!real\\vip",
    )
    assert (shown["groups"], shown["brokers"]) == ("real\\*,!real\\vip", "*")
    ok("manager", "set-reach", "--database-url", database_url, "2001", "--brokers", "BESTBROKER")
    stored = runtime.app.get_manager(2001)
    assert stored is not None
    assert (stored.group_mask, stored.white_labels) == ("real\\*,!real\\vip", "BESTBROKER")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--groups", "demo*,"), "groups: has an empty"),
        (("--brokers", "A,!"), "brokers: has an empty"),
        ((), "name --groups, --brokers or both"),
    ],
)
def test_set_reach_refuses_malformed_masks_and_changes_nothing(
    runtime: Runtime, admin: Actor, database_url: str, args: tuple[str, ...], message: str
) -> None:
    create_manager(runtime, admin)
    before = state_of(runtime, admin)
    line = refused("manager", "set-reach", "--database-url", database_url, "2001", *args)
    assert message in line
    assert state_of(runtime, admin) == before
