"""Stored UTC times as the ISO 8601 text exports write, computed by the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, func, type_coerce
from sqlalchemy.sql.elements import ColumnElement


def iso_text(column: Any, dialect: str) -> ColumnElement[str]:
    """A UTC time column as ISO 8601 text ending in Z, with microseconds only when they are not
    zero: `datetime.isoformat()` of the stored time with `+00:00` written as `Z`."""
    if dialect == "sqlite":
        # SQLAlchemy stores `YYYY-MM-DD HH:MM:SS.ffffff` (UTC, see types.UTCDateTime); two
        # replaces cost the database less than slicing it.
        stored = type_coerce(column, String)
        return func.replace(func.replace(stored, " ", "T") + "Z", ".000000Z", "Z", type_=String)
    utc = func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US', type_=String)
    return func.replace(utc + "Z", ".000000Z", "Z", type_=String)
