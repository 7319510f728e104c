"""audit_records by manager: a manager's newest audit record found from an index

A read replica may serve a manager's lists and reports only once it holds that manager's last
write, whichever server process took it: each such read compares the manager's newest audit
record on the primary with the replica's (storage.replica), an index-only lookup on both.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_records_manager_login_id", "audit_records", ["manager_login", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_records_manager_login_id", "audit_records")
