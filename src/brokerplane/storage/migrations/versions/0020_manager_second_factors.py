"""manager_second_factors, recovery codes, challenges, backoffice_tokens.channel: console TOTP

A manager's optional TOTP second factor (its secret sealed outside the clear), its recovery
codes (hashes, each usable once) and the console sign-ins waiting for their second step; and
backoffice_tokens.channel, where a session was signed in (the console takes only its own, so a
TraderEvolution session from the password alone cannot go around the second factor).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import brokerplane.storage.types

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _at(name: str, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, brokerplane.storage.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column(
        "backoffice_tokens",
        sa.Column("channel", sa.String(length=8), server_default="", nullable=False),
    )
    op.create_table(
        "manager_second_factors",
        sa.Column("manager_login", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("sealed_secret", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        _at("created_at", False),
        _at("enabled_at", True),
        sa.ForeignKeyConstraint(
            ["manager_login"],
            ["managers.login"],
            name=op.f("fk_manager_second_factors_manager_login_managers"),
        ),
        sa.PrimaryKeyConstraint("manager_login", name=op.f("pk_manager_second_factors")),
    )
    op.create_table(
        "manager_recovery_codes",
        sa.Column("manager_login", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        _at("created_at", False),
        _at("used_at", True),
        sa.ForeignKeyConstraint(
            ["manager_login"],
            ["managers.login"],
            name=op.f("fk_manager_recovery_codes_manager_login_managers"),
        ),
        sa.PrimaryKeyConstraint(
            "manager_login", "code_hash", name=op.f("pk_manager_recovery_codes")
        ),
    )
    op.create_table(
        "second_factor_challenges",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("manager_login", sa.BigInteger(), nullable=False),
        sa.Column("verifier_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _at("expires_at", False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_second_factor_challenges")),
    )
    op.create_index(
        op.f("ix_second_factor_challenges_manager_login"),
        "second_factor_challenges",
        ["manager_login"],
    )
    op.create_index(
        op.f("ix_second_factor_challenges_expires_at"), "second_factor_challenges", ["expires_at"]
    )


def downgrade() -> None:
    with op.batch_alter_table("backoffice_tokens") as batch:
        batch.drop_column("channel")
    op.drop_index(op.f("ix_second_factor_challenges_expires_at"), "second_factor_challenges")
    op.drop_index(op.f("ix_second_factor_challenges_manager_login"), "second_factor_challenges")
    op.drop_table("second_factor_challenges")
    op.drop_table("manager_recovery_codes")
    op.drop_table("manager_second_factors")
