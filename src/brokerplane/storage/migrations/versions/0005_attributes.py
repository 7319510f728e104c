"""account_attributes, group_attributes, manager_attributes: key/value metadata (cTrader 4.14-4.22)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import brokerplane.storage.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "group_attributes",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("folded_name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.Column(
            "updated_at", brokerplane.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_group_attributes_group_id_groups")
        ),
        sa.PrimaryKeyConstraint("group_id", "name", name=op.f("pk_group_attributes")),
    )
    op.create_table(
        "manager_attributes",
        sa.Column("manager_login", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("folded_name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.Column(
            "updated_at", brokerplane.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["manager_login"],
            ["managers.login"],
            name=op.f("fk_manager_attributes_manager_login_managers"),
        ),
        sa.PrimaryKeyConstraint("manager_login", "name", name=op.f("pk_manager_attributes")),
    )
    op.create_table(
        "account_attributes",
        sa.Column("login", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("folded_name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.Column(
            "updated_at", brokerplane.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["login"], ["accounts.login"], name=op.f("fk_account_attributes_login_accounts")
        ),
        sa.PrimaryKeyConstraint("login", "name", name=op.f("pk_account_attributes")),
    )


def downgrade() -> None:
    op.drop_table("account_attributes")
    op.drop_table("manager_attributes")
    op.drop_table("group_attributes")
