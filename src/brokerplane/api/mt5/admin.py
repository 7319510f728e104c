"""MT5 configuration writes: `group/add|delete` and `symbol/add|delete`, translated to the core's
group and symbol commands (admin only; the core checks reach).

`group/add` and `symbol/add` take the object as MT5 sends it (a JSON body, or the same names as
query parameters) and, as MT5's GroupAdd/SymbolAdd do, add the configuration or update the one
of that name; the answer is the object as `group/get` / `symbol/get` would give it. Fields the
core keeps are applied; the rest of MT5's object (news, reports, sessions, commissions, ...) is
not kept and is ignored, as MT5 ignores server-side fields it does not take.

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
(else 8).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from brokerplane.api.mt5.config import LOT, LOT_EXT, TRADE_MODE, group_object, symbol_object
from brokerplane.api.mt5.protocol import Answer, Context, Params, command
from brokerplane.api.mt5.retcodes import ERR_NOTFOUND, ERR_PARAMS, Mt5Error
from brokerplane.core.errors import GroupNotFound, SymbolNotFound
from brokerplane.core.group.commands import CreateGroup, DeleteGroup, UpdateGroup
from brokerplane.core.money import parse_decimal
from brokerplane.core.symbol.commands import CreateSymbol, DeleteSymbol, UpdateSymbol

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


def _name(params: Params, name: str) -> str:
    value = params.text(name)
    if value is None or not value.strip():
        raise Mt5Error(ERR_PARAMS, f"{name} is required")
    return value.strip()


@command("group/add")
def group_add(ctx: Context) -> Answer:
    p = ctx.params
    name = _name(p, "Group")
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
    name = _name(ctx.params, "group")
    try:
        ctx.services.delete_group(DeleteGroup(name), ctx.actor)
    except GroupNotFound:
        raise Mt5Error(ERR_NOTFOUND, f"group {name} not found") from None
    return Answer()


@command("symbol/add")
def symbol_add(ctx: Context) -> Answer:
    p = ctx.params
    name = _name(p, "Symbol")
    settings = symbol_settings(p)
    try:
        ctx.services.get_symbol(name, ctx.actor)
    except SymbolNotFound:
        return Answer(symbol_object(ctx.services.create_symbol(CreateSymbol(name, settings),
                                                               ctx.actor)))  # fmt: skip
    return Answer(symbol_object(ctx.services.update_symbol(UpdateSymbol(name, settings),
                                                           ctx.actor)))  # fmt: skip


@command("symbol/delete")
def symbol_delete(ctx: Context) -> Answer:
    ctx.services.delete_symbol(DeleteSymbol(_name(ctx.params, "symbol")), ctx.actor)
    return Answer()
