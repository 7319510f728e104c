"""The ledger: every money movement."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from brokerplane.storage.schema.base import BIG_ID, metadata
from brokerplane.storage.types import UTCDateTime

# Every money movement; the account row's balance, credit and bonus are the sums of these.
ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("login", BigInteger, ForeignKey("accounts.login"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("credit_after", BigInteger, nullable=False),
    Column("bonus_after", BigInteger, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("currency_digits", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("comment", String(255), nullable=False, server_default=""),
    Column("reference", String(127), nullable=False, server_default="", index=True),
    Column("manager_login", BigInteger),
    Column("key_id", String(32)),
    Column("operator_id", String(127)),
    Column("request_id", String(127)),
    Column("dialect", String(16), nullable=False),
    Column("approval_id", BigInteger),
    Column("approved_by", BigInteger),
)

Index("ix_ledger_entries_login_id", ledger_entries.c.login, ledger_entries.c.id)
