"""The feed (a page of events under the reader's reach) and webhook subscriptions' rules."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime
from typing import Any

from brokerplane.core import masks
from brokerplane.core.access.reach import redact_snapshot
from brokerplane.core.actor import Actor
from brokerplane.core.audit.service import record
from brokerplane.core.clock import Clock
from brokerplane.core.config import CoreConfig
from brokerplane.core.errors import NotFound, PermissionDenied, ValidationError
from brokerplane.core.events import secrets as sealing
from brokerplane.core.events.commands import (
    DESCRIPTION_MAX,
    MAX_PAGE,
    ChangeSubscription,
    DeleteSubscription,
    ReadEvents,
    ReplaySubscription,
    SaveSubscription,
    check_url,
    parse_types,
)
from brokerplane.core.events.model import (
    ADMIN_PREFIXES,
    Delivery,
    EventPage,
    EventQuery,
    Subscription,
)
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.validate import MAX_ID, require_id

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "ChangeSubscription",
    "DeleteSubscription",
    "ReadEvents",
    "ReplaySubscription",
    "SaveSubscription",
    "create_subscription",
    "delete_subscription",
    "get_subscription",
    "list_deliveries",
    "list_subscriptions",
    "purge",
    "read_events",
    "replay",
    "seal_plain_secrets",
    "update_subscription",
]

SECRET_MIN, SECRET_MAX = 16, 128


def _mask(field: str, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    masks.parse(value, field)  # bounded; raises InvalidMask naming the field
    return value.strip()


def _reader_query(actor: Actor, cmd: ReadEvents) -> tuple[EventQuery, str | None]:
    actor.require_for(cmd)
    require_id("after", cmd.after_id, low=0, high=MAX_ID)
    if not 1 <= cmd.limit <= MAX_PAGE:
        raise ValidationError.field("limit", f"must be between 1 and {MAX_PAGE}")
    group = _mask("group", cmd.group)
    reach_groups = None if actor.group_mask.strip() == "*" else actor.group_mask
    brokers = None if actor.white_labels.strip() == "*" else actor.white_labels
    admin = actor.has("admin") and actor.unlimited_reach
    if not admin and any(t.startswith(ADMIN_PREFIXES) for t in cmd.types):
        raise PermissionDenied("events about managers and keys are for administrators")
    query = EventQuery(
        after_id=cmd.after_id,
        types=cmd.types,
        group_mask=reach_groups,
        broker_mask=brokers,
        admin=admin and group is None,
        group_filter=group,
        limit=cmd.limit,
    )
    return query, group


def read_events(uow: UnitOfWork, cmd: ReadEvents, actor: Actor) -> EventPage:
    """One page of the feed: only events of accounts within the actor's reach (and, for
    administrators of unlimited reach, events about managers and keys); contact details
    blanked without `personal_data`."""
    query, _ = _reader_query(actor, cmd)
    page = uow.events.page(query)
    if not actor.unlimited_reach:
        page = _within_reach(page, cmd)
    elif cmd.after_id > page.head:
        raise ValidationError.field(
            "after", f"is past the newest event ({page.head}); use an id this feed returned"
        )
    if not actor.has("personal_data"):
        for ev in page.events:
            if ev.type.startswith("account."):
                ev.data = redact_snapshot(actor, ev.data) or {}
    return page


def _within_reach(page: EventPage, cmd: ReadEvents) -> EventPage:
    """The page as a reader limited by reach may see it: nothing in it tells how many events
    of other groups exist. `head` is `next_after`; `next_after` stops at the last event within
    reach once the read reached the newest event (else at the end of the window read, so a
    narrow reach still moves on through other groups' events, a window at a time); a cursor
    past the newest event is an empty page, not an error naming the newest id."""
    if cmd.after_id > page.head:
        return EventPage([], cmd.after_id, cmd.after_id, more=False)
    full = len(page.events) == cmd.limit
    if full or page.next_after < page.head:
        return EventPage(page.events, page.next_after, page.next_after, more=True)
    last = page.events[-1].id if page.events else cmd.after_id
    return EventPage(page.events, last, last, more=False, resume=page.next_after)


# ---- webhook subscriptions -------------------------------------------------------------


def _check_secret(secret: str) -> str:
    if not isinstance(secret, str) or not SECRET_MIN <= len(secret) <= SECRET_MAX:
        raise ValidationError.field(
            "secret", f"must be {SECRET_MIN} to {SECRET_MAX} characters (or omitted: one is made)"
        )
    if not secret.isprintable() or not secret.isascii():
        raise ValidationError.field("secret", "must be printable ASCII")
    if sealing.is_sealed(secret):
        raise ValidationError.field("secret", f"must not begin with {sealing.PREFIX!r}")
    return secret


def _apply(sub: Subscription, cmd: SaveSubscription, config: CoreConfig) -> Subscription:
    changes: dict[str, Any] = {}
    if cmd.url is not None:
        changes["url"] = check_url(cmd.url, config.webhook_hosts)
    if cmd.types is not None:
        changes["types"] = parse_types(cmd.types)
    if cmd.group_mask is not None:
        changes["group_mask"] = _mask("group_mask", cmd.group_mask) or "*"
    if cmd.secret is not None:
        changes["secret"] = _check_secret(cmd.secret)
    if cmd.personal_data is not None:
        changes["personal_data"] = bool(cmd.personal_data)
    if cmd.description is not None:
        if len(cmd.description) > DESCRIPTION_MAX:
            raise ValidationError.field("description", f"at most {DESCRIPTION_MAX} characters")
        changes["description"] = cmd.description
    if cmd.state is not None:
        if cmd.state not in ("active", "paused"):
            raise ValidationError.field("state", "must be active or paused")
        changes["state"] = cmd.state
        if cmd.state == "active":
            changes.update(attempts=0, next_attempt_at=None, failing_since=None)
    return replace(sub, **changes)


def _require_admin(actor: Actor) -> None:
    actor.require("admin")
    if not actor.unlimited_reach:
        raise PermissionDenied("webhook subscriptions are for administrators of unlimited reach")


def create_subscription(
    uow: UnitOfWork, cmd: SaveSubscription, actor: Actor, clock: Clock, config: CoreConfig
) -> Subscription:
    """A new subscription, delivering from the newest event on (replay to go back)."""
    _require_admin(actor)
    if cmd.url is None:
        raise ValidationError.field("url", "is required")
    if uow.events.count_subscriptions() >= config.webhook_max_subscriptions:
        raise ValidationError.field(
            "url", f"at most {config.webhook_max_subscriptions} subscriptions"
        )
    now = clock()
    blank = Subscription(
        url="",
        secret=cmd.secret or secrets.token_urlsafe(32),
        created_at=now,
        updated_at=now,
        created_by=actor.manager_login,
        cursor=uow.events.bounds()[1],
    )
    sub = _apply(blank, replace(cmd, state=None), config)
    stored = uow.events.add_subscription(
        replace(sub, secret=sealing.seal(sub.secret, config.audit_keys))
    )
    sub.id = stored.id
    record(uow, actor, now, "webhook.created", "webhook", sub.id, None, sub.snapshot())
    return sub  # the secret in clear, for the one answer that shows it


def _load(uow: UnitOfWork, sub_id: int) -> Subscription:
    require_id("id", sub_id)
    sub = uow.events.get_subscription(sub_id, for_update=True)
    if sub is None:
        raise NotFound(f"webhook subscription {sub_id} not found", id=sub_id)
    return sub


def update_subscription(
    uow: UnitOfWork,
    sub_id: int,
    cmd: SaveSubscription,
    actor: Actor,
    clock: Clock,
    config: CoreConfig,
) -> Subscription:
    _require_admin(actor)
    before = _load(uow, sub_id)
    sub = replace(_apply(before, cmd, config), updated_at=clock())
    if cmd.secret is not None:
        sub = replace(sub, secret=sealing.seal(sub.secret, config.audit_keys))
    uow.events.update_subscription(sub)
    record(
        uow,
        actor,
        sub.updated_at,
        "webhook.updated",
        "webhook",
        sub.id,
        before.snapshot(),
        sub.snapshot(),
    )
    return sub


def delete_subscription(uow: UnitOfWork, sub_id: int, actor: Actor, clock: Clock) -> None:
    _require_admin(actor)
    before = _load(uow, sub_id)
    uow.events.delete_subscription(sub_id)
    record(uow, actor, clock(), "webhook.deleted", "webhook", sub_id, before.snapshot(), None)


def replay(uow: UnitOfWork, sub_id: int, from_id: int, actor: Actor, clock: Clock) -> Subscription:
    """Deliver again from event `from_id` on (and resume a parked subscription)."""
    _require_admin(actor)
    require_id("from", from_id, low=1)
    before = _load(uow, sub_id)
    head = uow.events.bounds()[1]
    if from_id > head + 1:
        raise ValidationError.field("from", f"is past the newest event ({head})")
    now = clock()
    sub = replace(
        before,
        cursor=from_id - 1,
        state="active",
        attempts=0,
        next_attempt_at=None,
        failing_since=None,
        updated_at=now,
    )
    uow.events.update_subscription(sub)
    record(
        uow, actor, now, "webhook.replayed", "webhook", sub.id, before.snapshot(), sub.snapshot()
    )
    return sub


def get_subscription(uow: UnitOfWork, sub_id: int, actor: Actor) -> Subscription:
    _require_admin(actor)
    require_id("id", sub_id)
    sub = uow.events.get_subscription(sub_id)
    if sub is None:
        raise NotFound(f"webhook subscription {sub_id} not found", id=sub_id)
    return sub


def list_subscriptions(uow: UnitOfWork, actor: Actor) -> list[Subscription]:
    _require_admin(actor)
    return uow.events.list_subscriptions()


def list_deliveries(
    uow: UnitOfWork, sub_id: int, after_id: int, limit: int, actor: Actor
) -> list[Delivery]:
    get_subscription(uow, sub_id, actor)
    require_id("after", after_id, low=0)
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError.field("limit", f"must be between 1 and {MAX_PAGE}")
    return uow.events.deliveries(sub_id, after_id, limit)


def purge(uow: UnitOfWork, now: datetime, config: CoreConfig) -> int:
    return uow.events.purge(now - config.events_retention)


def seal_plain_secrets(uow: UnitOfWork, config: CoreConfig) -> int:
    """Seal the secrets still stored in plain text (made before sealing, or while no keyring
    was configured) under the current audit key; how many (maintenance)."""
    if config.audit_keys is None:
        return 0
    sealed = 0
    for listed in uow.events.list_subscriptions():
        if sealing.is_sealed(listed.secret):
            continue
        sub = uow.events.get_subscription(listed.id, for_update=True)
        if sub is not None and not sealing.is_sealed(sub.secret):
            uow.events.update_subscription(
                replace(sub, secret=sealing.seal(sub.secret, config.audit_keys))
            )
            sealed += 1
    return sealed
