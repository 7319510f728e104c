"""Groups and symbols: the templates accounts inherit and the instruments they trade."""

from __future__ import annotations

from typing import TYPE_CHECKING

from brokerplane.application.base import LazySlice, ServiceBase
from brokerplane.core.actor import Actor
from brokerplane.core.group.model import Group
from brokerplane.core.symbol.model import Symbol

if TYPE_CHECKING:
    from brokerplane.core.group import service as groups
    from brokerplane.core.symbol import service as symbols
else:
    groups = LazySlice("brokerplane.core.group.service")
    symbols = LazySlice("brokerplane.core.symbol.service")


class CatalogServices(ServiceBase):
    """Group and symbol writes and reads."""

    def create_group(self, cmd: groups.CreateGroup, actor: Actor) -> Group:
        return self._command(groups.create_group, cmd, actor)

    def update_group(self, cmd: groups.UpdateGroup, actor: Actor) -> Group:
        return self._command(groups.update_group, cmd, actor)

    def delete_group(self, cmd: groups.DeleteGroup, actor: Actor) -> Group:
        return self._command(groups.delete_group, cmd, actor)

    def get_group(self, name: str, actor: Actor) -> Group:
        return self._query(groups.get_group, name, actor)

    def list_groups(self, actor: Actor, mask: str | None = None) -> list[Group]:
        return self._read(lambda u: groups.list_groups(u, actor, mask))

    def create_symbol(self, cmd: symbols.CreateSymbol, actor: Actor) -> Symbol:
        return self._command(symbols.create_symbol, cmd, actor)

    def update_symbol(self, cmd: symbols.UpdateSymbol, actor: Actor) -> Symbol:
        return self._command(symbols.update_symbol, cmd, actor)

    def delete_symbol(self, cmd: symbols.DeleteSymbol, actor: Actor) -> Symbol:
        return self._command(symbols.delete_symbol, cmd, actor)

    def get_symbol(self, name: str, actor: Actor) -> Symbol:
        return self._query(symbols.get_symbol, name, actor)

    def list_symbols(self, actor: Actor, mask: str | None = None) -> list[Symbol]:
        return self._read(lambda u: symbols.list_symbols(u, actor, mask))
