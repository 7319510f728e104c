"""MT5 orders: none is ever open (orders execute at once); `order/*` and `history/*` answer
the history of filled orders."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any

from brokerplane.api.mt5 import newer
from brokerplane.api.mt5.deals import (
    DEAL_REASON_DEALER,
    MAX_TICKET,
    ORDER_STATE_FILLED,
    VOLUME_EXT,
    millis,
    page_of,
    side_code,
    time_window,
    unix,
)
from brokerplane.api.mt5.errors import ERR_NOTFOUND, Mt5Error
from brokerplane.api.mt5.positions import account_digits
from brokerplane.api.mt5.wire import Answer, Context, command
from brokerplane.core.trading.model import Deal, DealQuery

# ---- orders: none open; the history of filled orders -----------------------------------------


def render_order(d: Deal) -> dict[str, Any]:
    """The filled market order of a trade deal, as IMTOrder; every value a string."""
    return {
        "Order": d.id,
        "ExternalID": "",
        "Login": d.login,
        "Dealer": d.manager_login or 0,
        "Symbol": d.symbol,
        "Digits": d.digits,
        "DigitsCurrency": d.currency_digits,
        "ContractSize": d.contract_size.normalize(),
        "State": ORDER_STATE_FILLED,
        "Reason": DEAL_REASON_DEALER,
        "TimeSetup": unix(d.at),
        "TimeExpiration": 0,
        "TimeDone": unix(d.at),
        "TimeSetupMsc": millis(d.at),
        "TimeDoneMsc": millis(d.at),
        "ModifyFlags": 0,
        "Type": side_code(d.side),
        "TypeFill": 0,
        "TypeTime": 0,
        "PriceOrder": d.price_decimal,
        "PriceTrigger": 0,
        "PriceCurrent": d.price_decimal,
        "PriceSL": 0,
        "PriceTP": 0,
        "VolumeInitial": d.volume,
        "VolumeInitialExt": d.volume * VOLUME_EXT,
        "VolumeCurrent": 0,
        "VolumeCurrentExt": 0,
        "ExpertID": 0,
        "PositionID": d.position_id,
        "PositionByID": 0,
        "Comment": d.comment,
        "RateMargin": 0,
        "ActivationMode": 0,
        "ActivationTime": 0,
        "ActivationPrice": 0,
        "ActivationFlags": 0,
        **newer.order_fields(unix(d.at), 0, unix(d.at)),
    }


def _ticket(ctx: Context) -> int:
    return ctx.params.require_integer("ticket", "order", low=1, high=MAX_TICKET)


def _history(ctx: Context) -> Iterator[Deal]:
    login = ctx.params.require_integer("login", low=1)
    start, end = time_window(ctx)
    return ctx.services.iter_deals(DealQuery(login=login, time_from=start, time_to=end), ctx.actor)


@command("order/get")
def order_get(ctx: Context) -> Answer:
    _ticket(ctx)
    raise Mt5Error(ERR_NOTFOUND, "no open order: market orders fill at once")


@command("order/get_total")
def order_get_total(ctx: Context) -> Answer:
    account_digits(ctx, ctx.params.require_integer("login", low=1))
    return Answer({"Total": 0})


@command("order/get_page")
def order_get_page(ctx: Context) -> Answer:
    account_digits(ctx, ctx.params.require_integer("login", low=1))
    page_of(ctx)
    return Answer([])


@command("history/get")
def history_get(ctx: Context) -> Answer:
    return Answer(render_order(ctx.services.get_deal(_ticket(ctx), ctx.actor)))


@command("history/get_total")
def history_get_total(ctx: Context) -> Answer:
    return Answer({"Total": sum(1 for _ in _history(ctx))})


@command("history/get_page")
def history_get_page(ctx: Context) -> Answer:
    offset, count = page_of(ctx)
    return Answer([render_order(d) for d in islice(_history(ctx), offset, offset + count)])
