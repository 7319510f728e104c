"""Client request ids and the stored responses of applied requests."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Integer,
    String,
    Table,
    Text,
)

from brokerplane.storage.schema.base import metadata
from brokerplane.storage.types import UTCDateTime

# Client request ids per manager: the claim, then the stored response of the applied request.
idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("scope", String(40), primary_key=True),
    Column("key", String(127), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("token", String(32), nullable=False),
    Column("state", String(8), nullable=False),
    Column("status", Integer),
    Column("body", Text),
    Column("operation_id", String(40)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
    Column("completed_at", UTCDateTime),
)
