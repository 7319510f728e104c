"""credential changes: every change to an API key, a manager or a manager token is announced

A server process keeps the API keys and cTrader manager tokens it has verified (with their
managers) in memory, and must drop them the moment any process changes one: a revoked or
rotated key is refused on the next request, in every process. Triggers announce every UPDATE
and DELETE of `api_keys`, `managers` and `manager_tokens`, whatever the path (the API, the
CLI, plain SQL):

- PostgreSQL: `pg_notify('brokerplane_credentials', <schema>)`, delivered at commit to every
  process listening (storage.credentials);
- SQLite: the counter in `credential_changes` goes up in the same transaction; a process reads
  it only when `PRAGMA data_version` says another connection committed (the table is made
  on PostgreSQL too, so both engines have the same tables, and stays at 0 there).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("api_keys", "managers", "manager_tokens")


def upgrade() -> None:
    op.create_table(
        "credential_changes",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("changes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential_changes")),
    )
    op.execute("INSERT INTO credential_changes (id, changes) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION credentials_changed() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN PERFORM pg_notify('brokerplane_credentials', TG_TABLE_SCHEMA); "
            "RETURN NULL; END $$"
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_changed AFTER UPDATE OR DELETE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION credentials_changed()"
            )
    else:
        for table in TABLES:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_{event.lower()}_changed AFTER {event} ON {table} "
                    "BEGIN UPDATE credential_changes SET changes = changes + 1 WHERE id = 1; END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_changed ON {table}")
        op.execute("DROP FUNCTION IF EXISTS credentials_changed()")
    else:
        for table in TABLES:
            for event in ("UPDATE", "DELETE"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{event.lower()}_changed")
    op.drop_table("credential_changes")
