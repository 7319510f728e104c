"""Trading commands and reads: quotes, market orders, positions, deals, exposure, margin calls.

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

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from brokerplane.core import masks
from brokerplane.core.access import reach
from brokerplane.core.access.service import people_behind, people_of, people_text
from brokerplane.core.account.checks import check_login
from brokerplane.core.account.model import RIGHT_TRADE_DISABLED, Account, AccountQuery
from brokerplane.core.actor import Actor
from brokerplane.core.audit.service import record
from brokerplane.core.backoffice.model import usable
from brokerplane.core.clock import Clock
from brokerplane.core.errors import (
    AccountNotFound,
    AmountLimitExceeded,
    DealNotFound,
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
from brokerplane.core.group.model import Group
from brokerplane.core.ledger import service as ledger
from brokerplane.core.ledger.model import COMMENT_MAX as LEDGER_COMMENT_MAX
from brokerplane.core.ledger.model import LedgerEntry
from brokerplane.core.money import MAX_MINOR, currency, format_minor, parse_decimal
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.symbol.model import Symbol
from brokerplane.core.trading.model import (
    LOT,
    SIDES,
    TRADE_KIND,
    VOLUME_DIGITS,
    Deal,
    DealQuery,
    ExposureFilter,
    Position,
    PositionQuery,
    Quote,
    check_price,
    opposite,
)
from brokerplane.core.trading.risk import (
    Market,
    PositionFigures,
    Risk,
    account_risk,
    load_market,
    margin_mode,
    open_value_of,
    realised,
    risk_of,
    to_minor_half_up,
)
from brokerplane.core.validate import Problems

MAX_PAGE = 1000
MAX_QUOTES = 1000  # per call
QUOTE_CLOCK_SKEW = timedelta(seconds=60)  # how far ahead of the server's clock a quote may be
COMMENT_MAX = 63
READ_SCOPES = ("users:read", "reports:read")


# ---- quotes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuoteInput:
    symbol: object
    bid: object
    ask: object
    at: datetime | None = None


def _price(value: object, field: str, digits: int) -> Decimal:
    price = check_price(parse_decimal(value, field), field)
    rounded = price.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN)
    if rounded <= 0:
        raise ValidationError.field(field, f"rounds to 0 at the symbol's {digits} digits")
    return rounded


def set_quotes(
    uow: UnitOfWork, items: Sequence[QuoteInput], actor: Actor, now: datetime
) -> list[Quote]:
    """Store a batch of quotes (at the symbol's digits); a quote older than the one held for
    its symbol is ignored. Returns the quotes as checked.

    A quote moves the equity and margin of every account holding the symbol: unlimited reach."""
    actor.require("quotes:write")
    reach.require_unlimited(actor, "a quote")
    if not 1 <= len(items) <= MAX_QUOTES:
        raise ValidationError.field("quotes", f"must hold 1 to {MAX_QUOTES} quotes")
    symbols = {s.name: s for s in uow.symbols.list()}
    setters = people_text(people_behind(uow, actor)) or None
    checked: list[Quote] = []
    for i, item in enumerate(items):
        where = f"quotes[{i}]"
        sym = symbols.get(item.symbol) if isinstance(item.symbol, str) else None
        if sym is None:
            raise SymbolNotFound(str(item.symbol)[:64])
        bid = _price(item.bid, f"{where}.bid", sym.digits)
        ask = _price(item.ask, f"{where}.ask", sym.digits)
        if ask < bid:
            raise ValidationError.field(f"{where}.ask", "must not be below the bid")
        at = item.at or now
        if at.tzinfo is None:
            raise ValidationError.field(f"{where}.time", "must carry a time zone")
        if at > now + QUOTE_CLOCK_SKEW:  # it would hide every quote until then
            raise ValidationError.field(f"{where}.time", "is in the future")
        checked.append(
            Quote(sym.name, bid, ask, at, set_by=actor.manager_login, set_people=setters)
        )
    uow.trading.put_quotes(checked)
    return checked


def list_quotes(uow: UnitOfWork, actor: Actor, symbols: Sequence[str] | None) -> list[Quote]:
    actor.require_any(*READ_SCOPES, "quotes:write", "trades:write")
    found = uow.trading.quotes(symbols)
    return [found[name] for name in sorted(found)]


def market(uow: UnitOfWork, actor: Actor) -> Market:
    """The symbols and their latest quotes, for a report converting between currencies."""
    actor.require_any(*READ_SCOPES)
    return load_market(uow)


# ---- orders ---------------------------------------------------------------------------------


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


def _check_order(side: object, comment: object) -> None:
    p = Problems()
    p.choice("side", side, SIDES)
    p.text("comment", comment, COMMENT_MAX)
    p.raise_if_any()


def check_volume(value: object, sym: Symbol, field: str = "volume") -> int:
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
    actor.require("trades:write")
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
        position = Position(order.acc.login, order.sym.name, cmd.side, volume, volume * price,
                            order.sym.digits, order.sym.contract_size, order.now, order.now,
                            cmd.comment)  # fmt: skip
        order.uow.trading.add_position(position)
    else:
        position = replace(current, volume=current.volume + volume,
                           open_value=current.open_value + volume * price,
                           updated_at=order.now)  # fmt: skip
        order.uow.trading.update_position(position)
    deal = _deal(order, position, cmd.side, "in", volume, price, 0, Decimal(1))
    return _finish(order, deal, position, opens=True)


def close_position(uow: UnitOfWork, cmd: ClosePosition, actor: Actor, clock: Clock) -> Execution:
    actor.require("trades:write")
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
        after = replace(pos, side=side, volume=rest, open_value=rest * price,
                        opened_at=order.now, updated_at=order.now)  # fmt: skip
        order.uow.trading.update_position(after)
    elif closing == pos.volume:
        after = None
        order.uow.trading.delete_position(pos.id)
    else:
        after = replace(pos, volume=pos.volume - closing,
                        open_value=pos.open_value - open_value_of(pos, closing),
                        updated_at=order.now)  # fmt: skip
        order.uow.trading.update_position(after)
    entry = "inout" if reverse else "out"
    deal = _deal(order, pos, side, entry, volume, price, profit, rate)
    return _finish(order, deal, after, opens=reverse)


def _deal(
    order: _Order, pos: Position, side: str, entry: str, volume: int, price: int, profit: int,
    rate: Decimal,
) -> Deal:  # fmt: skip
    acc = order.acc
    return Deal(
        login=acc.login, position_id=pos.id, symbol=pos.symbol, side=side, entry=entry,
        volume=volume, price=price,
        price_position=int((Decimal(pos.open_value) / pos.volume).to_integral_value()),
        digits=pos.digits, contract_size=pos.contract_size, profit=profit,
        currency=acc.currency, currency_digits=acc.currency_digits, rate_profit=rate,
        opened_at=pos.opened_at, at=order.now, comment=order.comment,
        manager_login=order.actor.manager_login,
    )  # fmt: skip


def _finish(order: _Order, deal: Deal, position: Position | None, *, opens: bool) -> Execution:
    """Post the deal's entry, then check the margin of what opened."""
    acc = order.acc
    balance = acc.balance + deal.profit
    if abs(balance) > MAX_MINOR:
        raise AmountLimitExceeded("the realised P/L would take the balance beyond its limit")
    actor = order.actor
    entry = LedgerEntry(
        login=acc.login, kind=TRADE_KIND, amount=deal.profit, balance_after=balance,
        credit_after=acc.credit, bonus_after=acc.bonus, currency=acc.currency,
        currency_digits=acc.currency_digits, at=order.now, comment=_describe(deal),
        reference=f"position {deal.position_id}", manager_login=actor.manager_login,
        key_id=actor.key_id, operator_id=actor.operator_id, request_id=actor.request_id,
        dialect=actor.dialect,
    )  # fmt: skip
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
    record(order.uow, actor, order.now, "trade.deal", "account", acc.login,
           {"balance": acc.balance},
           {"balance": balance, "credit": acc.credit, "bonus": acc.bonus,
            "currency": acc.currency, "currency_digits": acc.currency_digits,
            "deal": _deal_snapshot(deal),
            "position": position.snapshot() if position else None})  # fmt: skip
    return Execution(deal, position, state)


def _describe(deal: Deal) -> str:
    text = f"{deal.side} {deal.volume / LOT:g} {deal.symbol} at {deal.price_decimal}"
    return f"{text}: {deal.comment}"[:LEDGER_COMMENT_MAX] if deal.comment else text


def _deal_snapshot(deal: Deal) -> dict[str, object]:
    return {"id": deal.id, "position": deal.position_id, "symbol": deal.symbol,
            "side": deal.side, "entry": deal.entry, "volume": str(deal.volume / LOT),
            "price": str(deal.price_decimal), "profit": deal.profit}  # fmt: skip


# ---- reads ----------------------------------------------------------------------------------


def trade_state(uow: UnitOfWork, login: int, actor: Actor) -> Risk:
    """The account's figures and priced positions now."""
    actor.require("users:read")
    acc = uow.accounts.get(check_login(login))
    if acc is None:
        raise AccountNotFound(login)
    return account_risk(uow, reach.check_account(actor, acc))


def risks(uow: UnitOfWork, accounts: Sequence[Account], actor: Actor) -> dict[int, Risk]:
    """The figures of accounts already read (a page of a listing), with one query for all
    their positions; accounts without positions need no prices."""
    actor.require("users:read")
    return priced_accounts(uow, accounts)


def priced_accounts(uow: UnitOfWork, accounts: Sequence[Account]) -> dict[int, Risk]:
    """`risks` for a caller that has checked the actor's right to read these accounts (a
    report's reader)."""
    by_login: dict[int, list[Position]] = defaultdict(list)
    logins = tuple(sorted({a.login for a in accounts}))
    for start in range(0, len(logins), MAX_PAGE):
        chunk = logins[start : start + MAX_PAGE]
        query = PositionQuery(logins=chunk, limit=MAX_PAGE)
        while True:
            page = uow.trading.list_positions(query)
            for pos in page:
                by_login[pos.login].append(pos)
            if len(page) < MAX_PAGE:
                break
            query = replace(query, after_id=page[-1].id)
    market = load_market(uow) if by_login else None
    groups = {g.id: g for g in uow.groups.list()} if by_login else {}
    out: dict[int, Risk] = {}
    for acc in accounts:
        held = by_login.get(acc.login, [])
        group = groups.get(acc.group_id)
        mode = acc.margin_mode or (group.margin_mode if group else "MAX")
        out[acc.login] = risk_of(acc, held, market, mode)
    return out


def priced_positions(uow: UnitOfWork, positions: list[Position]) -> list[PositionFigures]:
    """Positions with their current figures, for a caller that has checked the reader's
    right to see them (a report's reader)."""
    return _priced(uow, positions)


def _priced(uow: UnitOfWork, positions: list[Position]) -> list[PositionFigures]:
    """Positions with their current figures; accounts loaded once per page."""
    if not positions:
        return []
    logins = tuple(sorted({p.login for p in positions}))
    found = uow.accounts.list(AccountQuery(logins=logins, limit=len(logins)))
    accounts = {a.login: a for a in found}
    market = load_market(uow)
    out: list[PositionFigures] = []
    for pos in positions:
        acc = accounts.get(pos.login)
        if acc is not None:
            out.extend(risk_of(acc, [pos], market, "SUM").positions)
    return out


def list_positions(
    uow: UnitOfWork,
    actor: Actor,
    *,
    logins: Sequence[int] | None = None,
    group: str | None = None,
    symbol: str | None = None,
    after_id: int | None = None,
    limit: int = MAX_PAGE,
) -> list[PositionFigures]:
    """Open positions (oldest first) of these accounts, or of the groups matching the mask,
    within the actor's reach."""
    actor.require_any(*READ_SCOPES)
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError.field("limit", f"must be between 1 and {MAX_PAGE}")
    group_ids, brokers = reach.query_scope(uow, actor)
    if group is not None:
        wanted = tuple(g.id for g in _groups_matching(uow, group))
        group_ids = wanted if group_ids is None else tuple(set(group_ids) & set(wanted))
    if logins is not None:
        for login in logins:
            acc = uow.accounts.get(check_login(login))
            if acc is None:
                raise AccountNotFound(login)
            reach.check_account(actor, acc)
    query = PositionQuery(logins=tuple(logins) if logins is not None else None, symbol=symbol,
                          after_id=after_id, limit=limit, group_ids=group_ids,
                          broker_mask=brokers)  # fmt: skip
    return _priced(uow, uow.trading.list_positions(query))


def get_position(uow: UnitOfWork, position_id: int, actor: Actor) -> PositionFigures:
    actor.require_any(*READ_SCOPES)
    pos = uow.trading.get_position(position_id)
    acc = uow.accounts.get(pos.login) if pos else None
    if pos is None or acc is None or not actor.reaches(acc.group, acc.broker):
        raise PositionNotFound(position_id)
    return _priced(uow, [pos])[0]


def list_deals(uow: UnitOfWork, query: DealQuery, actor: Actor) -> list[Deal]:
    actor.require_any(*READ_SCOPES)
    if not 1 <= query.limit <= MAX_PAGE:
        raise ValidationError.field("limit", f"must be between 1 and {MAX_PAGE}")
    if query.login is not None:
        acc = uow.accounts.get(check_login(query.login))
        if acc is None:
            raise AccountNotFound(query.login)
        reach.check_account(actor, acc)
    group_ids, brokers = reach.query_scope(uow, actor)
    return uow.trading.list_deals(replace(query, group_ids=group_ids, broker_mask=brokers))


def get_deal(uow: UnitOfWork, deal_id: int, actor: Actor) -> Deal:
    actor.require_any(*READ_SCOPES)
    deal = uow.trading.get_deal(deal_id)
    acc = uow.accounts.get(deal.login) if deal else None
    if deal is None or acc is None or not actor.reaches(acc.group, acc.broker):
        raise DealNotFound(deal_id)
    return deal


def _groups_matching(uow: UnitOfWork, mask: str) -> list[Group]:
    wanted = masks.parse(mask, "group")
    return [g for g in uow.groups.list() if wanted.admits(g.name)]


# ---- exposure -------------------------------------------------------------------------------


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


def exposure(
    uow: UnitOfWork, actor: Actor, *, group: str | None, symbol: str | None, report_currency: str
) -> ExposureReport:
    """Net and gross exposure per symbol and group, priced at the latest quotes: sums come
    from storage (one aggregate over the open positions), prices are applied per line."""
    actor.require("reports:read")
    cur = currency(report_currency)
    group_ids, brokers = reach.query_scope(uow, actor)
    groups = {g.id: g.name for g in uow.groups.list()}
    if group is not None:
        wanted = {g.id for g in _groups_matching(uow, group)}
        group_ids = tuple(sorted(wanted if group_ids is None else wanted & set(group_ids)))
    names: tuple[str, ...] | None = None
    if symbol is not None:
        names = tuple(masks.parse(symbol, "symbol").select(s.name for s in uow.symbols.list()))
    scope = ExposureFilter(group_ids=group_ids, symbols=names, broker_mask=brokers)
    market = load_market(uow)
    lines: list[ExposureLine] = []
    for s in uow.trading.exposure(scope):
        sym = market.symbols.get(s.symbol)
        quote = market.quotes.get(s.symbol)
        if sym is None or quote is None:
            raise NoQuote(f"no quote for {s.symbol}", symbol=s.symbol)
        rate = market.require_rate(sym.currency_profit, cur.code)
        scale = s.contract_size / LOT
        point = Decimal(10) ** s.digits

        def money(amount: Decimal, rate: Decimal = rate) -> Decimal:
            return Decimal(to_minor_half_up(amount * rate, cur.digits)).scaleb(-cur.digits)

        buy_pl = quote.bid * s.buy_volume - Decimal(s.buy_value) / point
        sell_pl = Decimal(s.sell_value) / point - quote.ask * s.sell_volume
        lines.append(ExposureLine(
            symbol=s.symbol, group=groups.get(s.group_id, str(s.group_id)), accounts=s.accounts,
            positions=s.positions, buy_lots=Decimal(s.buy_volume) / LOT,
            sell_lots=Decimal(s.sell_volume) / LOT,
            net_notional=money((s.buy_volume - s.sell_volume) * scale * quote.mid),
            gross_notional=money((s.buy_volume + s.sell_volume) * scale * quote.mid),
            client_profit=money((buy_pl + sell_pl) * scale),
        ))  # fmt: skip
    per_group, everyone = uow.trading.exposure_accounts(scope)
    by_symbol = _merge(lines, lambda x: (x.symbol, "*"))
    by_group = _merge(lines, lambda x: ("*", x.group))
    ids = {name: gid for gid, name in groups.items()}
    by_group = [replace(x, accounts=per_group.get(ids.get(x.group, -1), x.accounts))
                for x in by_group]  # fmt: skip
    total = _merge(lines, lambda x: ("*", "*"))
    zero = ExposureLine("*", "*", 0, 0, *(Decimal(0),) * 5)
    return ExposureReport(cur.code, lines, by_symbol, by_group,
                          replace(total[0] if total else zero, accounts=everyone))  # fmt: skip


def _merge(
    lines: list[ExposureLine], key: Callable[[ExposureLine], tuple[str, str]]
) -> list[ExposureLine]:
    """Lines added up by a key (symbol, group)."""
    merged: dict[tuple[str, str], ExposureLine] = {}
    for line in lines:
        k = key(line)
        held = merged.get(k)
        if held is None:
            merged[k] = replace(line, symbol=k[0], group=k[1])
            continue
        merged[k] = ExposureLine(
            k[0], k[1], held.accounts + line.accounts, held.positions + line.positions,
            held.buy_lots + line.buy_lots, held.sell_lots + line.sell_lots,
            held.net_notional + line.net_notional, held.gross_notional + line.gross_notional,
            held.client_profit + line.client_profit,
        )  # fmt: skip
    return [merged[k] for k in sorted(merged)]


# ---- margin calls -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MarginStatus:
    """An account at or below its group's margin-call level: `state` is "margin_call", or
    "stop_out" at or below the stop-out level."""

    risk: Risk
    group: Group
    level: Decimal
    state: str


def margin_calls(uow: UnitOfWork, actor: Actor) -> list[MarginStatus]:
    actor.require("reports:read")
    group_ids, brokers = reach.query_scope(uow, actor)
    by_login: dict[int, list[Position]] = defaultdict(list)
    for pos in _all_positions(uow, group_ids, brokers):
        by_login[pos.login].append(pos)
    groups = {g.id: g for g in uow.groups.list()}
    market = load_market(uow)
    out: list[MarginStatus] = []
    logins = sorted(by_login)
    for start in range(0, len(logins), MAX_PAGE):
        chunk = tuple(logins[start : start + MAX_PAGE])
        for acc in uow.accounts.list(AccountQuery(logins=chunk, limit=len(chunk))):
            group = groups[acc.group_id]
            state = risk_of(acc, by_login[acc.login], market, acc.margin_mode or group.margin_mode)
            if state.margin <= 0:
                continue
            level = (Decimal(state.equity) / state.margin * 100).quantize(Decimal("0.01"))
            if level <= group.margin_call:
                kind = "stop_out" if level <= group.stop_out else "margin_call"
                out.append(MarginStatus(state, group, level, kind))
    return sorted(out, key=lambda m: (m.level, m.risk.account.login))


def _all_positions(
    uow: UnitOfWork, group_ids: tuple[int, ...] | None, brokers: str | None
) -> Iterator[Position]:
    after: int | None = None
    while True:
        page = uow.trading.list_positions(PositionQuery(after_id=after, limit=MAX_PAGE,
                                                        group_ids=group_ids,
                                                        broker_mask=brokers))  # fmt: skip
        yield from page
        if len(page) < MAX_PAGE:
            return
        after = page[-1].id
