"""Trading nouns: quotes, open positions, deals, and the figures risk reports are made of.

Volumes are integers in MT5's unit, 1/10000 of a lot (1.00 lot = 10000). Prices are kept in
points, integers at the symbol's digits (1.10250 at 5 digits = 110250). A position keeps
`open_value`, the sum of volume x price points of what opened it, so the average open price of
a netted position and the P/L of any part of it stay exact, and so SQL can sum them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from brokerplane.core.account.model import Account, TradeState
from brokerplane.core.errors import NoQuote, ValidationError
from brokerplane.core.symbol.model import Symbol

VOLUME_DIGITS = 4  # 1 lot = 10**4 volume units
LOT: int = 10**VOLUME_DIGITS
SIDES = ("buy", "sell")
# What a deal did to its position (MT5 DEAL_ENTRY_*): opened or added to it, closed (part of)
# it, or closed a netted position and opened the rest the other way.
ENTRIES = ("in", "out", "inout")
TRADE_KIND = "trade"  # the ledger kind of a deal's entry; its amount is the realised P/L
MAX_PRICE = Decimal(10) ** 9  # the largest price any call takes
MAX_PRICE_DECIMALS = 10  # a price finer than this is refused (symbols have at most 10 digits)


def check_price(price: Decimal, field: str = "price") -> Decimal:
    """One rule for a price sent by a caller: finite, above 0, at most MAX_PRICE and with at
    most MAX_PRICE_DECIMALS decimals; otherwise a ValidationError naming `field`."""
    if not price.is_finite() or price <= 0 or price > MAX_PRICE:
        raise ValidationError.field(field, f"must be positive and at most {MAX_PRICE:f}")
    if price != price.quantize(Decimal(1).scaleb(-MAX_PRICE_DECIMALS)):
        raise ValidationError.field(field, f"has more than {MAX_PRICE_DECIMALS} decimals")
    return price


def lots(volume: int) -> Decimal:
    """Volume units as lots (10000 -> Decimal('1.0000'))."""
    return Decimal(volume).scaleb(-VOLUME_DIGITS)


def price_of(points: int, digits: int) -> Decimal:
    return Decimal(points).scaleb(-digits)


def sign_of(side: str) -> int:
    return 1 if side == "buy" else -1


def opposite(side: str) -> str:
    return "sell" if side == "buy" else "buy"


@dataclass(frozen=True)
class Quote:
    symbol: str
    bid: Decimal
    ask: Decimal
    at: datetime
    # The manager who set the quote; None: the system (the quotes feed, an operator).
    set_by: int | None = None
    # people_behind the setter (people_text); None: only set_by is known.
    set_people: str | None = None

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2

    def snapshot(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "bid": str(self.bid),
            "ask": str(self.ask),
            "at": self.at.isoformat(),
        }


@dataclass
class Position:
    login: int
    symbol: str
    side: str
    volume: int
    open_value: int
    digits: int
    contract_size: Decimal
    opened_at: datetime
    updated_at: datetime
    comment: str = ""
    id: int = 0

    @property
    def price_open(self) -> Decimal:
        """The (average) open price at the symbol's digits."""
        exact = Decimal(self.open_value) / Decimal(self.volume)
        return price_of(int(exact.to_integral_value()), self.digits)

    @property
    def lots(self) -> Decimal:
        return lots(self.volume)

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "login": self.login,
            "symbol": self.symbol,
            "side": self.side,
            "volume": str(self.lots),
            "price_open": str(self.price_open),
        }


@dataclass
class Deal:
    """One execution; its id is the id of the ledger entry that carries its realised P/L."""

    login: int
    position_id: int
    symbol: str
    side: str
    entry: str
    volume: int
    price: int
    price_position: int
    digits: int
    contract_size: Decimal
    profit: int
    currency: str
    currency_digits: int
    rate_profit: Decimal
    opened_at: datetime
    at: datetime
    comment: str = ""
    manager_login: int | None = None
    id: int = 0

    @property
    def price_decimal(self) -> Decimal:
        return price_of(self.price, self.digits)

    @property
    def price_position_decimal(self) -> Decimal:
        return price_of(self.price_position, self.digits)


@dataclass(frozen=True)
class PositionQuery:
    logins: tuple[int, ...] | None = None
    symbol: str | None = None
    after_id: int | None = None
    limit: int = 1000
    # Reach, as for accounts: the groups and white labels the actor may see.
    group_ids: tuple[int, ...] | None = None
    broker_mask: str | None = None


@dataclass(frozen=True)
class DealQuery:
    login: int | None = None
    position_id: int | None = None
    entries: tuple[str, ...] | None = None
    time_from: datetime | None = None
    time_to: datetime | None = None
    # Closed positions are chosen by when their position opened (cTrader's closedPositions).
    opened_from: datetime | None = None
    opened_to: datetime | None = None
    after_id: int | None = None
    limit: int = 1000
    group_ids: tuple[int, ...] | None = None
    broker_mask: str | None = None
    # Only these accounts / these deals (batch reads).
    logins: tuple[int, ...] | None = None
    ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class ExposureFilter:
    """What the exposure aggregate covers: groups (ids) and symbols (names); None is all."""

    group_ids: tuple[int, ...] | None = None
    symbols: tuple[str, ...] | None = None
    broker_mask: str | None = None


@dataclass(frozen=True)
class ExposureSum:
    """Open positions of one symbol in one group, summed in storage.

    Volumes in volume units; `*_value` are sums of volume x open price points."""

    symbol: str
    group_id: int
    digits: int
    contract_size: Decimal
    buy_volume: int
    buy_value: int
    sell_volume: int
    sell_value: int
    positions: int
    accounts: int
    # The symbol's latest quote, read in the same statement as the sums; None: never quoted.
    quote: Quote | None = None


@dataclass(frozen=True)
class ExposureSums:
    """The exposure aggregate: the sums per symbol and group, and how many accounts hold the
    positions, per group id and in all (an account trading several symbols counts once)."""

    lines: list[ExposureSum]
    accounts_by_group: dict[int, int]
    accounts: int


CROSS = "USD"


@dataclass(frozen=True)
class Market:
    """The symbols and their latest quotes, as one trade or report sees them."""

    symbols: dict[str, Symbol]
    quotes: dict[str, Quote]

    def rate(self, src: str, dst: str) -> Decimal | None:
        """How many `dst` one `src` is worth, or None when no quote says."""
        if src == dst:
            return Decimal(1)
        direct = self._pair(src, dst)
        if direct is not None:
            return direct
        if CROSS not in (src, dst):
            first, second = self._pair(src, CROSS), self._pair(CROSS, dst)
            if first is not None and second is not None:
                return first * second
        return None

    def _pair(self, src: str, dst: str) -> Decimal | None:
        for sym in self.symbols.values():
            quote = self.quotes.get(sym.name)
            if quote is None or quote.bid <= 0:
                continue
            if sym.currency_base == src and sym.currency_profit == dst:
                return quote.mid
            if sym.currency_base == dst and sym.currency_profit == src:
                return 1 / quote.mid
        return None

    def require_rate(self, src: str, dst: str) -> Decimal:
        found = self.rate(src, dst)
        if found is None:
            raise NoQuote(f"no quote converts {src} to {dst}", currency_from=src, currency_to=dst)
        return found


@dataclass(frozen=True)
class PositionFigures:
    position: Position
    price_current: int  # points: where the position would close now
    profit: int  # minor units of the deposit currency
    margin: int
    rate_profit: Decimal
    currency: str = ""  # the account's deposit currency, which profit and margin are in
    currency_digits: int = 2


@dataclass(frozen=True)
class Risk:
    """An account's trading state: its positions priced, and the totals."""

    account: Account
    positions: tuple[PositionFigures, ...]
    profit: int
    margin: int

    @property
    def equity(self) -> int:
        acc = self.account
        return acc.balance + acc.credit + acc.bonus + self.profit

    @property
    def free_margin(self) -> int:
        return self.equity - self.margin

    def state(self) -> TradeState:
        return TradeState.of(self.account, profit=self.profit, margin=self.margin)
