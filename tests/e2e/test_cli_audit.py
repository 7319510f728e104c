"""`brokerplane ledger verify` and `audit verify|checkpoint|rotate-key` against a database writer
who forges money with SQL, and the audit key file's life (first start, loss, rotation), run
through click's CliRunner on both engines."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import insert, update

from brokerplane.bootstrap import Runtime
from brokerplane.cli.main import main
from brokerplane.core.actor import Actor
from brokerplane.storage import tables as t
from tests.e2e.test_cli_money import open_usd_account, post
from tests.storage.test_audit_forgery import (
    _entry_record,
    _forge_deposit,
    _raise_in_record,
    _rechain,
)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _three_deposits(runtime: Runtime, admin: Actor) -> int:
    login = open_usd_account(runtime, admin)
    for amount in ("100.00", "101.00", "102.00"):
        post(runtime, admin, login, "deposit", amount)
    return login


def test_ledger_verify_names_a_deposit_inserted_with_the_balance_raised_to_match(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    login = _three_deposits(runtime, admin)
    with runtime.storage.engine.begin() as conn:  # a database writer mints 10,000.00
        forged = conn.execute(
            insert(t.ledger_entries)
            .values(
                login=login,
                kind="deposit",
                amount=1_000_000,
                balance_after=1_030_300,
                credit_after=0,
                bonus_after=0,
                currency="USD",
                currency_digits=2,
                at=runtime.app.clock(),
                comment="",
                reference="ref-1",
                dialect="native",
            )
            .returning(t.ledger_entries.c.id)
        ).scalar_one()
        conn.execute(
            update(t.accounts)
            .where(t.accounts.c.login == login)
            .values(balance=t.accounts.c.balance + 1_000_000)
        )

    result = run("ledger", "verify", "--database-url", database_url)

    assert result.exit_code == 1
    assert f"entry {forged} on account {login} (deposit 1000000) has no audit record" in (
        result.stderr
    )
    assert "1 entry problem(s) between the ledger's 4 entries and the audit trail" in result.stderr
    assert result.stdout == ""


def test_audit_verify_fails_on_a_deposit_edited_with_its_record_and_the_chain_recomputed(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    login = _three_deposits(runtime, admin)
    record = _entry_record(runtime, 3)
    _forge_deposit(runtime, login, 3, 5_000_000)  # the entry and the cached balance...
    # ...its audit record, every hash after it and audit_head, as SHA-256 (no key to hand)
    _rechain(runtime, {record.id: _raise_in_record(5_000_000)}, key=None)

    assert run("ledger", "verify", "--database-url", database_url).exit_code == 0
    result = run("audit", "verify", "--database-url", database_url)

    assert result.exit_code == 1
    assert f"audit chain broken at record {record.id}: unkeyed record where the chain is keyed" in (
        result.stderr
    )


def test_a_checkpoint_verifies_until_history_is_rewritten_even_with_the_key(
    runtime: Runtime, admin: Actor, database_url: str, tmp_path: Path
) -> None:
    login = _three_deposits(runtime, admin)
    checkpoint = tmp_path / "checkpoint.json"
    made = run("audit", "checkpoint", "--database-url", database_url, "--out", str(checkpoint))
    assert made.exit_code == 0, made.output
    statement = json.loads(checkpoint.read_text())
    assert statement["ledger"] == {
        "USD": {"entries": 3, "balance": 30_300, "credit": 0, "bonus": 0}
    }
    post(runtime, admin, login, "deposit", "5.00")  # life goes on after the checkpoint
    held = run("audit", "verify", "--database-url", database_url, "--checkpoint", str(checkpoint))
    assert held.exit_code == 0, held.output
    assert f"checkpoint holds: record {statement['record']}" in held.stdout

    record = _entry_record(runtime, 1)
    _forge_deposit(runtime, login, 1, 5_000_000)
    assert runtime.keyring is not None  # an insider holding the audit key re-seals everything
    _rechain(runtime, {record.id: _raise_in_record(5_000_000)}, runtime.keyring.keys.current)

    assert run("audit", "verify", "--database-url", database_url).exit_code == 0
    caught = run("audit", "verify", "--database-url", database_url, "--checkpoint", str(checkpoint))
    assert caught.exit_code == 1
    assert f"broken at record {statement['record']}: the record differs from the checkpoint" in (
        caught.stderr
    )


def test_an_altered_checkpoint_is_refused(
    runtime: Runtime, admin: Actor, database_url: str, tmp_path: Path
) -> None:
    _three_deposits(runtime, admin)
    printed = run("audit", "checkpoint", "--database-url", database_url)
    statement = json.loads(printed.stdout)
    checkpoint = tmp_path / "checkpoint.json"
    checkpoint.write_text(json.dumps({**statement, "record": statement["record"] - 1}))

    result = run("audit", "verify", "--database-url", database_url, "--checkpoint", str(checkpoint))

    assert result.exit_code == 1
    assert "signature does not verify" in result.stderr


# --------------------------------------------------------------------------- the key file


@pytest.fixture
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROKERPLANE_AUDIT_KEY", raising=False)


def test_demo_makes_an_owner_only_key_and_refuses_to_start_once_it_is_lost(
    database_url: str, tmp_path: Path, no_env_key: None
) -> None:
    db = ("--database-url", database_url, "--data-dir", str(tmp_path / "var"))
    assert run("demo", *db, "--json").exit_code == 0
    key_file = tmp_path / "var" / "audit.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert run("audit", "verify", *db).exit_code == 0

    key_file.unlink()
    for command in (("demo", *db), ("db", "upgrade", *db), ("audit", "verify", *db)):
        refused = run(*command)
        assert refused.exit_code == 2, command
        assert "no audit key is configured" in refused.stderr
        assert "restore the key file from its backup" in refused.stderr
    assert not key_file.exists()


def test_rotate_key_keeps_old_records_verifiable(
    database_url: str, tmp_path: Path, no_env_key: None
) -> None:
    db = ("--database-url", database_url, "--data-dir", str(tmp_path))
    assert run("db", "upgrade", *db).exit_code == 0
    assert run("demo", *db, "--json").exit_code == 0

    rotated = run("audit", "rotate-key", *db)
    assert rotated.exit_code == 0, rotated.output
    assert "new records are sealed with" in rotated.stdout
    assert (tmp_path / "audit.key").read_text().count("\nkey ") == 2
    made = run(
        "manager",
        "create",
        *db,
        "--login",
        "2000",
        "--name",
        "after rotation",
        "--password",
        "Rotation-Pass-1",
        "--rights",
        "admin",
        "--groups",
        "*",
    )
    assert made.exit_code == 0, made.output

    result = run("audit", "verify", *db)
    assert result.exit_code == 0, result.output
