"""Managers, their API keys and dialect tokens, and the sign-in lockout's counters."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
)

from brokerplane.storage.schema.base import metadata
from brokerplane.storage.types import UTCDateTime

managers = Table(
    "managers",
    metadata,
    Column("login", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(127), nullable=False, server_default=""),
    Column("enabled", Boolean, nullable=False),
    Column("rights", JSON, nullable=False),
    Column("group_mask", Text, nullable=False),
    Column("white_labels", Text, nullable=False),
    Column("verifiers", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("session_epoch", Integer, nullable=False, server_default="0"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("manager_login", BigInteger, ForeignKey("managers.login"), nullable=False, index=True),
    Column("prefix", String(32), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("name", String(127), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Column("last_used_at", UTCDateTime),
    Column("parent_key_id", String(32), index=True),
    Column("replaced_by", String(32)),
    # The manager whose credential minted (created or rotated) the key; None: an operator.
    Column("created_by", BigInteger),
)

# Changes to api_keys and managers, counted by triggers (SQLite; migration 0022): a process
# keeping verified keys in memory rereads this only when another connection committed.
credential_changes = Table(
    "credential_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("changes", BigInteger, nullable=False),
)

# Dialect session tokens of managers (cTrader's webservToken): only a hash of the token is
# kept, with a fingerprint of the password verifier it was issued under; a new password
# changes the verifier, and every token issued under the old one stops working.
manager_tokens = Table(
    "manager_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("manager_login", BigInteger, ForeignKey("managers.login"), nullable=False, index=True),
    Column("dialect", String(16), nullable=False),
    Column("verifier_fingerprint", String(64), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
)

# The sign-in lockout's counters (core.access.lockout): per login from an address, per login,
# per address; shared by every process over one database.
auth_failures = Table(
    "auth_failures",
    metadata,
    Column("key", String(280), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime),
)

# Attempts of the lockout admitted and still being checked: one row per key, until the check
# ends or `expires_at` (a process that died mid-check).
auth_reservations = Table(
    "auth_reservations",
    metadata,
    Column("key", String(280), primary_key=True),
    Column("token", String(32), primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
)
