"""SqlEvents: reading the outbox (the feed), purging it, and the webhook subscriptions'
state (claims, cursors, the delivery log)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from brokerplane.core.events.model import (
    Backlog,
    Delivery,
    Event,
    EventPage,
    EventQuery,
    Subscription,
)
from brokerplane.storage import tables as t
from brokerplane.storage.engine import dialect_insert
from brokerplane.storage.sql.conditions import mask_condition

_EVENT_FIELDS = {
    "id": "id",
    "audit_id": "audit_id",
    "type": "type",
    "at": "at",
    "login": "login",
    "group_name": "group",
    "broker": "broker",
    "manager_login": "manager_login",
    "key_id": "key_id",
    "operator_id": "operator_id",
    "request_id": "request_id",
    "dialect": "dialect",
    "data": "data",
}
_SUB_COLUMNS = [
    c.name
    for c in t.webhook_subscriptions.columns
    if c.name not in ("id", "lease_owner", "lease_until")
]
_DELIVERY_COLUMNS = [c.name for c in t.webhook_deliveries.columns if c.name != "id"]


def _event(row: Any) -> Event:
    m = row._mapping
    return Event(**{attr: m[col] for col, attr in _EVENT_FIELDS.items()})


def _subscription(row: Any) -> Subscription:
    m = dict(row._mapping)
    m.pop("lease_owner", None)
    m.pop("lease_until", None)
    m["types"] = tuple(x for x in (m["types"] or "").split(",") if x)
    return Subscription(**m)


def _sub_values(sub: Subscription) -> dict[str, Any]:
    values = {name: getattr(sub, name) for name in _SUB_COLUMNS}
    values["types"] = ",".join(sub.types)
    return values


class SqlEvents:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    def _conditions(self, q: EventQuery) -> list[ColumnElement[bool]]:
        e = t.events.c
        dialect = self.c.dialect.name
        conds: list[ColumnElement[bool]] = []
        if q.types:
            exact = [x for x in q.types if not x.endswith(".")]
            prefixes = [x for x in q.types if x.endswith(".")]
            parts: list[ColumnElement[bool]] = []
            if exact:
                parts.append(e.type.in_(exact))
            parts.extend(e.type.startswith(p, autoescape=True) for p in prefixes)
            conds.append(or_(*parts))
        if not q.admin:
            conds.append(e.login.is_not(None))
        if q.group_mask is not None:
            conds.append(mask_condition(e.group_name, q.group_mask, dialect))
        if q.group_filter is not None:
            conds.append(mask_condition(e.group_name, q.group_filter, dialect))
        if q.broker_mask is not None:
            conds.append(mask_condition(e.broker, q.broker_mask, dialect))
        return conds

    def bounds(self) -> tuple[int, int]:
        """(oldest, newest) event id kept; (0, last id ever) when none is kept."""
        e = t.events.c
        low, high = self.c.execute(select(func.min(e.id), func.max(e.id))).one()
        if high is None:
            last = self.c.execute(select(t.audit_head.c.last_event_id)).scalar()
            return 0, int(last or 0)
        return int(low), int(high)

    def page(self, q: EventQuery) -> EventPage:
        """Events after `q.after_id` that match, oldest first, read within a window of ids."""
        e = t.events.c
        oldest, head = self.bounds()
        start = max(q.after_id, oldest - 1)
        end = min(start + q.window, head)
        if start >= head:
            return EventPage([], q.after_id, head)
        conds = [e.id > start, e.id <= end, *self._conditions(q)]
        rows = self.c.execute(select(t.events).where(and_(*conds)).order_by(e.id).limit(q.limit))
        events = [_event(r) for r in rows]
        nxt = events[-1].id if len(events) == q.limit else end
        return EventPage(events, nxt, head)

    def purge(self, before: datetime) -> int:
        """Forget events (and delivery log rows) older than `before`."""
        gone = self.c.execute(delete(t.events).where(t.events.c.at < before)).rowcount or 0
        d = t.webhook_deliveries.c
        self.c.execute(delete(t.webhook_deliveries).where(d.at < before))
        return int(gone)

    # ---- webhook subscriptions ---------------------------------------------------------

    def add_subscription(self, sub: Subscription) -> Subscription:
        q = insert(t.webhook_subscriptions).values(**_sub_values(sub))
        sub.id = int(self.c.execute(q.returning(t.webhook_subscriptions.c.id)).scalar_one())
        return sub

    def get_subscription(self, sub_id: int, *, for_update: bool = False) -> Subscription | None:
        w = t.webhook_subscriptions.c
        q = select(t.webhook_subscriptions).where(w.id == sub_id)
        if for_update and self.c.dialect.name == "postgresql":
            q = q.with_for_update()
        row = self.c.execute(q).first()
        return _subscription(row) if row else None

    def list_subscriptions(self) -> list[Subscription]:
        w = t.webhook_subscriptions.c
        rows = self.c.execute(select(t.webhook_subscriptions).order_by(w.id))
        return [_subscription(r) for r in rows]

    def count_subscriptions(self) -> int:
        q = select(func.count()).select_from(t.webhook_subscriptions)
        return int(self.c.execute(q).scalar_one())

    def update_subscription(self, sub: Subscription) -> None:
        w = t.webhook_subscriptions.c
        self.c.execute(
            update(t.webhook_subscriptions).where(w.id == sub.id).values(**_sub_values(sub))
        )

    def delete_subscription(self, sub_id: int) -> None:
        w, d = t.webhook_subscriptions.c, t.webhook_deliveries.c
        self.c.execute(delete(t.webhook_deliveries).where(d.subscription_id == sub_id))
        self.c.execute(delete(t.webhook_subscriptions).where(w.id == sub_id))

    def any_due(self, now: datetime) -> bool:
        w = t.webhook_subscriptions.c
        due = and_(w.state == "active", or_(w.next_attempt_at.is_(None), w.next_attempt_at <= now))
        return self.c.execute(select(w.id).where(due).limit(1)).first() is not None

    def claim_due(
        self, owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[Subscription]:
        """Active subscriptions due for delivery that no other worker holds, leased to
        `owner` until `lease_until` (row locks skipped on PostgreSQL; the lease's conditional
        update decides on every engine)."""
        w = t.webhook_subscriptions.c
        free = or_(w.lease_until.is_(None), w.lease_until < now, w.lease_owner == owner)
        due = and_(
            w.state == "active", or_(w.next_attempt_at.is_(None), w.next_attempt_at <= now), free
        )
        q = select(t.webhook_subscriptions).where(due).order_by(w.id).limit(limit)
        if self.c.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        claimed = []
        for row in self.c.execute(q).all():
            took = self.c.execute(
                update(t.webhook_subscriptions)
                .where(w.id == row.id, free)
                .values(lease_owner=owner, lease_until=lease_until)
            )
            if took.rowcount == 1:
                claimed.append(_subscription(row))
        return claimed

    def holds(
        self, sub_id: int, owner: str, now: datetime, *, lock: bool = True
    ) -> Subscription | None:
        """The subscription (locked, with `lock`) if `owner`'s lease on it is still good."""
        w = t.webhook_subscriptions.c
        q = select(t.webhook_subscriptions).where(
            w.id == sub_id, w.lease_owner == owner, w.lease_until >= now
        )
        if lock and self.c.dialect.name == "postgresql":
            q = q.with_for_update()
        row = self.c.execute(q).first()
        return _subscription(row) if row else None

    def release(self, sub_id: int, owner: str) -> None:
        w = t.webhook_subscriptions.c
        self.c.execute(
            update(t.webhook_subscriptions)
            .where(w.id == sub_id, w.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )

    def log_delivery(self, delivery: Delivery) -> None:
        values = {name: getattr(delivery, name) for name in _DELIVERY_COLUMNS}
        values["error"] = values["error"][:500]
        self.c.execute(insert(t.webhook_deliveries).values(**values))

    def deliveries(self, sub_id: int, after_id: int, limit: int) -> list[Delivery]:
        d = t.webhook_deliveries.c
        q = (
            select(t.webhook_deliveries)
            .where(d.subscription_id == sub_id, d.id > after_id)
            .order_by(d.id)
            .limit(limit)
        )
        return [Delivery(**dict(r._mapping)) for r in self.c.execute(q)]

    # ---- the risk pass's margin states (core/trading/watch.py) --------------------------

    def watched_logins(self, after_login: int, limit: int) -> list[int]:
        """Accounts the risk pass looks at, in login order after `after_login`: those holding
        positions, and those with a margin state (a recovery clears it)."""
        p, m = t.positions.c, t.margin_states.c
        # Each side in login order with its own limit (an index walk that stops after
        # `limit` accounts), merged here: a UNION under one LIMIT made the database gather
        # every login past the cursor, each batch, so a cycle grew with the square of the book.
        holding = select(p.login).where(p.login > after_login).distinct()
        marked = select(m.login).where(m.login > after_login)
        found = {int(x) for x in self.c.execute(holding.order_by(p.login).limit(limit)).scalars()}
        found.update(
            int(x) for x in self.c.execute(marked.order_by(m.login).limit(limit)).scalars()
        )
        return sorted(found)[:limit]

    def margin_states(self, logins: Sequence[int]) -> dict[int, str]:
        if not logins:
            return {}
        m = t.margin_states.c
        rows = self.c.execute(select(m.login, m.state).where(m.login.in_(list(logins))))
        return {int(login): str(state) for login, state in rows}

    def set_margin_state(
        self, login: int, before: str, after: str, level: Decimal, now: datetime
    ) -> bool:
        """Move the account's margin state from `before` to `after` ("ok": no row); False when
        it is not `before` any more (another pass moved it: nothing is changed)."""
        table, m = t.margin_states, t.margin_states.c
        if before == "ok":
            make = dialect_insert(self.c.dialect.name)
            q = make(table).values(login=login, state=after, level=level, changed_at=now)
            added = q.on_conflict_do_nothing(index_elements=["login"]).returning(m.login)
            return self.c.execute(added).first() is not None
        if after == "ok":
            gone = self.c.execute(delete(table).where(m.login == login, m.state == before))
            return gone.rowcount == 1
        moved = self.c.execute(
            update(table)
            .where(m.login == login, m.state == before)
            .values(state=after, level=level, changed_at=now)
        )
        return moved.rowcount == 1

    def backlog(self) -> Backlog:
        """Subscriptions by state, and the events the furthest-behind one that is not paused
        has yet to receive (counted by id: events its filters skip count until a pass moves
        its cursor past them)."""
        w, e = t.webhook_subscriptions.c, t.events.c
        rows = self.c.execute(select(w.state, func.count(), func.min(w.cursor)).group_by(w.state))
        states: dict[str, int] = {}
        behind: int | None = None
        for state, count, cursor in rows:
            states[str(state)] = int(count)
            if state != "paused" and cursor is not None:
                behind = int(cursor) if behind is None else min(behind, int(cursor))
        head = self.bounds()[1]
        if behind is None or behind >= head:
            return Backlog(states, 0, None)
        oldest = self.c.execute(select(e.at).where(e.id > behind).order_by(e.id).limit(1)).scalar()
        return Backlog(states, head - behind, oldest)
