"""Held money operations and the thresholds above which operations are held."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from brokerplane.storage.schema.base import BIG_ID, metadata
from brokerplane.storage.types import UTCDateTime

# Money operations above their threshold, held for a second manager's decision.
approvals = Table(
    "approvals",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("login", BigInteger, ForeignKey("accounts.login"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("currency_digits", Integer, nullable=False),
    Column("comment", String(255), nullable=False, server_default=""),
    Column("reference", String(127), nullable=False, server_default=""),
    Column("state", String(16), nullable=False),
    Column("requested_by", BigInteger),
    # people_behind the requester when held: sorted logins, comma-separated; NULL: requested_by
    Column("requested_people", Text),
    Column("requested_key", String(32)),
    Column("requested_operator", String(127)),
    Column("request_id", String(127)),
    Column("dialect", String(16), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("decided_by", BigInteger),
    Column("decided_operator", String(127)),
    Column("decided_at", UTCDateTime),
    Column("decision_comment", String(255), nullable=False, server_default=""),
    Column("entry_id", BigInteger),
)

Index("ix_approvals_state_expires_at", approvals.c.state, approvals.c.expires_at)

# Amounts above which operations need approval: group_id 0 is the currency-wide default.
approval_thresholds = Table(
    "approval_thresholds",
    metadata,
    Column("currency", String(8), primary_key=True),
    Column("group_id", Integer, primary_key=True, autoincrement=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency_digits", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
