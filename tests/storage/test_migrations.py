"""Migrations: both engines reach the head revision and match the tables declared in code."""

from __future__ import annotations

from brokerplane.bootstrap import Runtime
from brokerplane.core.audit.model import GENESIS_HASH
from brokerplane.storage import migrate


def test_migrated_database_is_at_the_head_revision(runtime: Runtime) -> None:
    assert migrate.current(runtime.storage.engine) == migrate.head()


def test_migrated_database_does_not_drift_from_the_tables_in_code(runtime: Runtime) -> None:
    assert migrate.drift(runtime.storage.engine) == []


def test_upgrading_an_upgraded_database_changes_nothing(runtime: Runtime) -> None:
    migrate.upgrade(runtime.storage.engine)

    assert migrate.current(runtime.storage.engine) == migrate.head()
    assert migrate.drift(runtime.storage.engine) == []


def test_migrated_database_starts_an_empty_audit_chain(runtime: Runtime) -> None:
    with runtime.storage.uow(write=False) as uow:
        assert uow.audit.head() == (0, GENESIS_HASH)
        assert list(uow.audit.iter_all()) == []
    assert runtime.services.verify_audit().ok
    assert runtime.services.is_empty()


def test_storage_names_its_backend_and_answers_a_ping(runtime: Runtime, database_url: str) -> None:
    assert runtime.storage.backend == database_url.split(":")[0].split("+")[0]
    assert runtime.storage.ping() is True
