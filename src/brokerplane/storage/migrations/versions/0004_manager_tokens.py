"""manager_tokens: dialect session tokens of managers (cTrader webservToken), hashed

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import brokerplane.storage.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "manager_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("manager_login", sa.BigInteger(), nullable=False),
        sa.Column("dialect", sa.String(length=16), nullable=False),
        sa.Column("verifier_fingerprint", sa.String(length=64), nullable=False),
        sa.Column(
            "issued_at", brokerplane.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["manager_login"],
            ["managers.login"],
            name=op.f("fk_manager_tokens_manager_login_managers"),
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_manager_tokens")),
    )
    with op.batch_alter_table("manager_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_manager_tokens_manager_login"), ["manager_login"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("manager_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_manager_tokens_manager_login"))
    op.drop_table("manager_tokens")
