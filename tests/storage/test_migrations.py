"""Migrations: both engines reach the head revision and match the tables declared in code."""

from __future__ import annotations

import logging
import threading

import pytest
from alembic import command
from sqlalchemy import Engine, select, update

from brokerplane.bootstrap import Runtime
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import system_actor
from brokerplane.core.audit.model import GENESIS_HASH
from brokerplane.core.group.commands import CreateGroup
from brokerplane.storage import migrate
from brokerplane.storage import tables as t


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
    assert runtime.app.verify_audit().ok
    assert runtime.app.is_empty()


def test_storage_names_its_backend_and_answers_a_ping(runtime: Runtime, database_url: str) -> None:
    assert runtime.storage.backend == database_url.split(":")[0].split("+")[0]
    assert runtime.storage.ping() is True


def test_revision_0008_moves_attributes_out_of_the_rows(runtime: Runtime) -> None:
    """Attributes written into the rows' JSON before 0008 are in the attribute store after it
    (pairs the store cannot hold are dropped) and the rows keep `{}`."""
    services, admin = runtime.app, system_actor()
    services.create_group(CreateGroup("real\\std", "USD"), admin)
    login = services.open_account(OpenAccount(group="real\\std"), admin).login
    engine = runtime.storage.engine
    with engine.connect() as conn:
        command.downgrade(migrate._config(conn), "0007")
        conn.commit()
    legacy = {"kyc": "passed", "empty": "", "n" * 65: "too long a name"}
    with engine.begin() as conn:
        conn.execute(
            update(t.accounts).where(t.accounts.c.login == login).values(attributes=legacy)
        )
        conn.execute(update(t.groups).values(attributes={"desk": "ldn"}))

    migrate.upgrade(engine)

    assert services.get_account(login, admin).attributes == {"kyc": "passed"}
    assert services.get_group("real\\std", admin).attributes == {"desk": "ldn"}
    with engine.connect() as conn:
        rows = [
            *conn.execute(select(t.accounts.c.attributes)),
            *conn.execute(select(t.groups.c.attributes)),
        ]
    assert [r[0] for r in rows] == [{}, {}]
    assert migrate.drift(engine) == []


@pytest.mark.engines("postgres")
def test_an_upgrade_waiting_for_another_process_migrating_says_so(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """Processes starting together migrate one at a time; one that waits says why (a process
    stuck mid-migration is otherwise a silent hang at start)."""
    engine = runtime.storage.engine
    holder = engine.connect()
    holder.exec_driver_sql(migrate._LOCK)
    holder.commit()
    done = threading.Event()

    def upgrade() -> None:
        migrate.upgrade(engine)
        done.set()

    waiter = threading.Thread(target=upgrade)
    try:
        with caplog.at_level(logging.WARNING, logger="brokerplane.storage.migrate"):
            waiter.start()
            for _ in range(200):
                if "another brokerplane process" in caplog.text:
                    break
                waiter.join(0.05)
            assert "another brokerplane process" in caplog.text
            assert not done.is_set()
    finally:
        holder.exec_driver_sql(migrate._UNLOCK)
        holder.commit()
        holder.close()
        waiter.join(30)
    assert done.is_set()


def test_revision_0025_builds_the_covering_index_on_accounts_with_rows(runtime: Runtime) -> None:
    """On PostgreSQL, with accounts present, the index is built CONCURRENTLY (outside the
    revision's transaction) and is valid; the revisions before it stay applied."""
    services, admin = runtime.app, system_actor()
    services.create_group(CreateGroup("real\\std", "USD"), admin)
    services.open_account(OpenAccount(group="real\\std"), admin)
    engine = runtime.storage.engine
    with engine.connect() as conn:
        command.downgrade(migrate._config(conn), "0024")
        conn.commit()
    assert "ix_accounts_login_group_id_broker" not in _indexes(engine)

    migrate.upgrade(engine)

    assert migrate.current(engine) == migrate.head()
    assert _indexes(engine)["ix_accounts_login_group_id_broker"] is True
    assert migrate.drift(engine) == []


def _indexes(engine: Engine) -> dict[str, bool]:
    """The accounts table's indexes, and whether each is valid (always on SQLite)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("PRAGMA index_list(accounts)")
            return {r[1]: True for r in rows}
        rows = conn.exec_driver_sql(
            "SELECT c.relname, i.indisvalid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'accounts'::regclass"
        )
        return {r[0]: bool(r[1]) for r in rows}
