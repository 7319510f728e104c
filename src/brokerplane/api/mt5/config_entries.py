"""The arrays of MT5's group and symbol objects that say what applies, filled as a real server
fills them rather than left empty.

- A group's `Symbols`: one entry, path `*` (every symbol), whose settings are all MT5's
  "default" markers (`4294967295` for unsigned fields, `2147483647` for signed ones,
  `18446744073709551615` for 64-bit volumes, `1.7976931348623157e+308` for doubles): every
  symbol trades in every group with its own settings; brokerplane has no per-group overrides.
- A group's `Commissions`: one entry, path `*`, named "no commission", with one tier of 0 in the
  group's currency: brokerplane charges no commission on deals.
- A symbol's `SessionsQuotes` and `SessionsTrades`: seven days (Sunday first), each one session
  from 00:00 to 24:00 (minutes 0 to 1440): brokerplane quotes and trades at any time.
"""

from __future__ import annotations

from typing import Any

from brokerplane.core.group.model import Group
from brokerplane.core.symbol.model import session_minutes

DEFAULT_UINT = 0xFFFFFFFF
DEFAULT_INT = 0x7FFFFFFF
DEFAULT_UINT64 = 0xFFFFFFFFFFFFFFFF
DEFAULT_DOUBLE = "1.7976931348623157e+308"
DAY_MINUTES = 1440
WEEK_DAYS = 7

_GROUP_SYMBOL_UINT = (
    "TradeMode", "ExecMode", "FillFlags", "ExpirFlags", "OrderFlags", "MarginFlags",
    "SwapMode", "RETimeout", "IEFlags", "IECheckMode", "IETimeout", "PermissionsFlags",
    "BookDepthLimit",
)  # fmt: skip
_GROUP_SYMBOL_INT = (
    "SpreadDiff", "SpreadDiffBalance", "StopsLevel", "FreezeLevel", "Swap3Day",
    "IESlipProfit", "IESlipLosing",
)  # fmt: skip
_GROUP_SYMBOL_UINT64 = (
    "VolumeMin", "VolumeMinExt", "VolumeMax", "VolumeMaxExt", "VolumeStep", "VolumeStepExt",
    "VolumeLimit", "VolumeLimitExt", "IEVolumeMax", "IEVolumeMaxExt",
)  # fmt: skip
_GROUP_SYMBOL_DOUBLE = (
    "MarginInitial", "MarginMaintenance", "MarginInitialBuy", "MarginInitialSell",
    "MarginInitialBuyLimit", "MarginInitialSellLimit", "MarginInitialBuyStop",
    "MarginInitialSellStop", "MarginInitialBuyStopLimit", "MarginInitialSellStopLimit",
    "MarginMaintenanceBuy", "MarginMaintenanceSell", "MarginMaintenanceBuyLimit",
    "MarginMaintenanceSellLimit", "MarginMaintenanceBuyStop", "MarginMaintenanceSellStop",
    "MarginMaintenanceBuyStopLimit", "MarginMaintenanceSellStopLimit", "MarginLiquidity",
    "MarginHedged", "MarginCurrency", "SwapLong", "SwapShort",
)  # fmt: skip


def group_symbols() -> list[dict[str, Any]]:
    entry: dict[str, Any] = {"Path": "*"}
    entry.update(dict.fromkeys(_GROUP_SYMBOL_UINT, DEFAULT_UINT))
    entry.update(dict.fromkeys(_GROUP_SYMBOL_INT, DEFAULT_INT))
    entry.update(dict.fromkeys(_GROUP_SYMBOL_UINT64, DEFAULT_UINT64))
    entry.update(dict.fromkeys(_GROUP_SYMBOL_DOUBLE, DEFAULT_DOUBLE))
    return [entry]


def group_commissions(group: Group) -> list[dict[str, Any]]:
    tier = {"Mode": 0, "Type": 0, "Value": 0, "Minimal": 0, "Maximal": 0, "RangeFrom": 0,
            "RangeTo": 0, "Currency": group.currency}  # fmt: skip
    return [{"Name": "no commission", "Description": "brokerplane charges no commission",
             "Path": "*", "Mode": 0, "RangeMode": 0, "ChargeMode": 0,
             "TurnoverCurrency": group.currency, "EntryMode": 0, "Tiers": [tier]}]  # fmt: skip


# MT5 lists a symbol's sessions by weekday from Sunday.
_MT5_WEEK = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def _session(start: int, end: int) -> dict[str, Any]:
    return {"Open": start, "OpenHours": start // 60, "OpenMinutes": start % 60, "Close": end,
            "CloseHours": end // 60, "CloseMinutes": end % 60}  # fmt: skip


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
