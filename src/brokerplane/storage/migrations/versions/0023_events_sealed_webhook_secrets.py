"""sealed webhook secrets: room for a secret sealed under the audit key

A subscription's secret is stored sealed (AES-256-GCM under a key derived from the audit
keyring, which lives outside the database; core/events/secrets.py): `sealed:v1:<key id>:
<base64>`, longer than the 128 characters a plain secret may have. Secrets stored in plain
text before this are sealed by the next maintenance pass.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.alter_column(
            "secret",
            existing_type=sa.String(length=128),
            type_=sa.String(length=512),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.alter_column(
            "secret",
            existing_type=sa.String(length=512),
            type_=sa.String(length=128),
            existing_nullable=False,
        )
