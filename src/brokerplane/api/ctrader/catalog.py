"""Symbols, deposit assets, open and closed positions (CSV) and a trader's cTrader Copy
sub-accounts (Web Services 4.4, 4.12, 4.13, 6.1, 6.2)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from brokerplane.api.ctrader.errors import invalid
from brokerplane.api.ctrader.protocol import actor_of, answer, parse_time, services_of, to_int
from brokerplane.core.actor import Actor
from brokerplane.core.services import Services
from brokerplane.core.symbol.model import Symbol

router = APIRouter()

OPEN_POSITION_COLUMNS = (
    "login", "positionId", "openTimestamp", "entryPrice", "direction", "volume", "symbol",
    "commission", "swap", "bookType", "stake", "spreadBetting", "usedMargin",
)  # fmt: skip
CLOSED_POSITION_COLUMNS = (
    "login", "positionId", "dealId", "openTimestamp", "closeTimestamp", "entryPrice",
    "closePrice", "direction", "volume", "symbol", "commission", "swap", "pnl",
    "depositConversionRate", "usdConversionRate", "bookType", "stake", "spreadBetting",
)  # fmt: skip
# closedPositions answers at most this span of position creation times (spec §3.8).
CLOSED_WINDOW = timedelta(days=2)


F = TypeVar("F", bound=Callable[..., Any])


def _get(path: str) -> Callable[[F], F]:
    """A GET route under `path` and `path/` (the slash only outside the schema)."""

    def register(fn: F) -> F:
        router.get(path)(fn)
        router.get(path + "/", include_in_schema=False)(fn)
        return fn

    return register


# ---- symbols and deposit assets -------------------------------------------------------------


def _currency_pair(symbol: Symbol) -> bool:
    """Whether a symbol filed nowhere is a bare currency pair (EURUSD: EUR against USD)."""
    base, profit = symbol.currency_base, symbol.currency_profit
    return all(len(c) == 3 and c.isascii() and c.isalpha() for c in (base, profit)) and (
        symbol.name.upper() == base.upper() + profit.upper()
    )


def symbol_to(symbol: Symbol) -> dict[str, Any]:
    """A symbol as cTrader lists it: asset class and category from the MT5-style path
    (`Forex\\Majors\\EURUSD`: Forex, Majors; the symbol's own name at the end is not a level)."""
    levels = [p for p in symbol.path.replace("/", "\\").split("\\") if p.strip()]
    if levels and levels[-1].casefold() == symbol.name.casefold():
        levels.pop()
    if levels:
        asset_class = levels[0]
    elif _currency_pair(symbol):
        asset_class = "Forex"
    else:
        asset_class = "Other"
    return {
        "name": symbol.name,
        "id": symbol.id,
        "description": symbol.description,
        "assetClass": asset_class,
        "category": levels[-1] if levels else asset_class,
        "quotesEnabled": symbol.trade_mode != "DISABLED",
        "showInCtrader": True,
    }


@_get("/symbols")
async def symbols(request: Request) -> Response:
    actor = await actor_of(request)
    found = await run_in_threadpool(services_of(request).list_symbols, actor)
    items = [symbol_to(s) for s in sorted(found, key=lambda s: s.name)]
    return answer(request, {"symbol": items}, "symbols")


def _deposit_assets(services: Services, actor: Actor) -> list[str]:
    """The currencies accounts are opened in: the groups' within reach and the server's."""
    codes = {g.currency.upper() for g in services.list_groups(actor)}
    codes.add(services.config.server_currency.upper())
    return sorted(codes)


@_get("/depositAssets")
async def deposit_assets(request: Request) -> Response:
    actor = await actor_of(request)
    assets = await run_in_threadpool(_deposit_assets, services_of(request), actor)
    return answer(request, {"depositAsset": assets}, "depositAssets")


# ---- positions as CSV -----------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):  # yyyy-MM-ddTHH:mm:ss.SSS in UTC, as the query takes them
        value = value.astimezone(UTC) if value.tzinfo else value
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


def csv_body(columns: Iterable[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """The header and one line per row; a row names its cells by column (missing: empty)."""
    header = list(columns)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in header])
    return out.getvalue()


def _csv(text: str) -> Response:
    return Response(text, media_type="text/csv")


def _login(services: Services, request: Request, actor: Actor) -> int | None:
    """The optional `login` filter; a trader out of reach is one that does not exist."""
    login = to_int(request.query_params.get("login"), "login")
    if login is not None:
        services.get_account(login, actor)  # TRADER_NOT_FOUND when unknown or out of reach
    return login


def open_position_rows(
    services: Services, actor: Actor, login: int | None
) -> Iterable[Mapping[str, Any]]:
    """One row per open position, by OPEN_POSITION_COLUMNS. brokerplane keeps no positions
    yet: the trading issue fills this from the core's positions."""
    return ()


def closed_position_rows(
    services: Services, actor: Actor, login: int | None, start: datetime, end: datetime
) -> Iterable[Mapping[str, Any]]:
    """One row per closing deal of positions opened in [start, end), by
    CLOSED_POSITION_COLUMNS; none until brokerplane trades."""
    return ()


def _open_positions(services: Services, request: Request, actor: Actor) -> str:
    login = _login(services, request, actor)
    return csv_body(OPEN_POSITION_COLUMNS, open_position_rows(services, actor, login))


def _time(request: Request, name: str) -> datetime:
    try:
        value = parse_time(request.query_params.get(name), name)
    except (OverflowError, OSError, ValueError):
        raise invalid(f"{name} is out of range") from None
    if value is None:
        raise invalid(f"{name} is required (yyyy-MM-ddTHH:mm:ss.SSS, UTC)")
    return value


def _closed_positions(services: Services, request: Request, actor: Actor) -> str:
    start, end = _time(request, "from"), _time(request, "to")
    if end <= start:
        raise invalid("to must be later than from")
    if end - start > CLOSED_WINDOW:
        raise invalid("from and to may be at most 2 days apart")
    login = _login(services, request, actor)
    rows = closed_position_rows(services, actor, login, start, end)
    return csv_body(CLOSED_POSITION_COLUMNS, rows)


@_get("/openPositions")
async def open_positions(request: Request) -> Response:
    actor = await actor_of(request)
    return _csv(await run_in_threadpool(_open_positions, services_of(request), request, actor))


@_get("/closedPositions")
async def closed_positions(request: Request) -> Response:
    actor = await actor_of(request)
    return _csv(await run_in_threadpool(_closed_positions, services_of(request), request, actor))


# ---- cTrader Copy sub-accounts --------------------------------------------------------------


@_get("/traders/{login:int}/subaccounts")
async def sub_accounts(login: int, request: Request) -> Response:
    """brokerplane has no cTrader Copy: a known trader has no sub-accounts."""
    actor = await actor_of(request)
    await run_in_threadpool(services_of(request).get_account, login, actor)
    body = {"subAccountLogins": {"login": []}, "totalSubAccountsBalance": 0,
            "totalSubAccountsEquity": 0}  # fmt: skip
    return answer(request, body, "subAccounts")
