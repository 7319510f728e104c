"""events, webhook_subscriptions, webhook_deliveries and audit_head.last_event_id: the outbox

Every committed change's events, numbered under the audit head's lock (commit order), and the
webhook subscriptions that deliver them.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import brokerplane.storage.types

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = brokerplane.storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_event_id", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("audit_id", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("login", sa.BigInteger(), nullable=True),
        sa.Column("group_name", sa.String(length=63), nullable=True),
        sa.Column("broker", sa.String(length=63), nullable=True),
        sa.Column("manager_login", sa.BigInteger(), nullable=True),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("operator_id", sa.String(length=127), nullable=True),
        sa.Column("request_id", sa.String(length=127), nullable=True),
        sa.Column("dialect", sa.String(length=16), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_at"), "events", ["at"], unique=False)
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("types", sa.Text(), server_default="", nullable=False),
        sa.Column("group_mask", sa.String(length=255), server_default="*", nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("personal_data", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("description", sa.String(length=255), server_default="", nullable=False),
        sa.Column("state", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("cursor", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=True),
        sa.Column("failing_since", _TIME, nullable=True),
        sa.Column("last_error", sa.String(length=500), server_default="", nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", _TIME, nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("first_event", sa.BigInteger(), nullable=True),
        sa.Column("last_event", sa.BigInteger(), nullable=True),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.String(length=500), server_default="", nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(op.f("ix_webhook_deliveries_at"), "webhook_deliveries", ["at"], unique=False)
    op.create_index(
        "ix_webhook_deliveries_sub",
        "webhook_deliveries",
        ["subscription_id", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_sub", table_name="webhook_deliveries")
    op.drop_index(op.f("ix_webhook_deliveries_at"), table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_subscriptions")
    op.drop_index(op.f("ix_events_at"), table_name="events")
    op.drop_table("events")
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("last_event_id")
