"""Native trading endpoints: market orders, positions, deals and an account's trade state;
their wire shapes. Prices are decimal strings at the symbol's digits, volumes decimal strings in
lots, money decimal strings in the account's currency, times ISO 8601 in UTC."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from brokerplane.api.native.auth import current_actor
from brokerplane.api.native.wire import (
    COMMON_ERRORS,
    NOT_FOUND,
    PROBLEM,
    NativeRoute,
    decode_cursor,
    iso,
    next_cursor,
    parse_time,
    scoped,
    services,
    write,
)
from brokerplane.core.account.model import TradeState
from brokerplane.core.actor import Actor
from brokerplane.core.errors import ValidationError
from brokerplane.core.money import Currency, format_minor
from brokerplane.core.trading.commands import ClosePosition, Execution, OpenPosition
from brokerplane.core.trading.model import Deal, DealQuery, PositionFigures, lots, price_of

Number = StrictStr | StrictInt | StrictFloat


router = APIRouter(route_class=NativeRoute, responses=COMMON_ERRORS)

MAX_ID = 2**63 - 1
# What the schema promises of ids, cursors and login lists; the handlers check them again.
ID = r"^[1-9][0-9]{0,18}$"
CURSOR = r"^[A-Za-z0-9_-]{1,64}$"
LOGINS = r"^ *[0-9]{1,19} *(, *[0-9]{1,19} *)*$"


NO_QUOTE: dict[int | str, dict[str, Any]] = {
    409: {
        **PROBLEM,
        "description": "Conflict: code trade.no_quote when no quote prices the "
        "symbol (or converts its profit currency); request.already_applied or "
        "request.in_flight for a reused request id (as the balance operations)",
    },
}
_ORDER_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        **PROBLEM,
        "description": "ValidationError: bad fields; trade.invalid_volume outside "
        "the symbol's min/max/step; ledger.insufficient_funds (figure free_margin) when the "
        "free margin would go negative",
    },
    403: {
        **PROBLEM,
        "description": "PermissionDenied: trade.disabled when the account's "
        "rights, its owner or the symbol's trade mode forbid the order; auth.missing_scope "
        "without trades:write",
    },
    404: {**PROBLEM, "description": "NotFound: the account, symbol or position"},
    **NO_QUOTE,
}


def _id(value: str, field: str) -> int:
    """A path id: a positive integer that fits storage."""
    digits = value.isascii() and value.isdigit() and len(value) <= 19
    if not digits or not 1 <= int(value) <= MAX_ID:
        raise ValidationError.field(field, "must be a positive integer")
    return int(value)


def _after(kind: str, cursor: str | None) -> int | None:
    after = decode_cursor(kind, cursor)
    if after is not None and not 0 <= after <= MAX_ID:
        raise ValidationError.field("cursor", "is not a cursor this API returned")
    return after


def comma_list(value: str | None) -> list[str] | None:
    if value is None or not value.strip():
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def format_lots(volume: int) -> str:
    """Volume units as lots with at least two decimals: 1000 -> "0.10", 15 -> "0.0015"."""
    value = lots(volume)
    two = value.quantize(Decimal("0.01"))
    return str(two) if two == value else str(value.normalize())


def decimal_str(value: Decimal, digits: int) -> str:
    return str(value.quantize(Decimal(1).scaleb(-digits)))


class OrderIn(BaseModel):
    """A market order: buys fill at the ask, sells at the bid. On a netted account it adds to,
    reduces, closes or reverses the position of its symbol."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"login": 910024, "symbol": "EURUSD", "side": "buy", "volume": "0.10"}
        },
    )
    login: int = Field(strict=True, ge=1, le=2**63 - 1)
    symbol: StrictStr = Field(min_length=1, max_length=31, examples=["EURUSD"])
    side: Literal["buy", "sell"]
    volume: Number = Field(description="lots, within the symbol's min, max and step")
    comment: StrictStr = Field("", max_length=63)


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    volume: Number | None = Field(None, description="lots to close; absent closes it all")
    comment: StrictStr = Field("", max_length=63)


class PositionOut(BaseModel):
    id: int
    login: int
    symbol: str
    side: str = Field(description="buy or sell")
    volume: str = Field(description="lots", examples=["0.10"])
    price_open: str = Field(description="the (average) open price")
    price_current: str = Field(
        description="where it would close now: bid for a buy, ask for a sell"
    )
    profit: str = Field(description="floating P/L in the account currency")
    margin: str = Field(description="margin of this position alone, in the account currency")
    currency: str = Field(description="the account currency")
    contract_size: str
    comment: str
    opened_at: datetime
    updated_at: datetime


class PositionPage(BaseModel):
    items: list[PositionOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at end")


class DealOut(BaseModel):
    id: int = Field(description="the deal ticket, also the id of its ledger entry (kind trade)")
    login: int
    position_id: int
    symbol: str
    side: str = Field(description="the deal's own direction: closing a buy is a sell")
    entry: str = Field(description="in (opened or added), out (closed) or inout (reversed)")
    volume: str = Field(description="lots")
    price: str = Field(description="the fill price")
    price_position: str = Field(description="the position's open price when it filled")
    profit: str = Field(description="realised P/L in the account currency (0 for in)")
    currency: str
    rate_profit: str = Field(description="profit currency to account currency rate used")
    comment: str
    time: datetime
    position_opened_at: datetime
    manager_login: int | None


class DealPage(BaseModel):
    items: list[DealOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at end")


class TradeStateOut(BaseModel):
    login: int
    currency: str
    leverage: int
    balance: str = Field(examples=["10000.00"])
    credit: str
    bonus: str
    profit: str = Field(description="floating P/L of the open positions")
    equity: str = Field(description="balance + credit + bonus + profit")
    margin: str
    free_margin: str = Field(description="equity - margin")
    margin_level: str = Field(description="equity / margin in %; 0.00 without margin")


class ExecutionOut(BaseModel):
    deal: DealOut
    position: PositionOut | None = Field(description="after the order; null once closed")
    account: TradeStateOut = Field(description="the account's figures after the order")


def render_position(f: PositionFigures) -> dict[str, Any]:
    pos = f.position
    cur = Currency(f.currency, f.currency_digits)
    return {
        "id": pos.id,
        "login": pos.login,
        "symbol": pos.symbol,
        "side": pos.side,
        "volume": format_lots(pos.volume),
        "price_open": str(pos.price_open),
        "price_current": str(price_of(f.price_current, pos.digits)),
        "profit": format_minor(f.profit, cur),
        "margin": format_minor(f.margin, cur),
        "currency": f.currency,
        "contract_size": str(pos.contract_size),
        "comment": pos.comment,
        "opened_at": iso(pos.opened_at),
        "updated_at": iso(pos.updated_at),
    }


def render_deal(d: Deal) -> dict[str, Any]:
    cur = Currency(d.currency, d.currency_digits)
    return {
        "id": d.id,
        "login": d.login,
        "position_id": d.position_id,
        "symbol": d.symbol,
        "side": d.side,
        "entry": d.entry,
        "volume": format_lots(d.volume),
        "price": str(d.price_decimal),
        "price_position": str(d.price_position_decimal),
        "profit": format_minor(d.profit, cur),
        "currency": d.currency,
        "rate_profit": str(d.rate_profit.normalize()),
        "comment": d.comment,
        "time": iso(d.at),
        "position_opened_at": iso(d.opened_at),
        "manager_login": d.manager_login,
    }


def render_state(s: TradeState) -> dict[str, Any]:
    digits = s.currency_digits
    return {
        "login": s.login,
        "currency": s.currency,
        "leverage": s.leverage,
        **{
            name: decimal_str(getattr(s, name), digits)
            for name in ("balance", "credit", "bonus", "profit", "equity", "margin")
        },
        "free_margin": decimal_str(s.margin_free, digits),
        "margin_level": decimal_str(s.margin_level, 2),
    }


def _executed(status: int) -> Any:
    def render(ex: Execution) -> tuple[int, dict[str, Any]]:
        position = None
        if ex.position is not None:
            figs = {f.position.id: f for f in ex.risk.positions}
            if ex.position.id in figs:
                position = render_position(figs[ex.position.id])
        body = {
            "deal": render_deal(ex.deal),
            "position": position,
            "account": render_state(ex.risk.state()),
        }
        return status, body

    return render


@router.post(
    "/positions",
    openapi_extra=scoped(OpenPosition),
    status_code=201,
    response_model=ExecutionOut,
    responses=_ORDER_ERRORS,
    summary="A market order: open a position (or net against one); trades:write",
    description="Idempotent with `x-request-id` or `Idempotency-Key`, like the balance "
    "operations: a repeat replays the first answer with `Idempotent-Replay: true`.",
    tags=["trading"],
)
async def open_position(
    body: OrderIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    cmd = OpenPosition(
        login=body.login,
        symbol=body.symbol,
        side=body.side,
        volume=body.volume,
        comment=body.comment,
    )
    return await write(
        request,
        actor,
        partial(services(request).open_position, cmd),
        _executed(201),
    )


@router.post(
    "/positions/{position_id}/close",
    openapi_extra=scoped(ClosePosition),
    response_model=ExecutionOut,
    responses=_ORDER_ERRORS,
    summary="Close a position, or `volume` lots of it, at the market; trades:write",
    description="Idempotent with `x-request-id` or `Idempotency-Key`.",
    tags=["trading"],
)
async def close_position(
    request: Request,
    position_id: str = Path(pattern=ID),
    body: CloseIn | None = None,
    actor: Actor = Depends(current_actor),
) -> Response:
    cmd = ClosePosition(
        _id(position_id, "position_id"), body.volume if body else None, body.comment if body else ""
    )
    return await write(
        request,
        actor,
        partial(services(request).close_position, cmd),
        _executed(200),
    )


# ---- positions and deals --------------------------------------------------------------------


def _logins(value: str | None) -> list[int] | None:
    names = comma_list(value)
    if names is None:
        return None
    if not all(n.isascii() and n.isdigit() and len(n) <= 19 for n in names):
        raise ValidationError.field("login", "must be a login or a comma list of logins")
    return [int(n) for n in names]


def _page(items: list[PositionFigures], limit: int) -> dict[str, Any]:
    last = [f.position for f in items]
    return {
        "items": [render_position(f) for f in items],
        "next_cursor": next_cursor("position", last, limit, "id"),
    }


@router.get(
    "/positions",
    response_model=PositionPage,
    responses=NO_QUOTE | NOT_FOUND,
    summary="Open positions with current price, profit and margin, oldest first",
    description="Needs users:read or reports:read. Filter by logins, group mask and symbol.",
    tags=["trading"],
)
async def list_positions(
    request: Request,
    actor: Actor = Depends(current_actor),
    login: str | None = Query(None, pattern=LOGINS, description="a login or a comma list"),
    group: str | None = Query(None, description="group mask, e.g. demo\\*,!demo\\vip"),
    symbol: str | None = Query(None, description="one symbol name"),
    cursor: str | None = Query(
        None, pattern=CURSOR, description="next_cursor of the previous page"
    ),
    limit: int = Query(100, ge=1, le=1000, description="1 to 1000"),
) -> Response:
    call = partial(
        services(request).list_positions,
        actor,
        logins=_logins(login),
        group=group,
        symbol=symbol,
        after_id=_after("position", cursor),
        limit=limit,
    )
    return JSONResponse(_page(await run_in_threadpool(call), limit))


@router.get(
    "/positions/{position_id}",
    response_model=PositionOut,
    responses=NO_QUOTE | NOT_FOUND,
    summary="One open position",
    tags=["trading"],
)
async def get_position(
    request: Request, position_id: str = Path(pattern=ID), actor: Actor = Depends(current_actor)
) -> Response:
    found = await run_in_threadpool(
        services(request).get_position, _id(position_id, "position_id"), actor
    )
    return JSONResponse(render_position(found))


@router.get(
    "/deals",
    response_model=DealPage,
    responses=NOT_FOUND,
    summary="Deals (executions), oldest first; users:read or reports:read",
    tags=["trading"],
)
async def list_deals(
    request: Request,
    actor: Actor = Depends(current_actor),
    login: int | None = Query(None, ge=1, le=MAX_ID),
    position: int | None = Query(None, ge=1, le=MAX_ID, description="only this position's deals"),
    time_from: str | None = Query(None, alias="from", description="ISO 8601 or unix seconds"),
    time_to: str | None = Query(None, alias="to", description="exclusive upper bound"),
    cursor: str | None = Query(
        None, pattern=CURSOR, description="next_cursor of the previous page"
    ),
    limit: int = Query(100, ge=1, le=1000, description="1 to 1000"),
) -> Response:
    query = DealQuery(
        login=login,
        position_id=position,
        time_from=parse_time("from", time_from),
        time_to=parse_time("to", time_to),
        after_id=_after("deal", cursor),
        limit=limit,
    )
    page = await run_in_threadpool(services(request).list_deals, query, actor)
    return JSONResponse(
        {
            "items": [render_deal(d) for d in page],
            "next_cursor": next_cursor("deal", page, limit, "id"),
        }
    )


@router.get(
    "/deals/{deal_id}",
    response_model=DealOut,
    responses=NOT_FOUND,
    summary="One deal",
    tags=["trading"],
)
async def get_deal(
    deal_id: str, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    found = await run_in_threadpool(services(request).get_deal, _id(deal_id, "deal_id"), actor)
    return JSONResponse(render_deal(found))


@router.get(
    "/users/{login}/trade-state",
    response_model=TradeStateOut,
    responses=NO_QUOTE | NOT_FOUND,
    summary="Balance, credit, bonus, floating profit, margin, equity, free margin, margin level",
    tags=["trading"],
)
async def trade_state(
    request: Request, login: int = Path(ge=1, le=MAX_ID), actor: Actor = Depends(current_actor)
) -> Response:
    state = await run_in_threadpool(services(request).get_trade_state, login, actor)
    return JSONResponse(render_state(state))
