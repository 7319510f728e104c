"""auth_reservations: sign-in attempts whose password check is under way

An admitted attempt holds one row per lockout key (core.access.lockout) until its check ends
(a failure turns it into a counted failure, a success or an unchecked refusal drops it); a row
a crashed process left behind is ignored and deleted once `expires_at` passes.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import brokerplane.storage.types

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_reservations",
        sa.Column("key", sa.String(length=280), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column(
            "expires_at", brokerplane.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("key", "token", name=op.f("pk_auth_reservations")),
    )


def downgrade() -> None:
    op.drop_table("auth_reservations")
