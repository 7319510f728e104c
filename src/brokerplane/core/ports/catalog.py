"""The catalog ports: groups, symbols, and the attributes of accounts, groups and managers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from brokerplane.core.attribute.model import Attribute, AttributeQuery, AttributeSet
from brokerplane.core.group.model import Group
from brokerplane.core.symbol.model import Symbol


class GroupRepository(Protocol):
    def get(self, name: str) -> Group | None: ...
    def get_by_id(self, group_id: int) -> Group | None: ...
    def list(self) -> list[Group]: ...
    def add(self, group: Group) -> Group: ...
    def update(self, group: Group) -> None: ...
    def count_accounts(self, group_id: int) -> int: ...
    def count_users(self, group_id: int) -> int:
        """Users (TraderEvolution user groups) whose group this is."""

    def delete(self, group_id: int) -> None:
        """Remove the group, its attributes and its approval thresholds."""


class SymbolRepository(Protocol):
    def get(self, name: str) -> Symbol | None: ...
    def list(self) -> list[Symbol]: ...
    def add(self, symbol: Symbol) -> Symbol: ...
    def update(self, symbol: Symbol) -> None: ...
    def delete(self, symbol_id: int) -> None:
        """Remove the symbol and its latest quote."""


class AttributeRepository(Protocol):
    """Attributes of accounts, groups and managers (`kind` is one of core.attribute.model.KINDS)."""

    def list(self, query: AttributeQuery) -> list[AttributeSet]: ...
    def put(self, kind: str, entity_id: int, attributes: Sequence[Attribute]) -> None:
        """Insert the attributes, or overwrite the value and time of those that exist."""
        ...

    def delete(self, kind: str, entity_id: int, names: Sequence[str] | None) -> None:
        """Delete the named attributes of the entity, or all of them when `names` is None."""
        ...

    def lock(self, kind: str, ids: Sequence[int]) -> None:
        """Hold the entities (in the order given) until commit, so changes to their
        attributes take turns."""
        ...
