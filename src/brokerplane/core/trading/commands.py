"""The trading commands and what they answer: quotes in, market orders and their executions,
exposure lines, margin statuses, batch selections, trade record changes, margin and profit
outlooks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from brokerplane.core.account.model import TradeState
from brokerplane.core.actor import needs
from brokerplane.core.group.model import Group
from brokerplane.core.money import Number
from brokerplane.core.trading.model import Deal, Position, Risk

MAX_PAGE = 1000
MAX_QUOTES = 1000  # per call


@needs("quotes:write")
@dataclass(frozen=True)
class QuoteInput:
    """One quote to set: `bid` and `ask` are prices, checked at the symbol's digits."""

    symbol: str
    bid: Number
    ask: Number
    at: datetime | None = None


@needs("trades:write")
@dataclass(frozen=True)
class OpenPosition:
    """A market order: `volume` in lots. On a netted account it nets against the position of
    its symbol."""

    login: int
    symbol: str
    side: str
    volume: Number | None  # None (a webhook alert that named none): InvalidVolume
    comment: str = ""


@dataclass(frozen=True)
class PositionOf:
    """A position named with the account (and symbol) it must be of: a position of another
    account or symbol is answered as one that does not exist."""

    position_id: int
    login: int
    symbol: str | None = None


@needs("trades:write")
@dataclass(frozen=True)
class ClosePosition:
    """Close the position, or `volume` lots of it, at the market."""

    position_id: int
    volume: Number | None = None
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


MAX_BATCH = 5000  # rows one batch read answers at most


@dataclass(frozen=True)
class BatchSelection:
    """Which rows: of these `logins`, of accounts in groups matching `group_mask`, or these
    `tickets` (any of them, at least one); `time_from` inclusive, `time_to` exclusive."""

    logins: tuple[int, ...] | None = None
    group_mask: str | None = None
    tickets: tuple[int, ...] | None = None
    time_from: datetime | None = None
    time_to: datetime | None = None
    limit: int = MAX_BATCH


@needs("trades:write")
@dataclass(frozen=True)
class ChangeTradeRecord:
    """Edit (`delete` False) or delete a deal or an open position by its ticket."""

    kind: str
    ticket: int
    delete: bool = False


@needs("users:read", "reports:read")
@dataclass(frozen=True)
class CheckMargin:
    """An order of `volume` lots of `symbol` on account `login`, at `price` (None: market)."""

    login: int
    symbol: str
    side: str
    volume: Decimal
    price: Decimal | None = None


@dataclass(frozen=True)
class MarginOutlook:
    current: TradeState
    new: TradeState


@needs("users:read", "reports:read")
@dataclass(frozen=True)
class CalcProfit:
    group: str
    symbol: str
    side: str
    volume: Decimal
    price_open: Decimal
    price_close: Decimal


@dataclass(frozen=True)
class ProfitOutlook:
    profit: Decimal  # in the group's currency, at its digits
    rate: Decimal  # profit currency -> group currency
    currency: str
    currency_digits: int
