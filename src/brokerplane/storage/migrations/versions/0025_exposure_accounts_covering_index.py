"""accounts (login, group_id, broker): the exposure report reads accounts from an index

The exposure aggregate joins the open positions to their accounts for the group (and the white
label of a manager's reach). With this index PostgreSQL reads those three columns from the index
alone, one probe per position, instead of scanning the whole accounts table.

On PostgreSQL the index is built with CREATE INDEX CONCURRENTLY when `accounts` has rows: writes
go on while it builds (it waits for the transactions already running when it starts, and takes
two scans of the table). That cannot run inside a transaction, so the revisions before this one
are committed first; an interrupted build leaves an invalid index, which the next run drops and
builds again. An empty table (a new database) gets a plain CREATE INDEX. SQLite builds it in the
revision's transaction, holding the database's write lock meanwhile.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_accounts_login_group_id_broker"
COLUMNS = ["login", "group_id", "broker"]

_INVALID = """
    SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace
      AND NOT i.indisvalid
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        op.create_index(NAME, "accounts", COLUMNS)
        return
    from sqlalchemy import text

    if bind.execute(text("SELECT NOT EXISTS (SELECT 1 FROM accounts)")).scalar():
        op.create_index(NAME, "accounts", COLUMNS)
        return
    bind.commit()  # CONCURRENTLY runs outside a transaction: what came before is kept
    level = bind.get_isolation_level()
    bind.execution_options(isolation_level="AUTOCOMMIT")
    try:
        if bind.execute(text(_INVALID), {"name": NAME}).first() is not None:
            bind.exec_driver_sql(f"DROP INDEX CONCURRENTLY {NAME}")
        bind.exec_driver_sql(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} ON accounts ({', '.join(COLUMNS)})"
        )
    finally:
        bind.rollback()  # ends SQLAlchemy's own block: AUTOCOMMIT left nothing to undo
        bind.execution_options(isolation_level=level)


def downgrade() -> None:
    op.drop_index(NAME, "accounts")
