"""The attribute commands (cTrader's attribute calls) and their limits: list, set, delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from brokerplane.core.actor import needs
from brokerplane.core.attribute.model import AttributeSet

# The limits of cTrader's attribute calls (Web Services 4.14-4.22).
NAME_MAX = 64
VALUE_MAX = 512
MAX_IDS = 10_000  # ids named by a list or delete call
MAX_SETS = 100  # entities in one upsert
MAX_ATTRIBUTES = 100  # attributes per entity in one upsert
MAX_NAMES = 100  # names in one delete
MAX_PAGE = 10_000  # the default and largest page of the all-accounts listing
FILTER_MAX = 64  # the name filter


@needs("users:read")
@dataclass(frozen=True)
class ListAttributes:
    """Read attribute sets: of the named `ids`, or (accounts only, when `ids` is None or empty)
    of every account within reach that has attributes, a page of `limit` after `after_id`."""

    kind: str
    ids: tuple[int, ...] | None = None
    limit: int | None = None
    after_id: int | None = None
    name_contains: str | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class AttributePage:
    sets: list[AttributeSet]
    # Set only when more sets follow: pass it back as `after_id` for the next page.
    next_after_id: int | None = None


@dataclass(frozen=True)
class AttributeValue:
    """One attribute to set; `value` None is what a client's JSON null becomes, and is refused."""

    name: str
    value: str | None


@dataclass(frozen=True)
class EntityAttributes:
    entity_id: int
    attributes: tuple[AttributeValue, ...]


@needs("users:write")
@dataclass(frozen=True)
class SetAttributes:
    """Insert or update attributes of several entities; later duplicates win."""

    kind: str
    sets: tuple[EntityAttributes, ...]


@needs("users:write")
@dataclass(frozen=True)
class DeleteAttributes:
    """Delete the named attributes of the entities, or all of them when `names` is empty."""

    kind: str
    ids: tuple[int, ...]
    names: tuple[str, ...] = ()
