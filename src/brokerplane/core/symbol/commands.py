"""The symbol commands: create, update, delete."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from brokerplane.core.actor import needs


@needs("admin")
@dataclass(frozen=True)
class CreateSymbol:
    name: str
    settings: dict[str, Any] = field(default_factory=dict)


@needs("admin")
@dataclass(frozen=True)
class UpdateSymbol:
    name: str
    changes: dict[str, Any]


@needs("admin")
@dataclass(frozen=True)
class DeleteSymbol:
    """Remove a symbol no open position holds, with its latest quote. Closed deals keep the
    symbol's name, digits and contract size, so history reads the same afterwards."""

    name: str


@needs("users:read")
@dataclass(frozen=True)
class ReadSymbol:
    """One symbol by name."""

    name: str
