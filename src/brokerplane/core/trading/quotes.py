"""Quotes: setting them (never ahead of the server's clock), reading them, the market they make."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from brokerplane.core.access import reach
from brokerplane.core.access.people import people_behind, people_text
from brokerplane.core.actor import Actor
from brokerplane.core.errors import SymbolNotFound, ValidationError
from brokerplane.core.money import Number, parse_decimal
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.trading.commands import MAX_QUOTES, QuoteInput
from brokerplane.core.trading.model import Market, Quote, check_price
from brokerplane.core.trading.queries import READ_SCOPES
from brokerplane.core.trading.risk import load_market

QUOTE_CLOCK_SKEW = timedelta(seconds=60)  # how far ahead of the server's clock a quote may be


def _price(value: Number, field: str, digits: int) -> Decimal:
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
    actor.require_for(QuoteInput)
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
