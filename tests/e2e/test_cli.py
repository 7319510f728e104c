"""The `brokerplane` command line, run in-process through click's CliRunner."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from brokerplane import bootstrap
from brokerplane.bootstrap import Runtime
from brokerplane.cli.demodata import DEMO_GROUPS, DEMO_SYMBOLS
from brokerplane.cli.main import main
from brokerplane.core.account.commands import OpenAccount, UpdateAccount
from brokerplane.core.actor import SCOPES, system_actor
from brokerplane.settings import Settings


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def fresh_url(tmp_path: Path) -> str:
    return f"sqlite:///{(tmp_path / 'cli.db').as_posix()}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine_url(request: pytest.FixtureRequest, fresh_url: str) -> str:
    """An unmigrated SQLite file, or this worker's migrated, emptied PostgreSQL schema."""
    if request.param == "sqlite":
        return fresh_url
    return str(request.getfixturevalue("postgres_url"))


def demo_json(url: str, *extra: str) -> dict[str, Any]:
    result = run("demo", "--json", "--database-url", url, *extra)
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


@pytest.fixture
def loaded(fresh_url: str) -> Iterator[tuple[Runtime, dict[str, Any]]]:
    payload = demo_json(fresh_url)
    runtime = bootstrap.build(Settings(database_url=fresh_url))
    try:
        yield runtime, payload
    finally:
        runtime.close()


def test_demo_json_prints_exactly_one_json_object_with_the_secrets(fresh_url: str) -> None:
    result = run("demo", "--json", "--database-url", fresh_url)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert payload["manager"]["login"] == 1000
    assert len(payload["manager"]["password"]) >= 8
    assert payload["admin_key"].startswith("bpk_")
    assert payload["already_loaded"] is False


def test_demo_a_second_time_loads_nothing_and_shows_no_secrets(engine_url: str) -> None:
    assert demo_json(engine_url)["already_loaded"] is False
    again = demo_json(engine_url)
    assert again["already_loaded"] is True
    assert "admin_key" not in again
    assert "password" not in again["manager"]
    runtime = bootstrap.build(Settings(database_url=engine_url))
    try:
        assert len(runtime.app.list_groups(system_actor())) == len(DEMO_GROUPS)
    finally:
        runtime.close()


def test_the_demo_admin_key_holds_every_scope(loaded: tuple[Runtime, dict[str, Any]]) -> None:
    runtime, payload = loaded
    identity = runtime.app.authenticate_key(payload["admin_key"])
    assert identity.manager.login == 1000
    assert identity.scopes == frozenset(SCOPES)
    assert identity.manager.rights == frozenset(SCOPES)


def test_demo_creates_every_group_and_symbol_the_seeds_name(
    loaded: tuple[Runtime, dict[str, Any]],
) -> None:
    runtime, _ = loaded
    groups = {g.name: g for g in runtime.app.list_groups(system_actor())}
    for name in ("demo-usd", "demoforex", "demo\\demoforex", "Default", "DX_452", "real\\vip"):
        assert name in groups
    assert groups["Default"].currency == "EUR"
    assert groups["Default"].broker == "BESTBROKER"
    symbols = {s.name: s for s in runtime.app.list_symbols(system_actor())}
    assert set(symbols) == {name for name, _ in DEMO_SYMBOLS}
    assert str(symbols["XAUUSD"].contract_size) == "100"
    assert symbols["EURUSD"].path == "Forex\\Major\\EURUSD"
    assert symbols["USDJPY"].digits == 3


def test_seed_examples_run_against_the_demo_data(loaded: tuple[Runtime, dict[str, Any]]) -> None:
    runtime, _ = loaded
    services, actor = runtime.app, system_actor()
    # Seed 000: POST /mt4/manager/users with login 910024 in demo-usd.
    acc = services.open_account(
        OpenAccount(login=910024, name="Demo User", group="demo-usd", leverage=100), actor
    )
    assert (acc.login, acc.currency) == (910024, "USD")
    # Seed 002: /api/user/add?group=demoforex&name=JohnSmith&leverage=100 with its passwords.
    john = services.open_account(
        OpenAccount(
            group="demoforex",
            name="JohnSmith",
            leverage=100,
            main_password="1Ar#pqkj",
            investor_password="2Ar#pqkj",
            profile={"company": "Individual", "country": "United States", "city": "New York"},
        ),
        actor,
    )
    assert 950_000 <= john.login <= 959_999
    # Seed 003: two EUR traders in Default get 8035344 and 8035345; the second moves to DX_452.
    first = services.open_account(OpenAccount(group="Default", leverage=100), actor)
    second = services.open_account(OpenAccount(group="Default", leverage=100), actor)
    assert (first.login, second.login) == (8035344, 8035345)
    moved = services.update_account(UpdateAccount(second.login, {"group": "DX_452"}), actor)
    assert moved.group == "DX_452"
    # ... and the white-label example opens a USD account in Default for BESTBROKER_UK.
    usd = services.open_account(
        OpenAccount(
            group="Default",
            leverage=100,
            currency="USD",
            profile={"broker": "BESTBROKER_UK"},
            currency_free_groups=True,  # as cTrader's create opens it: groups have no currency
        ),
        actor,
    )
    assert (usd.currency, usd.broker) == ("USD", "BESTBROKER_UK")


def test_demo_accounts_opens_that_many_accounts_through_the_services(fresh_url: str) -> None:
    payload = demo_json(fresh_url, "--accounts", "5")
    assert payload["accounts_opened"] == 5
    more = demo_json(fresh_url, "--accounts", "2", "--group", "demoforex")
    assert more["already_loaded"] is True
    assert more["account_logins"] == {"first": 950_000, "last": 950_001}
    assert run("audit", "verify", "--database-url", fresh_url).exit_code == 0


def test_db_check_passes_on_a_freshly_upgraded_database(fresh_url: str) -> None:
    assert run("db", "upgrade", "--database-url", fresh_url).exit_code == 0
    result = run("db", "check", "--database-url", fresh_url)
    assert result.exit_code == 0, result.output
    assert run("db", "current", "--database-url", fresh_url).stdout.strip().endswith("(head)")


def test_db_check_fails_on_a_database_that_is_not_at_head(fresh_url: str) -> None:
    result = run("db", "check", "--database-url", fresh_url)
    assert result.exit_code == 1
    assert "not head" in result.stderr


def test_audit_verify_passes_after_the_demo_is_loaded(fresh_url: str) -> None:
    demo_json(fresh_url)
    result = run("audit", "verify", "--database-url", fresh_url)
    assert result.exit_code == 0, result.output
    assert "intact" in result.stdout


def test_audit_verify_names_the_first_edited_record(fresh_url: str, tmp_path: Path) -> None:
    demo_json(fresh_url)
    # closing: sqlite3's own `with` commits but leaves the connection open
    with contextlib.closing(sqlite3.connect(tmp_path / "cli.db")) as conn, conn:
        conn.execute("UPDATE audit_records SET operator_id = 'someone else' WHERE id = 3")
    result = run("audit", "verify", "--database-url", fresh_url)
    assert result.exit_code == 1
    assert "record 3" in result.stderr


def test_a_core_error_prints_one_line_with_its_code_and_exits_2(fresh_url: str) -> None:
    demo_json(fresh_url)
    result = run(
        "manager",
        "create",
        "--database-url",
        fresh_url,
        "--login",
        "1000",
        "--name",
        "X",
        "--rights",
        "users:read",
        "--groups",
        "*",
    )
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["Error: manager.exists: manager 1000 already exists"]
    assert "Traceback" not in result.output


def test_key_create_prints_a_secret_that_authenticates_once_issued(
    loaded: tuple[Runtime, dict[str, Any]], fresh_url: str
) -> None:
    runtime, _ = loaded
    result = run(
        "key",
        "create",
        "--database-url",
        fresh_url,
        "--manager",
        "1000",
        "--scopes",
        "users:read,users:write",
        "--expires",
        "7d",
        "--json",
    )
    assert result.exit_code == 0, result.output
    issued = json.loads(result.stdout)
    identity = runtime.app.authenticate_key(issued["key"])
    assert identity.scopes == frozenset({"users:read", "users:write"})
    assert issued["expires_at"] is not None


def test_commands_refuse_a_database_that_was_never_migrated(fresh_url: str) -> None:
    result = run("audit", "verify", "--database-url", fresh_url)
    assert result.exit_code == 2
    assert "brokerplane db upgrade" in result.stderr
