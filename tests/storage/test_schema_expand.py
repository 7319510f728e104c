"""Rolling schema upgrades: this code keeps working on a schema one expand step ahead of it (a
nullable column, a column with a default, a new table), as running workers must while a newer
brokerplane migrates; and a brokerplane that meets a revision newer than it knows refuses to
start with one clear line instead of migrating blindly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from brokerplane.bootstrap import Runtime
from brokerplane.core.account.commands import ListAccounts, OpenAccount
from brokerplane.core.actor import system_actor
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.ledger.model import LedgerQuery
from brokerplane.storage import migrate

EXPAND = (
    "ALTER TABLE accounts ADD COLUMN risk_tier VARCHAR(16)",
    "ALTER TABLE ledger_entries ADD COLUMN source VARCHAR(16) DEFAULT '' NOT NULL",
    "CREATE TABLE future_notes (id INTEGER PRIMARY KEY, body VARCHAR(64))",
)
CONTRACT = (
    "DROP TABLE future_notes",
    "ALTER TABLE ledger_entries DROP COLUMN source",
    "ALTER TABLE accounts DROP COLUMN risk_tier",
)


@pytest.fixture
def expanded(runtime: Runtime) -> Iterator[Engine]:
    """The runtime's database with a next revision's expand step applied (and undone after:
    the PostgreSQL schema is shared by the tests of this worker)."""
    engine = runtime.storage.engine
    with engine.begin() as conn:
        for statement in EXPAND:
            conn.execute(text(statement))
    try:
        yield engine
    finally:
        with engine.begin() as conn:
            for statement in CONTRACT:
                conn.execute(text(statement))


def test_this_code_keeps_working_on_a_schema_one_expand_step_ahead(
    runtime: Runtime, expanded: Engine
) -> None:
    services, admin = runtime.app, system_actor()
    services.create_group(CreateGroup("real\\expand", "USD"), admin)
    login = services.open_account(OpenAccount(group="real\\expand", name="Ahead"), admin).login
    services.post_ledger_entry(PostLedgerEntry(login, "deposit", "150.00"), admin)
    services.post_ledger_entry(PostLedgerEntry(login, "withdrawal", "50.00"), admin)
    with expanded.begin() as conn:  # a newer worker writes what only it knows
        conn.execute(text("UPDATE accounts SET risk_tier = 'high' WHERE login = :l"), {"l": login})
        conn.execute(text("INSERT INTO future_notes (id, body) VALUES (1, 'new')"))

    (account,) = services.list_accounts(ListAccounts(logins=(login,)), admin)
    assert account.balance == 100_00  # minor units
    entries = services.list_ledger(LedgerQuery(login=login), admin)
    assert [e.kind for e in entries] == ["deposit", "withdrawal"]
    assert services.audit_ledger().ok
    assert services.verify_audit().ok


def test_a_revision_newer_than_the_code_is_refused_with_one_clear_line(runtime: Runtime) -> None:
    engine = runtime.storage.engine
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    try:
        with pytest.raises(migrate.SchemaAhead, match="newer than this brokerplane knows"):
            migrate.upgrade(engine)
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :h"), {"h": migrate.head()})
    assert migrate.current(engine) == migrate.head()
