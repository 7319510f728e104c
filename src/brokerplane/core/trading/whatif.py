"""What an order would do, without placing it: the account's figures before and after
(MT5's trade/check_margin), and the profit of a position between two prices for a group
(trade/calc_profit). Nothing is written.

check_margin: the new position is priced at `price` (when given and positive) or at the
current quote (a buy at the ask, a sell at the bid), and valued at that same price, so it
adds margin (volume x contract size x price / leverage, converted to the deposit currency)
and no floating profit. The account's margin mode applies (a netted account nets the legs).

calc_profit: side x (close - open) x lots x contract size in the symbol's profit currency,
converted to the group's currency at the current conversion rate, rounded half-up to the
group's currency digits.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from brokerplane.core.access import reach
from brokerplane.core.account.checks import check_login
from brokerplane.core.actor import Actor
from brokerplane.core.errors import (
    AccountNotFound,
    GroupNotFound,
    InvalidVolume,
    NoQuote,
    SymbolNotFound,
    ValidationError,
)
from brokerplane.core.money import to_minor_half_up
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.symbol.model import Symbol
from brokerplane.core.trading.commands import CalcProfit, CheckMargin, MarginOutlook, ProfitOutlook
from brokerplane.core.trading.model import VOLUME_DIGITS, Market, Position, Quote, Risk, check_price
from brokerplane.core.trading.risk import figures, load_market, margin_mode, risk_of, total_margin

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "MAX_VOLUME_LOTS",
    "SIDES",
    "CalcProfit",
    "CheckMargin",
    "MarginOutlook",
    "ProfitOutlook",
    "calc_profit",
    "check_margin",
]

SIDES = ("buy", "sell")
MAX_VOLUME_LOTS = Decimal(10) ** 9


def _symbol(uow: UnitOfWork, name: str) -> Symbol:
    sym = uow.symbols.get(name)
    if sym is None:
        raise SymbolNotFound(name)
    return sym


def _side(side: str) -> str:
    if side not in SIDES:
        raise ValidationError.field("type", "must be 0 (buy) or 1 (sell)")
    return side


def _units(lots: Decimal) -> int:
    """Lots as volume units (1/10^4 lot); finer or not positive is InvalidVolume."""
    if not lots.is_finite() or lots <= 0 or lots > MAX_VOLUME_LOTS:
        raise InvalidVolume.field("volume", f"must be positive and at most {MAX_VOLUME_LOTS} lots")
    units = lots.scaleb(VOLUME_DIGITS)
    if units != units.to_integral_value():
        raise InvalidVolume.field("volume", f"has more than {VOLUME_DIGITS} decimals of a lot")
    return int(units)


def _points(price: Decimal, sym: Symbol) -> int:
    check_price(price)
    return int(price.scaleb(sym.digits).to_integral_value())


def check_margin(uow: UnitOfWork, cmd: CheckMargin, actor: Actor, now: datetime) -> MarginOutlook:
    actor.require_for(cmd)
    side = _side(cmd.side)
    acc = uow.accounts.get(check_login(cmd.login))
    if acc is None:
        raise AccountNotFound(cmd.login)
    reach.check_account(actor, acc)
    sym = _symbol(uow, cmd.symbol)
    volume = _units(cmd.volume)
    market = load_market(uow)
    if cmd.price is not None and cmd.price != 0:
        points = _points(cmd.price, sym)
    else:
        quote = market.quotes.get(sym.name)
        if quote is None:
            raise NoQuote(f"no quote for {sym.name}", symbol=sym.name)
        points = _points(quote.ask if side == "buy" else quote.bid, sym)
    held = uow.trading.positions_of(acc.login)
    mode = "NET" if acc.account_type == "NETTED" else margin_mode(uow, acc)
    current = risk_of(acc, held, market, mode)
    order = Position(
        acc.login, sym.name, side, volume, volume * points, sym.digits, sym.contract_size, now, now
    )
    at = Decimal(points).scaleb(-sym.digits)
    priced = Market(market.symbols, {**market.quotes, sym.name: Quote(sym.name, at, at, now)})
    added = figures(order, acc, priced)
    figs = (*current.positions, added)
    new = Risk(acc, figs, current.profit + added.profit, total_margin(figs, mode))
    return MarginOutlook(current.state(), new.state())


def calc_profit(uow: UnitOfWork, cmd: CalcProfit, actor: Actor) -> ProfitOutlook:
    actor.require_for(cmd)
    side = _side(cmd.side)
    group = uow.groups.get(cmd.group)
    if group is None:
        raise GroupNotFound(cmd.group)
    reach.check_group(actor, group)
    sym = _symbol(uow, cmd.symbol)
    _units(cmd.volume)
    for name, price in (("price_open", cmd.price_open), ("price_close", cmd.price_close)):
        check_price(price, name)
    rate = load_market(uow).require_rate(sym.currency_profit, group.currency)
    sign = 1 if side == "buy" else -1
    raw = sign * (cmd.price_close - cmd.price_open) * cmd.volume * sym.contract_size
    minor = to_minor_half_up(raw * rate, group.currency_digits)
    return ProfitOutlook(
        Decimal(minor).scaleb(-group.currency_digits), rate, group.currency, group.currency_digits
    )
