"""A database writer forging what the first verifiers did not tie: a chain rewritten unkeyed under
an environment key, account currencies, entry metadata, approvals, API keys and managers, on both
engines."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import insert, update

from brokerplane import bootstrap
from brokerplane.application.app import Application
from brokerplane.auditkeys import AuditKeyError
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import (
    CreateApiKey,
    CreateManager,
    RevokeApiKey,
    RotateApiKey,
    UpdateManager,
)
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.approval.commands import DecideApproval, SetApprovalThreshold
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.group.model import Group
from brokerplane.core.kinds import Dialect
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.settings import Settings
from brokerplane.storage import tables as t
from tests.storage.test_audit_forgery import _funded, _rechain, _records

ENV_KEY = "ab" * 32


@pytest.fixture
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROKERPLANE_AUDIT_KEY", raising=False)
    monkeypatch.delenv("BROKERPLANE_AUDIT_LEGACY_UNTIL", raising=False)


def _env_settings(database_url: str, data_dir: Path, legacy_until: int | None = None) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        audit_key=SecretStr(ENV_KEY),
        audit_legacy_until=legacy_until,
    )


def _groups(runtime: bootstrap.Runtime, admin: Actor, *names: str) -> None:
    for name in names:
        runtime.app.create_group(CreateGroup(f"real\\{name}", "USD", {}), admin)


# --------------------------------------------------------------------------- environment key


def test_a_chain_rewritten_unkeyed_under_an_environment_key_is_refused(
    database_url: str, tmp_path: Path, no_env_key: None, admin: Actor
) -> None:
    runtime = bootstrap.build(_env_settings(database_url, tmp_path))
    try:
        _groups(runtime, admin, "a", "b")
        assert runtime.app.verify_audit().ok
        _rechain(runtime, {1: lambda rec: None}, key=None)  # every record plain SHA-256, no key

        report = runtime.app.verify_audit()
        assert (report.ok, report.first_bad_id) == (False, 1)
        assert "unkeyed record where the chain is keyed" in report.reason
    finally:
        runtime.close()
    with pytest.raises(AuditKeyError, match="BROKERPLANE_AUDIT_LEGACY_UNTIL=2"):
        bootstrap.build(_env_settings(database_url, tmp_path))


def test_a_legacy_chain_under_an_environment_key_verifies_up_to_the_stated_boundary(
    database_url: str, tmp_path: Path, no_env_key: None, admin: Actor
) -> None:
    legacy = bootstrap.build(
        Settings(database_url=database_url, data_dir=tmp_path), provision_key=False
    )
    _groups(legacy, admin, "a", "b")
    legacy.close()
    with pytest.raises(AuditKeyError, match="BROKERPLANE_AUDIT_LEGACY_UNTIL=2"):
        bootstrap.build(_env_settings(database_url, tmp_path))

    runtime = bootstrap.build(_env_settings(database_url, tmp_path, legacy_until=2))
    try:
        _groups(runtime, admin, "c")
        assert [r.seal_key is None for r in _records(runtime)] == [True, True, False]
        report = runtime.app.verify_audit()
        assert (report.ok, report.records, report.legacy) == (True, 3, 2)
    finally:
        runtime.close()


# --------------------------------------------------------------------------- ledger metadata

REQUESTER = Actor(manager_login=1000, scopes=frozenset({"balances:write"}), dialect=Dialect.NATIVE)
APPROVER = Actor(manager_login=1001, scopes=frozenset({"balances:approve"}), dialect=Dialect.NATIVE)


def _approved_deposit(services: Application, admin: Actor) -> tuple[int, int, int]:
    """An account with a plain deposit and an approved one: (login, plain id, approved id)."""
    login = _funded(services, admin, deposits=1)
    services.set_approval_threshold(SetApprovalThreshold("USD", "1000"), admin)
    held = services.post_ledger_entry(
        PostLedgerEntry(login, "deposit", "5000.00", "big one", "ref-1"), REQUESTER
    )
    assert held.approval is not None
    decision = services.decide_approval(DecideApproval(held.approval.id, True, "ok"), APPROVER)
    assert decision.posting is not None and decision.posting.entry is not None
    return login, 1, decision.posting.entry.id


def test_entry_metadata_rewritten_in_the_database_disagrees_with_its_audit_record(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    login, plain, approved = _approved_deposit(services, admin)
    assert services.audit_ledger().ok
    e = t.ledger_entries.c
    with runtime.storage.engine.begin() as conn:
        conn.execute(
            update(t.ledger_entries)
            .where(e.id == plain)
            .values(
                reference="INV-forged",
                comment="forged",
                manager_login=1001,
                approved_by=1000,
                approval_id=1,
                at=datetime(2020, 1, 1, tzinfo=UTC),
            )
        )
        conn.execute(
            update(t.ledger_entries)
            .where(e.id == approved)
            .values(manager_login=1001, approved_by=1000, currency="EUR")
        )

    reasons = [p.reason for p in services.audit_ledger().entry_problems]

    for words in (
        "reference 'INV-forged'",
        "comment 'forged'",
        "time '2020-01-01",
        "approval 1, its",
        "manager 1001",
        "approved by 1000",
    ):
        assert any(f"entry {plain} on account {login}: {words}" in r for r in reasons), words
    for words in ("approved by 1000, its audit record", "manager 1001", "currency 'EUR'"):
        assert any(f"entry {approved} on account {login}: {words}" in r for r in reasons), words


def test_approval_rows_rewritten_in_the_database_disagree_with_their_audit_records(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    _approved_deposit(services, admin)
    assert services.audit_ledger().ok
    with runtime.storage.engine.begin() as conn:
        conn.execute(
            update(t.approvals).values(
                requested_by=1001, decided_by=1000, amount=1, reference="forged"
            )
        )

    problems = services.audit_ledger().row_problems

    for words in (
        "requested_by is 1001",
        "decided_by is 1000",
        "amount is 1,",
        "reference is 'forged'",
    ):
        assert any(p.startswith("approval 1 ") and words in p for p in problems), words


# --------------------------------------------------------------------------- account currency


def test_an_account_whose_currency_digits_were_changed_is_named(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    login = _funded(services, admin, deposits=1)  # 100.00 USD
    empty = services.open_account(OpenAccount(group="real\\standard"), admin).login
    a = t.accounts.c
    with runtime.storage.engine.begin() as conn:  # 100.00 now reads 10000
        conn.execute(
            update(t.accounts).where(a.login.in_((login, empty))).values(currency_digits=0)
        )
    assert services.get_account(login, admin).balance == 10_000  # what a user would see

    report = services.audit_ledger()

    assert not report.ok
    found = {(c.login, c.source.split()[0], c.said_digits) for c in report.currencies}
    assert found == {(login, "entry", 2), (login, "audit", 2), (empty, "audit", 2)}


# --------------------------------------------------------------------------- managers and keys


def test_managers_and_api_keys_kept_through_commands_tie_to_their_audit_records(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    desk = CreateManager(1000, "desk", "password-1", frozenset({"balances:write"}))
    services.create_manager(desk, admin)
    services.update_manager(UpdateManager(1000, password="password-2", enabled=False), admin)
    key = services.create_api_key(CreateApiKey(1000, frozenset({"balances:write"})), admin)
    services.rotate_api_key(RotateApiKey(key.key.id), admin)
    other = services.create_api_key(CreateApiKey(1000, frozenset({"balances:write"})), admin)
    services.revoke_api_key(RevokeApiKey(other.key.id), admin)

    report = services.audit_ledger()

    assert (report.ok, report.row_problems) == (True, [])


def test_api_keys_and_managers_minted_or_widened_in_the_database_are_named(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    services.create_manager(
        CreateManager(1000, "desk", "password", frozenset({"balances:write"})), admin
    )
    real = services.create_api_key(CreateApiKey(1000, frozenset({"balances:write"})), admin)
    assert services.audit_ledger().ok
    secret = "bp_forged_secret"
    with runtime.storage.engine.begin() as conn:  # what a database writer mints for itself
        conn.execute(
            insert(t.managers).values(
                login=1001,
                name="",
                enabled=True,
                rights=["balances:approve"],
                group_mask="*",
                white_labels="*",
                verifiers={},
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
        )
        conn.execute(
            insert(t.api_keys).values(
                id="forged",
                manager_login=1001,
                prefix="forgedpfx",
                scopes=["balances:approve"],
                secret_hash=hashlib.sha256(secret.encode()).hexdigest(),
                name="",
                created_at=datetime.now(UTC),
            )
        )
        conn.execute(
            update(t.api_keys)
            .where(t.api_keys.c.id == real.key.id)
            .values(scopes=["admin"], secret_hash=hashlib.sha256(secret.encode()).hexdigest())
        )
        conn.execute(update(t.managers).where(t.managers.c.login == 1000).values(rights=["admin"]))

    problems = services.audit_ledger().row_problems

    assert any(p.startswith("manager 1001 has no audit record") for p in problems)
    assert any(p.startswith("API key forged (manager 1001) has no audit record") for p in problems)
    assert any(
        p.startswith(f"API key {real.key.id}") and "scopes is ['admin']" in p for p in problems
    )
    assert any(p.startswith(f"API key {real.key.id}") and "secret_digest" in p for p in problems)
    assert any(p.startswith("manager 1000") and "rights is ['admin']" in p for p in problems)
