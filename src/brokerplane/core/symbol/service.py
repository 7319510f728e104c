"""Symbol commands: create and update instrument settings; reads with masks."""

from __future__ import annotations

from dataclasses import fields, replace
from decimal import Decimal
from typing import Any

from brokerplane.core import masks
from brokerplane.core.access import reach
from brokerplane.core.actor import Actor
from brokerplane.core.audit.service import record
from brokerplane.core.clock import Clock
from brokerplane.core.errors import SymbolAlreadyExists, SymbolInUse, SymbolNotFound
from brokerplane.core.money import parse_decimal
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.symbol.commands import CreateSymbol, DeleteSymbol, ReadSymbol, UpdateSymbol
from brokerplane.core.symbol.model import TRADE_MODES, WEEKDAYS, Symbol, session_minutes
from brokerplane.core.trading.model import PositionQuery
from brokerplane.core.validate import Problems

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "EDITABLE_FIELDS",
    "MAX_POINTS",
    "MAX_SESSIONS",
    "MAX_SETTING",
    "MAX_SWAP",
    "SETTING_DECIMALS",
    "CreateSymbol",
    "DeleteSymbol",
    "UpdateSymbol",
    "create_symbol",
    "delete_symbol",
    "get_symbol",
    "list_symbols",
    "update_symbol",
]

_FIXED = {"id", "created_at", "updated_at"}
EDITABLE_FIELDS = tuple(f.name for f in fields(Symbol) if f.name not in _FIXED)
_DECIMALS = ("contract_size", "volume_min", "volume_max", "volume_step")
_SWAPS = ("swap_long", "swap_short")
MAX_POINTS = 100_000  # the largest spread or stops level, in points
MAX_SWAP = Decimal(10) ** 6  # the largest swap (either sign), points per lot per night
MAX_SESSIONS = 8  # intervals per weekday
MAX_SETTING = Decimal(10) ** 9  # the largest contract size or volume (in lots) a symbol takes
SETTING_DECIMALS = 8  # and its finest step


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for key in (*_DECIMALS, *_SWAPS):
        if key in out:
            out[key] = parse_decimal(out[key], key)
    if isinstance(out.get("sessions"), dict):
        out["sessions"] = {str(k).strip().upper(): v for k, v in out["sessions"].items()}
    for key in ("currency_base", "currency_profit", "currency_margin"):
        if isinstance(out.get(key), str):
            out[key] = out[key].strip().upper()
    if isinstance(out.get("trade_mode"), str):
        out["trade_mode"] = out["trade_mode"].upper()
    return out


def _check(symbol: Symbol) -> None:
    p = Problems()
    p.text("name", symbol.name, 31, required=True)
    p.text("path", symbol.path, 127)
    p.text("description", symbol.description, 127)
    p.text("isin", symbol.isin, 15)
    for key in ("currency_base", "currency_profit", "currency_margin"):
        p.text(key, getattr(symbol, key), 8, required=True)
    p.integer("digits", symbol.digits, 0, 10)
    p.choice("trade_mode", symbol.trade_mode, TRADE_MODES)
    for key in _DECIMALS:
        value = getattr(symbol, key)
        if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
            p.add(key, "must be positive")
        elif value > MAX_SETTING:
            p.add(key, f"must be at most {MAX_SETTING:f}")
        elif value != value.quantize(Decimal(1).scaleb(-SETTING_DECIMALS)):
            p.add(key, f"has more than {SETTING_DECIMALS} decimals")
    if p.items:
        p.raise_if_any()
    if symbol.volume_min > symbol.volume_max:
        p.add("volume_min", "must not exceed volume_max")
    p.integer("spread", symbol.spread, 0, MAX_POINTS)
    p.integer("stops_level", symbol.stops_level, 0, MAX_POINTS)
    for key in _SWAPS:
        value = getattr(symbol, key)
        if not isinstance(value, Decimal) or not value.is_finite() or abs(value) > MAX_SWAP:
            p.add(key, f"must be a number from -{MAX_SWAP:f} to {MAX_SWAP:f}")
        elif value != value.quantize(Decimal(1).scaleb(-SETTING_DECIMALS)):
            p.add(key, f"has more than {SETTING_DECIMALS} decimals")
    problem = _sessions_problem(symbol.sessions)
    if problem:
        p.add("sessions", problem)
    p.raise_if_any()


def _sessions_problem(sessions: object) -> str | None:
    """Why the sessions are not weekday -> ordered, non-overlapping "HH:MM-HH:MM" intervals."""
    if sessions is None:
        return None
    if not isinstance(sessions, dict):
        return 'must be an object: weekday -> ["HH:MM-HH:MM", ...]'
    for day, intervals in sessions.items():
        if day not in WEEKDAYS:
            return f"{str(day)[:10]!r} is not one of {', '.join(WEEKDAYS)}"
        if not isinstance(intervals, list) or len(intervals) > MAX_SESSIONS:
            return f"{day} must be a list of at most {MAX_SESSIONS} intervals"
        last = -1
        for interval in intervals:
            span = session_minutes(interval)
            if span is None:
                return f"{day}: each interval is HH:MM-HH:MM, opening before it closes"
            if span[0] < last:
                return f"{day}: intervals must be in order and must not overlap"
            last = span[1]
    return None


def _unknown(names: set[str]) -> None:
    p = Problems()
    for name in sorted(names):
        p.add(name, "is read-only" if name in _FIXED else "is not a symbol setting")
    p.raise_if_any()


def create_symbol(uow: UnitOfWork, cmd: CreateSymbol, actor: Actor, clock: Clock) -> Symbol:
    """Symbols are shared by every group: creating one needs admin with unlimited reach."""
    actor.require_for(cmd)
    reach.require_unlimited(actor, "a symbol")
    _unknown(set(cmd.settings) - set(EDITABLE_FIELDS))
    settings = _coerce({k: v for k, v in cmd.settings.items() if k != "name"})
    base = str(settings.get("currency_base", cmd.name[:3])).upper()
    profit = str(settings.get("currency_profit", cmd.name[3:6] or base)).upper()
    settings.setdefault("currency_base", base)
    settings.setdefault("currency_profit", profit)
    settings.setdefault("currency_margin", base)
    settings.setdefault("path", cmd.name)
    symbol = Symbol(name=cmd.name.strip(), **settings)
    _check(symbol)
    if uow.symbols.get(symbol.name) is not None:
        raise SymbolAlreadyExists(symbol.name)
    now = clock()
    symbol.created_at = symbol.updated_at = now
    symbol = uow.symbols.add(symbol)
    record(uow, actor, now, "symbol.created", "symbol", symbol.name, None, symbol.snapshot())
    return symbol


def update_symbol(uow: UnitOfWork, cmd: UpdateSymbol, actor: Actor, clock: Clock) -> Symbol:
    """A symbol's settings (its trade mode, say) apply in every group: admin with unlimited
    reach."""
    actor.require_for(cmd)
    reach.require_unlimited(actor, "a symbol")
    symbol = uow.symbols.get(cmd.name)
    if symbol is None:
        raise SymbolNotFound(cmd.name)
    _unknown(set(cmd.changes) - set(EDITABLE_FIELDS))
    changes = _coerce(cmd.changes)
    renamed = "name" in changes and changes["name"] != symbol.name
    if renamed and uow.symbols.get(changes["name"]) is not None:
        raise SymbolAlreadyExists(changes["name"])
    before = symbol.snapshot()
    updated = replace(symbol, **changes)
    _check(updated)
    updated.updated_at = clock()
    uow.symbols.update(updated)
    record(
        uow,
        actor,
        updated.updated_at,
        "symbol.updated",
        "symbol",
        symbol.name,
        before,
        updated.snapshot(),
    )
    return updated


def delete_symbol(uow: UnitOfWork, cmd: DeleteSymbol, actor: Actor, clock: Clock) -> Symbol:
    """Symbols are shared by every group: admin with unlimited reach; SymbolInUse while any
    position on it is open."""
    actor.require_for(cmd)
    reach.require_unlimited(actor, "a symbol")
    symbol = uow.symbols.get(cmd.name)
    if symbol is None:
        raise SymbolNotFound(cmd.name)
    if uow.trading.list_positions(PositionQuery(symbol=symbol.name, limit=1)):
        raise SymbolInUse("a symbol with open positions cannot be deleted", symbol=symbol.name)
    uow.symbols.delete(symbol.id)
    record(uow, actor, clock(), "symbol.deleted", "symbol", symbol.name, symbol.snapshot(), None)
    return symbol


def get_symbol(uow: UnitOfWork, name: str, actor: Actor) -> Symbol:
    actor.require_for(ReadSymbol)
    symbol = uow.symbols.get(name)
    if symbol is None:
        raise SymbolNotFound(name)
    return symbol


def list_symbols(uow: UnitOfWork, actor: Actor, mask: str | None = None) -> list[Symbol]:
    actor.require("users:read")
    wanted = masks.parse(mask, "name") if mask else None
    symbols = uow.symbols.list()
    if wanted is not None:
        symbols = [s for s in symbols if wanted.admits_any(s.name, s.path)]
    return symbols
