"""A database writer forging what the first verifiers did not tie: a chain rewritten unkeyed under
an environment key, account currencies, entry metadata, approvals, API keys and managers, on both
engines."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from brokerplane import bootstrap
from brokerplane.auditkeys import AuditKeyError
from brokerplane.core.actor import Actor
from brokerplane.core.group.service import CreateGroup
from brokerplane.settings import Settings
from tests.storage.test_audit_forgery import _rechain, _records

ENV_KEY = "ab" * 32


@pytest.fixture
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROKERPLANE_AUDIT_KEY", raising=False)
    monkeypatch.delenv("BROKERPLANE_AUDIT_LEGACY_UNTIL", raising=False)


def _env_settings(database_url: str, data_dir: Path, legacy_until: int | None = None) -> Settings:
    return Settings(database_url=database_url, data_dir=data_dir,
                    audit_key=SecretStr(ENV_KEY), audit_legacy_until=legacy_until)  # fmt: skip


def _groups(runtime: bootstrap.Runtime, admin: Actor, *names: str) -> None:
    for name in names:
        runtime.services.create_group(CreateGroup(f"real\\{name}", "USD", {}), admin)


# --------------------------------------------------------------------------- environment key


def test_a_chain_rewritten_unkeyed_under_an_environment_key_is_refused(
    database_url: str, tmp_path: Path, no_env_key: None, admin: Actor
) -> None:
    runtime = bootstrap.build(_env_settings(database_url, tmp_path))
    try:
        _groups(runtime, admin, "a", "b")
        assert runtime.services.verify_audit().ok
        _rechain(runtime, {1: lambda rec: None}, key=None)  # every record plain SHA-256, no key

        report = runtime.services.verify_audit()
        assert (report.ok, report.first_bad_id) == (False, 1)
        assert "unkeyed record where the chain is keyed" in report.reason
    finally:
        runtime.close()
    with pytest.raises(AuditKeyError, match="BROKERPLANE_AUDIT_LEGACY_UNTIL=2"):
        bootstrap.build(_env_settings(database_url, tmp_path))


def test_a_legacy_chain_under_an_environment_key_verifies_up_to_the_stated_boundary(
    database_url: str, tmp_path: Path, no_env_key: None, admin: Actor
) -> None:
    legacy = bootstrap.build(Settings(database_url=database_url, data_dir=tmp_path),
                             provision_key=False)  # fmt: skip
    _groups(legacy, admin, "a", "b")
    legacy.close()
    with pytest.raises(AuditKeyError, match="BROKERPLANE_AUDIT_LEGACY_UNTIL=2"):
        bootstrap.build(_env_settings(database_url, tmp_path))

    runtime = bootstrap.build(_env_settings(database_url, tmp_path, legacy_until=2))
    try:
        _groups(runtime, admin, "c")
        assert [r.seal_key is None for r in _records(runtime)] == [True, True, False]
        report = runtime.services.verify_audit()
        assert (report.ok, report.records, report.legacy) == (True, 3, 2)
    finally:
        runtime.close()
