"""Native symbols (`/symbols`): list, read, create, change; their wire shapes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from brokerplane.api.native.auth import current_actor
from brokerplane.api.native.wire import (
    COMMON_ERRORS,
    CONFLICT,
    NOT_FOUND,
    NativeRoute,
    iso,
    scoped,
    services,
    set_fields,
    settings_of,
    write,
)
from brokerplane.core.actor import Actor
from brokerplane.core.symbol.commands import CreateSymbol, UpdateSymbol
from brokerplane.core.symbol.model import Symbol


class SymbolIn(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})

    name: str = Field(examples=["EURUSD"])
    path: str | None = None
    description: str | None = None
    isin: str | None = None
    digits: StrictInt | None = None
    contract_size: Decimal | None = None
    currency_base: str | None = None
    currency_profit: str | None = None
    currency_margin: str | None = None
    trade_mode: str | None = Field(
        None, description="DISABLED, LONGONLY, SHORTONLY, CLOSEONLY or FULL"
    )
    volume_min: Decimal | None = None
    volume_max: Decimal | None = None
    volume_step: Decimal | None = None
    spread: StrictInt | None = Field(
        None, description="fixed spread in points, 0 to 100000; 0: floating (the quotes')"
    )
    stops_level: StrictInt | None = Field(
        None, description="minimum distance of stop loss / take profit, points, 0 to 100000"
    )
    swap_long: Decimal | None = Field(None, description="points per lot per night, signed")
    swap_short: Decimal | None = Field(None, description="points per lot per night, signed")
    sessions: dict[str, list[str]] | None = Field(
        None,
        description='trading sessions: weekday (MON..SUN) -> ["HH:MM-HH:MM", ...], in order; '
        "a weekday left out has no session; null or absent: trading all week",
        examples=[{"MON": ["00:05-23:55"], "FRI": ["00:05-21:00"]}],
    )


class SymbolPatch(SymbolIn):
    name: str | None = None  # type: ignore[assignment]


class SymbolOut(BaseModel):
    id: int
    name: str
    path: str
    description: str
    isin: str
    digits: int
    contract_size: str
    currency_base: str
    currency_profit: str
    currency_margin: str
    trade_mode: str
    volume_min: str
    volume_max: str
    volume_step: str
    spread: int
    stops_level: int
    swap_long: str
    swap_short: str
    sessions: dict[str, list[str]] | None
    created_at: datetime | None
    updated_at: datetime | None


class SymbolList(BaseModel):
    items: list[SymbolOut]


def render_symbol(symbol: Symbol) -> dict[str, Any]:
    data = symbol.snapshot()
    data["created_at"], data["updated_at"] = iso(symbol.created_at), iso(symbol.updated_at)
    return data


router = APIRouter(route_class=NativeRoute, responses=COMMON_ERRORS)


@router.get("/symbols", response_model=SymbolList, summary="List symbols", tags=["symbols"])
async def list_symbols(
    request: Request,
    name: str | None = Query(None, description="name or path mask, e.g. Forex\\*,!*JPY"),
    actor: Actor = Depends(current_actor),
) -> Response:
    symbols = await run_in_threadpool(services(request).list_symbols, actor, name)
    return JSONResponse({"items": [render_symbol(s) for s in symbols]})


@router.get(
    "/symbols/{name}",
    response_model=SymbolOut,
    responses=NOT_FOUND,
    summary="Read one symbol",
    tags=["symbols"],
)
async def get_symbol(
    name: str, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    symbol = await run_in_threadpool(services(request).get_symbol, name, actor)
    return JSONResponse(render_symbol(symbol))


@router.post(
    "/symbols",
    openapi_extra=scoped(CreateSymbol),
    status_code=201,
    response_model=SymbolOut,
    responses=CONFLICT,
    summary="Create a symbol (admin)",
    tags=["symbols"],
)
async def create_symbol(
    body: SymbolIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    settings = settings_of(body, "name")
    cmd = CreateSymbol(name=body.name, settings=settings)
    return await write(
        request,
        actor,
        partial(services(request).create_symbol, cmd),
        lambda symbol: (201, render_symbol(symbol)),
    )


@router.patch(
    "/symbols/{name}",
    openapi_extra=scoped(UpdateSymbol),
    response_model=SymbolOut,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Update a symbol (admin)",
    tags=["symbols"],
)
async def update_symbol(
    name: str, body: SymbolPatch, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    cmd = UpdateSymbol(name=name, changes=set_fields(body))
    return await write(
        request,
        actor,
        partial(services(request).update_symbol, cmd),
        lambda symbol: (200, render_symbol(symbol)),
    )
