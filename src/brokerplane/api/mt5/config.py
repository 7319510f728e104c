"""MT5 config commands: `group/total|next|get` and `symbol/total|next|get|get_group|list`,
rendering brokerplane's Group and Symbol as MT5's group and symbol objects (spec §4.4, §4.5).

Reads go through the core with the session's actor, so `users:read` (else `8`) and the
manager's group reach apply: a group out of reach is neither counted, listed nor found.

Decisions:
- An unknown group, and a group out of the manager's reach, are `13 Not found` in these
  read commands (the core's GroupNotFound is `8` elsewhere, as MT5's `user/add` answers 8 for
  a group that is missing or not permitted). A read that says "not found" does not tell a
  limited manager which groups exist outside its reach, and clients (mt5tk's `Exists`) take
  13 as "no such group".
- `next`: `index` is 0-based over the names in order; `count` absent, 0 or 1 gives one object,
  more gives an array of what exists from `index` on (at most MASK_LIMIT, then `14`); an index
  past the end is 13, a negative one 3.
- `get` with `mask`: always an array, at most MASK_LIMIT items, then `14 Partial error` with
  the first MASK_LIMIT. A name (`group=` / `symbol=`) wins over a mask.
- brokerplane has no per-group symbol settings: a group's `Symbols` is one entry for every
  symbol (`*`) with MT5's "default" markers, its `Commissions` one "no commission" entry, a
  symbol's sessions 00:00-24:00 every day (config_entries.py); `symbol/get_group` answers the
  symbol itself once both the symbol and the group are found.
- `MarginMode` follows the group's margin_mode: NET is MT5's retail netting (0), MAX and SUM
  are retail hedged (2); MAX also sets MARGIN_FLAGS_HEDGE_LARGE_LEG (4) in `MarginFlags`.
  `DemoLeverage` carries the group's default leverage. Settings brokerplane does not model
  (news, mail, reports, filters, swaps, execution) read as MT5's
  neutral values (0, "" or []).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from brokerplane.api.mt5 import config_entries as entries
from brokerplane.api.mt5.protocol import Answer, Context, Params, command
from brokerplane.api.mt5.retcodes import ERR_NOTFOUND, ERR_PARAMS, Mt5Error
from brokerplane.core.errors import GroupNotFound
from brokerplane.core.group.model import Group
from brokerplane.core.money import KNOWN_DIGITS
from brokerplane.core.symbol.model import Symbol

MASK_LIMIT = 5_000  # MT5 answers at most this many objects to a mask, then retcode 14
PARTIAL = 14
SERVER = "brokerplane"

T = TypeVar("T")

# brokerplane margin_mode -> MT5 EnMarginMode (0 retail netting, 1 exchange, 2 retail hedged)
MARGIN_MODE = {"NET": 0, "MAX": 2, "SUM": 2}
# brokerplane margin_mode -> MT5 EnMarginFlags (4 = hedged margin by the larger leg)
MARGIN_FLAGS = {"NET": 0, "MAX": 4, "SUM": 0}
# brokerplane trade_mode -> MT5 EnTradeMode
TRADE_MODE = {"DISABLED": 0, "LONGONLY": 1, "SHORTONLY": 2, "CLOSEONLY": 3, "FULL": 4}
LOT = 10_000  # MT5 `Volume*` fields: 1 lot = 10,000
LOT_EXT = 100_000_000  # MT5 `Volume*Ext` fields: 8 decimals


# ---- rendering --------------------------------------------------------------------------------


def group_object(group: Group) -> dict[str, Any]:
    """A brokerplane Group as MT5's group object (scalars become strings when answered)."""
    return {
        "Group": group.name,
        "Server": SERVER,
        "PermissionsFlags": group.permissions,
        "AuthMode": 0,  # AUTH_STANDARD: password
        "AuthPasswordMin": group.password_min_length,
        "AuthOTPMode": 0,
        "Company": group.company,
        "CompanyPage": "",
        "CompanyEmail": "",
        "CompanySupportPage": "",
        "CompanySupportEmail": "",
        "CompanyCatalog": "",
        "CompanyDepositURL": "",
        "CompanyWithdrawalURL": "",
        "Currency": group.currency,
        "CurrencyDigits": group.currency_digits,
        "ReportsMode": 0,
        "ReportsFlags": 0,
        "ReportsEmail": "",
        "NewsMode": 0,
        "NewsCategory": "",
        "NewsLangs": [],
        "MailMode": 0,
        "TradeFlags": 0,
        "TradeTransferMode": 0,
        "TradeInterestrate": 0,
        "TradeVirtualCredit": 0,
        "MarginMode": MARGIN_MODE.get(group.margin_mode, 2),
        "MarginFlags": MARGIN_FLAGS.get(group.margin_mode, 0),
        "MarginSOMode": 0,  # STOPOUT_PERCENT: MarginCall and MarginStopOut are percentages
        "MarginFreeMode": 1,  # FREE_MARGIN_USE_PL
        "MarginCall": group.margin_call,
        "MarginStopOut": group.stop_out,
        "MarginFreeProfitMode": 0,
        "DemoLeverage": group.default_leverage,
        "DemoDeposit": 0,
        "DemoTradesClean": 0,
        "LimitHistory": 0,
        "LimitOrders": 0,
        "LimitSymbols": 0,
        "LimitPositions": 0,
        "Commissions": entries.group_commissions(group),
        "Symbols": entries.group_symbols(),
    }


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
        "SessionsQuotes": entries.week_sessions(symbol.sessions),
        "SessionsTrades": entries.week_sessions(symbol.sessions),
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


# ---- parameters and shapes ------------------------------------------------------------------


def _name(params: Params, name: str) -> str | None:
    """A name parameter (`group=`, `symbol=`) with surrounding blanks removed; None if blank."""
    value = params.text(name)
    return value.strip() if value is not None and value.strip() else None


def _mask(params: Params) -> str:
    """The `mask` parameter (a comma list, or a JSON array of parts); 3 when absent or blank."""
    value = params.raw("mask")
    if isinstance(value, list):
        value = ",".join(str(part) for part in value)
    text = "" if value is None or isinstance(value, dict) else str(value)
    if not text.strip():
        raise Mt5Error(ERR_PARAMS, "give a name or a mask")
    return text.strip()


def _capped(items: Sequence[Any]) -> Answer:
    """At most MASK_LIMIT items; more are cut off and answered with `14 Partial error`."""
    if len(items) > MASK_LIMIT:
        return Answer(list(items[:MASK_LIMIT]), code=PARTIAL)
    return Answer(list(items))


def _next(params: Params, items: Sequence[T], render: Callable[[T], dict[str, Any]]) -> Answer:
    index = params.require_integer("index", low=0)
    count = params.integer("count", default=1, low=0)
    if index >= len(items):
        raise Mt5Error(ERR_NOTFOUND, f"no item at index {index}")
    if count is None or count <= 1:
        return Answer(render(items[index]))
    end = index + min(count, MASK_LIMIT)
    answer = _capped([render(item) for item in items[index:end]])
    if count > MASK_LIMIT and len(items) - index > MASK_LIMIT:
        answer.code = PARTIAL
    return answer


def _group(ctx: Context, name: str) -> Group:
    """The group by name; missing or out of reach is 13 in these reads (see module note)."""
    try:
        return ctx.services.get_group(name, ctx.actor)
    except GroupNotFound:
        raise Mt5Error(ERR_NOTFOUND, f"group {name} not found") from None


# ---- groups -----------------------------------------------------------------------------------


@command("group/total")
def group_total(ctx: Context) -> Answer:
    return Answer({"Total": len(ctx.services.list_groups(ctx.actor))})


@command("group/next")
def group_next(ctx: Context) -> Answer:
    return _next(ctx.params, ctx.services.list_groups(ctx.actor), group_object)


@command("group/get")
def group_get(ctx: Context) -> Answer:
    name = _name(ctx.params, "group")
    if name is not None:
        return Answer(group_object(_group(ctx, name)))
    groups = ctx.services.list_groups(ctx.actor, _mask(ctx.params))
    return _capped([group_object(g) for g in groups[: MASK_LIMIT + 1]])


# ---- symbols ----------------------------------------------------------------------------------


@command("symbol/total")
def symbol_total(ctx: Context) -> Answer:
    return Answer({"Total": len(ctx.services.list_symbols(ctx.actor))})


@command("symbol/next")
def symbol_next(ctx: Context) -> Answer:
    return _next(ctx.params, ctx.services.list_symbols(ctx.actor), symbol_object)


@command("symbol/get")
def symbol_get(ctx: Context) -> Answer:
    name = _name(ctx.params, "symbol")
    if name is not None:
        return Answer(symbol_object(ctx.services.get_symbol(name, ctx.actor)))
    symbols = ctx.services.list_symbols(ctx.actor, _mask(ctx.params))
    return _capped([symbol_object(s) for s in symbols[: MASK_LIMIT + 1]])


@command("symbol/get_group")
def symbol_get_group(ctx: Context) -> Answer:
    name = _name(ctx.params, "symbol")
    group = _name(ctx.params, "group")
    if name is None or group is None:
        raise Mt5Error(ERR_PARAMS, "symbol and group are required")
    _group(ctx, group)
    return Answer(symbol_object(ctx.services.get_symbol(name, ctx.actor)))


@command("symbol/list")
def symbol_list(ctx: Context) -> Answer:
    return Answer([s.name for s in ctx.services.list_symbols(ctx.actor)])
