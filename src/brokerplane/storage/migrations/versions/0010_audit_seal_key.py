"""audit: the id of the key that sealed each record

Records are sealed with an HMAC-SHA256 under an audit key kept outside the database; `seal_key`
names that key (a fingerprint), so a rotated key's records still verify. Records written before
keys existed keep NULL and verify as plain SHA-256.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_records") as batch:
        batch.add_column(sa.Column("seal_key", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_records") as batch:
        batch.drop_column("seal_key")
