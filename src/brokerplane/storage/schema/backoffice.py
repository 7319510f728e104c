"""TraderEvolution's back office: plans, account presets, webhook keys, sessions."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from brokerplane.storage.schema.base import BIG_ID, metadata
from brokerplane.storage.types import UTCDateTime

# TraderEvolution's back office. Brandings are the `brokers` table (schema/groups.py: a
# branding's name is the white label groups, accounts and users carry). Plans are what user
# groups' `plan_id` names; account presets are settings applied to accounts opened with them.
plans = Table(
    "plans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("description", String(255), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

account_presets = Table(
    "account_presets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("currency", String(8)),
    Column("currency_digits", Integer),
    Column("leverage", Integer),
    Column("account_type", String(16)),
    Column("swap_free", Boolean),
    Column("description", String(255), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

# Users' keys for inbound trading webhooks: the secret is never stored, only its SHA-256.
webhook_keys = Table(
    "webhook_keys",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False, index=True),
    Column("name", String(32), nullable=False),
    Column("api_key", String(64), nullable=False, unique=True),
    Column("secret_digest", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("last_used_at", UTCDateTime),
)

# Back-office sessions (TraderEvolution's access and refresh tokens): only hashes of the
# tokens, the session an access token and its refresh token share, whose they are (a manager's
# login or a user's id) and a fingerprint of the password verifier they were issued under.
backoffice_tokens = Table(
    "backoffice_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("session_id", String(32), nullable=False, index=True),
    Column("principal", String(8), nullable=False),
    Column("principal_id", BigInteger, nullable=False),
    Column("verifier_fingerprint", String(64), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
    # where the session was signed in: "" TraderEvolution's back office, "console" (0020)
    Column("channel", String(8), nullable=False, server_default=""),
)

Index(
    "ix_backoffice_tokens_principal",
    backoffice_tokens.c.principal,
    backoffice_tokens.c.principal_id,
)
