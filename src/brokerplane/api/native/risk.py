"""Native risk reports: exposure by symbol and the accounts at margin call or stop out, as JSON
or CSV; their wire shapes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from brokerplane.api.csvcells import CsvOut, safe_cell
from brokerplane.api.native.auth import current_actor
from brokerplane.api.native.trading import NO_QUOTE, decimal_str, format_lots, render_state
from brokerplane.api.native.wire import COMMON_ERRORS, NativeRoute, services, wants_csv
from brokerplane.core.actor import Actor
from brokerplane.core.money import currency
from brokerplane.core.trading.commands import ExposureLine, MarginStatus


class ExposureLineOut(BaseModel):
    symbol: str = Field(description='"*" in the per-group lines and the total')
    group: str = Field(description='"*" in the per-symbol lines and the total')
    accounts: int = Field(description="accounts holding open positions")
    positions: int
    buy_lots: str
    sell_lots: str
    net_lots: str = Field(description="bought less sold")
    gross_lots: str = Field(description="bought and sold added")
    net_notional: str = Field(description="net volume x contract size x mid, report currency")
    gross_notional: str
    client_profit: str = Field(description="the clients' floating P/L, report currency")


class ExposureOut(BaseModel):
    currency: str = Field(description="the report currency")
    lines: list[ExposureLineOut] = Field(description="by symbol and group")
    symbols: list[ExposureLineOut] = Field(description="by symbol, every group")
    groups: list[ExposureLineOut] = Field(description="by group, every symbol")
    total: ExposureLineOut


EXPOSURE_COLUMNS = ("level", *ExposureLineOut.model_fields, "currency")


def render_exposure_line(line: ExposureLine, digits: int) -> dict[str, Any]:
    def lots_text(value: Decimal) -> str:
        return format_lots(int(value.scaleb(4)))

    return {
        "symbol": line.symbol,
        "group": line.group,
        "accounts": line.accounts,
        "positions": line.positions,
        "buy_lots": lots_text(line.buy_lots),
        "sell_lots": lots_text(line.sell_lots),
        "net_lots": lots_text(line.net_lots),
        "gross_lots": lots_text(line.gross_lots),
        "net_notional": decimal_str(line.net_notional, digits),
        "gross_notional": decimal_str(line.gross_notional, digits),
        "client_profit": decimal_str(line.client_profit, digits),
    }


class MarginCallOut(BaseModel):
    login: int
    group: str
    currency: str
    balance: str
    credit: str
    equity: str
    margin: str
    free_margin: str
    margin_level: str = Field(description="equity / margin in %")
    margin_call: str = Field(description="the group's margin-call level, %")
    stop_out: str = Field(description="the group's stop-out level, %")
    state: str = Field(description="margin_call, or stop_out at or below the stop-out level")


class MarginCallList(BaseModel):
    items: list[MarginCallOut]


MARGIN_CALL_COLUMNS = tuple(MarginCallOut.model_fields)


def render_margin_call(m: MarginStatus) -> dict[str, Any]:
    state = render_state(m.risk.state())
    return {
        "login": state["login"],
        "group": m.group.name,
        "currency": state["currency"],
        **{k: state[k] for k in ("balance", "credit", "equity", "margin", "free_margin")},
        "margin_level": decimal_str(m.level, 2),
        "margin_call": decimal_str(m.group.margin_call, 2),
        "stop_out": decimal_str(m.group.stop_out, 2),
        "state": m.state,
    }


router = APIRouter(route_class=NativeRoute, responses=COMMON_ERRORS)


_CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}


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


@router.get(
    "/reports/exposure",
    response_model=ExposureOut,
    responses={**NO_QUOTE, **_CSV},
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
    call = partial(
        services(request).exposure, actor, group=group, symbol=symbol, currency=currency_code
    )
    report = await run_in_threadpool(call)
    digits = currency(report.currency).digits
    levels = {
        "line": report.lines,
        "symbol": report.symbols,
        "group": report.groups,
        "total": [report.total],
    }
    if csv_wanted:
        rows = [
            {"level": level, "currency": report.currency, **render_exposure_line(x, digits)}
            for level, lines in levels.items()
            for x in lines
        ]
        return _csv(EXPOSURE_COLUMNS, rows, "exposure.csv")
    body: dict[str, Any] = {"currency": report.currency}
    for key, level in (("lines", "line"), ("symbols", "symbol"), ("groups", "group")):
        body[key] = [render_exposure_line(x, digits) for x in levels[level]]
    body["total"] = render_exposure_line(report.total, digits)
    return JSONResponse(body)


@router.get(
    "/reports/margin-calls",
    response_model=MarginCallList,
    responses={**NO_QUOTE, **_CSV},
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
