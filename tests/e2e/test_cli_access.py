"""The access commands of `brokerplane` (manager create, list, disable, enable, set-password,
grant, revoke, set-reach; key create, list, rotate, revoke), run in-process through click's
CliRunner on both engines, with what they change read back through the services."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result

from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.cli.main import main
from brokerplane.core import passwords
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.errors import Unauthorized
from tests.unit.fakes import FakeClock

# What the command line or the wire answers: SQLite only (tests/storage runs the SQL on both).
pytestmark = pytest.mark.engines("sqlite")

PASSWORD = "Str0ng#Pass"


def run(*args: str) -> Result:
    # Wide enough that no table cell wraps.
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env={"COLUMNS": "200"})


def ok(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def ok_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json").stdout)


def refused(*args: str) -> str:
    """Run a command that must fail on bad input: exit 2 and one line on stderr."""
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def create_manager(
    runtime: Runtime, admin: Actor, login: int = 2001, rights: str = "users:read,reports:read"
) -> None:
    cmd = CreateManager(login, "Worker", PASSWORD, frozenset(rights.split(",")), "demo*")
    runtime.services.create_manager(cmd, admin)


def issue(runtime: Runtime, admin: Actor, login: int = 2001, scopes: str = "users:read") -> str:
    cmd = CreateApiKey(login, frozenset(scopes.split(",")))
    return runtime.services.create_api_key(cmd, admin).secret


def at(runtime: Runtime, when: datetime) -> Application:
    """The same database seen through services whose clock reads `when`."""
    return Application(runtime.storage.uow, runtime.services.config, FakeClock(when))


def state_of(runtime: Runtime, admin: Actor) -> tuple[Any, ...]:
    """Everything the access commands may change, to show a refused command changed nothing."""
    services = runtime.services
    managers = tuple(
        (m.login, m.name, m.enabled, m.rights, m.group_mask, m.white_labels, tuple(m.verifiers))
        for m in services.list_managers(admin)
    )
    keys = tuple(
        (k.id, k.scopes, k.expires_at, k.revoked_at) for k in services.list_api_keys(admin)
    )
    return managers, keys, len(services.query_audit(AuditQuery(limit=1000), admin))


# --------------------------------------------------------------------------- manager create


def test_manager_create_stores_rights_and_reach_and_only_verifiers_of_the_password(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    shown = ok_json(
        "manager", "create", "--database-url", database_url, "--login", "2001",
        "--name", "Provisioning", "--password", PASSWORD, "--rights", "users:read,users:write",
        "--groups", "demo\\*,!demo\\vip", "--brokers", "BESTBROKER,BESTBROKER_UK",
    )  # fmt: skip
    assert shown["rights"] == ["users:read", "users:write"]
    assert (shown["groups"], shown["brokers"]) == ("demo\\*,!demo\\vip", "BESTBROKER,BESTBROKER_UK")
    assert shown["password_set"] is True
    assert "password" not in shown  # given, so not printed back
    stored = runtime.services.get_manager(2001)
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
        "manager", "create", "--database-url", database_url, "--login", "2002",
        "--name", "Finance", "--rights", "balances:write", "--groups", "*",
    )  # fmt: skip
    stored = runtime.services.get_manager(2002)
    assert stored is not None
    assert stored.white_labels == "*"  # --brokers defaults to every white label
    assert passwords.verify(stored.verifiers["password"], shown["password"])


def test_manager_create_with_no_password_stores_no_verifier(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    shown = ok_json(
        "manager", "create", "--database-url", database_url, "--login", "2007",
        "--name", "Keys only", "--no-password", "--rights", "reports:read", "--groups", "*",
    )  # fmt: skip
    assert shown["password_set"] is False
    assert "password" not in shown
    stored = runtime.services.get_manager(2007)
    assert stored is not None
    assert stored.verifiers == {}
    line = refused("manager", "create", "--database-url", database_url, "--login", "2008",
                   "--name", "Both", "--no-password", "--password", PASSWORD,
                   "--rights", "reports:read", "--groups", "*")  # fmt: skip
    assert line == "Error: give --password or --no-password, not both"
    assert runtime.services.get_manager(2008) is None


def test_manager_create_prints_a_table_and_the_generated_password_once(
    database_url: str,
) -> None:
    result = ok(
        "manager", "create", "--database-url", database_url, "--login", "2003",
        "--name", "Dashboard", "--rights", "users:read,reports:read", "--groups", "demo*",
    )  # fmt: skip
    assert "manager 2003 created" in result.stdout
    assert "password (shown once)" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--rights", "users:read,users:everything", "--groups", "*"),
         "rights: unknown: users:everything"),
        (("--rights", ",", "--groups", "*"), "rights: name at least one"),
        (("--rights", "users:read", "--groups", "demo*,,real*"), "groups: has an empty"),
        (("--rights", "users:read", "--groups", "demo!x"), "groups: has an empty or malformed"),
        (("--rights", "users:read", "--groups", "*", "--brokers", "!"), "brokers: has an empty"),
        (("--rights", "users:read", "--groups", "*", "--password", "short"),
         "password: must be 8 to 64"),
    ],
)  # fmt: skip
def test_manager_create_refuses_bad_input_in_one_line_and_creates_nothing(
    runtime: Runtime, admin: Actor, database_url: str, args: tuple[str, ...], message: str
) -> None:
    before = state_of(runtime, admin)
    line = refused("manager", "create", "--database-url", database_url, "--login", "2004",
                   "--name", "Bad", *args)  # fmt: skip
    assert line.startswith("Error: validation.")
    assert message in line
    assert state_of(runtime, admin) == before


def test_manager_create_needs_groups(runtime: Runtime, admin: Actor, database_url: str) -> None:
    result = run("manager", "create", "--database-url", database_url, "--login", "2005",
                 "--name", "No reach", "--rights", "users:read")  # fmt: skip
    assert result.exit_code == 2
    assert "Missing option '--groups'" in result.stderr
    assert runtime.services.get_manager(2005) is None


def test_manager_create_takes_the_old_group_mask_flag(runtime: Runtime, database_url: str) -> None:
    ok("manager", "create", "--database-url", database_url, "--login", "2006", "--name", "Old",
       "--rights", "users:read", "--group-mask", "real*")  # fmt: skip
    stored = runtime.services.get_manager(2006)
    assert stored is not None
    assert stored.group_mask == "real*"


# --------------------------------------------------------------------------- manager list


def test_manager_list_shows_rights_reach_and_keys_but_no_secret_verifier_or_password(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    create_manager(runtime, admin)
    secret = issue(runtime, admin)
    stored = runtime.services.get_manager(2001)
    assert stored is not None
    shown = ok_json("manager", "list", "--database-url", database_url)
    assert shown["items"] == [
        {
            "login": 2001, "name": "Worker", "enabled": True,
            "rights": ["reports:read", "users:read"], "groups": "demo*", "brokers": "*",
            "password_set": True, "created_at": shown["items"][0]["created_at"],
            "updated_at": shown["items"][0]["updated_at"], "active_keys": 1,
        }
    ]  # fmt: skip
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
            runtime.services.authenticate_key(secret)
    assert ok_json("manager", "disable", "--database-url", database_url, "2001")["enabled"] is False
    listed = ok("key", "list", "--database-url", database_url, "--manager", "2001").stdout
    assert "active (manager disabled)" in listed

    assert ok_json("manager", "enable", "--database-url", database_url, "2001")["enabled"] is True
    assert runtime.services.authenticate_key(first).manager.login == 2001
    assert runtime.services.authenticate_key(second).scopes == {"reports:read"}


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
    result = ok("manager", "set-password", "--database-url", database_url, "2001",
                "--password", "N3w#Passw0rd")  # fmt: skip
    assert result.stdout.strip() == "password of manager 2001 changed"
    assert "N3w#Passw0rd" not in result.output
    stored = runtime.services.get_manager(2001)
    assert stored is not None
    assert passwords.verify(stored.verifiers["password"], "N3w#Passw0rd")
    assert not passwords.verify(stored.verifiers["password"], PASSWORD)

    generated = ok_json("manager", "set-password", "--database-url", database_url, "2001")
    stored = runtime.services.get_manager(2001)
    assert stored is not None
    assert passwords.verify(stored.verifiers["password"], generated["password"])
    assert stored.verifiers["mt5"] == passwords.mt5_webapi_hash(generated["password"])


def test_manager_set_password_refuses_a_short_password(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    create_manager(runtime, admin)
    before = state_of(runtime, admin)
    line = refused("manager", "set-password", "--database-url", database_url, "2001",
                   "--password", "short")  # fmt: skip
    assert "password: must be 8 to 64 characters" in line
    assert state_of(runtime, admin) == before


# --------------------------------------------------------------------------- grant / revoke


def test_grant_and_revoke_change_rights_and_a_revoked_right_leaves_the_keys_at_once(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    create_manager(runtime, admin)
    shown = ok_json("manager", "grant", "--database-url", database_url, "2001",
                    "balances:write, users:write")  # fmt: skip
    assert shown["rights"] == ["balances:write", "reports:read", "users:read", "users:write"]
    secret = issue(runtime, admin, scopes="users:read,balances:write")
    assert runtime.services.authenticate_key(secret).scopes == {"users:read", "balances:write"}

    result = ok("manager", "revoke", "--database-url", database_url, "2001", "balances:write")
    assert result.stdout.strip() == "manager 2001 rights: reports:read, users:read, users:write"
    assert runtime.services.authenticate_key(secret).scopes == {"users:read"}


@pytest.mark.parametrize(
    ("command", "rights", "message"),
    [("grant", "users:read,superuser", "grant: unknown: superuser"),
     ("revoke", "everything", "revoke: unknown: everything"),
     ("grant", " , ", "grant: name at least one")],
)  # fmt: skip
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
    shown = ok_json("manager", "set-reach", "--database-url", database_url, "2001",
                    "--groups", "real\\*,!real\\vip")  # fmt: skip
    assert (shown["groups"], shown["brokers"]) == ("real\\*,!real\\vip", "*")
    ok("manager", "set-reach", "--database-url", database_url, "2001", "--brokers", "BESTBROKER")
    stored = runtime.services.get_manager(2001)
    assert stored is not None
    assert (stored.group_mask, stored.white_labels) == ("real\\*,!real\\vip", "BESTBROKER")


@pytest.mark.parametrize(
    ("args", "message"),
    [(("--groups", "demo*,"), "groups: has an empty"),
     (("--brokers", "A,!"), "brokers: has an empty"),
     ((), "name --groups, --brokers or both")],
)  # fmt: skip
def test_set_reach_refuses_malformed_masks_and_changes_nothing(
    runtime: Runtime, admin: Actor, database_url: str, args: tuple[str, ...], message: str
) -> None:
    create_manager(runtime, admin)
    before = state_of(runtime, admin)
    line = refused("manager", "set-reach", "--database-url", database_url, "2001", *args)
    assert message in line
    assert state_of(runtime, admin) == before


# --------------------------------------------------------------------------- key create


def test_key_create_json_gives_a_key_that_authenticates_with_its_scopes(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    create_manager(runtime, admin)
    issued = ok_json("key", "create", "--database-url", database_url, "--manager", "2001",
                     "--scopes", "users:read", "--name", "dashboard")  # fmt: skip
    assert set(issued) == {"id", "key", "prefix", "manager_login", "scopes", "name",
                           "expires_at", "previous"}  # fmt: skip
    assert issued["key"].startswith(f"bpk_{issued['prefix']}_")
    assert (issued["scopes"], issued["name"], issued["expires_at"]) == (
        ["users:read"],
        "dashboard",
        None,
    )
    identity = runtime.services.authenticate_key(issued["key"])
    assert (identity.key.id, identity.manager.login) == (issued["id"], 2001)
    assert identity.scopes == {"users:read"}


def test_key_create_prints_the_secret_once_in_a_table(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    create_manager(runtime, admin)
    result = ok("key", "create", "--database-url", database_url, "--manager", "2001",
                "--scopes", "reports:read")  # fmt: skip
    assert "key (shown once)" in result.stdout
    assert result.stdout.count("bpk_") == 1


def test_key_create_takes_a_date_a_time_or_a_duration_as_expiry(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    create_manager(runtime, admin)
    day = (runtime.services.clock() + timedelta(days=400)).date()

    def expiry(value: str) -> str:
        shown = ok_json("key", "create", "--database-url", database_url, "--manager", "2001",
                        "--scopes", "users:read", "--expires", value)  # fmt: skip
        return str(shown["expires_at"])

    assert expiry(day.isoformat()) == f"{day.isoformat()}T00:00:00Z"
    assert expiry(f"{day.isoformat()}T18:30:00+02:00") == f"{day.isoformat()}T16:30:00Z"
    before = runtime.services.clock()
    in_30_days = datetime.fromisoformat(expiry("30d"))
    assert (
        before + timedelta(days=30) <= in_30_days <= runtime.services.clock() + timedelta(days=30)
    )
    in_12_hours = datetime.fromisoformat(expiry("12h"))
    assert in_12_hours <= runtime.services.clock() + timedelta(hours=12)
    assert in_12_hours > before + timedelta(hours=11)
    old_flag = ok_json("key", "create", "--database-url", database_url, "--manager", "2001",
                       "--scopes", "users:read", "--expires-in-days", "7")  # fmt: skip
    assert datetime.fromisoformat(old_flag["expires_at"]) > before + timedelta(days=6)


def test_a_key_created_with_an_expiry_stops_authenticating_when_it_expires(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    create_manager(runtime, admin)
    issued = ok_json("key", "create", "--database-url", database_url, "--manager", "2001",
                     "--scopes", "users:read", "--expires", "2d")  # fmt: skip
    expires_at = datetime.fromisoformat(issued["expires_at"])
    at(runtime, expires_at - timedelta(seconds=1)).authenticate_key(issued["key"])
    with pytest.raises(Unauthorized, match="expired"):
        at(runtime, expires_at).authenticate_key(issued["key"])


@pytest.mark.parametrize(
    ("args", "message"),
    [(("--manager", "2001", "--scopes", "users:read,users:all"),
      "validation.invalid: scopes: unknown: users:all"),
     (("--manager", "2001", "--scopes", "balances:write"),
      "auth.permission_denied: manager 2001 does not hold: balances:write"),
     (("--manager", "2001", "--scopes", ","), "scopes: name at least one scope"),
     (("--manager", "4242", "--scopes", "users:read"), "manager.not_found: manager 4242"),
     (("--manager", "2001", "--scopes", "users:read", "--expires", "next week"),
      "expires_at: expected a date"),
     (("--manager", "2001", "--scopes", "users:read", "--expires", "30"),
      "expires_at: expected a date"),
     (("--manager", "2001", "--scopes", "users:read", "--expires", "2001-01-01"),
      "expires_at: must be in the future"),
     (("--manager", "2001", "--scopes", "users:read", "--expires", "0d"),
      "expires_at: must be in the future"),
     (("--manager", "2001", "--scopes", "users:read", "--expires", "2027-02-30"),
      "expires_at: expected a date")],
)  # fmt: skip
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
    runtime.services.authenticate_key(used)
    shown = ok_json("key", "list", "--database-url", database_url, "--manager", "2001")
    assert len(shown["items"]) == 1
    item = shown["items"][0]
    assert set(item) == {"id", "prefix", "manager_login", "scopes", "name", "state",
                         "created_at", "expires_at", "revoked_at", "last_used_at"}  # fmt: skip
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
    old_id = runtime.services.authenticate_key(old_secret).key.id
    before = runtime.services.clock()
    rotated = ok_json("key", "rotate", "--database-url", database_url, old_id)
    assert rotated["previous"]["id"] == old_id
    assert rotated["id"] != old_id
    assert rotated["scopes"] == ["reports:read", "users:read"]
    cutoff = datetime.fromisoformat(rotated["previous"]["expires_at"])
    assert before + timedelta(hours=24) <= cutoff <= runtime.services.clock() + timedelta(hours=24)

    assert runtime.services.authenticate_key(rotated["key"]).scopes == {
        "users:read",
        "reports:read",
    }
    assert runtime.services.authenticate_key(old_secret).key.id == old_id
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
    before = runtime.services.clock()
    result = ok("key", "rotate", "--database-url", database_url, prefix)
    assert "key (shown once)" in result.stdout
    assert "keeps working until" in result.stdout
    old = next(k for k in runtime.services.list_api_keys(admin) if k.prefix == prefix)
    assert old.expires_at is not None
    assert before + timedelta(hours=2) <= old.expires_at <= before + timedelta(hours=3)


def test_revoke_stops_a_key_at_once(runtime: Runtime, admin: Actor, database_url: str) -> None:
    create_manager(runtime, admin)
    secret = issue(runtime, admin)
    key_id = runtime.services.authenticate_key(secret).key.id
    result = ok("key", "revoke", "--database-url", database_url, key_id)
    assert result.stdout.startswith(f"key {key_id} (prefix ")
    assert "revoked at" in result.stdout
    with pytest.raises(Unauthorized, match="revoked"):
        runtime.services.authenticate_key(secret)
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
    key_id = runtime.services.authenticate_key(issue(runtime, admin)).key.id
    ok("key", "revoke", "--database-url", database_url, key_id)
    before = state_of(runtime, admin)
    line = refused("key", "rotate", "--database-url", database_url, key_id)
    assert "the key is revoked" in line
    assert state_of(runtime, admin) == before


# --------------------------------------------------------------------------- the trail


def test_the_access_commands_are_audited_without_secrets_and_the_chain_holds(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    created = ok_json("manager", "create", "--database-url", database_url, "--login", "2001",
                      "--name", "W", "--rights", ",".join(SCOPES), "--groups", "*")  # fmt: skip
    issued = ok_json("key", "create", "--database-url", database_url, "--manager", "2001",
                     "--scopes", "admin")  # fmt: skip
    rotated = ok_json("key", "rotate", "--database-url", database_url, issued["id"])
    ok("key", "revoke", "--database-url", database_url, rotated["id"])
    ok("manager", "set-password", "--database-url", database_url, "2001", "--password", PASSWORD)
    ok("manager", "disable", "--database-url", database_url, "2001")
    records = runtime.services.query_audit(AuditQuery(limit=1000), admin)
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
