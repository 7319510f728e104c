"""Trading: quotes, open positions, deals and the risk pass's margin states."""

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
from brokerplane.storage.types import DecimalText, UTCDateTime

# The latest bid/ask of each symbol (trading executes at it; margin and P/L convert through it).
quotes = Table(
    "quotes",
    metadata,
    Column("symbol", String(31), primary_key=True),
    Column("bid", DecimalText, nullable=False),
    Column("ask", DecimalText, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    # The manager who set the quote; None: the system (the quotes feed, an operator).
    Column("set_by", BigInteger),
    # people_behind the setter: sorted logins, comma-separated; NULL: set_by alone
    Column("set_people", Text),
)

# Open positions. Volumes in 1/10000 lot; `open_value` = sum of volume x open price points.
positions = Table(
    "positions",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("login", BigInteger, ForeignKey("accounts.login"), nullable=False, index=True),
    Column("symbol", String(31), nullable=False, index=True),
    Column("side", String(4), nullable=False),
    Column("volume", BigInteger, nullable=False),
    Column("open_value", BigInteger, nullable=False),
    Column("digits", Integer, nullable=False),
    Column("contract_size", DecimalText, nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("comment", String(63), nullable=False, server_default=""),
    # closed positions are deleted: SQLite must not hand their ids out again
    sqlite_autoincrement=True,
)

# Executions: each is also a ledger entry (same id) carrying its realised P/L to the balance.
deals = Table(
    "deals",
    metadata,
    Column("id", BigInteger, ForeignKey("ledger_entries.id"), primary_key=True),
    Column("login", BigInteger, ForeignKey("accounts.login"), nullable=False),
    Column("position_id", BigInteger, nullable=False, index=True),
    Column("symbol", String(31), nullable=False),
    Column("side", String(4), nullable=False),
    Column("entry", String(8), nullable=False),
    Column("volume", BigInteger, nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("price_position", BigInteger, nullable=False),
    Column("digits", Integer, nullable=False),
    Column("contract_size", DecimalText, nullable=False),
    Column("profit", BigInteger, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("currency_digits", Integer, nullable=False),
    Column("rate_profit", DecimalText, nullable=False),
    Column("opened_at", UTCDateTime, nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False),
    Column("comment", String(63), nullable=False, server_default=""),
    Column("manager_login", BigInteger),
)

Index("ix_deals_login_id", deals.c.login, deals.c.id)

# The risk pass's memory (core/trading/watch.py): the margin state of each account below its
# group's margin-call level (an account without a row is above it), so a crossing is an event
# once; the pass changes a row only from the state it read (several processes emit once).
margin_states = Table(
    "margin_states",
    metadata,
    Column("login", BigInteger, primary_key=True, autoincrement=False),
    # margin_call | stop_out
    Column("state", String(16), nullable=False),
    Column("level", DecimalText, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
)
