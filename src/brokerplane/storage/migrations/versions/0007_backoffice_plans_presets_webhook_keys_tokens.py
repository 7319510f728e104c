"""TraderEvolution back office: plans, account presets, webhook keys, session tokens; one user
per TE login

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

import brokerplane.storage.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, brokerplane.storage.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=255), server_default="", nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("name", name=op.f("uq_plans_name")),
    )
    op.create_table(
        "account_presets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("currency_digits", sa.Integer(), nullable=True),
        sa.Column("leverage", sa.Integer(), nullable=True),
        sa.Column("account_type", sa.String(length=16), nullable=True),
        sa.Column("swap_free", sa.Boolean(), nullable=True),
        sa.Column("description", sa.String(length=255), server_default="", nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_presets")),
        sa.UniqueConstraint("name", name=op.f("uq_account_presets_name")),
    )
    op.create_table(
        "webhook_keys",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("api_key", sa.String(length=64), nullable=False),
        sa.Column("secret_digest", sa.String(length=64), nullable=False),
        _when("created_at"),
        _when("expires_at", nullable=True),
        _when("last_used_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_webhook_keys_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_keys")),
        sa.UniqueConstraint("api_key", name=op.f("uq_webhook_keys_api_key")),
    )
    with op.batch_alter_table("webhook_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_keys_user_id"), ["user_id"], unique=False)

    op.create_table(
        "backoffice_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("principal", sa.String(length=8), nullable=False),
        sa.Column("principal_id", sa.BigInteger(), nullable=False),
        sa.Column("verifier_fingerprint", sa.String(length=64), nullable=False),
        _when("issued_at"),
        _when("expires_at"),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_backoffice_tokens")),
    )
    with op.batch_alter_table("backoffice_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_backoffice_tokens_session_id"), ["session_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_backoffice_tokens_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            "ix_backoffice_tokens_principal", ["principal", "principal_id"], unique=False
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(
            "uq_users_login_set",
            ["login"],
            unique=True,
            postgresql_where=sa.text("login != ''"),
            sqlite_where=sa.text("login != ''"),
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_users_login_set",
            postgresql_where=sa.text("login != ''"),
            sqlite_where=sa.text("login != ''"),
        )
    with op.batch_alter_table("backoffice_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_backoffice_tokens_principal")
        batch_op.drop_index(batch_op.f("ix_backoffice_tokens_expires_at"))
        batch_op.drop_index(batch_op.f("ix_backoffice_tokens_session_id"))
    op.drop_table("backoffice_tokens")
    with op.batch_alter_table("webhook_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_keys_user_id"))
    op.drop_table("webhook_keys")
    op.drop_table("account_presets")
    op.drop_table("plans")
