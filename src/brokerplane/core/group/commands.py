"""The group commands: create, update, delete."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from brokerplane.core.actor import needs


@needs("admin")
@dataclass(frozen=True)
class CreateGroup:
    name: str
    currency: str
    settings: dict[str, Any] = field(default_factory=dict)


@needs("admin")
@dataclass(frozen=True)
class UpdateGroup:
    name: str
    changes: dict[str, Any]


@needs("admin")
@dataclass(frozen=True)
class DeleteGroup:
    """Remove a group that nothing uses: no account (deleted ones included: their ledger names
    the group) and no user."""

    name: str


@needs("users:read")
@dataclass(frozen=True)
class ReadGroup:
    """One group by name (or a TraderEvolution user group by id)."""

    name: str
