"""Symbols: the instruments, their contract and their execution parameters."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    String,
    Table,
)

from brokerplane.storage.schema.base import metadata
from brokerplane.storage.types import DecimalText, UTCDateTime

symbols = Table(
    "symbols",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(31), nullable=False, unique=True),
    Column("path", String(127), nullable=False),
    Column("description", String(127), nullable=False, server_default=""),
    Column("isin", String(15), nullable=False, server_default=""),
    Column("digits", Integer, nullable=False),
    Column("contract_size", DecimalText, nullable=False),
    Column("currency_base", String(8), nullable=False),
    Column("currency_profit", String(8), nullable=False),
    Column("currency_margin", String(8), nullable=False),
    Column("trade_mode", String(16), nullable=False),
    Column("volume_min", DecimalText, nullable=False),
    Column("volume_max", DecimalText, nullable=False),
    Column("volume_step", DecimalText, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Execution parameters (0017): points, points per lot per night, weekday sessions.
    Column("spread", Integer, nullable=False, server_default="0"),
    Column("stops_level", Integer, nullable=False, server_default="0"),
    Column("swap_long", DecimalText, nullable=False, server_default="0"),
    Column("swap_short", DecimalText, nullable=False, server_default="0"),
    Column("sessions", JSON),
)
