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
from decimal import Decimal

from brokerplane.core.account.model import Account
from brokerplane.core.money import to_minor_half_up
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.trading.model import (
    LOT,
    Market,
    Position,
    PositionFigures,
    Quote,
    Risk,
    sign_of,
)


def load_market(uow: UnitOfWork) -> Market:
    return Market({s.name: s for s in uow.symbols.list()}, uow.trading.quotes())


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
