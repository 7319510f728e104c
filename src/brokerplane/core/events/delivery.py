"""What a delivery attempt's outcome does to its subscription: advance, retry later, or park.

The worker (api/native/delivery.py) sends; these rules decide, in the transaction that records
the attempt, so several server processes agree (each holds a lease on the subscriptions it
delivers, and an outcome is recorded only under a lease still held)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from brokerplane.core.config import CoreConfig
from brokerplane.core.events.model import Delivery, Event, Subscription
from brokerplane.core.events.service import subscription_query
from brokerplane.core.ports import UnitOfWork

# Backoff after the n-th failure in a row: first, 2 x first, 4 x first ... capped at 10 min.
BACKOFF_CAP = timedelta(minutes=10)


def backoff(attempts: int, first: timedelta) -> timedelta:
    return min(first * (1 << min(max(attempts - 1, 0), 30)), BACKOFF_CAP)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None
    error: str
    duration_ms: int


@dataclass(frozen=True)
class Batch:
    sub: Subscription
    events: list[Event]
    # The cursor to store once the batch is delivered (past events the filters skipped too).
    next_cursor: int


def claim(uow: UnitOfWork, owner: str, now: datetime, lease: timedelta, limit: int
          ) -> list[Subscription]:  # fmt: skip
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
    return Batch(sub, page.events, max(page.next_after, sub.cursor))


def settle(
    uow: UnitOfWork, batch: Batch, owner: str, outcome: Outcome, now: datetime,
    config: CoreConfig,
) -> Subscription | None:  # fmt: skip
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
        done = replace(sub, cursor=batch.next_cursor, attempts=0, next_attempt_at=None,
                       failing_since=None, last_error="")  # fmt: skip
    else:
        attempts = sub.attempts + 1
        since = sub.failing_since or now
        parked = now - since >= config.webhook_retry_for
        wait = backoff(attempts, config.webhook_backoff_first)
        done = replace(sub, attempts=attempts, failing_since=since,
                       next_attempt_at=None if parked else now + wait,
                       state="failed" if parked else "active",
                       last_error=outcome.error[:500])  # fmt: skip
    if done != sub:
        uow.events.update_subscription(done)
    return done


def release(uow: UnitOfWork, sub_id: int, owner: str) -> None:
    uow.events.release(sub_id, owner)
