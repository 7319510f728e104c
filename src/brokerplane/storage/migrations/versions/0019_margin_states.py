"""margin_states: the risk pass's memory of which accounts are in margin call or stop out

One row per account at or below its group's margin-call level (core/trading/watch.py), so a
crossing produces its `account.margin_call` / `account.stop_out` event once; the row goes when
the account recovers (`account.margin_restored`).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import brokerplane.storage.types

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "margin_states",
        sa.Column("login", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("level", brokerplane.storage.types.DecimalText(length=40), nullable=False),
        sa.Column(
            "changed_at", brokerplane.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("login", name=op.f("pk_margin_states")),
    )


def downgrade() -> None:
    op.drop_table("margin_states")
