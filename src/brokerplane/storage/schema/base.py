"""The schema's metadata (its naming convention) and the column types every noun shares."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Integer,
    MetaData,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

BIG_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite: the rowid, so autoincrement
