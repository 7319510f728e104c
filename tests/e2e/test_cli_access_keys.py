"""The key commands of `brokerplane` (create, list, rotate, revoke), run in-process through
click's CliRunner, with what they change read back through the services; and the audit of
the access commands."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from brokerplane.bootstrap import Runtime
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.errors import Unauthorized
from tests.e2e.cli_access_support import (
    PASSWORD,
    at,
    create_manager,
    issue,
    ok,
    ok_json,
    refused,
    state_of,
)

# What the command line or the wire answers: SQLite only (tests/storage runs the SQL on both).
pytestmark = pytest.mark.engines("sqlite")


# --------------------------------------------------------------------------- key create


def test_key_create_json_gives_a_key_that_authenticates_with_its_scopes(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    create_manager(runtime, admin)
    issued = ok_json(
        "key",
        "create",
        "--database-url",
        database_url,
        "--manager",
        "2001",
        "--scopes",
        "users:read",
        "--name",
        "dashboard",
    )
    assert set(issued) == {
        "id",
        "key",
        "prefix",
        "manager_login",
        "scopes",
        "name",
        "expires_at",
        "previous",
    }
    assert issued["key"].startswith(f"bpk_{issued['prefix']}_")
    assert (issued["scopes"], issued["name"], issued["expires_at"]) == (
        ["users:read"],
        "dashboard",
        None,
    )
    identity = runtime.app.authenticate_key(issued["key"])
    assert (identity.key.id, identity.manager.login) == (issued["id"], 2001)
    assert identity.scopes == {"users:read"}


def test_key_create_prints_the_secret_once_in_a_table(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    create_manager(runtime, admin)
    result = ok(
        "key",
        "create",
        "--database-url",
        database_url,
        "--manager",
        "2001",
        "--scopes",
        "reports:read",
    )
    assert "key (shown once)" in result.stdout
    assert result.stdout.count("bpk_") == 1


def test_key_create_takes_a_date_a_time_or_a_duration_as_expiry(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    create_manager(runtime, admin)
    day = (runtime.app.clock() + timedelta(days=400)).date()

    def expiry(value: str) -> str:
        shown = ok_json(
            "key",
            "create",
            "--database-url",
            database_url,
            "--manager",
            "2001",
            "--scopes",
            "users:read",
            "--expires",
            value,
        )
        return str(shown["expires_at"])

    assert expiry(day.isoformat()) == f"{day.isoformat()}T00:00:00Z"
    assert expiry(f"{day.isoformat()}T18:30:00+02:00") == f"{day.isoformat()}T16:30:00Z"
    before = runtime.app.clock()
    in_30_days = datetime.fromisoformat(expiry("30d"))
    assert before + timedelta(days=30) <= in_30_days <= runtime.app.clock() + timedelta(days=30)
    in_12_hours = datetime.fromisoformat(expiry("12h"))
    assert in_12_hours <= runtime.app.clock() + timedelta(hours=12)
    assert in_12_hours > before + timedelta(hours=11)
    old_flag = ok_json(
        "key",
        "create",
        "--database-url",
        database_url,
        "--manager",
        "2001",
        "--scopes",
        "users:read",
        "--expires-in-days",
        "7",
    )
    assert datetime.fromisoformat(old_flag["expires_at"]) > before + timedelta(days=6)


def test_a_key_created_with_an_expiry_stops_authenticating_when_it_expires(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    create_manager(runtime, admin)
    issued = ok_json(
        "key",
        "create",
        "--database-url",
        database_url,
        "--manager",
        "2001",
        "--scopes",
        "users:read",
        "--expires",
        "2d",
    )
    expires_at = datetime.fromisoformat(issued["expires_at"])
    at(runtime, expires_at - timedelta(seconds=1)).authenticate_key(issued["key"])
    with pytest.raises(Unauthorized, match="expired"):
        at(runtime, expires_at).authenticate_key(issued["key"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--manager", "2001", "--scopes", "users:read,users:all"),
            "validation.invalid: scopes: unknown: users:all",
        ),
        (
            ("--manager", "2001", "--scopes", "balances:write"),
            "auth.permission_denied: manager 2001 does not hold: balances:write",
        ),
        (("--manager", "2001", "--scopes", ","), "scopes: name at least one scope"),
        (("--manager", "4242", "--scopes", "users:read"), "manager.not_found: manager 4242"),
        (
            ("--manager", "2001", "--scopes", "users:read", "--expires", "next week"),
            "expires_at: expected a date",
        ),
        (
            ("--manager", "2001", "--scopes", "users:read", "--expires", "30"),
            "expires_at: expected a date",
        ),
        (
            ("--manager", "2001", "--scopes", "users:read", "--expires", "2001-01-01"),
            "expires_at: must be in the future",
        ),
        (
            ("--manager", "2001", "--scopes", "users:read", "--expires", "0d"),
            "expires_at: must be in the future",
        ),
        (
            ("--manager", "2001", "--scopes", "users:read", "--expires", "2027-02-30"),
            "expires_at: expected a date",
        ),
    ],
)
def test_key_create_refuses_bad_input_in_one_line_and_issues_nothing(
    runtime: Runtime, admin: Actor, database_url: str, args: tuple[str, ...], message: str
) -> None:
    create_manager(runtime, admin)
    before = state_of(runtime, admin)
    line = refused("key", "create", "--database-url", database_url, *args)
    assert message in line
    assert state_of(runtime, admin) == before


# --------------------------------------------------------------------------- key list


def test_key_list_shows_state_and_last_use_but_never_a_secret(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    create_manager(runtime, admin)
    create_manager(runtime, admin, login=2002)
    used, other = issue(runtime, admin), issue(runtime, admin, login=2002)
    runtime.app.authenticate_key(used)
    shown = ok_json("key", "list", "--database-url", database_url, "--manager", "2001")
    assert len(shown["items"]) == 1
    item = shown["items"][0]
    assert set(item) == {
        "id",
        "prefix",
        "manager_login",
        "scopes",
        "name",
        "state",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    }
    assert (item["manager_login"], item["state"], item["scopes"]) == (
        2001,
        "active",
        ["users:read"],
    )
    assert item["last_used_at"] is not None
    everything = ok_json("key", "list", "--database-url", database_url)
    assert {k["manager_login"] for k in everything["items"]} == {2001, 2002}
    table = ok("key", "list", "--database-url", database_url).stdout
    assert item["prefix"] in table
    for text in (json.dumps(everything), table):
        for secret in (used, other):
            assert secret not in text
            assert secret.rsplit("_", 1)[-1] not in text
        assert "secret" not in text
        assert "hash" not in text


def test_key_list_refuses_an_unknown_manager(database_url: str) -> None:
    line = refused("key", "list", "--database-url", database_url, "--manager", "4242")
    assert line == "Error: manager.not_found: manager 4242 does not exist"


# --------------------------------------------------------------------------- rotate / revoke


def test_rotate_keeps_the_old_key_valid_until_the_overlap_ends(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    create_manager(runtime, admin)
    old_secret = issue(runtime, admin, scopes="users:read,reports:read")
    old_id = runtime.app.authenticate_key(old_secret).key.id
    before = runtime.app.clock()
    rotated = ok_json("key", "rotate", "--database-url", database_url, old_id)
    assert rotated["previous"]["id"] == old_id
    assert rotated["id"] != old_id
    assert rotated["scopes"] == ["reports:read", "users:read"]
    cutoff = datetime.fromisoformat(rotated["previous"]["expires_at"])
    assert before + timedelta(hours=24) <= cutoff <= runtime.app.clock() + timedelta(hours=24)

    assert runtime.app.authenticate_key(rotated["key"]).scopes == {
        "users:read",
        "reports:read",
    }
    assert runtime.app.authenticate_key(old_secret).key.id == old_id
    at(runtime, cutoff - timedelta(seconds=1)).authenticate_key(old_secret)
    with pytest.raises(Unauthorized, match="expired"):
        at(runtime, cutoff).authenticate_key(old_secret)
    at(runtime, cutoff).authenticate_key(rotated["key"])


def test_rotate_takes_the_overlap_from_the_setting_and_a_key_by_its_prefix(
    runtime: Runtime, admin: Actor, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_manager(runtime, admin)
    old_secret = issue(runtime, admin)
    prefix = old_secret.split("_")[1]
    monkeypatch.setenv("BROKERPLANE_KEY_ROTATION_OVERLAP_HOURS", "2")
    before = runtime.app.clock()
    result = ok("key", "rotate", "--database-url", database_url, prefix)
    assert "key (shown once)" in result.stdout
    assert "keeps working until" in result.stdout
    old = next(k for k in runtime.app.list_api_keys(admin) if k.prefix == prefix)
    assert old.expires_at is not None
    assert before + timedelta(hours=2) <= old.expires_at <= before + timedelta(hours=3)


def test_revoke_stops_a_key_at_once(runtime: Runtime, admin: Actor, database_url: str) -> None:
    create_manager(runtime, admin)
    secret = issue(runtime, admin)
    key_id = runtime.app.authenticate_key(secret).key.id
    result = ok("key", "revoke", "--database-url", database_url, key_id)
    assert result.stdout.startswith(f"key {key_id} (prefix ")
    assert "revoked at" in result.stdout
    with pytest.raises(Unauthorized, match="revoked"):
        runtime.app.authenticate_key(secret)
    again = ok("key", "revoke", "--database-url", database_url, key_id)
    assert "was already revoked" in again.stdout
    listed = ok_json("key", "list", "--database-url", database_url)
    assert [k["state"] for k in listed["items"]] == ["revoked"]


@pytest.mark.parametrize("command", ["rotate", "revoke"])
def test_rotate_and_revoke_refuse_an_unknown_key(
    runtime: Runtime, admin: Actor, database_url: str, command: str
) -> None:
    create_manager(runtime, admin)
    issue(runtime, admin)
    before = state_of(runtime, admin)
    line = refused("key", command, "--database-url", database_url, "0123456789abcdef")
    assert line == "Error: api_key.not_found: API key 0123456789abcdef does not exist"
    assert state_of(runtime, admin) == before


def test_rotate_refuses_a_revoked_key(runtime: Runtime, admin: Actor, database_url: str) -> None:
    create_manager(runtime, admin)
    key_id = runtime.app.authenticate_key(issue(runtime, admin)).key.id
    ok("key", "revoke", "--database-url", database_url, key_id)
    before = state_of(runtime, admin)
    line = refused("key", "rotate", "--database-url", database_url, key_id)
    assert "the key is revoked" in line
    assert state_of(runtime, admin) == before


# --------------------------------------------------------------------------- the trail


def test_the_access_commands_are_audited_without_secrets_and_the_chain_holds(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    created = ok_json(
        "manager",
        "create",
        "--database-url",
        database_url,
        "--login",
        "2001",
        "--name",
        "W",
        "--rights",
        ",".join(SCOPES),
        "--groups",
        "*",
    )
    issued = ok_json(
        "key", "create", "--database-url", database_url, "--manager", "2001", "--scopes", "admin"
    )
    rotated = ok_json("key", "rotate", "--database-url", database_url, issued["id"])
    ok("key", "revoke", "--database-url", database_url, rotated["id"])
    ok("manager", "set-password", "--database-url", database_url, "2001", "--password", PASSWORD)
    ok("manager", "disable", "--database-url", database_url, "2001")
    records = runtime.app.query_audit(AuditQuery(limit=1000), admin)
    actions = [r.action for r in records]
    assert actions.count("manager.updated") == 2
    assert {"manager.created", "api_key.created", "api_key.rotated", "api_key.revoked"} <= set(
        actions
    )
    assert {r.operator_id for r in records} == {"brokerplane-cli"}
    trail = json.dumps([[r.before, r.after] for r in records])
    for secret in (created["password"], PASSWORD, issued["key"], rotated["key"]):
        assert secret not in trail
    assert ok("audit", "verify", "--database-url", database_url).stdout.startswith(
        "audit chain intact"
    )
