"""The events commands: reading the feed and saving a webhook subscription, with their limits."""

from __future__ import annotations

from dataclasses import dataclass

from brokerplane.core.errors import ValidationError
from brokerplane.core.events.model import TYPES

MAX_PAGE = 1000
MAX_TYPES = 32
MAX_TYPE_LENGTH = 32
URL_MAX = 2048


DESCRIPTION_MAX = 255
FEED_SCOPES = ("reports:read", "admin")
_PREFIXES = frozenset(t.split(".")[0] + "." for t in TYPES)


def parse_types(types: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Event types (or prefixes such as `account.`), each known; bounded in count and length."""
    if not types:
        return ()
    if len(types) > MAX_TYPES:
        raise ValidationError.field("types", f"at most {MAX_TYPES} types")
    found: list[str] = []
    for name in types:
        name = name.strip() if isinstance(name, str) else ""
        if not name:
            continue
        if len(name) > MAX_TYPE_LENGTH or (name not in TYPES and name not in _PREFIXES):
            raise ValidationError.field(
                "types", f"unknown event type {name[:MAX_TYPE_LENGTH]!r} (see /v1/events/types)"
            )
        if name not in found:
            found.append(name)
    return tuple(found)


@dataclass(frozen=True)
class ReadEvents:
    after_id: int = 0
    types: tuple[str, ...] = ()
    group: str | None = None
    limit: int = 100


@dataclass(frozen=True)
class SaveSubscription:
    url: str | None = None
    types: tuple[str, ...] | None = None
    group_mask: str | None = None
    secret: str | None = None
    personal_data: bool | None = None
    description: str | None = None
    # For an update: "active" (resume, retrying now) or "paused".
    state: str | None = None
