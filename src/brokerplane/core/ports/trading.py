"""The trading port: quotes, positions, deals, exposure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from brokerplane.core.trading.model import (
    Deal,
    DealQuery,
    ExposureFilter,
    ExposureSums,
    Position,
    PositionQuery,
    Quote,
)


class TradingRepository(Protocol):
    """Quotes, open positions and deals. A position changes only under its account's row lock
    (taken with `accounts.get(login, for_update=True)`), so trades on one account take turns."""

    def put_quotes(self, quotes: Sequence[Quote]) -> int:
        """Store each quote unless the symbol holds a newer one; how many were stored."""
        ...

    def quotes(self, symbols: Sequence[str] | None = None) -> dict[str, Quote]:
        """The latest quote of these symbols (None: of every symbol), by symbol."""
        ...

    def positions_of(self, login: int) -> list[Position]: ...
    def get_position(self, position_id: int) -> Position | None: ...
    def add_position(self, position: Position) -> Position:
        """Insert the position; its `id` is set from storage."""
        ...

    def update_position(self, position: Position) -> None: ...
    def delete_position(self, position_id: int) -> None: ...
    def list_positions(self, query: PositionQuery) -> list[Position]: ...
    def add_deal(self, deal: Deal) -> None:
        """Store the deal under its id (the id of its ledger entry)."""
        ...

    def get_deal(self, deal_id: int) -> Deal | None: ...
    def list_deals(self, query: DealQuery) -> list[Deal]: ...
    def exposure(self, query: ExposureFilter) -> ExposureSums:
        """The open positions in scope summed per symbol and group, each line with its
        symbol's latest quote, and the accounts holding them per group id and in all: one
        read, so every figure comes from the same snapshot."""
        ...
