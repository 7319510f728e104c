"""users: agreement, logout and failed-login fields, unique email; user_links (cTID links)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import brokerplane.storage.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_links",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("login", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("environment", sa.String(length=63), server_default="", nullable=False),
        sa.Column(
            "created_at", brokerplane.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["login"], ["accounts.login"], name=op.f("fk_user_links_login_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_links_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_links")),
        sa.UniqueConstraint("login", name=op.f("uq_user_links_login")),
    )
    with op.batch_alter_table("user_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_links_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "agreement_accepted_at",
                brokerplane.storage.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "logged_out_at", brokerplane.storage.types.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_index("ix_users_nickname", ["nickname"], unique=False)
        batch_op.create_index(
            "uq_users_email_set",
            ["email"],
            unique=True,
            postgresql_where=sa.text("email != ''"),
            sqlite_where=sa.text("email != ''"),
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_users_email_set",
            postgresql_where=sa.text("email != ''"),
            sqlite_where=sa.text("email != ''"),
        )
        batch_op.drop_index("ix_users_nickname")
        batch_op.drop_column("failed_logins")
        batch_op.drop_column("logged_out_at")
        batch_op.drop_column("agreement_accepted_at")

    with op.batch_alter_table("user_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_links_user_id"))

    op.drop_table("user_links")
