"""Symbols and deposit assets (Web Services 4.4, 4.12)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from brokerplane.api.ctrader.auth import actor_of
from brokerplane.api.ctrader.wire import answer, get_both, services_of
from brokerplane.application.app import Application
from brokerplane.core.actor import Actor
from brokerplane.core.symbol.model import Symbol

router = APIRouter()


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


@get_both(router, "/symbols")
async def symbols(request: Request) -> Response:
    actor = await actor_of(request)
    found = await run_in_threadpool(services_of(request).list_symbols, actor)
    items = [symbol_to(s) for s in sorted(found, key=lambda s: s.name)]
    return answer(request, {"symbol": items}, "symbols")


def _deposit_assets(services: Application, actor: Actor) -> list[str]:
    """The currencies accounts are opened in: the groups' within reach and the server's."""
    codes = {g.currency.upper() for g in services.list_groups(actor)}
    codes.add(services.config.server_currency.upper())
    return sorted(codes)


@get_both(router, "/depositAssets")
async def deposit_assets(request: Request) -> Response:
    actor = await actor_of(request)
    assets = await run_in_threadpool(_deposit_assets, services_of(request), actor)
    return answer(request, {"depositAsset": assets}, "depositAssets")
