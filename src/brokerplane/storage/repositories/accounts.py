"""SqlAccounts: trading accounts, their login allocation, bulk opening and cached money
figures (see the AccountRepository port)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import (
    Connection,
    Dialect,
    Row,
    and_,
    bindparam,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import exc as sa_exc

from brokerplane.core.account.model import Account, AccountQuery
from brokerplane.core.errors import LoginAlreadyExists
from brokerplane.storage import driver
from brokerplane.storage import tables as t
from brokerplane.storage.sql.conditions import account_conditions
from brokerplane.storage.sql.rows import row_dict as _row

_LOGIN_LOCK_KEY = 7_270_001

_ACCOUNT_COLUMNS = [f.name for f in fields(Account) if f.name != "group"]
# Bulk opening: those columns in the table's order, the values read from an Account in it,
# the COPY that PostgreSQL takes them with, and the INSERT other engines take (per dialect).
_ACCOUNT_TABLE_COLUMNS = [c for c in t.accounts.columns if c.name in _ACCOUNT_COLUMNS]
_ACCOUNT_ROW_NAMES = [c.name for c in _ACCOUNT_TABLE_COLUMNS]
_account_row = attrgetter(*_ACCOUNT_ROW_NAMES)
_ACCOUNT_COPY = f"COPY accounts ({', '.join(_ACCOUNT_ROW_NAMES)}) FROM STDIN"
_ACCOUNT_INSERT_SQL: dict[str, str] = {}


def _account_insert_sql(dialect: Dialect) -> str:
    """`INSERT INTO accounts (...) VALUES (?, ...)` in the dialect's positional style."""
    sql = _ACCOUNT_INSERT_SQL.get(dialect.name)
    if sql is None:
        compiled = insert(t.accounts).compile(dialect=dialect, column_keys=_ACCOUNT_ROW_NAMES)
        assert compiled.positiontup == _ACCOUNT_ROW_NAMES, "a positional paramstyle is needed"
        sql = _ACCOUNT_INSERT_SQL[dialect.name] = compiled.string
    return sql


# Live accounts only: a deleted account reads as not found (its login still counts as used).
_ACCOUNT_SELECT = (
    select(t.accounts, t.groups.c.name.label("group"))
    .join(t.groups, t.groups.c.id == t.accounts.c.group_id)
    .where(t.accounts.c.deleted_at.is_(None))
)
# Archived (soft-deleted) accounts: the archive's listings (AccountQuery.archived).
_ARCHIVED_SELECT = (
    select(t.accounts, t.groups.c.name.label("group"))
    .join(t.groups, t.groups.c.id == t.accounts.c.group_id)
    .where(t.accounts.c.deleted_at.is_not(None))
)
# The money path's statements are built once: building one costs more CPU than running it.
_ACCOUNT_BY_LOGIN = _ACCOUNT_SELECT.where(t.accounts.c.login == bindparam("b_login"))
_ACCOUNT_BY_LOGIN_LOCKED = _ACCOUNT_BY_LOGIN.with_for_update(of=t.accounts)
# ...and run on the driver's cursor (storage/driver.py)
_RUN_ACCOUNT_BY_LOGIN = driver.Statement(_ACCOUNT_BY_LOGIN)
_RUN_ACCOUNT_BY_LOGIN_LOCKED = driver.Statement(_ACCOUNT_BY_LOGIN_LOCKED)
_SET_FIGURES = (
    update(t.accounts)
    .where(t.accounts.c.login == bindparam("b_login"))
    .values(
        balance=bindparam("b_balance"),
        credit=bindparam("b_credit"),
        bonus=bindparam("b_bonus"),
        updated_at=bindparam("b_at"),
    )
)
_RUN_SET_FIGURES = driver.Statement(_SET_FIGURES)
# An opening's statements, compiled once too: the insert of its 65 values (building it cost
# more than a millisecond of CPU an opening), and the login allocation's reads.
_RUN_ADD = driver.Statement(insert(t.accounts), _ACCOUNT_COLUMNS)
_RUN_LOGIN_TAKEN = driver.Statement(
    select(exists().where(t.accounts.c.login == bindparam("b_login")))
)
_RUN_LOGIN_LOCK = driver.Statement(select(func.pg_advisory_xact_lock(bindparam("b_key"))))
_RUN_HIGHEST_LOGIN = driver.Statement(
    select(func.max(t.accounts.c.login)).where(
        t.accounts.c.login.between(bindparam("b_low"), bindparam("b_high"))
    )
)


def _login_taken_error(err: sa_exc.IntegrityError) -> bool:
    """Whether an insert failed on the accounts' primary key (the login is taken), told by
    the driver's own error (PostgreSQL's constraint name, SQLite's message): the insert runs
    without a savepoint, so a failed transaction (PostgreSQL's) is not asked again."""
    orig = err.orig
    diag = getattr(orig, "diag", None)
    if diag is not None:
        return getattr(orig, "sqlstate", None) == "23505" and diag.constraint_name == "pk_accounts"
    return str(orig).startswith("UNIQUE constraint failed: accounts.login")


class SqlAccounts:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    @staticmethod
    def _to(row: Row[Any]) -> Account:
        return Account(**_row(row))

    @staticmethod
    def _values(account: Account) -> dict[str, Any]:
        return {name: getattr(account, name) for name in _ACCOUNT_COLUMNS}

    def get(self, login: int, *, for_update: bool = False) -> Account | None:
        locked = for_update and self.c.dialect.name == "postgresql"
        q = _RUN_ACCOUNT_BY_LOGIN_LOCKED if locked else _RUN_ACCOUNT_BY_LOGIN
        row = q.execute(self.c, {"b_login": login}).first()
        return Account(**dict(zip(q.columns(self.c), row, strict=True))) if row else None

    def exists(self, login: int) -> bool:
        """Whether the login is taken, by a live account or a deleted one (never reused)."""
        return bool(_RUN_LOGIN_TAKEN.execute(self.c, {"b_login": login}).one()[0])

    def add(self, account: Account) -> None:
        try:
            _RUN_ADD.run(self.c, self._values(account))
        except sa_exc.IntegrityError as err:
            if _login_taken_error(err):
                raise LoginAlreadyExists(account.login) from err
            raise

    def add_many(self, accounts: Sequence[Account]) -> None:
        """Insert the accounts together (their logins were checked by the caller).

        The rows go to the driver as they are: each value converted by its column type as
        SQLAlchemy would, without its per-row statement work; PostgreSQL takes them as one
        COPY, SQLite as one executemany. What is stored is the same as through `add`."""
        if not accounts:
            return
        dialect = self.c.dialect
        processors = [
            (i, process)
            for i, column in enumerate(_ACCOUNT_TABLE_COLUMNS)
            if (process := column.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        ]
        rows = []
        for account in accounts:
            row = list(_account_row(account))
            for i, process in processors:
                row[i] = process(row[i])
            rows.append(tuple(row))
        if dialect.name == "postgresql":
            self._copy_rows(rows)
        else:
            self.c.exec_driver_sql(_account_insert_sql(dialect), rows)

    def _copy_rows(self, rows: list[tuple[Any, ...]]) -> None:
        dbapi = self.c.dialect.loaded_dbapi
        driver = self.c.connection.driver_connection
        assert driver is not None, "a live connection"
        cursor = driver.cursor()
        try:
            with cursor.copy(_ACCOUNT_COPY) as copy:
                for row in rows:
                    copy.write_row(row)
        except dbapi.Error as err:
            # As a statement run through SQLAlchemy fails: IntegrityError for a taken login.
            raise sa_exc.DBAPIError.instance(_ACCOUNT_COPY, None, err, dbapi.Error) from err
        finally:
            cursor.close()

    def update(self, account: Account) -> None:
        values = self._values(account)
        login = values.pop("login")
        self.c.execute(update(t.accounts).where(t.accounts.c.login == login).values(**values))

    def set_figures(self, login: int, balance: int, credit: int, bonus: int, at: datetime) -> None:
        _RUN_SET_FIGURES.run(
            self.c,
            {
                "b_login": login,
                "b_balance": balance,
                "b_credit": credit,
                "b_bonus": bonus,
                "b_at": at,
            },
        )

    def allocate_login(self, low: int, high: int) -> int | None:
        """The next free login in [low, high]: after the highest used, else the lowest gap."""
        if self.c.dialect.name == "postgresql":
            # Concurrent openings in one range take turns until commit (SQLite: BEGIN IMMEDIATE).
            _RUN_LOGIN_LOCK.execute(self.c, {"b_key": _LOGIN_LOCK_KEY}).close()
        login = t.accounts.c.login
        highest = _RUN_HIGHEST_LOGIN.execute(self.c, {"b_low": low, "b_high": high}).one()[0]
        if highest is None:
            return low
        if highest < high:
            return int(highest) + 1
        if not self.exists(low):
            return low
        other = t.accounts.alias("other")
        gap = self.c.execute(
            select(func.min(login + 1)).where(
                login.between(low, high - 1),
                ~exists().where(other.c.login == login + 1),
            )
        ).scalar_one_or_none()
        return int(gap) if gap is not None else None

    def list(self, query: AccountQuery) -> list[Account]:
        if query.group_ids is not None and not query.group_ids:
            return []
        conds = account_conditions(query, self.c.dialect.name)
        base = _ARCHIVED_SELECT if query.archived else _ACCOUNT_SELECT
        q = base.where(and_(*conds)).order_by(t.accounts.c.login).limit(query.limit)
        result = self.c.execute(q)
        names = list(result.keys())  # once per page, not once per row as row._mapping does
        return [Account(**dict(zip(names, r, strict=True))) for r in result]
