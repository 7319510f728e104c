"""Open and closed positions as CSV (Web Services 4.13, spec §3.8)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import chain
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from brokerplane.api.csvcells import CsvOut, safe_text
from brokerplane.api.ctrader.auth import actor_of
from brokerplane.api.ctrader.errors import invalid
from brokerplane.api.ctrader.wire import get_both, parse_time, services_of, to_int
from brokerplane.application.app import Application
from brokerplane.core.account.commands import AccountsOfRows
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.money import Currency, from_minor
from brokerplane.core.trading.model import Deal, DealQuery, Market, lots, opposite, sign_of

router = APIRouter()


OPEN_POSITION_COLUMNS = (
    "login",
    "positionId",
    "openTimestamp",
    "entryPrice",
    "direction",
    "volume",
    "symbol",
    "commission",
    "swap",
    "bookType",
    "stake",
    "spreadBetting",
    "usedMargin",
)
CLOSED_POSITION_COLUMNS = (
    "login",
    "positionId",
    "dealId",
    "openTimestamp",
    "closeTimestamp",
    "entryPrice",
    "closePrice",
    "direction",
    "volume",
    "symbol",
    "commission",
    "swap",
    "pnl",
    "depositConversionRate",
    "usdConversionRate",
    "bookType",
    "stake",
    "spreadBetting",
)
# closedPositions answers at most this span of position creation times (spec §3.8).
CLOSED_WINDOW = timedelta(days=2)
CLOSING = ("out", "inout")  # the deals that close (part of) a position: one row each
PAGE = 1000  # positions or deals read at a time while the CSV streams
RATE_STEP = Decimal("1e-8")  # conversion rates in the CSV: at most 8 decimals
RATE_MIN = Decimal("0.00000")  # and at least 5
CENT = Decimal("0.01")


# ---- positions as CSV -----------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):  # yyyy-MM-ddTHH:mm:ss.SSS in UTC, as the query takes them
        stamp: datetime = value.astimezone(UTC) if value.tzinfo else value
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}"
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, str):  # the symbol's name, the one cell of text an operator sets
        return safe_text(value)
    return str(value)


def _login(request: Request) -> int | None:
    """The optional `login` filter; the core's read answers TRADER_NOT_FOUND for a trader
    unknown or out of reach."""
    return to_int(request.query_params.get("login"), "login")


def _money(minor: int, digits: int) -> Decimal:
    """An amount of the deposit currency at its digits: the CSV carries no moneyDigits, so its
    money cells are decimals in major units, as its prices are."""
    return from_minor(minor, Currency("", digits))


def _at_least(value: Decimal, step: Decimal) -> Decimal:
    """`value` with at least the decimals of `step` (more where it has them)."""
    value = value.normalize()
    return value.quantize(step) if value.as_tuple().exponent > step.as_tuple().exponent else value  # type: ignore[operator]


def _rate(value: Decimal | None) -> Decimal:
    """A conversion rate with five decimals at least (`0.96911`); 0.00000 when no quote gives
    it: the cell is a number for every parser, never empty."""
    if value is None:
        return RATE_MIN
    return _at_least(value.quantize(RATE_STEP), RATE_MIN)


def _units(volume: int, contract_size: Decimal) -> Decimal:
    """Volume units as base-asset units: lots x contract size (1 lot of EURUSD: 100000), with
    two decimals at least (`1000.00`), as cTrader writes them."""
    return _at_least(lots(volume) * contract_size, CENT)


def _accounts(services: Application, actor: Actor, logins: Iterable[int]) -> dict[int, Account]:
    """The accounts behind one page of rows, in one read."""
    wanted = tuple(sorted(set(logins)))
    if not wanted:
        return {}
    cmd = AccountsOfRows(logins=wanted, limit=len(wanted))
    return {a.login: a for a in services.list_accounts(cmd, actor)}


def _common(acc: Account | None) -> dict[str, Any]:
    """The cells every row shares: brokerplane charges no commission or swap, books every
    position itself (B book) and keeps no spread-bet stake (money per point): each a number,
    0.00 (at the deposit currency's digits), never an empty cell."""
    zero = _money(0, acc.currency_digits if acc is not None else 2)
    return {
        "commission": zero,
        "swap": zero,
        "bookType": "BOOK_B",
        "stake": zero,
        "spreadBetting": acc is not None and acc.account_type == "SPREAD_BETTING",
    }


def open_position_rows(
    services: Application, actor: Actor, login: int | None
) -> Iterator[Mapping[str, Any]]:
    """One row per open position (oldest first), by OPEN_POSITION_COLUMNS, page by page;
    usedMargin is the position's own margin at the latest quotes."""
    logins = [login] if login is not None else None
    after: int | None = None
    while True:
        page = services.list_positions(actor, logins=logins, after_id=after, limit=PAGE)
        accounts = _accounts(services, actor, (f.position.login for f in page))
        for fig in page:
            pos, acc = fig.position, accounts.get(fig.position.login)
            digits = acc.currency_digits if acc is not None else 2
            yield {
                "login": pos.login,
                "positionId": pos.id,
                "openTimestamp": pos.opened_at,
                "entryPrice": pos.price_open,
                "direction": pos.side.upper(),
                "volume": _units(pos.volume, pos.contract_size),
                "symbol": pos.symbol,
                "usedMargin": _money(fig.margin, digits),
                **_common(acc),
            }
        if len(page) < PAGE:
            return
        after = page[-1].position.id


def _closed_volume(services: Application, actor: Actor, deal: Deal) -> int:
    """What a closing deal closed: all of it, or for a netted reversal ("inout") the volume
    the position held before it (the rest opened the other way)."""
    if deal.entry == "out":
        return deal.volume
    held = 0
    for d in services.iter_deals(DealQuery(position_id=deal.position_id), actor):
        if d.id >= deal.id:
            break
        held += sign_of(d.side) * d.volume
    return abs(held)


def closed_position_rows(
    services: Application, actor: Actor, login: int | None, start: datetime, end: datetime
) -> Iterator[Mapping[str, Any]]:
    """One row per closing deal of positions opened in [start, end), by
    CLOSED_POSITION_COLUMNS: the position's direction and open price, the deal's price and
    realised P/L; depositConversionRate is the profit currency's rate to the deposit currency
    the deal used, usdConversionRate the deposit currency's rate to USD at the latest quotes
    (empty when no quote gives it)."""
    query = DealQuery(login=login, entries=CLOSING, opened_from=start, opened_to=end, limit=PAGE)
    market: Market | None = None
    to_usd: dict[str, Decimal | None] = {}  # by deposit currency
    while True:
        page = services.list_deals(query, actor)
        if page and market is None:
            market = services.get_market(actor)
        accounts = _accounts(services, actor, (d.login for d in page))
        for deal in page:
            volume = _closed_volume(services, actor, deal)
            if market is not None and deal.currency not in to_usd:
                to_usd[deal.currency] = market.rate(deal.currency, "USD")
            usd = to_usd.get(deal.currency)
            yield {
                "login": deal.login,
                "positionId": deal.position_id,
                "dealId": deal.id,
                "openTimestamp": deal.opened_at,
                "closeTimestamp": deal.at,
                "entryPrice": deal.price_position_decimal,
                "closePrice": deal.price_decimal,
                "direction": opposite(deal.side).upper(),
                "volume": _units(volume, deal.contract_size),
                "symbol": deal.symbol,
                "pnl": _money(deal.profit, deal.currency_digits),
                "depositConversionRate": _rate(deal.rate_profit),
                "usdConversionRate": _rate(usd),
                **_common(accounts.get(deal.login)),
            }
        if len(page) < PAGE:
            return
        query = replace(query, after_id=page[-1].id)


def csv_chunks(columns: Iterable[str], rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """The CSV in pieces of PAGE rows, the header with the first: producing the first piece
    reads the first page, so a refused read is an error answer, not a broken stream."""
    header = list(columns)
    writer = CsvOut()
    writer.writerow(header)
    for count, row in enumerate(rows, 1):
        writer.writerow([_cell(row.get(c)) for c in header])
        if count % PAGE == 0:
            yield writer.take()
    yield writer.take()


def csv_body(columns: Iterable[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """The header and one line per row; a row names its cells by column (missing: empty)."""
    return "".join(csv_chunks(columns, rows))


async def _csv(chunks: Iterator[str]) -> Response:
    first = await run_in_threadpool(next, chunks)
    return StreamingResponse(chain([first], chunks), media_type="text/csv")


def _time(request: Request, name: str) -> datetime:
    try:
        value = parse_time(request.query_params.get(name), name)
    except (OverflowError, OSError, ValueError):
        raise invalid(f"{name} is out of range") from None
    if value is None:
        raise invalid(f"{name} is required (yyyy-MM-ddTHH:mm:ss.SSS, UTC)")
    return value


def _window(request: Request) -> tuple[datetime, datetime]:
    start, end = _time(request, "from"), _time(request, "to")
    if end <= start:
        raise invalid("to must be later than from")
    if end - start > CLOSED_WINDOW:
        raise invalid("from and to may be at most 2 days apart")
    return start, end


@get_both(router, "/openPositions")
async def open_positions(request: Request) -> Response:
    actor = await actor_of(request)
    rows = open_position_rows(services_of(request), actor, _login(request))
    return await _csv(csv_chunks(OPEN_POSITION_COLUMNS, rows))


@get_both(router, "/closedPositions")
async def closed_positions(request: Request) -> Response:
    actor = await actor_of(request)
    start, end = _window(request)
    rows = closed_position_rows(services_of(request), actor, _login(request), start, end)
    return await _csv(csv_chunks(CLOSED_POSITION_COLUMNS, rows))
