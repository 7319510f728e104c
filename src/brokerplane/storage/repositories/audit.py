"""SqlAudit: the hash-chained audit records, sealed onto the chain with their outbox events,
and the streams the verifiers read (see the AuditLog port)."""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Row,
    String,
    and_,
    bindparam,
    case,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from brokerplane.core.audit.model import AuditKey, AuditQuery, AuditRecord
from brokerplane.core.ledger.model import EntryClaim
from brokerplane.storage import driver
from brokerplane.storage import tables as t
from brokerplane.storage.sql.rows import STREAM_PAGE
from brokerplane.storage.sql.rows import row_dict as _row

_AUDIT_COLUMNS = [c.name for c in t.audit_records.columns]

_HEAD = t.audit_head.c
_HEAD_READ = select(_HEAD.last_id, _HEAD.last_hash, _HEAD.last_event_id).where(_HEAD.id == 1)
_HEAD_READ_LOCKED = _HEAD_READ.with_for_update()
_HEAD_SEAL = (
    update(t.audit_head)
    .where(_HEAD.id == 1)
    .values(
        last_id=bindparam("b_last_id"),
        last_hash=bindparam("b_last_hash"),
        last_event_id=bindparam("b_last_event"),
    )
)
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
    {
        **{name: bindparam(f"e_{name}", type_=t.events.c[name].type) for name in _EVENT_BINDS},
        "group_name": _account_said(t.groups.c.name, "e_group_name"),
        "broker": _account_said(t.accounts.c.broker, "e_broker"),
    }
)
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
_AUDIT_VALUES = operator.attrgetter(*_AUDIT_COLUMNS)  # a record's, in one call
_RUN_EVENT_INSERT = driver.Statement(_EVENT_INSERT)


def _event_row(event: Any, rec: AuditRecord) -> dict[str, Any]:
    return {
        "e_id": 0,
        "e_audit_id": 0,
        "e_type": event.type,
        "e_at": rec.at,
        "e_login": event.login,
        "e_group_name": event.group,
        "e_broker": event.broker,
        "e_manager_login": rec.manager_login,
        "e_key_id": rec.key_id,
        "e_operator_id": rec.operator_id,
        "e_request_id": rec.request_id,
        "e_dialect": rec.dialect,
        "e_data": event.data,
    }


def _said(action: str, path: tuple[str, ...]) -> Any:
    """A value inside a money record's `after`, as text (numbers too: no cast that could
    overflow); read only from records of `action`, so each row parses only its own paths."""
    a = t.audit_records.c
    return case((a.action == action, a.after[path].as_string()), else_=None)


# What a money record says of its entry: ledger.entry_posted carries the entry's snapshot,
# trade.deal the deal (whose id is its entry's) and the balance after; ledger.transfer the
# snapshots of both its legs, under "from" and "to".
_POSTED, _DEAL, _TRANSFER = "ledger.entry_posted", "trade.deal", "ledger.transfer"
_ENTRY_FIELDS = (
    "id",
    "kind",
    "amount",
    "balance_after",
    "credit_after",
    "bonus_after",
    "currency",
    "currency_digits",
    "comment",
    "reference",
    "approval_id",
    "manager_login",
)
_LEGS = ("from", "to")
_CLAIMS = select(
    t.audit_records.c.id,
    t.audit_records.c.action,
    t.audit_records.c.entity_id,
    t.audit_records.c.at,
    t.audit_records.c.manager_login,
    *(_said(_POSTED, ("entry", name)) for name in _ENTRY_FIELDS),
    _said(_DEAL, ("deal", "id")),
    _said(_DEAL, ("deal", "profit")),
    _said(_DEAL, ("balance",)),
    _said(_DEAL, ("currency",)),
    _said(_DEAL, ("currency_digits",)),
    *(
        _said(_TRANSFER, (leg, "entry", name))
        for leg in _LEGS
        for name in ("login", *_ENTRY_FIELDS)
    ),
).where(t.audit_records.c.action.in_((_POSTED, _DEAL, _TRANSFER)))
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
        yield EntryClaim(
            rid,
            _int(d_id),
            login,
            "trade",
            _int(d_profit),
            _int(d_bal),
            None,
            None,
            d_cur,
            _int(d_digits),
            at,
            approval_said=True,
            actor=actor,
        )
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
            rows.append(dict(zip(_AUDIT_COLUMNS, _AUDIT_VALUES(rec), strict=True)))
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
