"""Groups, the white labels (`brokers`) they belong to, and the currencies they keep."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Integer,
    String,
    Table,
)

from brokerplane.storage.schema.base import metadata
from brokerplane.storage.types import DecimalText, UTCDateTime

currencies = Table(
    "currencies",
    metadata,
    Column("code", String(8), primary_key=True),
    Column("digits", Integer, nullable=False),
)

brokers = Table(
    "brokers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("description", String(255), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

groups = Table(
    "groups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("currency", String(8), nullable=False),
    Column("currency_digits", Integer, nullable=False),
    Column("description", String(255), nullable=False, server_default=""),
    Column("company", String(63), nullable=False, server_default=""),
    Column("broker", String(63), nullable=False, server_default=""),
    Column("default_leverage", Integer, nullable=False),
    Column("max_leverage", Integer, nullable=False),
    Column("margin_mode", String(8), nullable=False),
    Column("default_account_type", String(16), nullable=False),
    Column("default_rights", BigInteger, nullable=False),
    Column("password_min_length", Integer, nullable=False),
    Column("login_range_from", BigInteger),
    Column("login_range_to", BigInteger),
    Column("margin_call", DecimalText, nullable=False),
    Column("stop_out", DecimalText, nullable=False),
    Column("permissions", BigInteger, nullable=False, server_default="0"),
    Column("plan_id", Integer),
    Column("attributes", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
