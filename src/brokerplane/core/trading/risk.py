"""Floating P/L, margin and the account figures built from them, priced at the latest quotes.

Per position, in the symbol's profit currency then converted to the deposit currency:
- profit: buys close at the bid, sells at the ask: side x (close x volume - open value) x
  contract size; no quote yet prices it at its open (no profit);
- margin: volume x contract size x price / leverage, the price being the current mid (the
  open price without a quote).
Conversions use the mid of a symbol quoting one currency in the other (either way round), or
a cross through USD; none is NoQuote. Each position's figures are rounded half-up to the
deposit currency's digits.

An account's margin by its margin mode (the account's own, else its group's), per symbol:
SUM adds every position; MAX takes the larger of the long and the short legs (MT5's hedged
margin "by the larger leg"); NET takes the difference of the legs. A netted account holds one
position per symbol, so all three agree there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal

from brokerplane.core.account.model import Account, TradeState
from brokerplane.core.errors import NoQuote
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.symbol.model import Symbol
from brokerplane.core.trading.model import LOT, Position, Quote, sign_of

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


def load_market(uow: UnitOfWork) -> Market:
    return Market({s.name: s for s in uow.symbols.list()}, uow.trading.quotes())


_WIDE = Context(prec=60)  # room for the largest figures the bounds on prices and volumes allow


def to_minor_half_up(amount: Decimal, digits: int) -> int:
    return int(amount.scaleb(digits, _WIDE).quantize(Decimal(1), ROUND_HALF_UP, _WIDE))


@dataclass(frozen=True)
class PositionFigures:
    position: Position
    price_current: int  # points: where the position would close now
    profit: int  # minor units of the deposit currency
    margin: int
    rate_profit: Decimal
    currency: str = ""  # the account's deposit currency, which profit and margin are in
    currency_digits: int = 2


def _units(points: int, digits: int, contract: Decimal) -> Decimal:
    """A sum of volume x price points as an amount of the profit currency."""
    return Decimal(points) * contract / (Decimal(10) ** digits * LOT)


def close_price(pos: Position, quote: Quote | None) -> int:
    """Points at which the position closes now: the bid for a buy, the ask for a sell."""
    if quote is None:
        return int((Decimal(pos.open_value) / pos.volume).to_integral_value())
    price = quote.bid if pos.side == "buy" else quote.ask
    return int(price.scaleb(pos.digits).to_integral_value())


def realised(pos: Position, volume: int, price: int, rate: Decimal, digits: int) -> int:
    """P/L of closing `volume` of the position at `price` points, in deposit minor units."""
    part = open_value_of(pos, volume)
    raw = sign_of(pos.side) * (price * volume - part)
    return to_minor_half_up(_units(raw, pos.digits, pos.contract_size) * rate, digits)


def open_value_of(pos: Position, volume: int) -> int:
    """The share of the position's open value that `volume` of it carries."""
    if volume == pos.volume:
        return pos.open_value
    return int((Decimal(pos.open_value) * volume / pos.volume).to_integral_value())


def figures(pos: Position, acc: Account, market: Market) -> PositionFigures:
    sym = market.symbols.get(pos.symbol)
    profit_ccy = sym.currency_profit if sym else acc.currency
    quote = market.quotes.get(pos.symbol)
    rate = market.require_rate(profit_ccy, acc.currency)
    price = close_price(pos, quote)
    mid = quote.mid if quote else pos.price_open
    notional = pos.lots * pos.contract_size * mid * rate
    margin = to_minor_half_up(notional / max(acc.leverage, 1), acc.currency_digits)
    profit = realised(pos, pos.volume, price, rate, acc.currency_digits)
    return PositionFigures(pos, price, profit, margin, rate, acc.currency, acc.currency_digits)


def total_margin(figs: Iterable[PositionFigures], mode: str) -> int:
    legs: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    total = 0
    for f in figs:
        if mode == "SUM":
            total += f.margin
        else:
            legs[f.position.symbol][0 if f.position.side == "buy" else 1] += f.margin
    for long, short in legs.values():
        total += max(long, short) if mode == "MAX" else abs(long - short)
    return total


def margin_mode(uow: UnitOfWork, acc: Account) -> str:
    if acc.margin_mode:
        return acc.margin_mode
    group = uow.groups.get_by_id(acc.group_id)
    return group.margin_mode if group else "MAX"


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


def risk_of(acc: Account, positions: Sequence[Position], market: Market | None, mode: str) -> Risk:
    if not positions or market is None:
        return Risk(acc, (), 0, 0)
    figs = tuple(figures(p, acc, market) for p in positions)
    return Risk(acc, figs, sum(f.profit for f in figs), total_margin(figs, mode))


def account_risk(uow: UnitOfWork, acc: Account) -> Risk:
    """The account's figures now (one query for its positions; symbols and quotes only when it
    holds any)."""
    positions = uow.trading.positions_of(acc.login)
    if not positions:
        return Risk(acc, (), 0, 0)
    return risk_of(acc, positions, load_market(uow), margin_mode(uow, acc))
