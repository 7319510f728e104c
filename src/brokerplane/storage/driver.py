"""The money path's statements run on the driver's own cursor, compiled once per dialect.

A deposit's group runs a handful of short statements per command (the claim, the account's
read and lock, the threshold, the ledger entry, the figures, the stored answer) and a few per
group (the audit seal). Through `Connection.execute` each of them pays for SQLAlchemy's
execution context, parameter construction and result wrapping: about as much CPU again as
the driver's own work (measured: 127-186 µs against 66-82 µs a statement on PostgreSQL). Here
each statement is compiled by SQLAlchemy once per dialect, with the bind and result
processors of its own column types, and then runs on the unit of work's connection through a
driver cursor:

- the same SQL text, the same parameters after the same type processing (UTC datetimes, JSON,
  booleans, exact decimals), the same values read back: only the per-call machinery is gone;
- the same transaction: the statements run on the connection the unit of work began, between
  its BEGIN and its COMMIT, inside its savepoints;
- the same errors: a driver error goes through the connection's own error handling
  (`_handle_dbapi_exception`): it is wrapped as SQLAlchemy's exception of its kind (so the
  unit of work translates it to the core's error as before), counted by the `handle_error`
  listeners, and a lost connection is invalidated;
- the same listeners: when something listens for `before_cursor_execute` (tests that count
  statements, the benchmark's capture) it is told of each statement, with the parameters'
  names.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Dialect
from sqlalchemy.sql import ClauseElement

_Processor = Callable[[Any], Any] | None


class _Compiled:
    """What compiling once gave: a statement's SQL, how to build its parameters from values by
    name, and how to read its rows."""

    __slots__ = (
        "_processed",
        "_take",
        "binds",
        "columns",
        "converted",
        "defaults",
        "keep_cursor",
        "names",
        "positional",
        "readers",
        "sql",
    )

    def __init__(
        self, statement: ClauseElement, dialect: Dialect, column_keys: Sequence[str] | None
    ) -> None:
        compiled: Any = statement.compile(
            dialect=dialect, column_keys=list(column_keys) if column_keys is not None else None
        )
        self.sql: str = compiled.string
        if "__[POSTCOMPILE_" in self.sql:  # expanding or literal-execute binds: not for this
            raise ValueError(f"a statement with post-compile parameters: {self.sql[:80]}")
        self.positional: bool = bool(compiled.positional)
        # psycopg's cursors are client-side: a statement's rows are all in the client when it
        # returns, and the next execute on the cursor starts afresh. One cursor per connection
        # serves every statement here (a new one costs psycopg a transformer and an adapters
        # map each time); SQLite's cursor is a statement the database may still be stepping,
        # so each of its statements has its own, closed when read.
        self.keep_cursor: bool = dialect.driver == "psycopg"
        if self.keep_cursor:
            _OWN_SQL.add(self.sql)  # its conversion is kept (_kept_query_class)
        names: list[str] = list(compiled.positiontup) if self.positional else list(compiled.binds)
        self.names = names
        binds = compiled.binds
        # values the statement carries itself (literals turned into anonymous binds)
        self.defaults: dict[str, Any] = {
            name: binds[name].effective_value
            for name in names
            if not binds[name].required and binds[name].callable is None
        }
        self.binds: list[tuple[str, _Processor]] = [
            (name, binds[name].type._cached_bind_processor(dialect)) for name in names
        ]
        # the values in bind order in one C call, then only the binds with a processor run
        # (a ledger row has a dozen binds, three of them processed)
        self._take: Callable[[Mapping[str, Any]], Any] = _taker(names)
        self._processed: list[tuple[int, Callable[[Any], Any]]] = [
            (i, process) for i, (_, process) in enumerate(self.binds) if process is not None
        ]
        result_columns = getattr(compiled, "_result_columns", None) or []
        self.columns: list[str] = [column.keyname for column in result_columns]
        self.readers: list[_Processor] = [
            column.type._cached_result_processor(dialect, None) for column in result_columns
        ]
        # the columns whose values need converting (an account row has 66 columns, most of
        # them read as the driver gives them)
        self.converted: list[tuple[int, Callable[[Any], Any]]] = [
            (i, read) for i, read in enumerate(self.readers) if read is not None
        ]

    def parameters(self, values: Mapping[str, Any]) -> Any:
        if self.defaults:
            values = {**self.defaults, **values}
        taken = self._take(values)
        if self._processed:
            taken = list(taken)
            for i, process in self._processed:
                taken[i] = process(taken[i])
        if self.positional:
            return tuple(taken)
        return dict(zip(self.names, taken, strict=True))

    def read(self, row: Sequence[Any]) -> tuple[Any, ...]:
        if len(row) != len(self.readers):
            raise ValueError(f"a row of {len(row)} columns for {len(self.readers)}")
        if not self.converted:
            return tuple(row)
        values = list(row)
        for i, read in self.converted:
            value = values[i]
            if value is not None:
                values[i] = read(value)
        return tuple(values)


def _taker(names: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A function giving the values of `names`, in order, as a tuple (KeyError for one
    missing)."""
    if not names:
        return lambda _: ()
    if len(names) == 1:
        one = operator.itemgetter(names[0])
        return lambda values: (one(values),)
    many: Callable[[Mapping[str, Any]], tuple[Any, ...]] = operator.itemgetter(*names)
    return many


class Statement:
    """An SQLAlchemy statement run on the driver's cursor; compiled on first use per dialect.

    `column_keys`: the columns an INSERT without values sets (those of its parameters)."""

    def __init__(self, statement: ClauseElement, column_keys: Sequence[str] | None = None) -> None:
        self._statement = statement
        self._column_keys = column_keys
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, conn: Connection) -> _Compiled:
        dialect = conn.dialect
        done = self._compiled.get(dialect.name)
        if done is None:
            done = self._compiled[dialect.name] = _Compiled(
                self._statement, dialect, self._column_keys
            )
        return done

    def columns(self, conn: Connection) -> list[str]:
        """The names of the columns a row of this statement has."""
        return self._for(conn).columns

    def execute(self, conn: Connection, values: Mapping[str, Any]) -> Result:
        """Run it once with `values` (by bind name)."""
        compiled = self._for(conn)
        params = compiled.parameters(values)
        return _run(conn, compiled, params, many=False)

    def run(self, conn: Connection, values: Mapping[str, Any]) -> int:
        """Run it once with `values`, for its effect: the rows it changed."""
        result = self.execute(conn, values)
        result.close()
        return result.rowcount

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run it once for each of `rows` (the driver's executemany), for its effect."""
        compiled = self._for(conn)
        params = [compiled.parameters(row) for row in rows]
        _run(conn, compiled, params, many=True).close()


class Result:
    """The rows a statement returned (read through its columns' types) and its row count."""

    __slots__ = ("_compiled", "_conn", "_cursor", "_params", "rowcount")
    # (a kept cursor, `_Compiled.keep_cursor`, is left open for the connection's next statement)

    def __init__(self, conn: Connection, compiled: _Compiled, cursor: Any, params: Any) -> None:
        self._conn = conn
        self._compiled = compiled
        self._cursor = cursor
        self._params = params
        self.rowcount: int = cursor.rowcount

    def first(self) -> tuple[Any, ...] | None:
        """The first row, or None; the cursor is done with either way."""
        cursor = self._cursor
        try:
            # A statement with result columns (a SELECT, a RETURNING) always returns a result
            # set; asking the cursor instead (`description`) costs psycopg an object a column.
            row = cursor.fetchone() if self._compiled.readers else None
            if not self._compiled.keep_cursor:
                cursor.close()
        except Exception as err:
            _close(cursor)
            self._conn._handle_dbapi_exception(err, self._compiled.sql, self._params, cursor, None)
        return None if row is None else self._compiled.read(row)

    def one(self) -> tuple[Any, ...]:
        row = self.first()
        if row is None:
            raise LookupError("the statement returned no row")
        return row

    def close(self) -> None:
        if not self._compiled.keep_cursor:
            self._cursor.close()


class _Told:
    """What a `before_cursor_execute` listener is given as the execution context: enough to
    name the parameters (`compiled.positiontup`)."""

    __slots__ = ("compiled", "executemany")

    def __init__(self, compiled: _Compiled, many: bool) -> None:
        self.compiled = _Names(compiled.names if compiled.positional else None)
        self.executemany = many


class _Names:
    __slots__ = ("positiontup",)

    def __init__(self, names: list[str] | None) -> None:
        self.positiontup = names


def _run(conn: Connection, compiled: _Compiled, params: Any, *, many: bool) -> Result:
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None, "the unit of work's connection is closed"
    sql = compiled.sql
    cursor = None
    try:
        listeners = conn.dispatch.before_cursor_execute
        cursor = _cursor_of(dbapi) if compiled.keep_cursor else dbapi.cursor()
        if listeners:
            told = _Told(compiled, many)
            for listener in listeners:
                listener(conn, cursor, sql, params, told, many)
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
    except Exception as err:
        if cursor is not None:
            _close(cursor)
        # Wrapped, counted and (for a lost connection) invalidated as Connection.execute does.
        conn._handle_dbapi_exception(err, sql, params, cursor, None)
    return Result(conn, compiled, cursor, params)


# The cursor kept for each psycopg connection (gone with the connection).
_KEPT: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _cursor_of(dbapi: Any) -> Any:
    cursor = _KEPT.get(dbapi)
    if cursor is None or cursor.closed:
        kept = _kept_cursor_class()
        if kept is not None and dbapi.cursor_factory is kept.__base__:
            cursor = kept(dbapi)  # what dbapi.cursor() makes, keeping conversions
        else:
            cursor = dbapi.cursor()
        _KEPT[dbapi] = cursor
    return cursor


# psycopg turns a statement's `%(name)s` placeholders into PostgreSQL's `$n` on each execute
# (a parse of the whole text) and keeps the result only for statements of at most 50
# parameters and 4 KiB: an opening's account insert (65 parameters) was parsed again on every
# opening, about a tenth of its client CPU on PostgreSQL. The driver's statements are few and
# fixed (compiled once per dialect), so the kept cursor keeps each one's conversion, psycopg's
# own made the first time, by the statement's text: `_OWN_SQL` holds those texts, `_CONVERTED`
# their conversions by (text, client encoding).
_OWN_SQL: set[str] = set()
_CONVERTED: dict[tuple[str, str], tuple[Any, Any, Any, Any]] = {}


@functools.cache
def _kept_cursor_class() -> Any:
    """psycopg's cursor (server-side binding) whose query conversion keeps those of the
    driver's own statements; None when psycopg is not as expected (its own cursor then)."""
    try:
        from psycopg import Cursor
        from psycopg._queries import PostgresQuery
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return None
    if getattr(Cursor, "_query_cls", None) is not PostgresQuery or not all(
        hasattr(PostgresQuery, name) for name in ("convert", "dump", "_parts", "_order")
    ):
        return None  # pragma: no cover - another psycopg: its own conversion as it is

    class KeptQuery(PostgresQuery):
        __slots__ = ()

        def convert(self, query: Any, vars: Any) -> None:
            if vars is None or type(query) is not str or query not in _OWN_SQL:
                super().convert(query, vars)
                return
            key = (query, self._tx.encoding)
            kept = _CONVERTED.get(key)
            if kept is None:
                super().convert(query, vars)
                _CONVERTED[key] = (self.query, self._want_formats, self._order, self._parts)
                return
            self.query, self._want_formats, self._order, self._parts = kept
            self.dump(vars)

    class KeptCursor(Cursor[Any]):
        __slots__ = ()
        _query_cls = KeptQuery

    return KeptCursor


def _close(cursor: Any) -> None:
    with contextlib.suppress(Exception):  # the statement's own error is what matters
        cursor.close()
