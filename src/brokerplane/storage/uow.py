"""SqlUnitOfWork and its repositories: the core's ports implemented with SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, fields
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, Row, and_, exists, func, insert, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql.elements import ColumnElement

from brokerplane.core.access.model import ApiKey, Manager
from brokerplane.core.account.model import Account, AccountQuery
from brokerplane.core.audit.model import AuditRecord
from brokerplane.core.errors import Conflict, LoginAlreadyExists, StorageUnavailable
from brokerplane.core.group.model import Group
from brokerplane.core.symbol.model import Symbol
from brokerplane.storage import tables as t

_LOGIN_LOCK_KEY = 7_270_001
_CONNECTION_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


def _row(row: Row[Any]) -> dict[str, Any]:
    return dict(row._mapping)


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


_ACCOUNT_COLUMNS = [f.name for f in fields(Account) if f.name != "group"]
_ACCOUNT_SELECT = select(t.accounts, t.groups.c.name.label("group")).join(
    t.groups, t.groups.c.id == t.accounts.c.group_id
)


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
        q = _ACCOUNT_SELECT.where(t.accounts.c.login == login)
        if for_update and self.c.dialect.name == "postgresql":
            q = q.with_for_update(of=t.accounts)
        row = self.c.execute(q).first()
        return self._to(row) if row else None

    def exists(self, login: int) -> bool:
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

    def update(self, account: Account) -> None:
        values = self._values(account)
        login = values.pop("login")
        self.c.execute(update(t.accounts).where(t.accounts.c.login == login).values(**values))

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
        a = t.accounts.c
        conds: list[ColumnElement[bool]] = []
        if query.group_ids is not None:
            if not query.group_ids:
                return []
            conds.append(a.group_id.in_(query.group_ids))
        if query.email:
            conds.append(func.lower(a.email) == query.email.lower())
        if query.logins is not None:
            conds.append(a.login.in_(query.logins))
        if query.registered_from is not None:
            conds.append(a.registered_at >= query.registered_from)
        if query.registered_to is not None:
            conds.append(a.registered_at < query.registered_to)
        if query.after_login is not None:
            conds.append(a.login > query.after_login)
        q = _ACCOUNT_SELECT.where(and_(True, *conds)).order_by(a.login).limit(query.limit)
        return [self._to(r) for r in self.c.execute(q)]


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
        row = self.c.execute(select(t.managers).where(t.managers.c.login == login)).first()
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
        row = self.c.execute(select(t.api_keys).where(t.api_keys.c.prefix == prefix)).first()
        return self._to(row) if row else None

    def get(self, key_id: str) -> ApiKey | None:
        row = self.c.execute(select(t.api_keys).where(t.api_keys.c.id == key_id)).first()
        return self._to(row) if row else None

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


_AUDIT_COLUMNS = [c.name for c in t.audit_records.columns]


class SqlAudit:
    def __init__(self, conn: Connection) -> None:
        self.c = conn
        self.pending: list[AuditRecord] = []

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

    def head(self) -> tuple[int, str]:
        head = t.audit_head
        row = self.c.execute(select(head.c.last_id, head.c.last_hash).where(head.c.id == 1)).one()
        return int(row.last_id), str(row.last_hash)

    def flush(self) -> None:
        """Seal the queued records onto the chain; the head row's lock orders writers."""
        if not self.pending:
            return
        head = t.audit_head
        q = select(head.c.last_id, head.c.last_hash).where(head.c.id == 1)
        if self.c.dialect.name == "postgresql":
            q = q.with_for_update()
        last_id, last_hash = self.c.execute(q).one()
        rows = []
        for rec in self.pending:
            last_id += 1
            rec.id = last_id
            rec.seal(last_hash)
            last_hash = rec.hash
            rows.append({name: getattr(rec, name) for name in _AUDIT_COLUMNS})
        self.c.execute(insert(t.audit_records), rows)
        self.c.execute(
            update(head).where(head.c.id == 1).values(last_id=last_id, last_hash=last_hash)
        )
        self.pending.clear()


class SqlUnitOfWork:
    groups: SqlGroups
    accounts: SqlAccounts
    symbols: SqlSymbols
    managers: SqlManagers
    api_keys: SqlApiKeys
    audit: SqlAudit

    def __init__(self, engine: Engine, *, write: bool = True) -> None:
        self._engine = engine
        self._write = write
        self._conn: Connection | None = None

    def __enter__(self) -> SqlUnitOfWork:
        try:
            conn = self._engine.connect().execution_options(bp_write=self._write)
            conn.begin()
        except _CONNECTION_ERRORS as err:
            raise StorageUnavailable("the database is unreachable") from err
        self._conn = conn
        self.groups = SqlGroups(conn)
        self.accounts = SqlAccounts(conn)
        self.symbols = SqlSymbols(conn)
        self.managers = SqlManagers(conn)
        self.api_keys = SqlApiKeys(conn)
        self.audit = SqlAudit(conn)
        return self

    @property
    def connection(self) -> Connection:
        assert self._conn is not None, "unit of work used outside its with-block"
        return self._conn

    def commit(self) -> None:
        try:
            self.audit.flush()
            self.connection.commit()
        except _CONNECTION_ERRORS as err:
            raise StorageUnavailable("the database could not commit") from err

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
        if isinstance(exc, _CONNECTION_ERRORS):
            raise StorageUnavailable("the database is unavailable") from exc
        if isinstance(exc, sa_exc.IntegrityError):
            raise Conflict("the change conflicts with data already stored") from exc
