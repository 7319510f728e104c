"""MT5 symbols: `symbol/total|next|get|get_group|list` and `symbol/add|delete`, rendering
brokerplane's Symbol as MT5's symbol object (spec §4.5; the reads' rules are groups.py's)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from brokerplane.api.mt5.errors import ERR_PARAMS, Mt5Error
from brokerplane.api.mt5.groups import (
    _MT5_WEEK,
    DAY_MINUTES,
    LOT,
    LOT_EXT,
    SYMBOL_TEXTS,
    SYMBOL_VOLUMES,
    TRADE_MODE,
    TRADE_MODE_NAMES,
    WEEK_DAYS,
    _decimal,
    group_in_reach,
    required_name,
)
from brokerplane.api.mt5.wire import (
    Answer,
    Context,
    Params,
    capped_list,
    command,
    mask_param,
    name_param,
    next_of,
)
from brokerplane.core.errors import SymbolNotFound
from brokerplane.core.money import KNOWN_DIGITS
from brokerplane.core.symbol.commands import CreateSymbol, DeleteSymbol, UpdateSymbol
from brokerplane.core.symbol.model import Symbol, session_minutes


def _volume(value: Decimal, scale: int) -> int:
    return int(value * scale)


def symbol_object(symbol: Symbol) -> dict[str, Any]:
    """A brokerplane Symbol as MT5's symbol object (scalars become strings when answered)."""
    point = Decimal(1).scaleb(-symbol.digits)
    return {
        "Symbol": symbol.name,
        "Path": symbol.path,
        "ISIN": symbol.isin,
        "CFI": "",
        "Category": "",
        "Exchange": "",
        "Description": symbol.description,
        "International": symbol.description,
        "Sector": 0,
        "Industry": 0,
        "Country": "",
        "Basis": "",
        "Source": "",
        "Page": "",
        "CurrencyBase": symbol.currency_base,
        "CurrencyBaseDigits": KNOWN_DIGITS.get(symbol.currency_base, 2),
        "CurrencyProfit": symbol.currency_profit,
        "CurrencyProfitDigits": KNOWN_DIGITS.get(symbol.currency_profit, 2),
        "CurrencyMargin": symbol.currency_margin,
        "CurrencyMarginDigits": KNOWN_DIGITS.get(symbol.currency_margin, 2),
        "Color": 0,
        "ColorBackground": 0,
        "Digits": symbol.digits,
        "Point": point,
        "Multiply": 10**symbol.digits,
        "TickFlags": 0,
        "TickBookDepth": 0,
        "TickChartMode": 0,
        "SubscriptionsDelay": 0,
        "FilterSoft": 0,
        "FilterSoftTicks": 0,
        "FilterHard": 0,
        "FilterHardTicks": 0,
        "FilterDiscard": 0,
        "FilterSpreadMax": 0,
        "FilterSpreadMin": 0,
        "FilterGap": 0,
        "FilterGapTicks": 0,
        "TradeMode": TRADE_MODE.get(symbol.trade_mode, 0),
        "TradeFlags": 0,
        "CalcMode": 0,  # TRADE_MODE_FOREX
        "ExecMode": 0,
        "GTCMode": 0,
        "FillFlags": 0,
        "ExpirFlags": 0,
        "OrderFlags": 0,
        "Spread": symbol.spread,
        "SpreadBalance": 0,
        "SpreadDiff": 0,
        "SpreadDiffBalance": 0,
        "TickValue": symbol.contract_size * point,
        "TickSize": point,
        "ContractSize": symbol.contract_size,
        "StopsLevel": symbol.stops_level,
        "FreezeLevel": 0,
        "QuotesTimeout": 0,
        "VolumeMin": _volume(symbol.volume_min, LOT),
        "VolumeMinExt": _volume(symbol.volume_min, LOT_EXT),
        "VolumeMax": _volume(symbol.volume_max, LOT),
        "VolumeMaxExt": _volume(symbol.volume_max, LOT_EXT),
        "VolumeStep": _volume(symbol.volume_step, LOT),
        "VolumeStepExt": _volume(symbol.volume_step, LOT_EXT),
        "VolumeLimit": 0,
        "VolumeLimitExt": 0,
        "MarginFlags": 0,
        "MarginInitial": 0,
        "MarginMaintenance": 0,
        "MarginInitialBuy": 1,
        "MarginInitialSell": 1,
        "MarginInitialBuyLimit": 0,
        "MarginInitialSellLimit": 0,
        "MarginInitialBuyStop": 0,
        "MarginInitialSellStop": 0,
        "MarginInitialBuyStopLimit": 0,
        "MarginInitialSellStopLimit": 0,
        "MarginMaintenanceBuy": 0,
        "MarginMaintenanceSell": 0,
        "MarginMaintenanceBuyLimit": 0,
        "MarginMaintenanceSellLimit": 0,
        "MarginMaintenanceBuyStop": 0,
        "MarginMaintenanceSellStop": 0,
        "MarginMaintenanceBuyStopLimit": 0,
        "MarginMaintenanceSellStopLimit": 0,
        "MarginLiquidity": 0,
        "MarginHedged": 0,
        "MarginCurrency": 0,
        # SWAP_BY_POINTS when a swap is set, else SWAP_DISABLED
        "SwapMode": 1 if symbol.swap_long or symbol.swap_short else 0,
        "SwapLong": symbol.swap_long,
        "SwapShort": symbol.swap_short,
        "Swap3Day": 3,
        "SwapYearDay": 365,
        "TimeStart": 0,
        "TimeExpiration": 0,
        "SessionsQuotes": week_sessions(symbol.sessions),
        "SessionsTrades": week_sessions(symbol.sessions),
        "REFlags": 0,
        "RETimeout": 0,
        "IEFlags": 0,
        "IECheckMode": 0,
        "IETimeout": 0,
        "IESlipProfit": 0,
        "IESlipLosing": 0,
        "IEVolumeMax": 0,
        "IEVolumeMaxExt": 0,
        "PriceSettle": 0,
        "PriceLimitMax": 0,
        "PriceLimitMin": 0,
        "PriceStrike": 0,
        "OptionMode": 0,
        "FaceValue": 0,
        "AccruedInterest": 0,
        "SpliceType": 0,
        "SpliceTimeType": 0,
        "SpliceTimeDays": 0,
    }


def _session(start: int, end: int) -> dict[str, Any]:
    return {
        "Open": start,
        "OpenHours": start // 60,
        "OpenMinutes": start % 60,
        "Close": end,
        "CloseHours": end // 60,
        "CloseMinutes": end % 60,
    }


def week_sessions(sessions: dict[str, list[str]] | None = None) -> list[list[dict[str, Any]]]:
    """The symbol's sessions (core: weekday -> "HH:MM-HH:MM"), Sunday first; none set: the
    whole of every day."""
    if sessions is None:
        return [[_session(0, DAY_MINUTES)] for _ in range(WEEK_DAYS)]
    week = []
    for day in _MT5_WEEK:
        spans = (session_minutes(i) for i in sessions.get(day, []))
        week.append([_session(*span) for span in spans if span is not None])
    return week


# ---- symbols ----------------------------------------------------------------------------------


@command("symbol/total")
def symbol_total(ctx: Context) -> Answer:
    return Answer({"Total": len(ctx.services.list_symbols(ctx.actor))})


@command("symbol/next")
def symbol_next(ctx: Context) -> Answer:
    return next_of(ctx.params, ctx.services.list_symbols(ctx.actor), symbol_object)


@command("symbol/get")
def symbol_get(ctx: Context) -> Answer:
    name = name_param(ctx.params, "symbol")
    if name is not None:
        return Answer(symbol_object(ctx.services.get_symbol(name, ctx.actor)))
    symbols = ctx.services.list_symbols(ctx.actor, mask_param(ctx.params))
    return capped_list(symbols, symbol_object)


@command("symbol/get_group")
def symbol_get_group(ctx: Context) -> Answer:
    name = name_param(ctx.params, "symbol")
    group = name_param(ctx.params, "group")
    if name is None or group is None:
        raise Mt5Error(ERR_PARAMS, "symbol and group are required")
    group_in_reach(ctx, group)
    return Answer(symbol_object(ctx.services.get_symbol(name, ctx.actor)))


@command("symbol/list")
def symbol_list(ctx: Context) -> Answer:
    return Answer([s.name for s in ctx.services.list_symbols(ctx.actor)])


def symbol_settings(params: Params) -> dict[str, Any]:
    """The core settings an MT5 symbol object names."""
    out: dict[str, Any] = {}
    for mt5_name, setting in SYMBOL_TEXTS.items():
        text = params.text(mt5_name)
        if text is not None and text.strip():
            out[setting] = text.strip()
    digits = params.integer("Digits")
    if digits is not None:
        out["digits"] = digits
    contract = _decimal(params, "ContractSize")
    if contract is not None:
        out["contract_size"] = contract
    mode = params.integer("TradeMode")
    if mode is not None:
        if mode not in TRADE_MODE_NAMES:
            raise Mt5Error(ERR_PARAMS, "TradeMode must be 0 to 4")
        out["trade_mode"] = TRADE_MODE_NAMES[mode]
    for mt5_name, setting in SYMBOL_VOLUMES.items():
        ext = params.integer(mt5_name + "Ext", low=0)
        plain = params.integer(mt5_name, low=0)
        if ext:
            out[setting] = Decimal(ext) / LOT_EXT
        elif plain:
            out[setting] = Decimal(plain) / LOT
    return out


@command("symbol/add")
def symbol_add(ctx: Context) -> Answer:
    p = ctx.params
    name = required_name(p, "Symbol")
    settings = symbol_settings(p)
    try:
        ctx.services.get_symbol(name, ctx.actor)
    except SymbolNotFound:
        return Answer(
            symbol_object(ctx.services.create_symbol(CreateSymbol(name, settings), ctx.actor))
        )
    return Answer(
        symbol_object(ctx.services.update_symbol(UpdateSymbol(name, settings), ctx.actor))
    )


@command("symbol/delete")
def symbol_delete(ctx: Context) -> Answer:
    ctx.services.delete_symbol(DeleteSymbol(required_name(ctx.params, "symbol")), ctx.actor)
    return Answer()
