"""Trading rules for market orders: opening, adding to, reducing and closing positions. Quotes
are in quotes.py, reads in queries.py, exposure and margin calls in exposure.py, the commands in
commands.py.

A market order executes at the current quote (buys at the ask, sells at the bid) under the
account's row lock. On a hedged account it opens a position; on a netted account it adds to,
reduces, closes or reverses the one position of its symbol. Closing (all or part of) a position
realises its P/L. Every execution is a deal and a ledger entry of kind `trade` carrying the
realised P/L to the balance (zero for a deal that only opens), with an audit record.

An order that opens or adds is refused when the free margin after it would be negative;
reducing and closing never are. Trading needs the account enabled, without MT5's
TRADE_DISABLED right, with access rights FULL_ACCESS or NO_LOGIN (CLOSE_ONLY: only reducing),
an owner user that may be used, and the symbol's trade mode allowing the side.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from brokerplane.core.access.people import people_behind, people_of
from brokerplane.core.account.checks import check_login
from brokerplane.core.account.model import RIGHT_TRADE_DISABLED, Account
from brokerplane.core.actor import Actor
from brokerplane.core.audit.service import record
from brokerplane.core.backoffice.model import usable
from brokerplane.core.clock import Clock
from brokerplane.core.errors import (
    AmountLimitExceeded,
    FieldError,
    InsufficientFunds,
    InvalidVolume,
    NoQuote,
    PositionNotFound,
    SelfQuotedTrade,
    SymbolNotFound,
    TradeDisabled,
    ValidationError,
)
from brokerplane.core.ledger import service as ledger
from brokerplane.core.ledger.model import COMMENT_MAX as LEDGER_COMMENT_MAX
from brokerplane.core.ledger.model import LedgerEntry
from brokerplane.core.money import MAX_MINOR, Number, currency, format_minor, parse_decimal
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.symbol.model import Symbol
from brokerplane.core.trading.commands import (
    MAX_PAGE,
    ClosePosition,
    Execution,
    ExposureReport,
    MarginStatus,
    OpenPosition,
    QuoteInput,
)
from brokerplane.core.trading.exposure import exposure, margin_calls
from brokerplane.core.trading.model import (
    LOT,
    SIDES,
    TRADE_KIND,
    VOLUME_DIGITS,
    Deal,
    Market,
    Position,
    Quote,
    opposite,
)
from brokerplane.core.trading.queries import (
    get_account_position,
    get_deal,
    get_position,
    list_deals,
    list_positions,
    priced_accounts,
    priced_positions,
    risks,
    trade_state,
)
from brokerplane.core.trading.quotes import list_quotes, market, set_quotes
from brokerplane.core.trading.risk import load_market, margin_mode, open_value_of, realised, risk_of
from brokerplane.core.validate import Problems

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "COMMENT_MAX",
    "MAX_PAGE",
    "ClosePosition",
    "Execution",
    "ExposureReport",
    "MarginStatus",
    "OpenPosition",
    "QuoteInput",
    "check_can_trade",
    "check_volume",
    "close_position",
    "exposure",
    "get_account_position",
    "get_deal",
    "get_position",
    "list_deals",
    "list_positions",
    "list_quotes",
    "margin_calls",
    "market",
    "open_position",
    "priced_accounts",
    "priced_positions",
    "risks",
    "set_quotes",
    "trade_state",
]

COMMENT_MAX = 63


def _check_order(side: object, comment: object) -> None:
    p = Problems()
    p.choice("side", side, SIDES)
    p.text("comment", comment, COMMENT_MAX)
    p.raise_if_any()


def check_volume(value: Number | None, sym: Symbol, field: str = "volume") -> int:
    """Lots as volume units, within the symbol's minimum, maximum and step."""
    try:
        lots = parse_decimal(value, field)
    except ValidationError as err:
        raise InvalidVolume(err.detail, fields=err.fields) from None
    if lots <= 0:
        raise InvalidVolume.field(field, "must be positive")
    if lots > sym.volume_max:
        raise InvalidVolume.field(
            field, f"must be between {sym.volume_min} and {sym.volume_max} lots for {sym.name}"
        )
    units = lots.scaleb(VOLUME_DIGITS)
    if units != units.to_integral_value():
        raise InvalidVolume.field(field, f"has more than {VOLUME_DIGITS} decimals")
    if lots < sym.volume_min or lots > sym.volume_max:
        raise InvalidVolume.field(
            field, f"must be between {sym.volume_min} and {sym.volume_max} lots for {sym.name}"
        )
    if sym.volume_step > 0 and (lots - sym.volume_min) % sym.volume_step != 0:
        raise InvalidVolume.field(field, f"must be a multiple of {sym.volume_step} lots")
    return int(units)


def check_can_trade(uow: UnitOfWork, acc: Account, sym: Symbol, side: str, opens: bool) -> None:
    """Refuse an order the account's rights, its owner or the symbol's trade mode forbid;
    `opens`: whether it opens or adds (closing only reduces)."""
    why = ""
    if not acc.enabled:
        why = f"account {acc.login} is disabled"
    elif acc.rights & RIGHT_TRADE_DISABLED:
        why = f"trading is disabled for account {acc.login} (USER_RIGHT_TRADE_DISABLED)"
    elif acc.access_rights == "NO_TRADING":
        why = f"account {acc.login} has access rights NO_TRADING"
    elif acc.access_rights == "CLOSE_ONLY" and opens:
        why = f"account {acc.login} has access rights CLOSE_ONLY: it may only close positions"
    elif sym.trade_mode == "DISABLED":
        why = f"trading {sym.name} is disabled"
    elif opens and sym.trade_mode == "CLOSEONLY":
        why = f"{sym.name} is close-only"
    elif opens and sym.trade_mode == "LONGONLY" and side == "sell":
        why = f"{sym.name} may only be bought"
    elif opens and sym.trade_mode == "SHORTONLY" and side == "buy":
        why = f"{sym.name} may only be sold"
    if not why and acc.user_id is not None:
        owner = uow.users.get(acc.user_id)
        if owner is not None and not usable(owner.status):
            why = f"the owner of account {acc.login} is locked"
    if why:
        raise TradeDisabled(why, login=acc.login, symbol=sym.name)


@dataclass
class _Order:
    """One order being filled, with what it needs loaded."""

    uow: UnitOfWork
    acc: Account
    sym: Symbol
    market: Market
    quote: Quote
    actor: Actor
    now: datetime
    comment: str

    def price(self, side: str) -> int:
        """Points at which an order of this side fills: buys at the ask, sells at the bid."""
        value = self.quote.ask if side == "buy" else self.quote.bid
        return int(value.scaleb(self.sym.digits).to_integral_value())

    def rate(self) -> Decimal:
        return self.market.require_rate(self.sym.currency_profit, self.acc.currency)


def _symbol(uow: UnitOfWork, name: object) -> Symbol:
    sym = uow.symbols.get(name) if isinstance(name, str) else None
    if sym is None:
        raise SymbolNotFound(str(name)[:64])
    return sym


def _prepare(
    uow: UnitOfWork, login: int, symbol: object, actor: Actor, now: datetime, comment: str
) -> _Order:
    acc = ledger.load_for_update(uow, login, actor)
    sym = _symbol(uow, symbol)
    market = load_market(uow)
    quote = market.quotes.get(sym.name)
    if quote is None:
        raise NoQuote(f"no quote for {sym.name}", symbol=sym.name)
    if people_of(quote.set_people, quote.set_by) & people_behind(uow, actor):
        raise SelfQuotedTrade(sym.name)
    return _Order(uow, acc, sym, market, quote, actor, now, comment)


def open_position(uow: UnitOfWork, cmd: OpenPosition, actor: Actor, clock: Clock) -> Execution:
    actor.require_for(cmd)
    _check_order(cmd.side, cmd.comment)
    order = _prepare(uow, check_login(cmd.login), cmd.symbol, actor, clock(), cmd.comment)
    volume = check_volume(cmd.volume, order.sym)
    held = [
        p for p in order.uow.trading.positions_of(order.acc.login) if p.symbol == order.sym.name
    ]
    netted = order.acc.account_type == "NETTED"
    current = held[0] if netted and held else None
    if current is not None and current.side != cmd.side:
        opens = volume > current.volume
        check_can_trade(uow, order.acc, order.sym, cmd.side, opens)
        return _reduce(order, current, volume, reverse=opens)
    check_can_trade(uow, order.acc, order.sym, cmd.side, True)
    price = order.price(cmd.side)
    if current is None:
        position = Position(
            order.acc.login,
            order.sym.name,
            cmd.side,
            volume,
            volume * price,
            order.sym.digits,
            order.sym.contract_size,
            order.now,
            order.now,
            cmd.comment,
        )
        order.uow.trading.add_position(position)
    else:
        position = replace(
            current,
            volume=current.volume + volume,
            open_value=current.open_value + volume * price,
            updated_at=order.now,
        )
        order.uow.trading.update_position(position)
    deal = _deal(order, position, cmd.side, "in", volume, price, 0, Decimal(1))
    return _finish(order, deal, position, opens=True)


def close_position(uow: UnitOfWork, cmd: ClosePosition, actor: Actor, clock: Clock) -> Execution:
    actor.require_for(cmd)
    _check_order("buy", cmd.comment)
    if isinstance(cmd.position_id, bool) or not isinstance(cmd.position_id, int):
        raise ValidationError.field("position", "must be an integer")
    found = uow.trading.get_position(cmd.position_id)
    if found is None:
        raise PositionNotFound(cmd.position_id)
    order = _prepare(uow, found.login, found.symbol, actor, clock(), cmd.comment)
    position = uow.trading.get_position(cmd.position_id)  # again, now under the account's lock
    if position is None:
        raise PositionNotFound(cmd.position_id)
    volume = position.volume
    if cmd.volume is not None:
        volume = check_volume(cmd.volume, order.sym)
        if volume > position.volume:
            raise InvalidVolume.field("volume", f"is more than the position's {position.lots} lots")
    check_can_trade(uow, order.acc, order.sym, opposite(position.side), False)
    return _reduce(order, position, volume, reverse=False)


def _reduce(order: _Order, pos: Position, volume: int, *, reverse: bool) -> Execution:
    """Fill an order against `pos` (the other side): close min(volume, pos.volume) of it and,
    when `reverse`, open the rest the order's way in the same position."""
    side = opposite(pos.side)
    price = order.price(side)
    closing = min(volume, pos.volume)
    rate = order.rate()
    profit = realised(pos, closing, price, rate, order.acc.currency_digits)
    after: Position | None
    if reverse:
        rest = volume - pos.volume
        after = replace(
            pos,
            side=side,
            volume=rest,
            open_value=rest * price,
            opened_at=order.now,
            updated_at=order.now,
        )
        order.uow.trading.update_position(after)
    elif closing == pos.volume:
        after = None
        order.uow.trading.delete_position(pos.id)
    else:
        after = replace(
            pos,
            volume=pos.volume - closing,
            open_value=pos.open_value - open_value_of(pos, closing),
            updated_at=order.now,
        )
        order.uow.trading.update_position(after)
    entry = "inout" if reverse else "out"
    deal = _deal(order, pos, side, entry, volume, price, profit, rate)
    return _finish(order, deal, after, opens=reverse)


def _deal(
    order: _Order,
    pos: Position,
    side: str,
    entry: str,
    volume: int,
    price: int,
    profit: int,
    rate: Decimal,
) -> Deal:
    acc = order.acc
    return Deal(
        login=acc.login,
        position_id=pos.id,
        symbol=pos.symbol,
        side=side,
        entry=entry,
        volume=volume,
        price=price,
        price_position=int((Decimal(pos.open_value) / pos.volume).to_integral_value()),
        digits=pos.digits,
        contract_size=pos.contract_size,
        profit=profit,
        currency=acc.currency,
        currency_digits=acc.currency_digits,
        rate_profit=rate,
        opened_at=pos.opened_at,
        at=order.now,
        comment=order.comment,
        manager_login=order.actor.manager_login,
    )


def _finish(order: _Order, deal: Deal, position: Position | None, *, opens: bool) -> Execution:
    """Post the deal's entry, then check the margin of what opened."""
    acc = order.acc
    balance = acc.balance + deal.profit
    if abs(balance) > MAX_MINOR:
        raise AmountLimitExceeded("the realised P/L would take the balance beyond its limit")
    actor = order.actor
    entry = LedgerEntry(
        login=acc.login,
        kind=TRADE_KIND,
        amount=deal.profit,
        balance_after=balance,
        credit_after=acc.credit,
        bonus_after=acc.bonus,
        currency=acc.currency,
        currency_digits=acc.currency_digits,
        at=order.now,
        comment=_describe(deal),
        reference=f"position {deal.position_id}",
        manager_login=actor.manager_login,
        key_id=actor.key_id,
        operator_id=actor.operator_id,
        request_id=actor.request_id,
        dialect=actor.dialect,
    )
    order.uow.ledger.add(entry)
    deal.id = entry.id
    order.uow.trading.add_deal(deal)
    updated = replace(acc, balance=balance, updated_at=order.now)
    if deal.profit:
        order.uow.accounts.set_figures(acc.login, balance, acc.credit, acc.bonus, order.now)
    positions = order.uow.trading.positions_of(acc.login)
    state = risk_of(updated, positions, order.market, margin_mode(order.uow, acc))
    if opens and state.free_margin < 0:
        cur = currency(acc.currency, acc.currency_digits)
        raise InsufficientFunds(
            f"not enough free margin: the order needs {format_minor(state.margin, cur)} "
            f"{cur.code} of margin and the equity is {format_minor(state.equity, cur)}",
            fields=[FieldError("volume", "needs more margin than the account has free")],
            login=acc.login,
            figure="free_margin",
        )
    record(
        order.uow,
        actor,
        order.now,
        "trade.deal",
        "account",
        acc.login,
        {"balance": acc.balance},
        {
            "balance": balance,
            "credit": acc.credit,
            "bonus": acc.bonus,
            "currency": acc.currency,
            "currency_digits": acc.currency_digits,
            "deal": _deal_snapshot(deal),
            "position": position.snapshot() if position else None,
        },
    )
    return Execution(deal, position, state)


def _describe(deal: Deal) -> str:
    text = f"{deal.side} {deal.volume / LOT:g} {deal.symbol} at {deal.price_decimal}"
    return f"{text}: {deal.comment}"[:LEDGER_COMMENT_MAX] if deal.comment else text


def _deal_snapshot(deal: Deal) -> dict[str, object]:
    return {
        "id": deal.id,
        "position": deal.position_id,
        "symbol": deal.symbol,
        "side": deal.side,
        "entry": deal.entry,
        "volume": str(deal.volume / LOT),
        "price": str(deal.price_decimal),
        "profit": deal.profit,
    }
