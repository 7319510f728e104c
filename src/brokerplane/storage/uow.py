"""SqlUnitOfWork and its repositories: the core's ports implemented with SQLAlchemy Core."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, fields
from datetime import datetime
from operator import attrgetter
from types import TracebackType
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Dialect,
    Engine,
    Row,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql.elements import ColumnElement

from brokerplane.core import masks
from brokerplane.core.access.model import ApiKey, Manager, Strike
from brokerplane.core.access.tokens import ManagerToken
from brokerplane.core.account.model import Account, AccountQuery
from brokerplane.core.approval.model import Approval, ApprovalQuery, ApprovalThreshold
from brokerplane.core.attributes import Attribute, AttributeQuery, AttributeSet
from brokerplane.core.audit.model import AuditKey, AuditQuery, AuditRecord
from brokerplane.core.backoffice.model import (
    AccountPreset,
    BackofficeToken,
    Branding,
    Plan,
    UserSearch,
    WebhookKey,
)
from brokerplane.core.errors import (
    Conflict,
    EmailAlreadyExists,
    LoginAlreadyExists,
    StorageUnavailable,
    ValidationError,
)
from brokerplane.core.group.model import Group
from brokerplane.core.idempotency import Claim, IdempotencyRecord, StoredResponse
from brokerplane.core.ledger.model import (
    KINDS,
    CurrencyMismatch,
    EntryClaim,
    EntryFacts,
    FigureMismatch,
    LedgerEntry,
    LedgerQuery,
)
from brokerplane.core.symbol.model import Symbol
from brokerplane.core.user.model import DELETED, User, UserLink, UserQuery
from brokerplane.storage import driver
from brokerplane.storage import tables as t
from brokerplane.storage.engine import dialect_insert
from brokerplane.storage.events import SqlEvents
from brokerplane.storage.exports import SqlExports, account_conditions
from brokerplane.storage.second_factor import SqlSecondFactor
from brokerplane.storage.trading import SqlTrading

_LOGIN_LOCK_KEY = 7_270_001
log = logging.getLogger("brokerplane.storage")

_CONNECTION_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


class PerDialect(dict[str, Any]):
    """Statements built for a dialect when it first asks for them (`build(insert)`)."""

    def __init__(self, build: Callable[[Any], Any]) -> None:
        super().__init__()
        self._build = build

    def __missing__(self, name: str) -> Any:
        made = self[name] = self._build(dialect_insert(name))
        return made


def _row(row: Row[Any]) -> dict[str, Any]:
    return dict(row._mapping)


_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_LOWER = _ASCII_UPPER.lower()
_TO_LOWER = str.maketrans(_ASCII_UPPER, _ASCII_LOWER)


def _like(pattern: masks.Pattern) -> str:
    """A parsed mask pattern (already folded) as a LIKE pattern escaped with backslashes."""
    escaped = (
        p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for p in pattern.pieces
    )
    return "%".join(escaped)


def _fold(column: Any) -> Any:
    """The column with ASCII letters lowered and nothing else, on every engine and locale."""
    return func.translate(column, _ASCII_UPPER, _ASCII_LOWER)


def mask_condition(column: Any, mask: str, dialect: str = "postgresql") -> ColumnElement[bool]:
    """An MT5-style mask (`a*,!b`) as SQL: LIKEs ignoring ASCII case, exclusions winning,
    exactly as core.masks.matches decides in Python. core.masks parses (and bounds) the mask;
    this only renders its patterns, with runs of stars already collapsed to one."""
    folded = func.lower(column) if dialect == "sqlite" else _fold(column)
    parsed = masks.parse(mask)
    include = [folded.like(_like(p), escape="\\") for p in parsed.include]
    exclude = [folded.like(_like(p), escape="\\") for p in parsed.exclude]
    result: ColumnElement[bool] = or_(*include) if include else literal(True)
    if exclude:
        result = and_(result, ~or_(*exclude))
    return result


def _reach(
    login: Any, group_ids: tuple[int, ...] | None, broker_mask: str | None, dialect: str
) -> Any:
    """Logins of accounts within reach (by group ids and white-label mask), as a subquery."""
    a = t.accounts.c
    conds: list[ColumnElement[bool]] = []
    if group_ids is not None:
        conds.append(a.group_id.in_(group_ids))
    if broker_mask is not None:
        conds.append(mask_condition(a.broker, broker_mask, dialect))
    return login.in_(select(a.login).where(and_(True, *conds)))


class SqlGroups:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    @staticmethod
    def _to(row: Row[Any]) -> Group:
        return Group(**_row(row))

    def get(self, name: str) -> Group | None:
        row = self.c.execute(select(t.groups).where(t.groups.c.name == name)).first()
        return self._to(row) if row else None

    def get_by_id(self, group_id: int) -> Group | None:
        row = self.c.execute(select(t.groups).where(t.groups.c.id == group_id)).first()
        return self._to(row) if row else None

    def list(self) -> list[Group]:
        return [self._to(r) for r in self.c.execute(select(t.groups).order_by(t.groups.c.name))]

    def add(self, group: Group) -> Group:
        values = asdict(group)
        values.pop("id")
        group.id = self.c.execute(
            insert(t.groups).values(**values).returning(t.groups.c.id)
        ).scalar_one()
        return group

    def update(self, group: Group) -> None:
        values = asdict(group)
        self.c.execute(update(t.groups).where(t.groups.c.id == values.pop("id")).values(**values))

    def count_accounts(self, group_id: int) -> int:
        q = select(func.count()).select_from(t.accounts).where(t.accounts.c.group_id == group_id)
        return int(self.c.execute(q).scalar_one())

    def count_users(self, group_id: int) -> int:
        q = select(func.count()).select_from(t.users).where(t.users.c.group_id == group_id)
        return int(self.c.execute(q).scalar_one())

    def delete(self, group_id: int) -> None:
        ga, th = t.group_attributes, t.approval_thresholds
        self.c.execute(delete(ga).where(ga.c.group_id == group_id))
        self.c.execute(delete(th).where(th.c.group_id == group_id))
        self.c.execute(delete(t.groups).where(t.groups.c.id == group_id))


class SqlSymbols:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    def get(self, name: str) -> Symbol | None:
        row = self.c.execute(select(t.symbols).where(t.symbols.c.name == name)).first()
        return Symbol(**_row(row)) if row else None

    def list(self) -> list[Symbol]:
        rows = self.c.execute(select(t.symbols).order_by(t.symbols.c.name))
        return [Symbol(**_row(r)) for r in rows]

    def add(self, symbol: Symbol) -> Symbol:
        values = asdict(symbol)
        values.pop("id")
        q = insert(t.symbols).values(**values).returning(t.symbols.c.id)
        symbol.id = self.c.execute(q).scalar_one()
        return symbol

    def update(self, symbol: Symbol) -> None:
        values = asdict(symbol)
        self.c.execute(update(t.symbols).where(t.symbols.c.id == values.pop("id")).values(**values))

    def delete(self, symbol_id: int) -> None:
        name = select(t.symbols.c.name).where(t.symbols.c.id == symbol_id).scalar_subquery()
        self.c.execute(delete(t.quotes).where(t.quotes.c.symbol == name))
        self.c.execute(delete(t.symbols).where(t.symbols.c.id == symbol_id))


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
        q = select(exists().where(t.accounts.c.login == login))
        return bool(self.c.execute(q).scalar())

    def add(self, account: Account) -> None:
        try:
            with self.c.begin_nested():
                self.c.execute(insert(t.accounts).values(**self._values(account)))
        except sa_exc.IntegrityError as err:
            if self.exists(account.login):
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
            {"b_login": login, "b_balance": balance, "b_credit": credit, "b_bonus": bonus,
             "b_at": at},
        )  # fmt: skip

    def allocate_login(self, low: int, high: int) -> int | None:
        """The next free login in [low, high]: after the highest used, else the lowest gap."""
        if self.c.dialect.name == "postgresql":
            # Concurrent openings in one range take turns until commit (SQLite: BEGIN IMMEDIATE).
            self.c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOGIN_LOCK_KEY})
        login = t.accounts.c.login
        highest = self.c.execute(
            select(func.max(login)).where(login.between(low, high))
        ).scalar_one_or_none()
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


_MANAGER_BY_LOGIN = select(t.managers).where(t.managers.c.login == bindparam("b_login"))
_KEY_BY_PREFIX = select(t.api_keys).where(t.api_keys.c.prefix == bindparam("b_prefix"))
_KEY_AND_MANAGER = (
    select(t.api_keys, *(c.label(f"m_{c.name}") for c in t.managers.columns))
    .outerjoin(t.managers, t.managers.c.login == t.api_keys.c.manager_login)
    .where(t.api_keys.c.prefix == bindparam("b_prefix"))
)
_KEY_FIELDS = [c.name for c in t.api_keys.columns]


class SqlManagers:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    @staticmethod
    def _to(row: Row[Any]) -> Manager:
        data = _row(row)
        data["rights"] = frozenset(data["rights"])
        return Manager(**data)

    @staticmethod
    def _values(m: Manager) -> dict[str, Any]:
        values = asdict(m)
        values["rights"] = sorted(m.rights)
        return values

    def get(self, login: int) -> Manager | None:
        row = self.c.execute(_MANAGER_BY_LOGIN, {"b_login": login}).first()
        return self._to(row) if row else None

    def list(self) -> list[Manager]:
        rows = self.c.execute(select(t.managers).order_by(t.managers.c.login))
        return [self._to(r) for r in rows]

    def add(self, manager: Manager) -> None:
        self.c.execute(insert(t.managers).values(**self._values(manager)))

    def update(self, manager: Manager) -> None:
        values = self._values(manager)
        login = values.pop("login")
        self.c.execute(update(t.managers).where(t.managers.c.login == login).values(**values))


class SqlApiKeys:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    @staticmethod
    def _to(row: Row[Any]) -> ApiKey:
        data = _row(row)
        data["scopes"] = frozenset(data["scopes"])
        return ApiKey(**data)

    @staticmethod
    def _values(key: ApiKey) -> dict[str, Any]:
        values = asdict(key)
        values["scopes"] = sorted(key.scopes)
        return values

    def get_by_prefix(self, prefix: str) -> ApiKey | None:
        row = self.c.execute(_KEY_BY_PREFIX, {"b_prefix": prefix}).first()
        return self._to(row) if row else None

    def with_manager(self, prefix: str) -> tuple[ApiKey, Manager | None] | None:
        row = self.c.execute(_KEY_AND_MANAGER, {"b_prefix": prefix}).first()
        if row is None:
            return None
        data = row._mapping
        values = {name: data[name] for name in _KEY_FIELDS}
        values["scopes"] = frozenset(values["scopes"])
        key = ApiKey(**values)
        if data["m_login"] is None:
            return key, None
        manager = {c.name: data[f"m_{c.name}"] for c in t.managers.columns}
        manager["rights"] = frozenset(manager["rights"])
        return key, Manager(**manager)

    def get(self, key_id: str) -> ApiKey | None:
        row = self.c.execute(select(t.api_keys).where(t.api_keys.c.id == key_id)).first()
        return self._to(row) if row else None

    def children(self, key_id: str) -> list[ApiKey]:
        q = select(t.api_keys).where(t.api_keys.c.parent_key_id == key_id)
        return [self._to(r) for r in self.c.execute(q.order_by(t.api_keys.c.created_at))]

    def list(self, manager_login: int | None = None) -> list[ApiKey]:
        q = select(t.api_keys).order_by(t.api_keys.c.created_at)
        if manager_login is not None:
            q = q.where(t.api_keys.c.manager_login == manager_login)
        return [self._to(r) for r in self.c.execute(q)]

    def add(self, key: ApiKey) -> None:
        self.c.execute(insert(t.api_keys).values(**self._values(key)))

    def touch(self, key_id: str, at: datetime) -> None:
        self.c.execute(update(t.api_keys).where(t.api_keys.c.id == key_id).values(last_used_at=at))

    def update(self, key: ApiKey) -> None:
        values = self._values(key)
        key_id = values.pop("id")
        self.c.execute(update(t.api_keys).where(t.api_keys.c.id == key_id).values(**values))


_TOKEN_BY_HASH = select(t.manager_tokens).where(
    t.manager_tokens.c.token_hash == bindparam("b_hash")
)
_TOKEN_AND_MANAGER = (
    select(t.manager_tokens, *(c.label(f"m_{c.name}") for c in t.managers.columns))
    .outerjoin(t.managers, t.managers.c.login == t.manager_tokens.c.manager_login)
    .where(t.manager_tokens.c.token_hash == bindparam("b_hash"))
)
_TOKEN_FIELDS = [c.name for c in t.manager_tokens.columns]


_f = t.auth_failures.c


def _strike_upsert(make: Any) -> Any:
    """One statement counting a failure: a new key starts at 1; a key locked after `now` is
    left as it is; an old one whose last failure and lock are both before `forget_before`
    starts again at 1; any other adds one. Its row stays held to the end of the transaction
    (PostgreSQL's row lock, SQLite's write lock), so concurrent strikes queue."""
    forgotten = and_(
        _f.last_failure_at < bindparam("forget_before", type_=_f.last_failure_at.type),
        or_(_f.locked_until.is_(None),
            _f.locked_until < bindparam("forget_before", type_=_f.locked_until.type)),
    )  # fmt: skip
    locked = and_(
        _f.locked_until.is_not(None),
        _f.locked_until > bindparam("now", type_=_f.locked_until.type),
    )
    q = make(t.auth_failures).values(
        key=bindparam("key"), failures=1, last_failure_at=bindparam("now"), locked_until=None
    )
    return q.on_conflict_do_update(
        index_elements=[_f.key],
        set_={
            "failures": case((locked, _f.failures), (forgotten, 1), else_=_f.failures + 1),
            "locked_until": case((forgotten, None), else_=_f.locked_until),
            "last_failure_at": case((locked, _f.last_failure_at), else_=q.excluded.last_failure_at),
        },
    ).returning(_f.key, _f.failures, _f.last_failure_at, _f.locked_until)


_STRIKE = PerDialect(_strike_upsert)


def _hold_upsert(make: Any) -> Any:
    """One statement taking a key's row without counting: a new key starts at 0 failures; an
    old one whose last failure and lock are both before `forget_before` forgets them. Its row
    stays held to the end of the transaction, as `_strike_upsert`'s."""
    forgotten = and_(
        _f.last_failure_at < bindparam("forget_before", type_=_f.last_failure_at.type),
        or_(_f.locked_until.is_(None),
            _f.locked_until < bindparam("forget_before", type_=_f.locked_until.type)),
    )  # fmt: skip
    q = make(t.auth_failures).values(
        key=bindparam("key"), failures=0, last_failure_at=bindparam("now"), locked_until=None
    )
    return q.on_conflict_do_update(
        index_elements=[_f.key],
        set_={
            "failures": case((forgotten, 0), else_=_f.failures),
            "locked_until": case((forgotten, None), else_=_f.locked_until),
        },
    ).returning(_f.key, _f.failures, _f.last_failure_at, _f.locked_until)


_HOLD = PerDialect(_hold_upsert)
_slot = t.auth_reservations.c


class SqlLockouts:
    """The sign-in lockout's counters (see the LockoutRepository port)."""

    def __init__(self, conn: Connection) -> None:
        self.c = conn

    def get(self, keys: Sequence[str]) -> list[Strike]:
        if not keys:
            return []
        rows = self.c.execute(select(t.auth_failures).where(_f.key.in_(list(keys))))
        return [Strike(**_row(r)) for r in rows]

    def strike(self, key: str, now: datetime, forget_before: datetime) -> Strike:
        q = _STRIKE[self.c.dialect.name]
        params = {"key": key, "now": now, "forget_before": forget_before}
        return Strike(**_row(self.c.execute(q, params).one()))

    def hold(self, key: str, now: datetime, forget_before: datetime) -> Strike:
        q = _HOLD[self.c.dialect.name]
        params = {"key": key, "now": now, "forget_before": forget_before}
        return Strike(**_row(self.c.execute(q, params).one()))

    def in_flight(self, key: str, now: datetime) -> int:
        self.c.execute(delete(t.auth_reservations).where(_slot.key == key, _slot.expires_at <= now))
        live = select(func.count()).select_from(t.auth_reservations).where(_slot.key == key)
        return int(self.c.execute(live).scalar_one())

    def reserve(self, key: str, token: str, expires_at: datetime) -> None:
        self.c.execute(
            insert(t.auth_reservations).values(key=key, token=token, expires_at=expires_at)
        )

    def release(self, keys: Sequence[str], token: str) -> None:
        for key in sorted(keys):  # in key order, as `hold` takes them
            self.c.execute(
                delete(t.auth_reservations).where(_slot.key == key, _slot.token == token)
            )

    def clear_subject(self, subject: str) -> int:
        mine = or_(_f.key == subject, _f.key.startswith(f"{subject}@", autoescape=True))
        return int(self.c.execute(delete(t.auth_failures).where(mine)).rowcount or 0)

    def lock(self, key: str, until: datetime) -> None:
        self.c.execute(
            update(t.auth_failures)
            .where(_f.key == key, or_(_f.locked_until.is_(None), _f.locked_until < until))
            .values(locked_until=until)
        )

    def clear(self, keys: Sequence[str]) -> None:
        for key in sorted(keys):  # in key order, as `strike` locks them
            self.c.execute(delete(t.auth_failures).where(_f.key == key))

    def purge(self, before: datetime) -> int:
        stale = and_(_f.last_failure_at < before,
                     or_(_f.locked_until.is_(None), _f.locked_until < before))  # fmt: skip
        self.c.execute(delete(t.auth_reservations).where(_slot.expires_at < before))
        return int(self.c.execute(delete(t.auth_failures).where(stale)).rowcount or 0)


class SqlManagerTokens:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    def get(self, token_hash: str) -> ManagerToken | None:
        row = self.c.execute(_TOKEN_BY_HASH, {"b_hash": token_hash}).first()
        return ManagerToken(**_row(row)) if row else None

    def with_manager(self, token_hash: str) -> tuple[ManagerToken, Manager | None] | None:
        row = self.c.execute(_TOKEN_AND_MANAGER, {"b_hash": token_hash}).first()
        if row is None:
            return None
        data = row._mapping
        token = ManagerToken(**{name: data[name] for name in _TOKEN_FIELDS})
        if data["m_login"] is None:
            return token, None
        manager = {c.name: data[f"m_{c.name}"] for c in t.managers.columns}
        manager["rights"] = frozenset(manager["rights"])
        return token, Manager(**manager)

    def add(self, token: ManagerToken) -> None:
        self.c.execute(insert(t.manager_tokens).values(**asdict(token)))

    def delete_for_manager(self, manager_login: int, dialect: str | None = None) -> None:
        tt = t.manager_tokens
        query = delete(tt).where(tt.c.manager_login == manager_login)
        if dialect is not None:
            query = query.where(tt.c.dialect == dialect)
        self.c.execute(query)

    def for_manager(self, manager_login: int, dialect: str) -> list[ManagerToken]:
        tt = t.manager_tokens
        rows = self.c.execute(
            select(tt)
            .where(tt.c.manager_login == manager_login, tt.c.dialect == dialect)
            .order_by(tt.c.issued_at.desc(), tt.c.token_hash)
        ).all()
        return [ManagerToken(**_row(row)) for row in rows]


_AUDIT_COLUMNS = [c.name for c in t.audit_records.columns]
# Keyset pages of the verifiers' streams.
STREAM_PAGE = 5000
_LEDGER_COLUMNS = [c.name for c in t.ledger_entries.columns if c.name != "id"]
_LEDGER_INSERT = insert(t.ledger_entries).returning(t.ledger_entries.c.id)
_RUN_LEDGER_INSERT = driver.Statement(_LEDGER_INSERT, _LEDGER_COLUMNS)


class SqlLedger:
    def __init__(self, conn: Connection) -> None:
        self.c = conn
        # the kinds of the entries written in this transaction (a savepoint rolled back takes
        # its own out again), reported once the transaction commits
        self.added: list[str] = []

    def add(self, entry: LedgerEntry) -> LedgerEntry:
        values = {name: getattr(entry, name) for name in _LEDGER_COLUMNS}
        entry.id = int(_RUN_LEDGER_INSERT.execute(self.c, values).one()[0])
        self.added.append(entry.kind)
        return entry

    def mismatches(self) -> list[FigureMismatch]:
        e = t.ledger_entries.c
        a = t.accounts.c

        def total(figure: str) -> Any:
            kinds = [k for k, (f, _) in KINDS.items() if f == figure]
            return func.coalesce(func.sum(case((e.kind.in_(kinds), e.amount), else_=0)), 0)

        sums = (
            select(
                e.login.label("login"),
                total("balance").label("balance"),
                total("credit").label("credit"),
                total("bonus").label("bonus"),
            )
            .group_by(e.login)
            .subquery()
        )
        zero = literal(0)
        lb = func.coalesce(sums.c.balance, zero)
        lc = func.coalesce(sums.c.credit, zero)
        lx = func.coalesce(sums.c.bonus, zero)
        q = (
            select(a.login, a.balance, a.credit, a.bonus, a.currency, a.currency_digits,
                   lb.label("l_balance"), lc.label("l_credit"), lx.label("l_bonus"))
            .select_from(t.accounts.outerjoin(sums, sums.c.login == a.login))
            .where(or_(a.balance != lb, a.credit != lc, a.bonus != lx))
            .order_by(a.login)
        )  # fmt: skip
        found: list[FigureMismatch] = []
        for row in self.c.execute(q):
            for figure in ("balance", "credit", "bonus"):
                cached, summed = int(getattr(row, figure)), int(getattr(row, "l_" + figure))
                if cached != summed:
                    found.append(FigureMismatch(row.login, figure, cached, summed, row.currency,
                                                row.currency_digits))  # fmt: skip
        return found

    def figures_of(self, login: int) -> tuple[int, int, int]:
        """The balance, credit and bonus the account's entries add up to (minor units)."""
        e = t.ledger_entries.c

        def total(figure: str) -> Any:
            kinds = [k for k, (f, _) in KINDS.items() if f == figure]
            return func.coalesce(func.sum(case((e.kind.in_(kinds), e.amount), else_=0)), 0)

        q = select(total("balance"), total("credit"), total("bonus")).where(e.login == login)
        row = self.c.execute(q).one()
        return int(row[0]), int(row[1]), int(row[2])

    _FACTS = select(
        t.ledger_entries.c.id, t.ledger_entries.c.login, t.ledger_entries.c.kind,
        t.ledger_entries.c.amount, t.ledger_entries.c.balance_after,
        t.ledger_entries.c.credit_after, t.ledger_entries.c.bonus_after,
        t.ledger_entries.c.currency, t.ledger_entries.c.currency_digits, t.ledger_entries.c.at,
        t.ledger_entries.c.comment, t.ledger_entries.c.reference,
        t.ledger_entries.c.manager_login, t.ledger_entries.c.approval_id,
        t.ledger_entries.c.approved_by,
    )  # fmt: skip

    def iter_facts(self) -> Iterator[EntryFacts]:
        e = t.ledger_entries.c
        last = 0
        while True:
            q = self._FACTS.where(e.id > last).order_by(e.id).limit(STREAM_PAGE)
            rows = self.c.execute(q).all()
            yield from (EntryFacts._make((*row, True)) for row in rows)
            if len(rows) < STREAM_PAGE:
                return
            last = int(rows[-1][0])

    def currency_mismatches(self) -> list[CurrencyMismatch]:
        e, acc, a = t.ledger_entries.c, t.accounts.c, t.audit_records.c
        found: list[CurrencyMismatch] = []
        by_entry = (
            select(acc.login, acc.currency, acc.currency_digits, e.currency, e.currency_digits,
                   func.min(e.id))
            .join(t.ledger_entries, e.login == acc.login)
            .where(or_(e.currency != acc.currency, e.currency_digits != acc.currency_digits))
            .group_by(acc.login, acc.currency, acc.currency_digits, e.currency,
                      e.currency_digits)
            .order_by(acc.login)
        )  # fmt: skip
        for login, cur, digits, said, said_digits, entry_id in self.c.execute(by_entry):
            found.append(CurrencyMismatch(login, cur, digits, said, said_digits,
                                          f"entry {entry_id}"))  # fmt: skip
        opened = (
            select(a.entity_id, func.max(a.id).label("rid"))
            .where(a.entity_type == "account", a.action == "account.opened")
            .group_by(a.entity_id)
            .subquery()
        )
        said_cur = a.after["currency"].as_string()
        said_digits = a.after["currency_digits"].as_integer()
        by_record = (
            select(acc.login, acc.currency, acc.currency_digits, said_cur, said_digits, a.id)
            .join(opened, opened.c.entity_id == cast(acc.login, String))
            .join(t.audit_records, a.id == opened.c.rid)
            .where(or_(said_cur != acc.currency, said_digits != acc.currency_digits))
            .order_by(acc.login)
        )
        for login, cur, digits, said, s_digits, rid in self.c.execute(by_record):
            found.append(CurrencyMismatch(login, cur, digits, said, s_digits,
                                          f"audit record {rid}"))  # fmt: skip
        return found

    def accounts_count(self) -> int:
        return int(self.c.execute(select(func.count()).select_from(t.accounts)).scalar_one())

    def totals(self) -> dict[str, dict[str, int]]:
        e = t.ledger_entries.c
        columns = [func.count().label("entries")]
        for figure in ("balance", "credit", "bonus"):
            kinds = [k for k, (f, _) in KINDS.items() if f == figure]
            columns.append(
                func.coalesce(func.sum(case((e.kind.in_(kinds), e.amount), else_=0)), 0).label(
                    figure
                )
            )
        q = select(e.currency, *columns).group_by(e.currency).order_by(e.currency)
        return {
            r.currency: {name: int(getattr(r, name))
                         for name in ("entries", "balance", "credit", "bonus")}
            for r in self.c.execute(q)
        }  # fmt: skip

    def list(self, query: LedgerQuery) -> list[LedgerEntry]:
        e = t.ledger_entries.c
        conds: list[ColumnElement[bool]] = []
        if query.login is not None:
            conds.append(e.login == query.login)
        if query.kinds:
            conds.append(e.kind.in_(query.kinds))
        if query.time_from is not None:
            conds.append(e.at >= query.time_from)
        if query.time_to is not None:
            conds.append(e.at < query.time_to)
        if query.reference is not None:
            conds.append(e.reference == query.reference)
        if query.logins is not None:
            conds.append(e.login.in_(query.logins))
        if query.ids is not None:
            conds.append(e.id.in_(query.ids))
        if query.after_id is not None:
            conds.append(e.id > query.after_id)
        if query.group_ids is not None or query.broker_mask is not None:
            if query.group_ids is not None and not query.group_ids:
                return []
            conds.append(_reach(e.login, query.group_ids, query.broker_mask, self.c.dialect.name))
        q = select(t.ledger_entries).where(and_(True, *conds)).order_by(e.id).limit(query.limit)
        return [LedgerEntry(**_row(r)) for r in self.c.execute(q)]


_APPROVAL_COLUMNS = [c.name for c in t.approvals.columns if c.name != "id"]


class SqlApprovals:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    def add(self, approval: Approval) -> Approval:
        values = {name: getattr(approval, name) for name in _APPROVAL_COLUMNS}
        q = insert(t.approvals).values(**values).returning(t.approvals.c.id)
        approval.id = int(self.c.execute(q).scalar_one())
        return approval

    def get(self, approval_id: int, *, for_update: bool = False) -> Approval | None:
        q = select(t.approvals).where(t.approvals.c.id == approval_id)
        if for_update and self.c.dialect.name == "postgresql":
            q = q.with_for_update()
        row = self.c.execute(q).first()
        return Approval(**_row(row)) if row else None

    def update(self, approval: Approval) -> None:
        values = {name: getattr(approval, name) for name in _APPROVAL_COLUMNS}
        self.c.execute(update(t.approvals).where(t.approvals.c.id == approval.id).values(**values))

    def due(self, now: datetime) -> list[Approval]:
        p = t.approvals.c
        q = select(t.approvals).where(p.state == "pending", p.expires_at <= now).order_by(p.id)
        if self.c.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        return [Approval(**_row(r)) for r in self.c.execute(q)]

    def list(self, query: ApprovalQuery) -> list[Approval]:
        p = t.approvals.c
        conds: list[ColumnElement[bool]] = []
        if query.state is not None:
            conds.append(p.state == query.state)
        if query.login is not None:
            conds.append(p.login == query.login)
        if query.after_id is not None:
            conds.append(p.id > query.after_id)
        if query.group_ids is not None or query.broker_mask is not None:
            if query.group_ids is not None and not query.group_ids:
                return []
            conds.append(_reach(p.login, query.group_ids, query.broker_mask, self.c.dialect.name))
        q = select(t.approvals).where(and_(True, *conds)).order_by(p.id).limit(query.limit)
        return [Approval(**_row(r)) for r in self.c.execute(q)]

    def count_pending(self) -> int:
        q = select(func.count()).select_from(t.approvals).where(t.approvals.c.state == "pending")
        return int(self.c.execute(q).scalar_one())


class SqlThresholds:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    _SELECT = select(t.approval_thresholds, t.groups.c.name.label("group")).outerjoin(
        t.groups, t.groups.c.id == t.approval_thresholds.c.group_id
    )

    def find(self, currency: str, group_id: int) -> ApprovalThreshold | None:
        h = t.approval_thresholds.c
        row = self.c.execute(
            self._SELECT.where(h.currency == currency, h.group_id == group_id)
        ).first()
        return ApprovalThreshold(**_row(row)) if row else None

    _h = t.approval_thresholds.c
    # The group's own threshold first (group 0 is the currency-wide one).
    _APPLICABLE = (
        select(_h.amount)
        .where(_h.currency == bindparam("b_currency"), _h.group_id.in_([bindparam("b_group"), 0]))
        .order_by((_h.group_id == 0).asc())
        .limit(1)
    )

    _RUN_APPLICABLE = driver.Statement(_APPLICABLE)

    def applicable(self, currency: str, group_id: int) -> int | None:
        row = self._RUN_APPLICABLE.execute(
            self.c, {"b_currency": currency, "b_group": group_id}
        ).first()
        return int(row[0]) if row else None

    def list(self) -> list[ApprovalThreshold]:
        h = t.approval_thresholds.c
        rows = self.c.execute(self._SELECT.order_by(h.currency, h.group_id))
        return [ApprovalThreshold(**_row(r)) for r in rows]

    def put(self, threshold: ApprovalThreshold) -> None:
        self.delete(threshold.currency, threshold.group_id)
        self.c.execute(
            insert(t.approval_thresholds).values(
                currency=threshold.currency, group_id=threshold.group_id,
                amount=threshold.amount, currency_digits=threshold.currency_digits,
                updated_at=threshold.updated_at,
            )
        )  # fmt: skip

    def delete(self, currency: str, group_id: int) -> None:
        h = t.approval_thresholds.c
        self.c.execute(
            delete(t.approval_thresholds).where(h.currency == currency, h.group_id == group_id)
        )


_IDEMPOTENCY_COLUMNS = [c.name for c in t.idempotency_records.columns]
_r = t.idempotency_records.c
# One statement, no savepoint: a key already there (or being inserted by a concurrent claim,
# which this waits for) inserts nothing.
_CLAIM_INSERT = PerDialect(
    lambda make: driver.Statement(
        make(t.idempotency_records).on_conflict_do_nothing().returning(_r.key),
        _IDEMPOTENCY_COLUMNS,
    )
)
_CLAIM_COMPLETE = (
    update(t.idempotency_records)
    .where(_r.scope == bindparam("b_scope"), _r.key == bindparam("b_key"),
           _r.token == bindparam("b_token"), _r.state == "pending")
    .values(state="done", status=bindparam("b_status"), body=bindparam("b_body"),
            operation_id=bindparam("b_operation_id"), completed_at=bindparam("b_at"))
)  # fmt: skip
_RUN_CLAIM_COMPLETE = driver.Statement(_CLAIM_COMPLETE)


class SqlIdempotency:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    def get(self, scope: str, key: str, *, for_update: bool = False) -> IdempotencyRecord | None:
        r = t.idempotency_records.c
        q = select(t.idempotency_records).where(r.scope == scope, r.key == key)
        if for_update and self.c.dialect.name == "postgresql":
            q = q.with_for_update()
        row = self.c.execute(q).first()
        return IdempotencyRecord(**_row(row)) if row else None

    def _claim_commits_lazily(self) -> None:
        """A claim's own transaction (the only one that inserts or replaces records) need not
        wait for its WAL flush on PostgreSQL: the command's durable commit comes later in the
        same WAL and flushes it too, so an acknowledged write never loses its claim, and a
        claim lost in a crash belonged to a write nobody was told about (its retry claims
        again). Other sessions see the claim at commit either way."""
        if self.c.dialect.name == "postgresql":
            self.c.exec_driver_sql("SET LOCAL synchronous_commit TO off")

    def insert(self, record: IdempotencyRecord, *, lazy_commit: bool = True) -> bool:
        values = {name: getattr(record, name) for name in _IDEMPOTENCY_COLUMNS}
        if lazy_commit:
            self._claim_commits_lazily()
        return _CLAIM_INSERT[self.c.dialect.name].execute(self.c, values).first() is not None

    def replace(self, record: IdempotencyRecord, *, lazy_commit: bool = True) -> None:
        r = t.idempotency_records.c
        values = {name: getattr(record, name) for name in _IDEMPOTENCY_COLUMNS}
        if lazy_commit:
            self._claim_commits_lazily()
        self.c.execute(
            update(t.idempotency_records)
            .where(r.scope == record.scope, r.key == record.key)
            .values(**values)
        )

    def complete(self, claim: Claim, response: StoredResponse, at: datetime) -> bool:
        changed = _RUN_CLAIM_COMPLETE.run(
            self.c,
            {"b_scope": claim.scope, "b_key": claim.key, "b_token": claim.token,
             "b_status": response.status, "b_body": response.body,
             "b_operation_id": response.operation_id, "b_at": at},
        )  # fmt: skip
        return changed == 1

    def release(self, claim: Claim) -> None:
        r = t.idempotency_records.c
        self.c.execute(
            delete(t.idempotency_records).where(
                r.scope == claim.scope, r.key == claim.key, r.token == claim.token,
                r.state == "pending",
            )
        )  # fmt: skip

    def purge(self, now: datetime) -> int:
        r = t.idempotency_records.c
        result = self.c.execute(delete(t.idempotency_records).where(r.expires_at <= now))
        return int(result.rowcount or 0)


_HEAD = t.audit_head.c
_HEAD_READ = select(_HEAD.last_id, _HEAD.last_hash, _HEAD.last_event_id).where(_HEAD.id == 1)
_HEAD_READ_LOCKED = _HEAD_READ.with_for_update()
_HEAD_SEAL = (
    update(t.audit_head)
    .where(_HEAD.id == 1)
    .values(last_id=bindparam("b_last_id"), last_hash=bindparam("b_last_hash"),
            last_event_id=bindparam("b_last_event"))
)  # fmt: skip
_AUDIT_INSERT_ONE = insert(t.audit_records).values(
    {c.name: bindparam(f"r_{c.name}", type_=c.type) for c in t.audit_records.columns}
)


def _account_said(column: Any, bind: str) -> Any:
    """The event's account's group name or white label, read from its row in the statement
    that writes the event (no round trip, no Python under the head's lock); a value the
    snapshot carried wins (a deleted account's row may be gone)."""
    acc, grp = t.accounts.c, t.groups.c
    found = (
        select(column)
        .select_from(t.accounts.join(t.groups, grp.id == acc.group_id))
        .where(acc.login == bindparam("e_login", type_=BigInteger()))
        .scalar_subquery()
    )
    return func.coalesce(bindparam(bind, type_=String()), found)


_EVENT_BINDS = [c.name for c in t.events.columns if c.name not in ("group_name", "broker")]
_EVENT_INSERT = insert(t.events).values(
    {**{name: bindparam(f"e_{name}", type_=t.events.c[name].type) for name in _EVENT_BINDS},
     "group_name": _account_said(t.groups.c.name, "e_group_name"),
     "broker": _account_said(t.accounts.c.broker, "e_broker")}
)  # fmt: skip
# PostgreSQL: one record (and its event, if one) inserted in CTEs of the head's update, one
# round trip while the head row is locked (every money write waits for that lock). A
# multi-row VALUES cannot be cached by SQLAlchemy, so more records go as one executemany and
# then the update.
_SEAL_ONE = _HEAD_SEAL.add_cte(_AUDIT_INSERT_ONE.cte("sealed"))
_SEAL_ONE_EVENT = _HEAD_SEAL.add_cte(_AUDIT_INSERT_ONE.cte("sealed"), _EVENT_INSERT.cte("told"))
# The seal's statements on the driver's cursor (storage/driver.py).
_RUN_HEAD_READ = driver.Statement(_HEAD_READ)
_RUN_HEAD_READ_LOCKED = driver.Statement(_HEAD_READ_LOCKED)
_RUN_HEAD_SEAL = driver.Statement(_HEAD_SEAL)
_RUN_SEAL_ONE = driver.Statement(_SEAL_ONE)
_RUN_SEAL_ONE_EVENT = driver.Statement(_SEAL_ONE_EVENT)
_RUN_AUDIT_INSERT = driver.Statement(insert(t.audit_records), _AUDIT_COLUMNS)
_RUN_EVENT_INSERT = driver.Statement(_EVENT_INSERT)


def _event_row(event: Any, rec: AuditRecord) -> dict[str, Any]:
    return {
        "e_id": 0, "e_audit_id": 0, "e_type": event.type, "e_at": rec.at,
        "e_login": event.login, "e_group_name": event.group, "e_broker": event.broker,
        "e_manager_login": rec.manager_login, "e_key_id": rec.key_id,
        "e_operator_id": rec.operator_id, "e_request_id": rec.request_id,
        "e_dialect": rec.dialect, "e_data": event.data,
    }  # fmt: skip


def _said(action: str, path: tuple[str, ...]) -> Any:
    """A value inside a money record's `after`, as text (numbers too: no cast that could
    overflow); read only from records of `action`, so each row parses only its own paths."""
    a = t.audit_records.c
    return case((a.action == action, a.after[path].as_string()), else_=None)


# What a money record says of its entry: ledger.entry_posted carries the entry's snapshot,
# trade.deal the deal (whose id is its entry's) and the balance after; ledger.transfer the
# snapshots of both its legs, under "from" and "to".
_POSTED, _DEAL, _TRANSFER = "ledger.entry_posted", "trade.deal", "ledger.transfer"
_ENTRY_FIELDS = ("id", "kind", "amount", "balance_after", "credit_after", "bonus_after",
                 "currency", "currency_digits", "comment", "reference", "approval_id",
                 "manager_login")  # fmt: skip
_LEGS = ("from", "to")
_CLAIMS = select(
    t.audit_records.c.id, t.audit_records.c.action, t.audit_records.c.entity_id,
    t.audit_records.c.at, t.audit_records.c.manager_login,
    *(_said(_POSTED, ("entry", name)) for name in _ENTRY_FIELDS),
    _said(_DEAL, ("deal", "id")), _said(_DEAL, ("deal", "profit")), _said(_DEAL, ("balance",)),
    _said(_DEAL, ("currency",)), _said(_DEAL, ("currency_digits",)),
    *(_said(_TRANSFER, (leg, "entry", name)) for leg in _LEGS
      for name in ("login", *_ENTRY_FIELDS)),
).where(t.audit_records.c.action.in_((_POSTED, _DEAL, _TRANSFER)))  # fmt: skip
_N_ENTRY = len(_ENTRY_FIELDS)


def _int(value: Any) -> int | None:
    if value is None or type(value) is int:
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _entry_claim(rid: Any, login: Any, at: Any, actor: Any, said: Sequence[Any]) -> EntryClaim:
    e_id, kind, amount, bal, cred, bonus, cur, digits, comment, ref, approval, manager = said
    return EntryClaim(
        rid,
        _int(e_id),
        login,
        kind,
        _int(amount),
        _int(bal),
        _int(cred),
        _int(bonus),
        cur,
        _int(digits),
        at,
        comment,
        ref,
        approval_said=True,
        approval_id=_int(approval),
        actor=actor,
        requester=_int(manager),
    )


def _claims(row: Sequence[Any]) -> Iterator[EntryClaim]:
    """The entries a money record claims: one, or a transfer's two legs."""
    rid, action, login, at, actor = row[:5]
    if action == _DEAL:
        d_id, d_profit, d_bal, d_cur, d_digits = row[5 + _N_ENTRY : 10 + _N_ENTRY]
        yield EntryClaim(rid, _int(d_id), login, "trade", _int(d_profit), _int(d_bal), None,
                         None, d_cur, _int(d_digits), at, approval_said=True,
                         actor=actor)  # fmt: skip
        return
    if action == _TRANSFER:
        start = 10 + _N_ENTRY
        for leg in range(len(_LEGS)):
            said = row[start + leg * (_N_ENTRY + 1) : start + (leg + 1) * (_N_ENTRY + 1)]
            leg_login = "" if said[0] is None else str(said[0])
            yield _entry_claim(rid, leg_login, at, actor, said[1:])
        return
    yield _entry_claim(rid, login, at, actor, row[5 : 5 + _N_ENTRY])


class SqlAudit:
    def __init__(self, conn: Connection, key: AuditKey | None = None) -> None:
        self.c = conn
        self.key = key
        self.pending: list[AuditRecord] = []
        # The types of the events the last flush wrote (told once the commit is durable).
        self.written: list[str] = []

    def append(self, record: AuditRecord) -> None:
        self.pending.append(record)

    @staticmethod
    def _to(row: Row[Any]) -> AuditRecord:
        return AuditRecord(**_row(row))

    def for_entity(self, entity_type: str, entity_id: str) -> list[AuditRecord]:
        a = t.audit_records.c
        q = select(t.audit_records).where(a.entity_type == entity_type, a.entity_id == entity_id)
        return [self._to(r) for r in self.c.execute(q.order_by(a.id))]

    def iter_all(self) -> Iterator[AuditRecord]:
        last = 0
        while True:
            q = (
                select(t.audit_records)
                .where(t.audit_records.c.id > last)
                .order_by(t.audit_records.c.id)
                .limit(5000)
            )
            rows = [self._to(r) for r in self.c.execute(q)]
            yield from rows
            if len(rows) < 5000:
                return
            last = rows[-1].id

    def iter_entry_claims(self) -> Iterator[EntryClaim]:
        a = t.audit_records.c
        last = 0
        while True:
            page = _CLAIMS.where(a.id > last).order_by(a.id).limit(STREAM_PAGE)
            rows = self.c.execute(page).all()
            for row in rows:
                yield from _claims(row)
            if len(rows) < STREAM_PAGE:
                return
            last = int(rows[-1][0])

    def iter_snapshots(
        self, entity_types: Sequence[str]
    ) -> Iterator[tuple[int, str, str, str, dict[str, Any] | None, int | None]]:
        a = t.audit_records.c
        columns = select(a.id, a.action, a.entity_type, a.entity_id, a.after, a.manager_login)
        last = 0
        while True:
            page = columns.where(a.entity_type.in_(entity_types), a.id > last)
            rows = self.c.execute(page.order_by(a.id).limit(STREAM_PAGE)).all()
            yield from (tuple(r) for r in rows)
            if len(rows) < STREAM_PAGE:
                return
            last = int(rows[-1][0])

    def newest_seal_key(self) -> tuple[int, str | None]:
        """The newest record's id and the key that sealed it (None: unkeyed or no record)."""
        a = t.audit_records.c
        row = self.c.execute(select(a.id, a.seal_key).order_by(a.id.desc()).limit(1)).first()
        return (int(row.id), row.seal_key) if row else (0, None)

    def query(self, query: AuditQuery) -> list[AuditRecord]:
        a = t.audit_records.c
        conds: list[ColumnElement[bool]] = []
        if query.entity_type is not None:
            conds.append(a.entity_type == query.entity_type)
        if query.entity_id is not None:
            conds.append(a.entity_id == query.entity_id)
        if query.action is not None:
            if query.action.endswith("."):
                conds.append(a.action.startswith(query.action, autoescape=True))
            else:
                conds.append(a.action == query.action)
        if query.manager_login is not None:
            conds.append(a.manager_login == query.manager_login)
        if query.operator_id is not None:
            conds.append(a.operator_id == query.operator_id)
        if query.request_id is not None:
            conds.append(a.request_id == query.request_id)
        if query.dialect is not None:
            conds.append(a.dialect == query.dialect)
        if query.time_from is not None:
            conds.append(a.at >= query.time_from)
        if query.time_to is not None:
            conds.append(a.at < query.time_to)
        if query.after_id is not None:
            conds.append(a.id > query.after_id)
        q = select(t.audit_records).where(and_(True, *conds)).order_by(a.id).limit(query.limit)
        return [self._to(r) for r in self.c.execute(q)]

    def head(self) -> tuple[int, str]:
        head = t.audit_head
        row = self.c.execute(select(head.c.last_id, head.c.last_hash).where(head.c.id == 1)).one()
        return int(row.last_id), str(row.last_hash)

    def flush(self) -> None:
        """Seal the queued records onto the chain; the head row's lock orders writers."""
        if not self.pending:
            return
        postgres = self.c.dialect.name == "postgresql"
        # The events' rows are made before the head is locked; under it they only get ids.
        told = [[_event_row(event, rec) for event in rec.events] for rec in self.pending]
        head_row = (_RUN_HEAD_READ_LOCKED if postgres else _RUN_HEAD_READ).execute(self.c, {}).one()
        last_id, last_hash, last_event = head_row
        rows = []
        events = []
        for rec, its in zip(self.pending, told, strict=True):
            last_id += 1
            rec.id = last_id
            rec.seal(last_hash, self.key)
            last_hash = rec.hash
            rows.append({name: getattr(rec, name) for name in _AUDIT_COLUMNS})
            for row, event in zip(its, rec.events, strict=True):
                last_event += 1
                event.id = row["e_id"] = last_event
                row["e_audit_id"] = last_id
                events.append(row)
                self.written.append(event.type)
        head = {"b_last_id": last_id, "b_last_hash": last_hash, "b_last_event": last_event}
        if postgres and len(rows) == 1 and len(events) <= 1:
            values = {**head, **{f"r_{k}": v for k, v in rows[0].items()}}
            if events:
                _RUN_SEAL_ONE_EVENT.run(self.c, {**values, **events[0]})
            else:
                _RUN_SEAL_ONE.run(self.c, values)
        else:
            _RUN_AUDIT_INSERT.run_many(self.c, rows)
            if events:
                _RUN_EVENT_INSERT.run_many(self.c, events)
            _RUN_HEAD_SEAL.run(self.c, head)
        self.pending.clear()


# kind -> (attribute table, its entity column, the entity table, that table's key)
_ATTRIBUTE_TABLES: dict[str, tuple[Any, Any, Any, Any]] = {
    "account": (t.account_attributes, t.account_attributes.c.login, t.accounts, t.accounts.c.login),
    "group": (t.group_attributes, t.group_attributes.c.group_id, t.groups, t.groups.c.id),
    "manager": (t.manager_attributes, t.manager_attributes.c.manager_login, t.managers,
                t.managers.c.login),
}  # fmt: skip


class SqlAttributes:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    def list(self, query: AttributeQuery) -> list[AttributeSet]:
        table, key = _ATTRIBUTE_TABLES[query.kind][:2]
        c = table.c
        row_conds: list[ColumnElement[bool]] = []
        if query.name_contains:
            row_conds.append(c.folded_name.contains(query.name_contains, autoescape=True))
        conds = list(row_conds)
        if query.ids is not None:
            if not query.ids:
                return []
            conds.append(key.in_(query.ids))
        if query.after_id is not None:
            conds.append(key > query.after_id)
        source: Any = table
        if query.kind == "account":
            # live accounts only, within the reach the query names
            a = t.accounts.c
            source = table.join(t.accounts, a.login == key)
            conds.append(a.deleted_at.is_(None))
            if query.group_ids is not None:
                if not query.group_ids:
                    return []
                conds.append(a.group_id.in_(query.group_ids))
            if query.broker_mask is not None:
                conds.append(mask_condition(a.broker, query.broker_mask, self.c.dialect.name))
        entities = select(key).select_from(source).where(and_(True, *conds)).group_by(key)
        if query.since is not None:
            entities = entities.having(func.max(c.updated_at) >= query.since)
        entities = entities.order_by(key)
        if query.limit is not None:
            entities = entities.limit(query.limit)
        ids = [int(i) for i in self.c.execute(entities).scalars()]
        if not ids:
            return []
        rows = self.c.execute(
            select(key.label("entity_id"), c.name, c.value, c.updated_at)
            .where(key.in_(ids), *row_conds)
            .order_by(key, c.name)
        )
        found: dict[int, list[Attribute]] = {}
        for row in rows:
            found.setdefault(int(row.entity_id), []).append(
                Attribute(row.name, row.value, row.updated_at)
            )
        return [AttributeSet(i, tuple(found[i])) for i in ids if i in found]

    def put(self, kind: str, entity_id: int, attributes: Sequence[Attribute]) -> None:
        if not attributes:
            return
        table, key = _ATTRIBUTE_TABLES[kind][:2]
        rows = [{key.name: entity_id, "name": a.name, "folded_name": a.name.casefold(),
                 "value": a.value, "updated_at": a.updated_at} for a in attributes]  # fmt: skip
        make = dialect_insert(self.c.dialect.name)
        q = make(table).values(rows)
        q = q.on_conflict_do_update(
            index_elements=[key, table.c.name],
            set_={"value": q.excluded.value, "updated_at": q.excluded.updated_at},
        )
        self.c.execute(q)

    def delete(self, kind: str, entity_id: int, names: Sequence[str] | None) -> None:
        table, key = _ATTRIBUTE_TABLES[kind][:2]
        q = delete(table).where(key == entity_id)
        if names is not None:
            q = q.where(table.c.name.in_(names))
        self.c.execute(q)

    def lock(self, kind: str, ids: Sequence[int]) -> None:
        """PostgreSQL: the entities' rows, FOR NO KEY UPDATE (new rows referring to them may
        still be written); SQLite: writers already take turns (BEGIN IMMEDIATE)."""
        if not ids or self.c.dialect.name != "postgresql":
            return
        parent_key = _ATTRIBUTE_TABLES[kind][3]
        for start in range(0, len(ids), 1000):
            chunk = list(ids[start : start + 1000])
            q = select(parent_key).where(parent_key.in_(chunk)).order_by(parent_key)
            self.c.execute(q.with_for_update(key_share=True)).all()


class SqlUsers:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    @staticmethod
    def _to(row: Row[Any]) -> User:
        return User(**_row(row))

    def get(self, user_id: int, *, for_update: bool = False) -> User | None:
        q = select(t.users).where(t.users.c.id == user_id)
        if for_update and self.c.dialect.name == "postgresql":
            q = q.with_for_update()
        row = self.c.execute(q).first()
        return self._to(row) if row else None

    def find_by_email(self, email: str) -> User | None:
        row = self.c.execute(select(t.users).where(t.users.c.email == email.lower())).first()
        return self._to(row) if row else None

    def nickname_taken(self, nickname: str) -> bool:
        q = select(exists().where(func.lower(t.users.c.nickname) == nickname.lower()))
        return bool(self.c.execute(q).scalar())

    def add(self, user: User) -> User:
        values = {k: v for k, v in asdict(user).items() if k != "id"}
        values["email"] = user.email.lower()
        try:
            with self.c.begin_nested():
                key = self.c.execute(insert(t.users).values(values)).inserted_primary_key
        except sa_exc.IntegrityError as err:
            # A concurrent request inserted the same email first (unique index).
            if values["email"] and self.find_by_email(values["email"]) is not None:
                raise EmailAlreadyExists(values["email"]) from err
            raise
        assert key is not None
        user.id = int(key[0])
        user.email = values["email"]
        return user

    def update(self, user: User) -> None:
        values = {k: v for k, v in asdict(user).items() if k != "id"}
        values["email"] = user.email.lower()
        self.c.execute(update(t.users).where(t.users.c.id == user.id).values(values))

    def list(self, query: UserQuery) -> list[User]:
        u = t.users.c
        conds: list[ColumnElement[bool]] = []
        if query.email is not None:
            conds.append(u.email == query.email.lower())
        if query.nickname is not None:
            conds.append(func.lower(u.nickname) == query.nickname.lower())
        if query.ids is not None:
            if not query.ids:
                return []
            conds.append(u.id.in_(query.ids))
        if query.group_ids is not None:
            conds.append(or_(u.group_id.is_(None), u.group_id.in_(query.group_ids)))
        if query.broker_mask is not None:
            dialect = self.c.dialect.name
            conds.append(or_(u.broker == "", mask_condition(u.broker, query.broker_mask, dialect)))
        if query.after_id is not None:
            conds.append(u.id > query.after_id)
        conds.append(u.status != DELETED)
        q = select(t.users).where(and_(True, *conds)).order_by(u.id).limit(query.limit)
        return [self._to(r) for r in self.c.execute(q)]

    def link(self, link: UserLink) -> UserLink:
        values = {k: v for k, v in asdict(link).items() if k != "id"}
        key = self.c.execute(insert(t.user_links).values(values)).inserted_primary_key
        assert key is not None
        link.id = int(key[0])
        return link

    def link_of(self, login: int) -> UserLink | None:
        row = self.c.execute(select(t.user_links).where(t.user_links.c.login == login)).first()
        return UserLink(**_row(row)) if row else None

    def unlink(self, login: int) -> None:
        self.c.execute(delete(t.user_links).where(t.user_links.c.login == login))

    def links_of(self, user_id: int) -> Sequence[UserLink]:
        q = select(t.user_links).where(t.user_links.c.user_id == user_id)
        return [UserLink(**_row(r)) for r in self.c.execute(q.order_by(t.user_links.c.login))]

    def link_by_id(self, link_id: int, *, for_update: bool = False) -> UserLink | None:
        q = select(t.user_links).where(t.user_links.c.id == link_id)
        row = self.c.execute(q.with_for_update() if for_update else q).first()
        return UserLink(**_row(row)) if row else None

    def set_link_partner(self, link_id: int, partner_id: str) -> None:
        q = update(t.user_links).where(t.user_links.c.id == link_id)
        self.c.execute(q.values(partner_id=partner_id))


def _ascii_folded(column: Any, dialect: str) -> Any:
    """The column with ASCII letters lowered (SQLite's lower() folds ASCII only)."""
    return func.lower(column) if dialect == "sqlite" else _fold(column)


class SqlBackoffice:
    """TraderEvolution's back-office nouns (see the BackofficeRepository port)."""

    def __init__(self, conn: Connection) -> None:
        self.c = conn

    def _folded_equals(self, column: Any, value: str) -> ColumnElement[bool]:
        folded: ColumnElement[bool] = _ascii_folded(column, self.c.dialect.name) == value.translate(
            _TO_LOWER
        )
        return folded

    def _insert(self, table: Any, values: dict[str, Any]) -> int:
        key = self.c.execute(insert(table).values(values)).inserted_primary_key
        assert key is not None
        return int(key[0])

    # brandings: rows of `brokers`
    def add_branding(self, branding: Branding) -> Branding:
        values = {k: v for k, v in asdict(branding).items() if k != "id"}
        branding.id = self._insert(t.brokers, values)
        return branding

    def get_branding(self, branding_id: int) -> Branding | None:
        row = self.c.execute(select(t.brokers).where(t.brokers.c.id == branding_id)).first()
        return Branding(**_row(row)) if row else None

    def branding_by_name(self, name: str) -> Branding | None:
        q = select(t.brokers).where(self._folded_equals(t.brokers.c.name, name))
        row = self.c.execute(q.order_by(t.brokers.c.id)).first()
        return Branding(**_row(row)) if row else None

    def list_brandings(self) -> list[Branding]:
        rows = self.c.execute(select(t.brokers).order_by(t.brokers.c.id))
        return [Branding(**_row(r)) for r in rows]

    # plans
    def add_plan(self, plan: Plan) -> Plan:
        plan.id = self._insert(t.plans, {k: v for k, v in asdict(plan).items() if k != "id"})
        return plan

    def get_plan(self, plan_id: int) -> Plan | None:
        row = self.c.execute(select(t.plans).where(t.plans.c.id == plan_id)).first()
        return Plan(**_row(row)) if row else None

    def plan_by_name(self, name: str) -> Plan | None:
        q = select(t.plans).where(self._folded_equals(t.plans.c.name, name))
        row = self.c.execute(q.order_by(t.plans.c.id)).first()
        return Plan(**_row(row)) if row else None

    def list_plans(self) -> list[Plan]:
        return [Plan(**_row(r)) for r in self.c.execute(select(t.plans).order_by(t.plans.c.id))]

    # account presets
    def add_preset(self, preset: AccountPreset) -> AccountPreset:
        values = {k: v for k, v in asdict(preset).items() if k != "id"}
        preset.id = self._insert(t.account_presets, values)
        return preset

    def get_preset(self, preset_id: int) -> AccountPreset | None:
        p = t.account_presets
        row = self.c.execute(select(p).where(p.c.id == preset_id)).first()
        return AccountPreset(**_row(row)) if row else None

    def preset_by_name(self, name: str) -> AccountPreset | None:
        p = t.account_presets
        row = self.c.execute(
            select(p).where(self._folded_equals(p.c.name, name)).order_by(p.c.id)
        ).first()
        return AccountPreset(**_row(row)) if row else None

    def list_presets(self) -> list[AccountPreset]:
        p = t.account_presets
        return [AccountPreset(**_row(r)) for r in self.c.execute(select(p).order_by(p.c.id))]

    # webhook keys
    def add_webhook_key(self, key: WebhookKey) -> WebhookKey:
        key.id = self._insert(t.webhook_keys, {k: v for k, v in asdict(key).items() if k != "id"})
        return key

    def get_webhook_key(self, key_id: int) -> WebhookKey | None:
        w = t.webhook_keys
        row = self.c.execute(select(w).where(w.c.id == key_id)).first()
        return WebhookKey(**_row(row)) if row else None

    def webhook_key_by_api_key(self, api_key: str) -> WebhookKey | None:
        w = t.webhook_keys
        row = self.c.execute(select(w).where(w.c.api_key == api_key)).first()
        return WebhookKey(**_row(row)) if row else None

    def list_webhook_keys(self, user_ids: Sequence[int] | None) -> list[WebhookKey]:
        w = t.webhook_keys
        q = select(w).order_by(w.c.id)
        if user_ids is not None:
            if not user_ids:
                return []
            q = q.where(w.c.user_id.in_(list(user_ids)))
        return [WebhookKey(**_row(r)) for r in self.c.execute(q)]

    def count_webhook_keys(self, user_id: int) -> int:
        w = t.webhook_keys
        q = select(func.count()).select_from(w).where(w.c.user_id == user_id)
        return int(self.c.execute(q).scalar_one())

    def delete_webhook_key(self, key_id: int) -> None:
        self.c.execute(delete(t.webhook_keys).where(t.webhook_keys.c.id == key_id))

    def touch_webhook_key(self, key_id: int, at: datetime) -> None:
        w = t.webhook_keys
        self.c.execute(update(w).where(w.c.id == key_id).values(last_used_at=at))

    # session tokens
    def add_token(self, token: BackofficeToken) -> None:
        self.c.execute(insert(t.backoffice_tokens).values(**asdict(token)))

    def get_token(self, token_hash: str) -> BackofficeToken | None:
        b = t.backoffice_tokens
        row = self.c.execute(select(b).where(b.c.token_hash == token_hash)).first()
        return BackofficeToken(**_row(row)) if row else None

    def consume_token(self, token_hash: str) -> bool:
        b = t.backoffice_tokens
        result = self.c.execute(delete(b).where(b.c.token_hash == token_hash))
        return bool(result.rowcount)

    def delete_session(self, session_id: str) -> None:
        b = t.backoffice_tokens
        self.c.execute(delete(b).where(b.c.session_id == session_id))

    def delete_tokens_of(self, principal: str, principal_id: int) -> None:
        b = t.backoffice_tokens
        self.c.execute(
            delete(b).where(b.c.principal == principal, b.c.principal_id == principal_id)
        )

    def purge_tokens(self, now: datetime) -> int:
        b = t.backoffice_tokens
        result = self.c.execute(delete(b).where(b.c.expires_at <= now))
        return int(result.rowcount or 0)

    # users
    def user_by_login(self, login: str) -> User | None:
        if not login:
            return None
        u = t.users.c
        q = select(t.users).where(u.login != "", self._folded_equals(u.login, login))
        row = self.c.execute(q.order_by(u.id)).first()
        return User(**_row(row)) if row else None

    def search_users(self, search: UserSearch) -> list[User]:
        u = t.users.c
        dialect = self.c.dialect.name
        conds: list[ColumnElement[bool]] = []
        if search.logins is not None:
            if not search.logins:
                return []
            folded = [name.translate(_TO_LOWER) for name in search.logins]
            conds.append(and_(u.login != "", _ascii_folded(u.login, dialect).in_(folded)))
        if search.email is not None:
            conds.append(u.email == search.email.lower())
        if search.group_ids is not None:
            if not search.group_ids:
                return []
            conds.append(u.group_id.in_(search.group_ids))
        if search.broker is not None:
            conds.append(self._folded_equals(u.broker, search.broker))
        if search.reach_group_ids is not None:
            conds.append(or_(u.group_id.is_(None), u.group_id.in_(search.reach_group_ids)))
        if search.broker_mask is not None:
            conds.append(or_(u.broker == "", mask_condition(u.broker, search.broker_mask, dialect)))
        conds.append(u.status != DELETED)
        q = (
            select(t.users)
            .where(and_(True, *conds))
            .order_by(u.id)
            .offset(search.offset)
            .limit(search.limit)
        )
        return [User(**_row(r)) for r in self.c.execute(q)]

    def accounts_of_user(self, user_id: int) -> list[Account]:
        q = _ACCOUNT_SELECT.where(t.accounts.c.user_id == user_id).order_by(t.accounts.c.login)
        return [Account(**_row(r)) for r in self.c.execute(q)]


def _storage_error(exc: BaseException | None) -> Exception | None:
    """The core error a storage exception means, or None when it is not one."""
    if isinstance(exc, _CONNECTION_ERRORS):
        return StorageUnavailable("the database is unavailable")
    if isinstance(exc, sa_exc.IntegrityError):
        return Conflict("the change conflicts with data already stored")
    if isinstance(exc, sa_exc.DataError):
        # e.g. a NUL character or a number out of range: bad input, not a server fault
        return ValidationError("a value cannot be stored (a NUL character, or out of range)")
    return None


class SqlUnitOfWork:
    groups: SqlGroups
    accounts: SqlAccounts
    symbols: SqlSymbols
    managers: SqlManagers
    api_keys: SqlApiKeys
    audit: SqlAudit
    ledger: SqlLedger
    approvals: SqlApprovals
    thresholds: SqlThresholds
    idempotency: SqlIdempotency
    attributes: SqlAttributes
    tokens: SqlManagerTokens
    lockouts: SqlLockouts
    users: SqlUsers
    backoffice: SqlBackoffice
    trading: SqlTrading
    exports: SqlExports
    events: SqlEvents
    second_factor: SqlSecondFactor

    def __init__(
        self, engine: Engine, *, write: bool = True, seal_key: AuditKey | None = None,
        on_commit: Callable[[list[str]], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_events: Callable[[list[str]], None] | None = None,
    ) -> None:  # fmt: skip
        self._engine = engine
        self._on_events = on_events  # told the types of the events each commit wrote
        self._write = write
        self._seal_key = seal_key
        self._on_commit = on_commit  # told the ledger kinds each commit made durable
        self._on_error = on_error  # told of a pool that had no connection to give in time
        self._conn: Connection | None = None

    def __enter__(self) -> SqlUnitOfWork:
        try:
            conn = self._engine.connect().execution_options(bp_write=self._write)
            if not self._write and conn.dialect.name == "postgresql":
                # Reads see one snapshot across statements, as SQLite's WAL readers do.
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            conn.begin()
        except _CONNECTION_ERRORS as err:
            if isinstance(err, sa_exc.TimeoutError) and self._on_error is not None:
                self._on_error("pool_timeout")
            raise StorageUnavailable("the database is unreachable") from err
        self._conn = conn
        self.groups = SqlGroups(conn)
        self.accounts = SqlAccounts(conn)
        self.symbols = SqlSymbols(conn)
        self.managers = SqlManagers(conn)
        self.api_keys = SqlApiKeys(conn)
        self.audit = SqlAudit(conn, self._seal_key)
        self.ledger = SqlLedger(conn)
        self.approvals = SqlApprovals(conn)
        self.thresholds = SqlThresholds(conn)
        self.idempotency = SqlIdempotency(conn)
        self.attributes = SqlAttributes(conn)
        self.tokens = SqlManagerTokens(conn)
        self.lockouts = SqlLockouts(conn)
        self.users = SqlUsers(conn)
        self.backoffice = SqlBackoffice(conn)
        self.trading = SqlTrading(conn)
        self.exports = SqlExports(conn)
        self.events = SqlEvents(conn)
        self.second_factor = SqlSecondFactor(conn)
        return self

    @property
    def connection(self) -> Connection:
        assert self._conn is not None, "unit of work used outside its with-block"
        return self._conn

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        conn = self.connection
        mark = len(self.audit.pending)
        entries = len(self.ledger.added)
        try:
            nested = conn.begin_nested()
        except _CONNECTION_ERRORS as err:
            raise StorageUnavailable("the database is unavailable") from err
        try:
            yield
        except BaseException as exc:
            del self.audit.pending[mark:]
            del self.ledger.added[entries:]
            try:
                if nested.is_active:
                    nested.rollback()
            except sa_exc.DBAPIError as err:
                raise StorageUnavailable("the database is unavailable") from err
            translated = _storage_error(exc)
            if translated is not None:
                raise translated from exc
            raise
        try:
            nested.commit()
        except sa_exc.DBAPIError as exc:
            translated = _storage_error(exc)
            raise (translated or StorageUnavailable("the database is unavailable")) from exc

    def commit(self) -> None:
        try:
            self.audit.flush()
            self.connection.commit()
        except _CONNECTION_ERRORS as err:
            raise StorageUnavailable("the database could not commit") from err
        added, self.ledger.added = self.ledger.added, []
        if added and self._on_commit is not None:
            try:
                self._on_commit(added)
            except Exception:  # counting must never fail a committed command
                log.exception("the ledger commit hook failed")
        written, self.audit.written = self.audit.written, []
        if written and self._on_events is not None:
            try:
                self._on_events(written)
            except Exception:  # counting must never fail a committed command
                log.exception("the events commit hook failed")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self._conn
        self._conn = None
        if conn is not None:
            try:
                if conn.in_transaction():
                    conn.rollback()
                conn.close()
            except sa_exc.DBAPIError:
                conn.invalidate()
        translated = _storage_error(exc)
        if translated is not None:
            raise translated from exc
