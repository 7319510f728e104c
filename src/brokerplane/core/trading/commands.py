"""The trading commands and what they answer: quotes in, market orders, executions, exposure
lines, margin statuses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from brokerplane.core.group.model import Group
from brokerplane.core.trading.model import Deal, Position
from brokerplane.core.trading.risk import Risk

MAX_PAGE = 1000
MAX_QUOTES = 1000  # per call


@dataclass(frozen=True)
class QuoteInput:
    symbol: object
    bid: object
    ask: object
    at: datetime | None = None


@dataclass(frozen=True)
class OpenPosition:
    """A market order: `volume` in lots. On a netted account it nets against the position of
    its symbol."""

    login: int
    symbol: str
    side: str
    volume: object
    comment: str = ""


@dataclass(frozen=True)
class ClosePosition:
    """Close the position, or `volume` lots of it, at the market."""

    position_id: int
    volume: object | None = None
    comment: str = ""


@dataclass(frozen=True)
class Execution:
    """What an order did: its deal, the position after it (None once closed), the account's
    figures after it."""

    deal: Deal
    position: Position | None
    risk: Risk


@dataclass(frozen=True)
class ExposureLine:
    """Open positions of one symbol in one group ("*" for all the groups), in lots and in the
    report currency: net is bought less sold, gross is both added."""

    symbol: str
    group: str
    accounts: int
    positions: int
    buy_lots: Decimal
    sell_lots: Decimal
    net_notional: Decimal
    gross_notional: Decimal
    client_profit: Decimal

    @property
    def net_lots(self) -> Decimal:
        return self.buy_lots - self.sell_lots

    @property
    def gross_lots(self) -> Decimal:
        return self.buy_lots + self.sell_lots


@dataclass(frozen=True)
class ExposureReport:
    currency: str
    lines: list[ExposureLine]  # by symbol and group
    symbols: list[ExposureLine]  # by symbol, every group
    groups: list[ExposureLine]  # by group, every symbol ("*"): lots are not summed across them
    total: ExposureLine


@dataclass(frozen=True)
class MarginStatus:
    """An account at or below its group's margin-call level: `state` is "margin_call", or
    "stop_out" at or below the stop-out level."""

    risk: Risk
    group: Group
    level: Decimal
    state: str
