"""Exports over SQL: plain rows of exactly the columns a report writes, no model objects.

A report of every account reads hundreds of thousands of rows; building an Account per row
costs more than reading it. Here each row is a plain row of the asked columns, and the work a
row needs is done by the database: the group's name joined in, contact fields a manager may not
see selected as empty text, and times written as ISO 8601 text in UTC.
"""

from __future__ import annotations

import select as io_select
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import BigInteger, Connection, String, and_, bindparam, literal, select

from brokerplane.core.account.model import AccountQuery, CsvPage
from brokerplane.storage import tables as t
from brokerplane.storage.sql.conditions import account_conditions
from brokerplane.storage.sql.isotime import iso_text
from brokerplane.storage.types import UTCDateTime

_ACCOUNTS_WITH_GROUP = t.accounts.join(t.groups, t.groups.c.id == t.accounts.c.group_id)
_TIMES = frozenset(c.name for c in t.accounts.columns if isinstance(c.type, UTCDateTime))
# The PostgreSQL export's COPY statements, by query (without its cursor) and columns.
_COPY_STATEMENTS: dict[Any, tuple[str, ...]] = {}
_KEPT_STATEMENTS = 64


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
        """The page `account_rows` reads, as the users CSV's lines (storage/sql/csvcells.py):
        the same conditions, order and limit, one statement. PostgreSQL writes them with
        `COPY ... CSV`; on SQLite the statement writes the page's lines as one text. None
        (PostgreSQL only) for a page holding a carriage return or a line break in a cell: the
        caller then writes `account_rows`. `columns` starts with `login`."""
        if query.group_ids is not None and not query.group_ids:
            return CsvPage(b"", 0, None)
        if self.c.dialect.name == "sqlite":
            return self._sqlite_csv(query, columns, blank)
        if self.c.dialect.name != "postgresql":
            return None
        statement = self._copy_statement(query, columns, blank)
        raw: Any = self.c.connection.dbapi_connection
        with raw.cursor() as cur:
            cur.execute("SET LOCAL DateStyle = ISO")  # the text of times csv_cell relies on
            with cur.copy(statement) as copy:
                lines = _copy_out(raw, copy)
        rows = len(lines)  # one message per row
        data = b"".join(lines)
        del lines
        if b"\r" in data or data.count(b"\n") != rows:
            return None
        if not rows:
            return CsvPage(b"", 0, None)
        start = data.rfind(b"\n", 0, len(data) - 1) + 1
        return CsvPage(data, rows, int(data[start : data.index(b",", start)]))

    def _copy_statement(
        self, query: AccountQuery, columns: Sequence[str], blank: Collection[str]
    ) -> str:
        """The page's `COPY`, its values bound. Building and compiling the statement, and
        psycopg's parse of it to bind its values, cost more CPU than passing a page on, so it
        is made once per query and page size, bound (as psycopg binds a COPY's values, on the
        client) and kept, in pieces around the page's cursor; each page puts in only its own
        cursor (the last login of the page before, an integer)."""
        key = (tuple(columns), frozenset(blank), replace(query, after_login=None))
        after = query.after_login
        made = _COPY_STATEMENTS.get((key, after is None))
        if made is None:
            # PostgreSQL's types load here, not at import: the CLI's read commands never need
            # them.
            from psycopg import ClientCursor

            from brokerplane.storage.sql.csvcells import csv_cell

            cells = (literal(None, String).label(n) if n in blank else csv_cell(n) for n in columns)
            q = self._page(cells, replace(query, after_login=None))
            if after is not None:  # as account_conditions writes the cursor, as a named value
                q = q.where(t.accounts.c.login > bindparam("page_after", 0, type_=BigInteger))
            compiled = q.compile(
                dialect=self.c.dialect, compile_kwargs={"render_postcompile": True}
            )
            statement = f"COPY ({compiled}) TO STDOUT (FORMAT csv)"
            params = dict(compiled.params)
            params.pop("page_after", None)
            raw: Any = self.c.connection.dbapi_connection
            with ClientCursor(raw) as bind:
                made = tuple(
                    bind.mogrify(piece, params) for piece in statement.split("%(page_after)s")
                )
            if len(_COPY_STATEMENTS) >= _KEPT_STATEMENTS:
                _COPY_STATEMENTS.clear()
            _COPY_STATEMENTS[(key, after is None)] = made
        return str(int(after)).join(made) if after is not None else made[0]

    def _page(self, cells: Any, query: AccountQuery) -> Any:
        return (
            select(*cells)
            .select_from(_ACCOUNTS_WITH_GROUP)
            .where(and_(*account_conditions(query, self.c.dialect.name)))
            .order_by(t.accounts.c.login)
            .limit(query.limit)
        )

    def _sqlite_csv(
        self, query: AccountQuery, columns: Sequence[str], blank: Collection[str]
    ) -> CsvPage:
        """SQLite: the statement writes each row's line (csvcells.sqlite_line) and joins the
        page's lines into one text, so no Python code runs per row (but for the rare row that
        needs care, which the registered careful_line writes)."""
        from brokerplane.storage.sql.csvcells import (
            CAREFUL_LINE_FUNCTION,
            careful_line,
            sqlite_page,
        )

        raw: Any = self.c.connection.dbapi_connection
        raw.create_function(CAREFUL_LINE_FUNCTION, -1, careful_line(columns, blank))
        q = sqlite_page(columns, blank, lambda cells: self._page(cells, query))
        rows, last, text = self.c.execute(q).one()
        return CsvPage((text or "").encode(), rows, last)


def _copy_out(raw: Any, copy: Any) -> list[Any]:
    """COPY's rows (one libpq message each), taken from libpq while it holds some already
    received, without psycopg's per-row generator (most of the client's CPU over a page);
    when it holds none, psycopg's `read` waits for more, and ends the COPY when it sees the
    end. The end taken here instead is finished here as psycopg would: the statement's
    result read, an error raised as psycopg raises it."""
    parts: list[Any] = []
    take = raw.pgconn.get_copy_data
    while True:
        size, row = take(1)  # 1: never block
        if size > 0:
            parts.append(row)
        elif size == 0:
            if not (row := copy.read()):
                return parts
            parts.append(row)
        else:
            _end_of_copy(raw)
            return parts


def _end_of_copy(raw: Any) -> None:
    """After libpq gave COPY's end: read the statement's result (waiting for it on the
    socket, off the GIL), as psycopg does after the last row."""
    import psycopg
    from psycopg import pq

    pgconn = raw.pgconn
    while pgconn.is_busy():
        io_select.select([pgconn.socket], [], [])
        pgconn.consume_input()
    results = []
    while (result := pgconn.get_result()) is not None:
        results.append(result)
    failed = [r for r in results if r.status != pq.ExecStatus.COMMAND_OK]
    if failed:
        raise psycopg.errors.error_from_result(failed[0], encoding=raw.info.encoding)
