"""Key/value attributes of accounts, groups and managers."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
)

from brokerplane.storage.schema.base import metadata
from brokerplane.storage.types import UTCDateTime

# Attributes (key/value metadata, cTrader's trader, trader group and manager attributes): one
# row per name. `folded_name` is str.casefold of the name, for the case-insensitive name filter
# on every engine (casefold may lengthen a name, hence the wider column).
account_attributes = Table(
    "account_attributes",
    metadata,
    Column("login", BigInteger, ForeignKey("accounts.login"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("folded_name", String(255), nullable=False),
    Column("value", String(512), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

group_attributes = Table(
    "group_attributes",
    metadata,
    Column("group_id", Integer, ForeignKey("groups.id"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("folded_name", String(255), nullable=False),
    Column("value", String(512), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

manager_attributes = Table(
    "manager_attributes",
    metadata,
    Column("manager_login", BigInteger, ForeignKey("managers.login"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("folded_name", String(255), nullable=False),
    Column("value", String(512), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
