"""Native trading endpoints: quotes, market orders, positions, deals, an account's trade state,
and the exposure and margin-call reports."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from brokerplane.api.csvcells import CsvOut, safe_cell
from brokerplane.api.native.auth import current_actor
from brokerplane.api.native.common import (
    COMMON_ERRORS,
    NOT_FOUND,
    PROBLEM,
    decode_cursor,
    next_cursor,
    parse_time,
    services,
    wants_csv,
)
from brokerplane.api.native.idempotency import write
from brokerplane.api.native.route import NativeRoute
from brokerplane.api.native.trading_schemas import (
    EXPOSURE_COLUMNS,
    MARGIN_CALL_COLUMNS,
    CloseIn,
    DealOut,
    DealPage,
    ExecutionOut,
    ExposureOut,
    MarginCallList,
    OrderIn,
    PositionOut,
    PositionPage,
    QuoteList,
    QuotesIn,
    TradeStateOut,
    quote_time,
    render_deal,
    render_exposure_line,
    render_margin_call,
    render_position,
    render_quote,
    render_state,
)
from brokerplane.core.actor import Actor
from brokerplane.core.errors import ValidationError
from brokerplane.core.money import currency
from brokerplane.core.trading.commands import ClosePosition, Execution, OpenPosition, QuoteInput
from brokerplane.core.trading.model import DealQuery, PositionFigures, Quote

router = APIRouter(route_class=NativeRoute, responses=COMMON_ERRORS)

MAX_ID = 2**63 - 1
# What the schema promises of ids, cursors and login lists; the handlers check them again.
ID = r"^[1-9][0-9]{0,18}$"
CURSOR = r"^[A-Za-z0-9_-]{1,64}$"
LOGINS = r"^ *[0-9]{1,19} *(, *[0-9]{1,19} *)*$"
_CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}
_NO_QUOTE: dict[int | str, dict[str, Any]] = {
    409: {**PROBLEM, "description": "Conflict: code trade.no_quote when no quote prices the "
          "symbol (or converts its profit currency); request.already_applied or "
          "request.in_flight for a reused request id (as the balance operations)"},
}  # fmt: skip
_ORDER_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {**PROBLEM, "description": "ValidationError: bad fields; trade.invalid_volume outside "
          "the symbol's min/max/step; ledger.insufficient_funds (figure free_margin) when the "
          "free margin would go negative"},
    403: {**PROBLEM, "description": "PermissionDenied: trade.disabled when the account's "
          "rights, its owner or the symbol's trade mode forbid the order; auth.missing_scope "
          "without trades:write"},
    404: {**PROBLEM, "description": "NotFound: the account, symbol or position"},
    **_NO_QUOTE,
}  # fmt: skip


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


def _csv(columns: Sequence[str], rows: Iterable[dict[str, Any]], filename: str) -> Response:
    writer = CsvOut()
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else safe_cell(row[c]) for c in columns])
    return Response(
        writer.take(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# ---- quotes ---------------------------------------------------------------------------------


def _quotes_answer(quotes: list[Quote]) -> tuple[int, dict[str, Any]]:
    newest: dict[str, Quote] = {}
    for q in quotes:
        if q.symbol not in newest or q.at >= newest[q.symbol].at:
            newest[q.symbol] = q
    return 200, {"items": [render_quote(newest[name]) for name in sorted(newest)]}


@router.put(
    "/quotes",
    response_model=QuoteList,
    responses=NOT_FOUND,
    summary="Set the bid and ask of symbols (a batch of 1 to 1000; quotes:write)",
    description="Prices are rounded to the symbol's digits. `time` is ISO 8601 (naive means "
    "UTC) or integer epoch milliseconds; absent means now. A quote older than the one held "
    "for its symbol is ignored. The answer lists the newest quote of each symbol sent, as "
    "checked. An unknown symbol (404) or a bad price (400) stores none of the batch.",
    tags=["trading"],
)
async def put_quotes(
    body: QuotesIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    items = [
        QuoteInput(q.symbol, q.bid, q.ask,
                   None if q.time is None else quote_time(q.time, f"quotes[{i}].time"))
        for i, q in enumerate(body.quotes)
    ]  # fmt: skip
    return await write(request, actor, partial(services(request).set_quotes, items),
                       _quotes_answer, scopes=("quotes:write",))  # fmt: skip


def _names(value: str | None) -> list[str] | None:
    if value is None or not value.strip():
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


@router.get(
    "/quotes",
    response_model=QuoteList,
    tags=["trading"],
    summary="The latest quote of every symbol, or of some (?symbol=EURUSD,XAUUSD)",
)
async def get_quotes(
    request: Request,
    actor: Actor = Depends(current_actor),
    symbol: str | None = Query(None, description="comma list of symbol names"),
) -> Response:
    found = await run_in_threadpool(services(request).list_quotes, actor, _names(symbol))
    return JSONResponse({"items": [render_quote(q) for q in found]})


# ---- orders ---------------------------------------------------------------------------------


def _executed(status: int) -> Any:
    def render(ex: Execution) -> tuple[int, dict[str, Any]]:
        position = None
        if ex.position is not None:
            figs = {f.position.id: f for f in ex.risk.positions}
            if ex.position.id in figs:
                position = render_position(figs[ex.position.id])
        body = {"deal": render_deal(ex.deal), "position": position,
                "account": render_state(ex.risk.state())}  # fmt: skip
        return status, body

    return render


@router.post(
    "/positions",
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
    cmd = OpenPosition(login=body.login, symbol=body.symbol, side=body.side, volume=body.volume,
                       comment=body.comment)  # fmt: skip
    return await write(request, actor, partial(services(request).open_position, cmd),
                       _executed(201), scopes=("trades:write",))  # fmt: skip


@router.post(
    "/positions/{position_id}/close",
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
    cmd = ClosePosition(_id(position_id, "position_id"), body.volume if body else None,
                        body.comment if body else "")  # fmt: skip
    return await write(request, actor, partial(services(request).close_position, cmd),
                       _executed(200), scopes=("trades:write",))  # fmt: skip


# ---- positions and deals --------------------------------------------------------------------


def _logins(value: str | None) -> list[int] | None:
    names = _names(value)
    if names is None:
        return None
    if not all(n.isascii() and n.isdigit() and len(n) <= 19 for n in names):
        raise ValidationError.field("login", "must be a login or a comma list of logins")
    return [int(n) for n in names]


def _page(items: list[PositionFigures], limit: int) -> dict[str, Any]:
    last = [f.position for f in items]
    return {"items": [render_position(f) for f in items],
            "next_cursor": next_cursor("position", last, limit, "id")}  # fmt: skip


@router.get(
    "/positions",
    response_model=PositionPage,
    responses=_NO_QUOTE | NOT_FOUND,
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
    call = partial(services(request).list_positions, actor, logins=_logins(login), group=group,
                   symbol=symbol, after_id=_after("position", cursor), limit=limit)  # fmt: skip
    return JSONResponse(_page(await run_in_threadpool(call), limit))


@router.get(
    "/positions/{position_id}",
    response_model=PositionOut,
    responses=_NO_QUOTE | NOT_FOUND,
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
    query = DealQuery(login=login, position_id=position, time_from=parse_time("from", time_from),
                      time_to=parse_time("to", time_to), after_id=_after("deal", cursor),
                      limit=limit)  # fmt: skip
    page = await run_in_threadpool(services(request).list_deals, query, actor)
    return JSONResponse({"items": [render_deal(d) for d in page],
                         "next_cursor": next_cursor("deal", page, limit, "id")})  # fmt: skip


@router.get("/deals/{deal_id}", response_model=DealOut, responses=NOT_FOUND,
            summary="One deal", tags=["trading"])  # fmt: skip
async def get_deal(
    deal_id: str, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    found = await run_in_threadpool(services(request).get_deal, _id(deal_id, "deal_id"), actor)
    return JSONResponse(render_deal(found))


@router.get(
    "/users/{login}/trade-state",
    response_model=TradeStateOut,
    responses=_NO_QUOTE | NOT_FOUND,
    summary="Balance, credit, bonus, floating profit, margin, equity, free margin, margin level",
    tags=["trading"],
)
async def trade_state(
    request: Request, login: int = Path(ge=1, le=MAX_ID), actor: Actor = Depends(current_actor)
) -> Response:
    state = await run_in_threadpool(services(request).get_trade_state, login, actor)
    return JSONResponse(render_state(state))


# ---- reports --------------------------------------------------------------------------------


@router.get(
    "/reports/exposure",
    response_model=ExposureOut,
    responses={**_NO_QUOTE, **_CSV},
    summary="Net and gross exposure by symbol and group, with the clients' floating P/L",
    description="Needs reports:read. Lots, notional at the mid and client P/L in the report "
    "currency. CSV with `Accept: text/csv` or `?format=csv`: one row per line, with `level` "
    "line (symbol and group), symbol, group or total.",
    tags=["reports"],
)
async def report_exposure(
    request: Request,
    actor: Actor = Depends(current_actor),
    group: str | None = Query(None, description="group mask, e.g. demo\\*,!demo\\vip"),
    symbol: str | None = Query(None, description="symbol mask, e.g. EUR*,XAUUSD"),
    currency_code: str = Query(
        "USD", alias="currency", pattern="^[A-Za-z0-9]{1,8}$", description="the report currency"
    ),
    format: str | None = Query(None, pattern="^(json|csv)$", description="json (default) or csv"),
) -> Response:
    csv_wanted = wants_csv(request, format)
    call = partial(services(request).exposure, actor, group=group, symbol=symbol,
                   currency=currency_code)  # fmt: skip
    report = await run_in_threadpool(call)
    digits = currency(report.currency).digits
    levels = {"line": report.lines, "symbol": report.symbols, "group": report.groups,
              "total": [report.total]}  # fmt: skip
    if csv_wanted:
        rows = [{"level": level, "currency": report.currency, **render_exposure_line(x, digits)}
                for level, lines in levels.items() for x in lines]  # fmt: skip
        return _csv(EXPOSURE_COLUMNS, rows, "exposure.csv")
    body: dict[str, Any] = {"currency": report.currency}
    for key, level in (("lines", "line"), ("symbols", "symbol"), ("groups", "group")):
        body[key] = [render_exposure_line(x, digits) for x in levels[level]]
    body["total"] = render_exposure_line(report.total, digits)
    return JSONResponse(body)


@router.get(
    "/reports/margin-calls",
    response_model=MarginCallList,
    responses={**_NO_QUOTE, **_CSV},
    summary="Accounts at or below their group's margin-call level, lowest margin level first",
    description="Needs reports:read. CSV with `Accept: text/csv` or `?format=csv`.",
    tags=["reports"],
)
async def report_margin_calls(
    request: Request,
    actor: Actor = Depends(current_actor),
    format: str | None = Query(None, pattern="^(json|csv)$", description="json (default) or csv"),
) -> Response:
    csv_wanted = wants_csv(request, format)
    found = await run_in_threadpool(services(request).margin_calls, actor)
    rows = [render_margin_call(m) for m in found]
    if csv_wanted:
        return _csv(MARGIN_CALL_COLUMNS, rows, "margin-calls.csv")
    return JSONResponse({"items": rows})
