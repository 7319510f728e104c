"""MT5 groups: `group/total|next|get` and `group/add|delete`.

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
  symbol's sessions 00:00-24:00 every day (below, and symbols.py); `symbol/get_group` answers the
  symbol itself once both the symbol and the group are found.
- `MarginMode` follows the group's margin_mode: NET is MT5's retail netting (0), MAX and SUM
  are retail hedged (2); MAX also sets MARGIN_FLAGS_HEDGE_LARGE_LEG (4) in `MarginFlags`.
  `DemoLeverage` carries the group's default leverage. Settings brokerplane does not model
  (news, mail, reports, filters, swaps, execution) read as MT5's
  neutral values (0, "" or []).

Writes: `group/add` and `symbol/add` take the object as MT5 sends it (a JSON body, or the same
names as query parameters) and, as MT5's GroupAdd/SymbolAdd do, add the configuration or
update the one of that name; the answer is the object as `group/get` / `symbol/get` would give
it. Fields the core keeps are applied; the rest of MT5's object (news, reports, sessions,
commissions, ...) is not kept and is ignored, as MT5 ignores server-side fields it does not
take.

Group fields: `Group` (required), `Currency` (default the server currency; changing the currency
of a group with accounts is 3010), `CurrencyDigits`, `Company`, `AuthPasswordMin`,
`PermissionsFlags`, `MarginCall`, `MarginStopOut`, `DemoLeverage` (the default leverage),
`MarginMode` 0 (retail netting: NET) or 2 (retail hedged: MAX when `MarginFlags` has 4, else
SUM); 1 (exchange) is not modelled: 3.
Symbol fields: `Symbol` (required), `Path`, `Description`, `ISIN`, `Digits`, `ContractSize`,
`CurrencyBase`, `CurrencyProfit`, `CurrencyMargin`, `TradeMode` (0 disabled .. 4 full),
`VolumeMin|Max|Step` (1/10000 lot) or their `...Ext` forms (1/10^8 lot, which win).

Deleting: `group/delete?group=` and `symbol/delete?symbol=` answer the retcode only: 13 when
absent (or, for a group, out of reach), 2003 (MT_RET_CFG_NOT_EMPTY) while accounts (deleted
ones too: their ledger names the group) or users are in the group, or positions are open on the
symbol. Rights: `admin`, else 8; a symbol needs unlimited reach, a group a reach covering it
(else 8)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

from brokerplane.api.mt5.errors import ERR_NOTFOUND, ERR_PARAMS, Mt5Error
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
from brokerplane.core.errors import GroupNotFound
from brokerplane.core.group.commands import CreateGroup, DeleteGroup, UpdateGroup
from brokerplane.core.group.model import Group
from brokerplane.core.money import parse_decimal

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
        "Commissions": group_commissions(group),
        "Symbols": group_symbols(),
    }


DEFAULT_UINT = 0xFFFFFFFF
DEFAULT_INT = 0x7FFFFFFF
DEFAULT_UINT64 = 0xFFFFFFFFFFFFFFFF
DEFAULT_DOUBLE = "1.7976931348623157e+308"
DAY_MINUTES = 1440
WEEK_DAYS = 7

_GROUP_SYMBOL_UINT = (
    "TradeMode",
    "ExecMode",
    "FillFlags",
    "ExpirFlags",
    "OrderFlags",
    "MarginFlags",
    "SwapMode",
    "RETimeout",
    "IEFlags",
    "IECheckMode",
    "IETimeout",
    "PermissionsFlags",
    "BookDepthLimit",
)
_GROUP_SYMBOL_INT = (
    "SpreadDiff",
    "SpreadDiffBalance",
    "StopsLevel",
    "FreezeLevel",
    "Swap3Day",
    "IESlipProfit",
    "IESlipLosing",
)
_GROUP_SYMBOL_UINT64 = (
    "VolumeMin",
    "VolumeMinExt",
    "VolumeMax",
    "VolumeMaxExt",
    "VolumeStep",
    "VolumeStepExt",
    "VolumeLimit",
    "VolumeLimitExt",
    "IEVolumeMax",
    "IEVolumeMaxExt",
)
_GROUP_SYMBOL_DOUBLE = (
    "MarginInitial",
    "MarginMaintenance",
    "MarginInitialBuy",
    "MarginInitialSell",
    "MarginInitialBuyLimit",
    "MarginInitialSellLimit",
    "MarginInitialBuyStop",
    "MarginInitialSellStop",
    "MarginInitialBuyStopLimit",
    "MarginInitialSellStopLimit",
    "MarginMaintenanceBuy",
    "MarginMaintenanceSell",
    "MarginMaintenanceBuyLimit",
    "MarginMaintenanceSellLimit",
    "MarginMaintenanceBuyStop",
    "MarginMaintenanceSellStop",
    "MarginMaintenanceBuyStopLimit",
    "MarginMaintenanceSellStopLimit",
    "MarginLiquidity",
    "MarginHedged",
    "MarginCurrency",
    "SwapLong",
    "SwapShort",
)


def group_symbols() -> list[dict[str, Any]]:
    entry: dict[str, Any] = {"Path": "*"}
    entry.update(dict.fromkeys(_GROUP_SYMBOL_UINT, DEFAULT_UINT))
    entry.update(dict.fromkeys(_GROUP_SYMBOL_INT, DEFAULT_INT))
    entry.update(dict.fromkeys(_GROUP_SYMBOL_UINT64, DEFAULT_UINT64))
    entry.update(dict.fromkeys(_GROUP_SYMBOL_DOUBLE, DEFAULT_DOUBLE))
    return [entry]


def group_commissions(group: Group) -> list[dict[str, Any]]:
    tier = {
        "Mode": 0,
        "Type": 0,
        "Value": 0,
        "Minimal": 0,
        "Maximal": 0,
        "RangeFrom": 0,
        "RangeTo": 0,
        "Currency": group.currency,
    }
    return [
        {
            "Name": "no commission",
            "Description": "brokerplane charges no commission",
            "Path": "*",
            "Mode": 0,
            "RangeMode": 0,
            "ChargeMode": 0,
            "TurnoverCurrency": group.currency,
            "EntryMode": 0,
            "Tiers": [tier],
        }
    ]


# MT5 lists a symbol's sessions by weekday from Sunday.
_MT5_WEEK = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def group_in_reach(ctx: Context, name: str) -> Group:
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
    return next_of(ctx.params, ctx.services.list_groups(ctx.actor), group_object)


@command("group/get")
def group_get(ctx: Context) -> Answer:
    name = name_param(ctx.params, "group")
    if name is not None:
        return Answer(group_object(group_in_reach(ctx, name)))
    groups = ctx.services.list_groups(ctx.actor, mask_param(ctx.params))
    return capped_list(groups, group_object)


MARGIN_FLAG_HEDGE_LARGE_LEG = 4
TRADE_MODE_NAMES = {code: name for name, code in TRADE_MODE.items()}

# MT5 group field -> core group setting (integers)
GROUP_INTEGERS = {
    "CurrencyDigits": "currency_digits",
    "AuthPasswordMin": "password_min_length",
    "PermissionsFlags": "permissions",
    "DemoLeverage": "default_leverage",
}
GROUP_DECIMALS = {"MarginCall": "margin_call", "MarginStopOut": "stop_out"}
GROUP_TEXTS = {"Company": "company"}
SYMBOL_TEXTS = {
    "Path": "path",
    "Description": "description",
    "ISIN": "isin",
    "CurrencyBase": "currency_base",
    "CurrencyProfit": "currency_profit",
    "CurrencyMargin": "currency_margin",
}
SYMBOL_VOLUMES = {"VolumeMin": "volume_min", "VolumeMax": "volume_max", "VolumeStep": "volume_step"}


def _decimal(params: Params, name: str) -> Decimal | None:
    raw = params.raw(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, (dict, list, bool)):
        raise Mt5Error(ERR_PARAMS, f"{name} must be a number")
    return parse_decimal(str(raw), name)


def _margin_mode(params: Params) -> str | None:
    mode = params.integer("MarginMode")
    if mode is None:
        return None
    if mode == 0:
        return "NET"
    if mode == 2:
        flags = params.integer("MarginFlags", default=0) or 0
        return "MAX" if flags & MARGIN_FLAG_HEDGE_LARGE_LEG else "SUM"
    raise Mt5Error(ERR_PARAMS, "MarginMode must be 0 (retail netting) or 2 (retail hedged)")


def group_settings(params: Params) -> dict[str, Any]:
    """The core settings an MT5 group object names."""
    out: dict[str, Any] = {}
    for mt5_name, setting in GROUP_INTEGERS.items():
        value = params.integer(mt5_name)
        if value is not None:
            out[setting] = value
    for mt5_name, setting in GROUP_DECIMALS.items():
        number = _decimal(params, mt5_name)
        if number is not None:
            out[setting] = number
    for mt5_name, setting in GROUP_TEXTS.items():
        text = params.text(mt5_name)
        if text is not None:
            out[setting] = text
    mode = _margin_mode(params)
    if mode is not None:
        out["margin_mode"] = mode
    return out


def required_name(params: Params, name: str) -> str:
    value = params.text(name)
    if value is None or not value.strip():
        raise Mt5Error(ERR_PARAMS, f"{name} is required")
    return value.strip()


@command("group/add")
def group_add(ctx: Context) -> Answer:
    p = ctx.params
    name = required_name(p, "Group")
    settings = group_settings(p)
    currency = p.text("Currency")
    try:
        ctx.services.get_group(name, ctx.actor)
    except GroupNotFound:
        code = (currency or "").strip() or ctx.services.config.server_currency
        group = ctx.services.create_group(CreateGroup(name, code, settings), ctx.actor)
        return Answer(group_object(group))
    if currency is not None and currency.strip():
        settings["currency"] = currency.strip()
    group = ctx.services.update_group(UpdateGroup(name, settings), ctx.actor)
    return Answer(group_object(group))


@command("group/delete")
def group_delete(ctx: Context) -> Answer:
    name = required_name(ctx.params, "group")
    try:
        ctx.services.delete_group(DeleteGroup(name), ctx.actor)
    except GroupNotFound:
        raise Mt5Error(ERR_NOTFOUND, f"group {name} not found") from None
    return Answer()
