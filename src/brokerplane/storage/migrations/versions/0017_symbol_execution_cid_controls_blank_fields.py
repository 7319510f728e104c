"""Symbol execution parameters, cID in-app controls and partner ids, blank contact fields

symbols: spread (points, 0 = floating), stops_level (points), swap_long and swap_short (points
per lot per night), sessions (JSON: weekday -> "HH:MM-HH:MM" intervals; {} = all week).
users: in_app_controls (JSON: the cID ribbons rules, null = none), partner_id (cTrader partner
attribution at the user level). user_links: partner_id (at the trading-account level).
accounts: blank_fields (profile fields a client set to "" on purpose, read back as sent).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("symbols", schema=None) as batch_op:
        batch_op.add_column(sa.Column("spread", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("stops_level", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("swap_long", sa.String(40), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("swap_short", sa.String(40), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("sessions", sa.JSON(), nullable=True))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("in_app_controls", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("partner_id", sa.String(255), nullable=False, server_default="")
        )
    with op.batch_alter_table("user_links", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("partner_id", sa.String(255), nullable=False, server_default="")
        )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("blank_fields", sa.String(255), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("blank_fields")
    with op.batch_alter_table("user_links", schema=None) as batch_op:
        batch_op.drop_column("partner_id")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("partner_id")
        batch_op.drop_column("in_app_controls")
    with op.batch_alter_table("symbols", schema=None) as batch_op:
        for name in ("sessions", "swap_short", "swap_long", "stops_level", "spread"):
            batch_op.drop_column(name)
