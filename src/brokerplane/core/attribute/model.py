"""Attributes as stored: one name/value pair with the time it was set, the set of one entity,
and the query the repository answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# What carries attributes; the audit trail files each change under the same entity type.
KINDS: tuple[str, ...] = ("account", "group", "manager")


@dataclass(frozen=True)
class Attribute:
    name: str
    value: str
    updated_at: datetime


@dataclass(frozen=True)
class AttributeSet:
    """The attributes of one entity, by name; `updated_at` is the newest of them."""

    entity_id: int
    attributes: tuple[Attribute, ...]

    @property
    def updated_at(self) -> datetime:
        return max(a.updated_at for a in self.attributes)

    def as_dict(self) -> dict[str, str]:
        return {a.name: a.value for a in self.attributes}


@dataclass(frozen=True)
class AttributeQuery:
    """What the repository lists: sets in entity-id order, entities without a (matching)
    attribute left out. For accounts only live ones count, narrowed by the reach filters
    (`group_ids`, an empty tuple admitting nothing; `broker_mask`, None admitting all)."""

    kind: str
    ids: tuple[int, ...] | None = None
    after_id: int | None = None
    limit: int | None = None
    # Case-folded (str.casefold) substring of the name: only attributes whose folded name holds it.
    name_contains: str | None = None
    # Only entities whose newest (matching) attribute was set at or after this time.
    since: datetime | None = None
    group_ids: tuple[int, ...] | None = None
    broker_mask: str | None = None
