"""Shared rate limits (GCRA), counted in the database."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    String,
    Table,
)

from brokerplane.storage.schema.base import metadata

# Shared rate limits (GCRA): per limited name (a digest), the theoretical arrival time of the
# next request in microseconds since the epoch; a row whose time has passed is a full allowance.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("tat_us", BigInteger, nullable=False),
)
