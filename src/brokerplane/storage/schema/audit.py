"""The audit chain: its records and the row that orders appends."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Table,
)

from brokerplane.storage.schema.base import metadata
from brokerplane.storage.types import UTCDateTime

audit_records = Table(
    "audit_records",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("at", UTCDateTime, nullable=False),
    Column("action", String(63), nullable=False),
    Column("entity_type", String(31), nullable=False),
    Column("entity_id", String(63), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Column("manager_login", BigInteger),
    Column("key_id", String(32)),
    Column("operator_id", String(127)),
    Column("request_id", String(127)),
    Column("dialect", String(16), nullable=False),
    Column("ip", String(45)),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # The id of the audit key whose HMAC is `hash`; NULL: a legacy record, plain SHA-256.
    Column("seal_key", String(16)),
)

Index("ix_audit_records_entity", audit_records.c.entity_type, audit_records.c.entity_id)
# A manager's newest audit record, on the primary and on a read replica: whether the replica
# already holds that manager's last write, whichever process took it (storage.replica).
Index("ix_audit_records_manager_login_id", audit_records.c.manager_login, audit_records.c.id)

# One row: the id and hash of the newest audit record. Locking it orders concurrent appends.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_id", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
    # The newest event id (core/events): events are numbered under this row's lock too, so
    # their ids follow commit order.
    Column("last_event_id", BigInteger, nullable=False, server_default="0"),
)
