"""What a delivery attempt's outcome does to its subscription: advance, retry later, or park.

The worker (api/native/delivery.py) sends; these rules decide, in the transaction that records
the attempt, so several server processes agree (each holds a lease on the subscriptions it
delivers, and an outcome is recorded only under a lease still held). Also what a subscription
receives (its query, its redaction: a batch is read redacted). Where it may deliver (its URL's
host) is the commands' check_url, re-exported here with the Outcome of the model."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from brokerplane.core.account.model import blank_personal
from brokerplane.core.config import CoreConfig
from brokerplane.core.events.commands import check_url
from brokerplane.core.events.model import (
    ADMIN_PREFIXES,
    Delivery,
    Event,
    EventQuery,
    Outcome,
    Subscription,
)
from brokerplane.core.ports import UnitOfWork

__all__ = [
    "Batch",
    "Outcome",
    "backoff",
    "check_url",
    "claim",
    "next_batch",
    "redact_for",
    "release",
    "settle",
    "subscription_query",
]

# Backoff after the n-th failure in a row: first, 2 x first, 4 x first ... capped at 10 min.
BACKOFF_CAP = timedelta(minutes=10)


def backoff(attempts: int, first: timedelta) -> timedelta:
    return min(first * (1 << min(max(attempts - 1, 0), 30)), BACKOFF_CAP)


@dataclass(frozen=True)
class Batch:
    sub: Subscription
    events: list[Event]
    # The cursor to store once the batch is delivered (past events the filters skipped too).
    next_cursor: int


def claim(
    uow: UnitOfWork, owner: str, now: datetime, lease: timedelta, limit: int
) -> list[Subscription]:
    return uow.events.claim_due(owner, now, now + lease, limit)


def next_batch(uow: UnitOfWork, sub_id: int, owner: str, now: datetime, limit: int) -> Batch | None:
    """The next events for a subscription `owner` leases, read with its current state (a
    pause, replay or edit counts at once); None when it is not `owner`'s any more, not active,
    or waiting for its next retry."""
    sub = uow.events.holds(sub_id, owner, now, lock=False)
    if sub is None or sub.state != "active":
        return None
    if sub.next_attempt_at is not None and sub.next_attempt_at > now:
        return None
    page = uow.events.page(subscription_query(sub, limit))
    shown = [replace(ev, data=redact_for(sub, ev.data, ev.type)) for ev in page.events]
    return Batch(sub, shown, max(page.next_after, sub.cursor))


def settle(
    uow: UnitOfWork,
    batch: Batch,
    owner: str,
    outcome: Outcome,
    now: datetime,
    config: CoreConfig,
) -> Subscription | None:
    """Record the attempt and move the subscription on; None when the lease was lost (another
    worker took over: nothing is recorded, that worker delivers again)."""
    sub = uow.events.holds(batch.sub.id, owner, now)
    if sub is None or sub.cursor != batch.sub.cursor or sub.state != "active":
        return None
    events = batch.events
    if events or not outcome.ok:
        uow.events.log_delivery(
            Delivery(
                subscription_id=sub.id,
                at=now,
                events=len(events),
                attempt=sub.attempts + 1,
                ok=outcome.ok,
                duration_ms=outcome.duration_ms,
                first_event=events[0].id if events else None,
                last_event=events[-1].id if events else None,
                status=outcome.status,
                error=outcome.error,
            )
        )
    if outcome.ok:
        done = replace(
            sub,
            cursor=batch.next_cursor,
            attempts=0,
            next_attempt_at=None,
            failing_since=None,
            last_error="",
        )
    else:
        attempts = sub.attempts + 1
        since = sub.failing_since or now
        parked = now - since >= config.webhook_retry_for
        wait = backoff(attempts, config.webhook_backoff_first)
        done = replace(
            sub,
            attempts=attempts,
            failing_since=since,
            next_attempt_at=None if parked else now + wait,
            state="failed" if parked else "active",
            last_error=outcome.error[:500],
        )
    if done != sub:
        uow.events.update_subscription(done)
    return done


def release(uow: UnitOfWork, sub_id: int, owner: str) -> None:
    uow.events.release(sub_id, owner)


def subscription_query(sub: Subscription, limit: int) -> EventQuery:
    """What a subscription receives: its types and group mask; manager and key events only
    when it names them (subscriptions are an administrator's)."""
    admin = any(t.startswith(ADMIN_PREFIXES) for t in sub.types)
    group = None if sub.group_mask.strip() == "*" else sub.group_mask
    return EventQuery(
        after_id=sub.cursor,
        types=sub.types,
        group_filter=group,
        admin=admin and group is None,
        limit=limit,
    )


def redact_for(sub: Subscription, data: dict[str, Any], kind: str) -> dict[str, Any]:
    """What a subscription is sent of an event's data: account events without their personal
    fields unless the subscription may see personal data."""
    if sub.personal_data or not kind.startswith("account."):
        return data
    return blank_personal(data)
