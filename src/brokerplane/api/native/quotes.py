"""Native quotes (`/quotes`): set and read the latest prices; their wire shapes. Prices are
decimal strings at the symbol's digits, times ISO 8601 in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from brokerplane.api.native.auth import current_actor
from brokerplane.api.native.trading import Number, comma_list
from brokerplane.api.native.wire import (
    COMMON_ERRORS,
    NOT_FOUND,
    NativeRoute,
    iso,
    scoped,
    services,
    write,
)
from brokerplane.core.actor import Actor
from brokerplane.core.errors import ValidationError
from brokerplane.core.trading.commands import QuoteInput
from brokerplane.core.trading.model import Quote

QUOTE_TIME_DOC = (
    "when the quote was made: an ISO 8601 string (naive means UTC) or an integer of "
    "milliseconds since the Unix epoch; absent means now"
)
# Epoch milliseconds from 1970 to the year 9999, the range a datetime holds.
_MAX_EPOCH_MS = 253_402_300_799_999


def quote_time(value: object, field: str) -> datetime:
    """A quote's time: ISO 8601 text (naive means UTC) or integer epoch milliseconds (also as
    digits in text, as a feed line carries it)."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= _MAX_EPOCH_MS:
            raise ValidationError.field(field, "is out of range for epoch milliseconds")
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError.field(
                field, "must be an ISO 8601 time or epoch milliseconds"
            ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValidationError.field(field, "must be an ISO 8601 time or epoch milliseconds")


class QuoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: StrictStr = Field(min_length=1, max_length=31, examples=["EURUSD"])
    bid: Number = Field(description="decimal string (or number), > 0", examples=["1.10000"])
    ask: Number = Field(description="decimal string (or number), >= bid", examples=["1.10020"])
    time: StrictStr | StrictInt | None = Field(None, description=QUOTE_TIME_DOC)


class QuotesIn(BaseModel):
    """A batch of 1 to 1000 quotes; for each symbol the newest is kept, and a quote older than
    the one already held is ignored."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "quotes": [
                    {
                        "symbol": "EURUSD",
                        "bid": "1.10000",
                        "ask": "1.10020",
                        "time": "2030-01-02T10:00:00Z",
                    }
                ]
            }
        },
    )
    quotes: list[QuoteIn] = Field(min_length=1, max_length=1000)


class QuoteOut(BaseModel):
    symbol: str
    bid: str = Field(description="at the symbol's digits", examples=["1.10000"])
    ask: str = Field(examples=["1.10020"])
    time: datetime


class QuoteList(BaseModel):
    items: list[QuoteOut]


def render_quote(q: Quote) -> dict[str, Any]:
    return {"symbol": q.symbol, "bid": str(q.bid), "ask": str(q.ask), "time": iso(q.at)}


router = APIRouter(route_class=NativeRoute, responses=COMMON_ERRORS)


def _quotes_answer(quotes: list[Quote]) -> tuple[int, dict[str, Any]]:
    newest: dict[str, Quote] = {}
    for q in quotes:
        if q.symbol not in newest or q.at >= newest[q.symbol].at:
            newest[q.symbol] = q
    return 200, {"items": [render_quote(newest[name]) for name in sorted(newest)]}


@router.put(
    "/quotes",
    openapi_extra=scoped(QuoteInput),
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
        QuoteInput(
            q.symbol,
            q.bid,
            q.ask,
            None if q.time is None else quote_time(q.time, f"quotes[{i}].time"),
        )
        for i, q in enumerate(body.quotes)
    ]
    return await write(
        request,
        actor,
        partial(services(request).set_quotes, items),
        _quotes_answer,
    )


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
    found = await run_in_threadpool(services(request).list_quotes, actor, comma_list(symbol))
    return JSONResponse({"items": [render_quote(q) for q in found]})
