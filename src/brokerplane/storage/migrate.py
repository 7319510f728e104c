"""Schema migrations: upgrade, current revision, and a drift check of models against revisions."""

from __future__ import annotations

import logging
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from brokerplane.storage.migrate_paths import MIGRATIONS
from brokerplane.storage.tables import metadata, postgresql_options

log = logging.getLogger("brokerplane.storage.migrate")

postgresql_options()  # the schema as migrations make it on PostgreSQL too

__all__ = ["MIGRATIONS", "SchemaAhead", "current", "drift", "head", "revision", "upgrade"]


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    rev = ScriptDirectory.from_config(_config()).get_current_head()
    assert rev is not None
    return rev


class SchemaAhead(ValueError):
    """The database is at a revision this brokerplane does not know: a newer one migrated it."""


# Server processes starting together (several hosts over one PostgreSQL) migrate one at a
# time: the others wait on this lock, then find the schema at head and do nothing.
_LOCK = "SELECT pg_advisory_lock(hashtext('brokerplane.migrate.' || current_schema()))"
_TRY_LOCK = "SELECT pg_try_advisory_lock(hashtext('brokerplane.migrate.' || current_schema()))"
_UNLOCK = "SELECT pg_advisory_unlock(hashtext('brokerplane.migrate.' || current_schema()))"


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.connect().execution_options(bp_write=True) as conn:
        locked = conn.dialect.name == "postgresql"
        if locked:
            if not conn.exec_driver_sql(_TRY_LOCK).scalar():
                log.warning(
                    "waiting for another brokerplane process migrating this database's schema "
                    "(it holds the migration lock; one stuck can be found in pg_locks, "
                    "locktype advisory)"
                )
                conn.exec_driver_sql(_LOCK)
            conn.commit()
        try:
            at = MigrationContext.configure(conn).get_current_revision()
            if at is not None and not _known(at):
                conn.rollback()
                raise SchemaAhead(
                    f"the database is at schema revision {at}, newer than this brokerplane knows "
                    f"(its newest is {head()}): a newer brokerplane migrated it. Run that version "
                    "(brokerplane processes already running keep working through expand-only "
                    "revisions, but one this old cannot start on it)"
                )
            command.upgrade(_config(conn), revision)
            if conn.in_transaction():
                conn.commit()
        finally:
            if locked:
                if conn.in_transaction():
                    conn.rollback()
                conn.exec_driver_sql(_UNLOCK)
                conn.commit()


def known(rev: str) -> bool:
    """Whether `rev` is one of the revisions shipped with this version."""
    return _known(rev)


def _known(rev: str) -> bool:
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(_config()).get_revision(rev) is not None
    except CommandError:
        return False


def current(engine: Engine) -> str | None:
    with engine.connect().execution_options(bp_write=False) as conn:
        return MigrationContext.configure(conn).get_current_revision()


def drift(engine: Engine) -> list[Any]:
    """Differences between the tables in code and the migrated database (empty when in step)."""
    with engine.connect().execution_options(bp_write=False) as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))


def revision(engine: Engine, message: str) -> None:
    """Write a new revision from the drift (developers' tool: `brokerplane db revision`)."""
    with engine.connect() as conn:
        command.revision(_config(conn), message=message, autogenerate=True)
