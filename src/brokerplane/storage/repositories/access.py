"""Who may sign in: managers, their API keys and dialect tokens, and the sign-in lockout's
counters (SqlManagers, SqlApiKeys, SqlManagerTokens, SqlLockouts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from brokerplane.core.access.model import ApiKey, Manager, ManagerToken, Strike
from brokerplane.storage import tables as t
from brokerplane.storage.sql.rows import PerDialect
from brokerplane.storage.sql.rows import row_dict as _row

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
        or_(
            _f.locked_until.is_(None),
            _f.locked_until < bindparam("forget_before", type_=_f.locked_until.type),
        ),
    )
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
        or_(
            _f.locked_until.is_(None),
            _f.locked_until < bindparam("forget_before", type_=_f.locked_until.type),
        ),
    )
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
        stale = and_(
            _f.last_failure_at < before, or_(_f.locked_until.is_(None), _f.locked_until < before)
        )
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
