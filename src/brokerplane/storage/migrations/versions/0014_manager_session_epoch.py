"""managers.session_epoch: counts the ends of a manager's sessions

A new password or a disable moves it on; an MT5 session keeps the value it was opened under
and ends once it differs, so a disable ends the session even if the manager is enabled again
before its next command.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("managers") as batch:
        batch.add_column(
            sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("managers") as batch:
        batch.drop_column("session_epoch")
