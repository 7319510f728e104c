"""Exports over SQL: plain rows of exactly the columns a report writes, no model objects.

A report of every account reads hundreds of thousands of rows; building an Account per row
costs more than reading it. Here each row is a plain row of the asked columns, and the work a
row needs is done by the database: the group's name joined in, contact fields a manager may not
see selected as empty text, and times written as ISO 8601 text in UTC.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, String, and_, func, literal, select, type_coerce
from sqlalchemy.sql.elements import ColumnElement

from brokerplane.core.account.model import AccountQuery, CsvPage
from brokerplane.storage import tables as t
from brokerplane.storage.sql.conditions import account_conditions
from brokerplane.storage.types import UTCDateTime

_ACCOUNTS_WITH_GROUP = t.accounts.join(t.groups, t.groups.c.id == t.accounts.c.group_id)
_TIMES = frozenset(c.name for c in t.accounts.columns if isinstance(c.type, UTCDateTime))


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


def _account_column(name: str, dialect: str, blank: bool) -> Any:
    if blank:
        return literal("", String).label(name)
    if name == "group":
        return t.groups.c.name.label("group")
    column = t.accounts.c[name]
    if name in _TIMES:
        return iso_text(column, dialect).label(name)
    return column


class SqlExports:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    def account_rows(
        self, query: AccountQuery, columns: Sequence[str], blank: Collection[str] = ()
    ) -> list[Sequence[Any]]:
        """One page of accounts in login order, each a row of `columns` (Account field names,
        `group` being the group's name): text and integers as stored (money in minor units),
        times as ISO 8601 text in UTC with Z, the `blank` columns as empty text."""
        if query.group_ids is not None and not query.group_ids:
            return []
        dialect = self.c.dialect.name
        q = (
            select(*(_account_column(n, dialect, n in blank) for n in columns))
            .select_from(_ACCOUNTS_WITH_GROUP)
            .where(and_(*account_conditions(query, dialect)))
            .order_by(t.accounts.c.login)
            .limit(query.limit)
        )
        return list(self.c.execute(q).all())

    def account_csv(
        self, query: AccountQuery, columns: Sequence[str], blank: Collection[str] = ()
    ) -> CsvPage | None:
        """The page `account_rows` reads, as the users CSV's lines written by PostgreSQL's
        `COPY ... CSV` (storage/sql/csvcells.py): the same conditions, order and limit, one
        statement. None on SQLite, and for a page holding a carriage return or a line break in
        a cell: the caller then writes `account_rows`."""
        dialect = self.c.dialect.name
        if dialect != "postgresql":
            return None
        if query.group_ids is not None and not query.group_ids:
            return CsvPage(b"", 0, None)
        # PostgreSQL's types load here, not at import: the CLI's read commands never need them.
        from brokerplane.storage.sql.csvcells import csv_cell

        cells = (literal(None, String).label(n) if n in blank else csv_cell(n) for n in columns)
        q = (
            select(*cells)
            .select_from(_ACCOUNTS_WITH_GROUP)
            .where(and_(*account_conditions(query, dialect)))
            .order_by(t.accounts.c.login)
            .limit(query.limit)
        )
        compiled = q.compile(dialect=self.c.dialect, compile_kwargs={"render_postcompile": True})
        raw: Any = self.c.connection.dbapi_connection
        with raw.cursor() as cur:
            cur.execute("SET LOCAL DateStyle = ISO")  # the text of times csv_cell relies on
            with cur.copy(f"COPY ({compiled}) TO STDOUT (FORMAT csv)", compiled.params) as copy:
                data = b"".join(copy)
            rows = cur.rowcount
        if b"\r" in data or data.count(b"\n") != rows:
            return None
        if not rows:
            return CsvPage(b"", 0, None)
        start = data.rfind(b"\n", 0, len(data) - 1) + 1
        return CsvPage(data, rows, int(data[start : data.index(b",", start)]))
