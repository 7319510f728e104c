"""MT5 open positions: `position/get|get_batch|get_total|get_page`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from brokerplane.api.mt5 import newer
from brokerplane.api.mt5.deals import (
    DEAL_REASON_DEALER,
    MAX_TICKET,
    VOLUME_EXT,
    millis,
    page_of,
    rate_shown,
    side_code,
    unix,
)
from brokerplane.api.mt5.errors import ERR_NOTFOUND, ERR_PARAMS, Mt5Error
from brokerplane.api.mt5.users import _by_logins
from brokerplane.api.mt5.wire import Answer, Context, command
from brokerplane.core.errors import PositionNotFound
from brokerplane.core.money import Currency, format_minor
from brokerplane.core.trading.model import PositionFigures, price_of

# ---- positions ------------------------------------------------------------------------------

POSITIONS_PER_QUERY = 1000


def render_position(f: PositionFigures, currency_digits: int) -> dict[str, Any]:
    """An open position as IMTPosition (field order as MT5 sends it); every value a string."""
    pos = f.position
    cur = Currency("", currency_digits)
    return {
        "Position": pos.id,
        "ExternalID": "",
        "Login": pos.login,
        "Dealer": 0,
        "Symbol": pos.symbol,
        "Action": side_code(pos.side),
        "Digits": pos.digits,
        "DigitsCurrency": currency_digits,
        "Reason": DEAL_REASON_DEALER,
        "ContractSize": pos.contract_size.normalize(),
        "TimeCreate": unix(pos.opened_at),
        "TimeUpdate": unix(pos.updated_at),
        "TimeCreateMsc": millis(pos.opened_at),
        "TimeUpdateMsc": millis(pos.updated_at),
        "ModifyFlags": 0,
        "PriceOpen": pos.price_open,
        "PriceCurrent": price_of(f.price_current, pos.digits),
        "PriceSL": 0,
        "PriceTP": 0,
        "Volume": pos.volume,
        "VolumeExt": pos.volume * VOLUME_EXT,
        "Profit": format_minor(f.profit, cur),
        "Storage": format_minor(0, cur),
        "RateProfit": rate_shown(f.rate_profit),
        "RateMargin": 0,
        "ExpertID": 0,
        "ExpertPositionID": pos.id,
        "Comment": pos.comment,
        "ActivationMode": 0,
        "ActivationTime": 0,
        "ActivationPrice": 0,
        "ActivationFlags": 0,
        **newer.position_fields(unix(pos.opened_at), unix(pos.updated_at)),
    }


def account_digits(ctx: Context, login: int) -> int:
    """The account's currency digits; 13 when it does not exist or is out of reach."""
    return ctx.services.get_account(login, ctx.actor).currency_digits


def _render_positions(ctx: Context, figures: list[PositionFigures]) -> list[dict[str, Any]]:
    """Positions of any accounts, their accounts read in one query per thousand logins."""
    logins = [f.position.login for f in figures]
    digits = {a.login: a.currency_digits for a in _by_logins(ctx, logins)} if logins else {}
    return [render_position(f, digits.get(f.position.login, 2)) for f in figures]


def _positions(ctx: Context, **scope: Any) -> Iterator[PositionFigures]:
    """Every open position in scope (`logins`, `group`, `symbol`), oldest first."""
    after: int | None = None
    while True:
        page = ctx.services.list_positions(
            ctx.actor, after_id=after, limit=POSITIONS_PER_QUERY, **scope
        )
        yield from page
        if len(page) < POSITIONS_PER_QUERY:
            return
        after = page[-1].position.id


def _login_positions(ctx: Context) -> tuple[int, Iterator[PositionFigures]]:
    login = ctx.params.require_integer("login", low=1)
    return login, _positions(ctx, logins=[login])


@command("position/get")
def position_get(ctx: Context) -> Answer:
    login = ctx.params.require_integer("login", low=1)
    symbol = ctx.params.require_text("symbol")
    digits = account_digits(ctx, login)
    found = ctx.services.list_positions(ctx.actor, logins=[login], symbol=symbol, limit=1)
    if not found:
        raise Mt5Error(ERR_NOTFOUND, f"account {login} holds no {symbol} position")
    return Answer(render_position(found[0], digits))


def _tickets(values: Iterable[int]) -> list[int]:
    return sorted({t for t in values if 0 < t <= MAX_TICKET})


@command("position/get_batch")
def position_get_batch(ctx: Context) -> Answer:
    p = ctx.params
    if not p.has("login", "group", "ticket"):
        raise Mt5Error(ERR_PARAMS, "login, group or ticket is required")
    symbol = p.text("symbol") or None
    tickets = p.logins("ticket")
    if tickets is not None and not p.has("login", "group"):
        found = []
        for ticket in _tickets(tickets):
            try:
                found.append(ctx.services.get_position(ticket, ctx.actor))
            except PositionNotFound:
                continue
        return Answer(_render_positions(ctx, found))
    logins = p.logins("login")
    group = p.text("group") or None
    selected = _positions(ctx, logins=logins, group=group, symbol=symbol)
    if tickets is not None:
        wanted = set(tickets)
        selected = (f for f in selected if f.position.id in wanted)
    return Answer(_render_positions(ctx, list(selected)))


@command("position/get_total")
def position_get_total(ctx: Context) -> Answer:
    return Answer({"Total": sum(1 for _ in _login_positions(ctx)[1])})


@command("position/get_page")
def position_get_page(ctx: Context) -> Answer:
    login, positions = _login_positions(ctx)
    offset, count = page_of(ctx)
    digits = account_digits(ctx, login)
    return Answer([render_position(f, digits) for f in islice(positions, offset, offset + count)])
