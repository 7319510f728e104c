"""Fake event outbox, webhook subscriptions and deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from brokerplane.core import masks
from brokerplane.core.events.model import (
    Backlog,
    Delivery,
    Event,
    EventPage,
    EventQuery,
    Subscription,
)
from tests.unit.fakes.base import _copy, _Repo


class FakeEvents(_Repo):
    """The EventRepository port in memory: the feed's filters and window as SqlEvents reads
    them, subscriptions with leases and their delivery log."""

    def bounds(self) -> tuple[int, int]:
        ids = [e.id for e in self._s.events]
        return (min(ids), max(ids)) if ids else (0, self._s.last_event_id)

    def _matches(self, e: Event, q: EventQuery) -> bool:
        if q.types and not any(
            e.type.startswith(t) if t.endswith(".") else e.type == t for t in q.types
        ):
            return False
        if not q.admin and e.login is None:
            return False
        for mask, value in (
            (q.group_mask, e.group),
            (q.group_filter, e.group),
            (q.broker_mask, e.broker),
        ):
            if mask is not None and (value is None or not masks.matches(mask, value)):
                return False
        return True

    def page(self, q: EventQuery) -> EventPage:
        oldest, head = self.bounds()
        start = max(q.after_id, oldest - 1)
        end = min(start + q.window, head)
        if start >= head:
            return EventPage([], q.after_id, head)
        found = [_copy(e) for e in self._s.events if start < e.id <= end and self._matches(e, q)][
            : q.limit
        ]
        return EventPage(found, found[-1].id if len(found) == q.limit else end, head)

    def purge(self, before: datetime) -> int:
        self._writing()
        kept = [e for e in self._s.events if e.at is None or e.at >= before]
        gone = len(self._s.events) - len(kept)
        self._s.events = kept
        self._s.deliveries = [d for d in self._s.deliveries if d.at >= before]
        return gone

    def add_subscription(self, sub: Subscription) -> Subscription:
        self._writing()
        sub.id = self._s.next_subscription_id
        self._s.next_subscription_id += 1
        self._s.subscriptions[sub.id] = _copy(sub)
        return sub

    def get_subscription(self, sub_id: int, *, for_update: bool = False) -> Subscription | None:
        found = self._s.subscriptions.get(sub_id)
        return _copy(found) if found else None

    def list_subscriptions(self) -> list[Subscription]:
        return [_copy(s) for _, s in sorted(self._s.subscriptions.items())]

    def count_subscriptions(self) -> int:
        return len(self._s.subscriptions)

    def update_subscription(self, sub: Subscription) -> None:
        self._writing()
        self._s.subscriptions[sub.id] = _copy(sub)

    def delete_subscription(self, sub_id: int) -> None:
        self._writing()
        self._s.subscriptions.pop(sub_id, None)
        self._s.deliveries = [d for d in self._s.deliveries if d.subscription_id != sub_id]

    def _due(self, sub: Subscription, now: datetime) -> bool:
        return sub.state == "active" and (sub.next_attempt_at is None or sub.next_attempt_at <= now)

    def any_due(self, now: datetime) -> bool:
        return any(self._due(s, now) for s in self._s.subscriptions.values())

    def claim_due(
        self, owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[Subscription]:
        self._writing()
        claimed: list[Subscription] = []
        for sub_id, sub in sorted(self._s.subscriptions.items()):
            held = self._s.leases.get(sub_id)
            free = held is None or held[1] < now or held[0] == owner
            if free and self._due(sub, now) and len(claimed) < limit:
                self._s.leases[sub_id] = (owner, lease_until)
                claimed.append(_copy(sub))
        return claimed

    def holds(
        self, sub_id: int, owner: str, now: datetime, *, lock: bool = True
    ) -> Subscription | None:
        held = self._s.leases.get(sub_id)
        if held is None or held[0] != owner or held[1] < now:
            return None
        return self.get_subscription(sub_id)

    def release(self, sub_id: int, owner: str) -> None:
        self._writing()
        if self._s.leases.get(sub_id, ("", None))[0] == owner:
            del self._s.leases[sub_id]

    def log_delivery(self, delivery: Delivery) -> None:
        self._writing()
        delivery.id = len(self._s.deliveries) + 1
        self._s.deliveries.append(_copy(delivery))

    def deliveries(self, sub_id: int, after_id: int, limit: int) -> list[Delivery]:
        return [
            _copy(d) for d in self._s.deliveries if d.subscription_id == sub_id and d.id > after_id
        ][:limit]

    def watched_logins(self, after_login: int, limit: int) -> list[int]:
        held = {p.login for p in self._s.positions.values()} | set(self._s.margin_states)
        return sorted(x for x in held if x > after_login)[:limit]

    def margin_states(self, logins: Sequence[int]) -> dict[int, str]:
        return {x: self._s.margin_states[x] for x in logins if x in self._s.margin_states}

    def set_margin_state(
        self, login: int, before: str, after: str, level: Decimal, now: datetime
    ) -> bool:
        if self._s.margin_states.get(login, "ok") != before:
            return False
        if after == "ok":
            self._s.margin_states.pop(login, None)
        else:
            self._s.margin_states[login] = after
        return True

    def backlog(self) -> Backlog:
        states: dict[str, int] = {}
        for sub in self._s.subscriptions.values():
            states[sub.state] = states.get(sub.state, 0) + 1
        cursors = [s.cursor for s in self._s.subscriptions.values() if s.state != "paused"]
        head = self.bounds()[1]
        if not cursors or min(cursors) >= head:
            return Backlog(states, 0, None)
        behind = min(cursors)
        oldest = min((e.id, e.at) for e in self._s.events if e.id > behind)[1]
        return Backlog(states, head - behind, oldest)
