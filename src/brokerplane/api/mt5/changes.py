"""MT5 hand edits of trade records: `position/update|delete`, `deal/update|delete`,
`order/update|delete`.

The ticket is `ticket`, or the record's own field in the JSON body MT5 clients send (`Position`,
`Deal`, `Order`). brokerplane refuses every edit and delete of a deal (a ledger entry; a
correction is a new `trade/balance`) and of an open position (it changes only by deals: close
it with `dealer/send_request`); the core decides (core.trading.records) and the refusal is
`12002 Command doesn't supported` (MT_RET_ERR_NOTSUPPORTED, "the operation is not supported"),
after the checks MT5 makes first: a missing ticket is 3, a manager without the trade-write
right 8, a ticket that does not exist or is out of reach 13. Orders: a market order fills at
once, so there is never an open order to edit: 13 for any ticket.
"""

from __future__ import annotations

from brokerplane.api.mt5.errors import ERR_NOTFOUND, Mt5Error
from brokerplane.api.mt5.wire import Answer, Context, command
from brokerplane.core.trading.commands import ChangeTradeRecord

MAX_TICKET = 2**63 - 1


def _ticket(ctx: Context, own: str) -> int:
    return ctx.params.require_integer("ticket", own, low=1, high=MAX_TICKET)


def _refuse(ctx: Context, kind: str, own: str, *, delete: bool) -> Answer:
    ctx.services.change_trade_record(ChangeTradeRecord(kind, _ticket(ctx, own), delete), ctx.actor)
    return Answer()  # pragma: no cover - the core refuses every change


@command("position/update")
def position_update(ctx: Context) -> Answer:
    return _refuse(ctx, "position", "Position", delete=False)


@command("position/delete")
def position_delete(ctx: Context) -> Answer:
    return _refuse(ctx, "position", "Position", delete=True)


@command("deal/update")
def deal_update(ctx: Context) -> Answer:
    return _refuse(ctx, "deal", "Deal", delete=False)


@command("deal/delete")
def deal_delete(ctx: Context) -> Answer:
    return _refuse(ctx, "deal", "Deal", delete=True)


@command("order/update", "order/delete")
def order_change(ctx: Context) -> Answer:
    ticket = _ticket(ctx, "Order")
    ctx.actor.require_for(ChangeTradeRecord)
    raise Mt5Error(ERR_NOTFOUND, f"no open order {ticket}: market orders fill at once")
