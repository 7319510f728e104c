"""Events: what changed, derived from the audit record of every committed change.

Every state-changing command writes an audit record in its transaction (core/audit); the
events a CRM cares about are derived from that record when it is queued (no SQL, no clock) and
written by storage in the same transaction, numbered under the audit chain's head lock, so an
event exists if and only if its change committed and event ids follow commit order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

# Every type the outbox writes; a feed's or a subscription's `types` filter names these (or a
# prefix ending in "." such as "account.").
TYPES: tuple[str, ...] = (
    "account.opened",
    "account.updated",
    "account.disabled",
    "account.enabled",
    "account.deleted",
    "account.restored",
    "account.margin_call",
    "account.stop_out",
    "account.margin_restored",
    "ledger.entry_posted",
    "approval.requested",
    "approval.decided",
    "approval.expired",
    "position.opened",
    "position.updated",
    "position.closed",
    "manager.created",
    "manager.updated",
    "manager.unlocked",
    "key.created",
    "key.rotated",
    "key.revoked",
)
# The risk pass's crossings (core/trading/watch.py): their data is the account's margin figures.
MARGIN_TYPES: tuple[str, ...] = (
    "account.margin_call",
    "account.stop_out",
    "account.margin_restored",
)
# Types about administrators (no account): only keys of unlimited reach with `admin` see them.
ADMIN_PREFIXES: tuple[str, ...] = ("manager.", "key.")

# audit action -> event type, for actions that map one to one.
_SAME: dict[str, str] = {
    "account.opened": "account.opened",
    "account.updated": "account.updated",
    "account.disabled": "account.disabled",
    "account.enabled": "account.enabled",
    "account.deleted": "account.deleted",
    "account.restored": "account.restored",
    "account.margin_call": "account.margin_call",
    "account.stop_out": "account.stop_out",
    "account.margin_restored": "account.margin_restored",
    "ledger.entry_posted": "ledger.entry_posted",
    "approval.requested": "approval.requested",
    "approval.approved": "approval.decided",
    "approval.rejected": "approval.decided",
    "approval.expired": "approval.expired",
    "manager.created": "manager.created",
    "manager.updated": "manager.updated",
    "manager.unlocked": "manager.unlocked",
    "api_key.created": "key.created",
    "api_key.rotated": "key.rotated",
    "api_key.revoked": "key.revoked",
}


@dataclass
class Event:
    """One event; `data` is the core's snapshot (the native API renders it in its shapes).

    `group` and `broker` (the account's group and white label) are filled by storage from the
    account row when the snapshot does not carry them."""

    type: str
    login: int | None
    data: dict[str, Any]
    group: str | None = None
    broker: str | None = None
    # Filled when stored / read back.
    id: int = 0
    audit_id: int = 0
    at: datetime | None = None
    manager_login: int | None = None
    key_id: str | None = None
    operator_id: str | None = None
    request_id: str | None = None
    dialect: str = "system"


@dataclass(frozen=True)
class EventQuery:
    """A page of the feed: events after `after_id`, of `types` (prefixes end in "."), of
    accounts whose group matches `group_mask` and white label `broker_mask`; `admin`: include
    events about managers and keys."""

    after_id: int = 0
    types: tuple[str, ...] = ()
    group_mask: str | None = None
    broker_mask: str | None = None
    admin: bool = False
    # A further group mask the reader asked for (on top of its reach).
    group_filter: str | None = None
    limit: int = 100
    # Look at no more than this many ids past `after_id` (ids are dense): a narrow filter
    # cannot make one page scan the whole table.
    window: int = 10_000


@dataclass(frozen=True)
class EventPage:
    events: list[Event]
    # Where the next page starts (the last event returned, or the end of the window read).
    next_after: int
    # The newest event id when the page was read (for a reader limited by reach: `next_after`,
    # which says nothing of events beyond the reach).
    head: int
    # Whether events past `next_after` may exist (read again at once); None: next_after < head.
    more: bool | None = None
    # Where the server's own next read may start (what this read looked through; the same as
    # `next_after` except for a reader limited by reach, who is never shown it): a live stream
    # resumes here instead of reading its reach's quiet stretch again.
    resume: int | None = None

    @property
    def has_more(self) -> bool:
        return self.next_after < self.head if self.more is None else self.more


def _login(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def derive(
    action: str, entity_id: str, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> list[Event]:
    """The events an audit record stands for (none for sign-ins, settings and the like)."""
    if action == "trade.deal":
        return _deal_events(entity_id, after or {})
    if action == "ledger.transfer":  # one record names both legs (core.ledger.transfer)
        legs = [(after or {}).get(side) or {} for side in ("from", "to")]
        return [
            Event("ledger.entry_posted", _login(leg["entry"].get("login")), leg["entry"])
            for leg in legs
            if leg.get("entry")
        ]
    kind = _SAME.get(action)
    if kind is None:
        return []
    if kind == "ledger.entry_posted":  # the hot path: the entry's snapshot as it is (no copy)
        return [Event(kind, _login(entity_id), (after or {}).get("entry") or {})]
    data = dict(after if after is not None else before or {})
    if kind.startswith("account."):
        return [Event(kind, _login(entity_id), data, data.get("group"), data.get("broker"))]
    if kind.startswith("approval."):
        if kind == "approval.decided" and before is not None:
            data.setdefault("state", "approved" if action.endswith("approved") else "rejected")
        return [Event(kind, _login(data.get("login")), data)]
    # manager.* and key.*: about administrators, no account; digests of secrets stay out.
    data.pop("verifiers_digest", None)
    data.pop("secret_digest", None)
    return [Event(kind, None, data)]


def _same_volume(a: Any, b: Any) -> bool:
    """Whether two lot figures are the same number ("1" and "1.0" are)."""
    try:
        return Decimal(str(a)) == Decimal(str(b))
    except (InvalidOperation, ValueError):
        return False


def _deal_events(entity_id: str, after: dict[str, Any]) -> list[Event]:
    login = _login(entity_id)
    deal = dict(after.get("deal") or {})
    position = after.get("position")
    entry = {
        "id": deal.get("id"),
        "login": login,
        "kind": "trade",
        "amount": deal.get("profit", 0),
        "currency": after.get("currency"),
        "currency_digits": after.get("currency_digits"),
        "balance_after": after.get("balance"),
        "credit_after": after.get("credit"),
        "bonus_after": after.get("bonus"),
        "comment": "",
        "reference": f"position {deal.get('position')}",
        "approval_id": None,
        "deal": deal,
    }
    events = [Event("ledger.entry_posted", login, entry)]
    side = deal.get("entry")
    if side == "in" and position and _same_volume(position.get("volume"), deal.get("volume")):
        kind = "position.opened"
    elif side == "out" and not position:
        kind = "position.closed"
    else:
        kind = "position.updated"
    events.append(
        Event(
            kind,
            login,
            {
                "position": position,
                "position_id": deal.get("position"),
                "deal": deal,
                "currency": after.get("currency"),
                "currency_digits": after.get("currency_digits"),
            },
        )
    )
    return events


@dataclass
class Subscription:
    """A webhook subscription: deliver the events it selects to `url`, signed with `secret`."""

    url: str
    secret: str
    created_at: datetime
    updated_at: datetime
    types: tuple[str, ...] = ()
    group_mask: str = "*"
    personal_data: bool = False
    description: str = ""
    state: str = "active"
    cursor: int = 0
    attempts: int = 0
    next_attempt_at: datetime | None = None
    failing_since: datetime | None = None
    last_error: str = ""
    created_by: int | None = None
    id: int = 0

    def snapshot(self) -> dict[str, Any]:
        """The audit view: the secret reduced to whether it is set."""
        return {
            "id": self.id,
            "url": self.url,
            "types": list(self.types),
            "group_mask": self.group_mask,
            "personal_data": self.personal_data,
            "description": self.description,
            "state": self.state,
            "cursor": self.cursor,
            "secret": "set" if self.secret else None,
        }


@dataclass(frozen=True)
class Backlog:
    """What the webhooks still owe, for the server's metrics: subscriptions by state, and the
    events past the cursor of the furthest-behind subscription that is not paused (active, or
    parked as failed): how many, and when the oldest of them was written (None: none owed)."""

    subscriptions: dict[str, int]
    undelivered: int
    oldest_at: datetime | None


@dataclass
class Delivery:
    """One attempt to deliver a batch of events (or a test) to a subscription."""

    subscription_id: int
    at: datetime
    events: int
    attempt: int
    ok: bool
    duration_ms: int
    first_event: int | None = None
    last_event: int | None = None
    status: int | None = None
    error: str = ""
    id: int = 0


@dataclass(frozen=True)
class Outcome:
    """One webhook delivery attempt as the sender saw it (what core.events.delivery settles)."""

    ok: bool
    status: int | None
    error: str
    duration_ms: int
