"""The events commands: reading the feed and creating, changing, deleting and replaying a webhook
subscription, with their limits."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from brokerplane.core import masks
from brokerplane.core.actor import needs, scopes_of
from brokerplane.core.errors import ValidationError
from brokerplane.core.events.model import TYPES

MAX_PAGE = 1000
MAX_TYPES = 32
MAX_TYPE_LENGTH = 32
URL_MAX = 2048


DESCRIPTION_MAX = 255
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


@needs("reports:read", "admin")
@dataclass(frozen=True)
class ReadEvents:
    after_id: int = 0
    types: tuple[str, ...] = ()
    group: str | None = None
    limit: int = 100


# Who may read the events feed (ReadEvents' declaration, for the feed's stream to re-check).
FEED_SCOPES = scopes_of(ReadEvents)


@needs("admin")
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


@needs("admin")
@dataclass(frozen=True)
class ChangeSubscription:
    """Change subscription `sub_id` by the fields `changes` sets."""

    sub_id: int
    changes: SaveSubscription


@needs("admin")
@dataclass(frozen=True)
class DeleteSubscription:
    sub_id: int


@needs("admin")
@dataclass(frozen=True)
class ReplaySubscription:
    """Deliver subscription `sub_id` again from event `from_id` on."""

    sub_id: int
    from_id: int


def check_url(url: str, hosts: str) -> str:
    """An http(s) URL with a host, no credentials, within the allowed hosts."""
    if not isinstance(url, str) or not url or len(url) > URL_MAX:
        raise ValidationError.field("url", f"must be an http(s) URL of at most {URL_MAX} chars")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise ValidationError.field("url", "must not hold spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationError.field("url", "is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError.field("url", "must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValidationError.field("url", "must not carry credentials (sign with the secret)")
    if port == 0:
        raise ValidationError.field("url", "has an invalid port")
    if hosts.strip() != "*" and not masks.parse(hosts, "webhook hosts").admits(
        masks.fold(parts.hostname)
    ):
        raise ValidationError.field("url", "names a host outside BROKERPLANE_WEBHOOK_HOSTS")
    return url
