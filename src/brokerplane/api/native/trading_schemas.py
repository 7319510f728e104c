"""Wire shapes of the native trading API (quotes, orders, positions, deals, risk reports) and
their rendering.

Prices are decimal strings at the symbol's digits, volumes decimal strings in lots, money
decimal strings in the account's (or the report's) currency, times ISO 8601 in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from brokerplane.api.native.schemas import iso
from brokerplane.core.account.model import TradeState
from brokerplane.core.errors import ValidationError
from brokerplane.core.money import Currency, format_minor
from brokerplane.core.trading.commands import ExposureLine, MarginStatus
from brokerplane.core.trading.model import Deal, PositionFigures, Quote, lots, price_of

Number = StrictStr | StrictInt | StrictFloat

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


def format_lots(volume: int) -> str:
    """Volume units as lots with at least two decimals: 1000 -> "0.10", 15 -> "0.0015"."""
    value = lots(volume)
    two = value.quantize(Decimal("0.01"))
    return str(two) if two == value else str(value.normalize())


def _decimal_str(value: Decimal, digits: int) -> str:
    return str(value.quantize(Decimal(1).scaleb(-digits)))


# ---- quotes ---------------------------------------------------------------------------------


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
            "example": {"quotes": [{"symbol": "EURUSD", "bid": "1.10000", "ask": "1.10020",
                                    "time": "2030-01-02T10:00:00Z"}]}
        },
    )  # fmt: skip
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


# ---- orders, positions, deals ---------------------------------------------------------------


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
        **{name: _decimal_str(getattr(s, name), digits)
           for name in ("balance", "credit", "bonus", "profit", "equity", "margin")},
        "free_margin": _decimal_str(s.margin_free, digits),
        "margin_level": _decimal_str(s.margin_level, 2),
    }  # fmt: skip


# ---- reports --------------------------------------------------------------------------------


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
        "net_notional": _decimal_str(line.net_notional, digits),
        "gross_notional": _decimal_str(line.gross_notional, digits),
        "client_profit": _decimal_str(line.client_profit, digits),
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
        "margin_level": _decimal_str(m.level, 2),
        "margin_call": _decimal_str(m.group.margin_call, 2),
        "stop_out": _decimal_str(m.group.stop_out, 2),
        "state": m.state,
    }
