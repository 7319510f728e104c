"""approvals.requested_people and quotes.set_people: the people behind a request or a quote

The managers behind the key that held an operation or set a quote (its manager, its minter and
up the minting chain), so a decision or a trade by any of them is refused.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requested_people", sa.Text(), nullable=True))
    with op.batch_alter_table("quotes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("set_people", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("quotes", schema=None) as batch_op:
        batch_op.drop_column("set_people")
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_column("requested_people")
