"""MT5 dealer requests and prices: `dealer/send_request`, `dealer/get_request_result`,
`tick/last` and `tick/last_group`.

`dealer/send_request` takes an IMTRequest as a JSON body (or the same names as query or form
parameters, any case) and executes it at once at the current quote through the core:
- `Action` 200 (TA_DEALER_POS_EXECUTE) is the only action executed; any other (pending orders,
  modifications, close-by: 201-208, or a client action) is 10013 Invalid request.
- `Login` the account; `Type` 0 buy / 1 sell (another order type is 10013); `Symbol`.
- `Volume` in 1/10000 lot, or `VolumeExt` in 1/10^8 lot (used when given and not 0). Zero,
  negative, off the symbol's step or more precise than 1/10000 lot is 10014 Invalid volume.
- `Position` (a ticket): close that position, or `Volume` of it (a partial close); it must be
  the `Login`'s (and the `Symbol`'s, when given), else 13; `Type`, when given, must be the
  closing side (a sell closes a buy), else 10013. Without `Position` the order opens a position
  on a hedged account and nets against the symbol's position on a netted one.
- `PriceOrder` is ignored: a market execution fills at the current quote (buys at the ask,
  sells at the bid), as brokerplane has no requotes or deviation. `TypeFill`, `Digits`,
  `Flags`, `PriceSL` and `PriceTP` are ignored too (brokerplane keeps no stops).
- `Comment`: up to 31 characters, longer is cut.

MT5 answers a request id at once and reports the execution later through
`dealer/get_request_result`. brokerplane executes before answering, so a refusal is the
request's own retcode (8 without trades:write, 10014, 10017 Trade disabled, 10019 Not enough
money, 10021 No prices, 13 unknown account, symbol or position, 3 malformed), and success is
`0 Done` with the answer `{"ID", "id", "result"}`: the request id under both spellings clients
read (MetaQuotes' documentation writes `ID`, the clients in use read `id`), and the IMTConfirm
of the execution. The request id is the deal ticket, so `dealer/get_request_result?id=` answers
`{"<id>": [{"result": IMTConfirm}, {"answer": IMTRequest}]}` for it on any connection, any time
later; ids that are no trade deal in the manager's reach are left out, and without `id` the
answer is `{}` (nothing pending). In the confirmation `Retcode` / `ResultRetcode` is 10009
(request executed), `DealID` = `OrderID` = `ResultDeal` = `ResultOrder` = the deal ticket,
`Price` = `ResultPrice` the fill price, `Volume`/`VolumeExt` what filled; brokerplane keeps the
fill price, not the whole tick, so the tick and dealer price fields read 0.

`tick/last?symbol=` (names or masks, comma-separated) answers the latest quote of each quoted
symbol it matches as `{"Symbol", "Digits", "Datetime", "DatetimeMsc", "Bid", "Ask", "Last",
"Volume", "VolumeReal"}` with a top-level `trans_id`: the newest quote time (milliseconds) of
the symbols asked for. Sending it back as `trans_id` answers only the quotes newer than it (an
empty list when none changed). A mask matching no quoted symbol is 13. `tick/last_group` takes
a `group` as well (13 when missing or out of reach) and answers the same prices: brokerplane
has no per-group spreads.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from brokerplane.api.mt5.changes import MAX_TICKET
from brokerplane.api.mt5.deals import COMMENT_MAX, VOLUME_EXT, millis, side_code, unix
from brokerplane.api.mt5.errors import ERR_NOTFOUND, Mt5Error
from brokerplane.api.mt5.groups import group_in_reach
from brokerplane.api.mt5.wire import Answer, Context, Params, command
from brokerplane.core import masks
from brokerplane.core.errors import AccountNotFound, DealNotFound
from brokerplane.core.trading.commands import ClosePosition, OpenPosition, PositionOf
from brokerplane.core.trading.model import VOLUME_DIGITS, Deal, Quote

ACTION_EXECUTE = 200  # IMTRequest::TA_DEALER_POS_EXECUTE
REQUEST_DONE = 10009  # MT_RET_REQUEST_DONE
REQUEST_INVALID = 10013
VOLUME_EXT_DIGITS = 8
SIDES = {0: "buy", 1: "sell"}


def _volume(p: Params) -> Decimal | None:
    """The requested lots: VolumeExt when given and not 0, else Volume, else None."""
    ext = p.integer("VolumeExt")
    if ext:
        return Decimal(ext).scaleb(-VOLUME_EXT_DIGITS)
    units = p.integer("Volume")
    return None if units is None else Decimal(units).scaleb(-VOLUME_DIGITS)


def _side(p: Params) -> str | None:
    kind = p.integer("Type")
    if kind is None:
        return None
    if kind not in SIDES:
        raise Mt5Error(REQUEST_INVALID, "Type must be 0 (buy) or 1 (sell) for a market execution")
    return SIDES[kind]


def confirmation(d: Deal) -> dict[str, Any]:
    """IMTConfirm of an executed request (its id is the deal ticket)."""
    return {
        "ID": d.id,
        "DealID": d.id,
        "OrderID": d.id,
        "PositionExternalID": "",
        "Retcode": REQUEST_DONE,
        "ExternalRetcode": 0,
        "Volume": d.volume,
        "VolumeExt": d.volume * VOLUME_EXT,
        "Price": d.price_decimal,
        "PriceGateway": 0,
        "TickBid": 0,
        "TickAsk": 0,
        "TickLast": 0,
        "Flags": 0,
        "Comment": d.comment,
    }


def executed_request(d: Deal, group: str) -> dict[str, Any]:
    """IMTRequest of an executed request, with its Result* fields."""
    return {
        "ID": d.id,
        "Login": d.login,
        "ExternalAccount": "",
        "Group": group,
        "Symbol": d.symbol,
        "Digits": d.digits,
        "Action": ACTION_EXECUTE,
        "TimeExpiration": 0,
        "Type": side_code(d.side),
        "TypeFill": 0,
        "TypeTime": 0,
        "Flags": 0,
        "Volume": d.volume,
        "VolumeExt": d.volume * VOLUME_EXT,
        "Order": 0,
        "OrderExternalID": "",
        "PriceOrder": d.price_decimal,
        "PriceTrigger": 0,
        "PriceSL": 0,
        "PriceTP": 0,
        "PriceDeviation": 0,
        "PriceDeviationTop": 0,
        "PriceDeviationBottom": 0,
        "Comment": d.comment,
        "ResultRetcode": REQUEST_DONE,
        "ResultDealer": d.manager_login or 0,
        "ResultDeal": d.id,
        "ResultOrder": d.id,
        "ResultVolume": d.volume,
        "ResultVolumeExt": d.volume * VOLUME_EXT,
        "ResultPrice": d.price_decimal,
        "ResultDealerBid": 0,
        "ResultDealerAsk": 0,
        "ResultDealerLast": 0,
        "ResultMarketBid": 0,
        "ResultMarketAsk": 0,
        "ResultMarketLast": 0,
        "ResultComment": "",
        "IDClient": 0,
        "IP": "",
        "SourceLogin": d.manager_login or 0,
        "Position": 0 if d.entry == "in" else d.position_id,
        "PositionBy": 0,
        "PositionExternalID": "",
        "PositionByExternalID": "",
    }


def _close(ctx: Context, login: int, ticket: int, side: str | None, comment: str) -> Deal:
    p = ctx.params
    of = PositionOf(ticket, login, p.text("Symbol") or None)
    position = ctx.services.get_account_position(of, ctx.actor).position
    if side == position.side:
        raise Mt5Error(REQUEST_INVALID, "Type must be the side that closes the position")
    cmd = ClosePosition(ticket, _volume(p), comment)
    return ctx.services.close_position(cmd, ctx.actor).deal


@command("dealer/send_request")
def dealer_send_request(ctx: Context) -> Answer:
    p = ctx.params
    if p.require_integer("Action") != ACTION_EXECUTE:
        raise Mt5Error(REQUEST_INVALID, "only Action 200 (TA_DEALER_POS_EXECUTE) is executed")
    login = p.require_integer("Login", low=1)
    side = _side(p)
    comment = (p.text("Comment") or "")[:COMMENT_MAX]
    ticket = p.integer("Position", default=0, low=0, high=MAX_TICKET)
    if ticket:
        deal = _close(ctx, login, ticket, side, comment)
    else:
        if side is None:
            raise Mt5Error(REQUEST_INVALID, "Type is required to open a position")
        cmd = OpenPosition(login, p.require_text("Symbol"), side, _volume(p), comment)
        deal = ctx.services.open_position(cmd, ctx.actor).deal
    return Answer({"ID": deal.id, "id": deal.id, "result": confirmation(deal)})


@command("dealer/get_request_result")
def dealer_get_request_result(ctx: Context) -> Answer:
    results: dict[str, Any] = {}
    for ticket in ctx.params.logins("id") or []:
        try:
            deal = ctx.services.get_deal(ticket, ctx.actor)
            group = ctx.services.get_account(deal.login, ctx.actor).group
        except (DealNotFound, AccountNotFound):
            continue
        results[str(ticket)] = [
            {"result": confirmation(deal)},
            {"answer": executed_request(deal, group)},
        ]
    return Answer(results)


# ---- prices ---------------------------------------------------------------------------------


def render_tick(q: Quote) -> dict[str, Any]:
    digits = max(0, -int(q.bid.as_tuple().exponent))
    return {
        "Symbol": q.symbol,
        "Digits": digits,
        "Datetime": unix(q.at),
        "DatetimeMsc": millis(q.at),
        "Bid": q.bid,
        "Ask": q.ask,
        "Last": Decimal(0).scaleb(-digits),
        "Volume": 0,
        "VolumeReal": Decimal("0.00"),
    }


def _ticks(ctx: Context) -> Answer:
    mask = ctx.params.require_text("symbol")
    since = ctx.params.integer("trans_id", default=0, low=0) or 0
    wanted = masks.parse(mask, "symbol")
    chosen = [q for q in ctx.services.list_quotes(ctx.actor) if wanted.admits(q.symbol)]
    if not chosen:
        raise Mt5Error(ERR_NOTFOUND, f"no quoted symbol matches {mask[:64]}")
    newest = max(since, *(millis(q.at) for q in chosen))
    fresh = [render_tick(q) for q in chosen if millis(q.at) > since]
    return Answer(fresh, top={"trans_id": newest})


@command("tick/last")
def tick_last(ctx: Context) -> Answer:
    return _ticks(ctx)


@command("tick/last_group")
def tick_last_group(ctx: Context) -> Answer:
    group_in_reach(ctx, ctx.params.require_text("group"))
    return _ticks(ctx)
