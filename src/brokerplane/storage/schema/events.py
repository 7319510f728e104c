"""The events outbox and the webhook subscriptions and deliveries that read it."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from brokerplane.storage.schema.base import BIG_ID, metadata
from brokerplane.storage.types import UTCDateTime

# The outbox: the events of every committed change, in commit order (id), kept for the
# configured retention. `group_name` and `broker` are the account's when the event was written.
events = Table(
    "events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("audit_id", BigInteger, nullable=False),
    Column("type", String(32), nullable=False),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("login", BigInteger),
    Column("group_name", String(63)),
    Column("broker", String(63)),
    Column("manager_login", BigInteger),
    Column("key_id", String(32)),
    Column("operator_id", String(127)),
    Column("request_id", String(127)),
    Column("dialect", String(16), nullable=False),
    Column("data", JSON, nullable=False),
)

# Webhook subscriptions: each delivers the events it selects, in id order, from `cursor` on.
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", String(2048), nullable=False),
    Column("types", Text, nullable=False, server_default=""),
    Column("group_mask", String(255), nullable=False, server_default="*"),
    Column("secret", String(512), nullable=False),  # sealed: core/events/secrets.py (revision 0023)
    Column("personal_data", Boolean, nullable=False, server_default="0"),
    Column("description", String(255), nullable=False, server_default=""),
    # active | failed (parked: retried for the bounded time, then stopped) | paused
    Column("state", String(16), nullable=False, server_default="active"),
    # The newest event id delivered (or skipped by the filters).
    Column("cursor", BigInteger, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime),
    Column("failing_since", UTCDateTime),
    Column("last_error", String(500), nullable=False, server_default=""),
    # A worker's claim: several server processes never deliver one subscription at once.
    Column("lease_owner", String(64)),
    Column("lease_until", UTCDateTime),
    Column("created_by", BigInteger),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Each delivery attempt of each subscription (a batch of events, or a test).
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("subscription_id", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("first_event", BigInteger),
    Column("last_event", BigInteger),
    Column("events", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status", Integer),
    Column("ok", Boolean, nullable=False),
    Column("error", String(500), nullable=False, server_default=""),
    Column("duration_ms", Integer, nullable=False),
)

Index("ix_webhook_deliveries_sub", webhook_deliveries.c.subscription_id, webhook_deliveries.c.id)
