"""The Symbol: name, path, digits, contract size, currencies and trade mode of an instrument."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

TRADE_MODES = ("DISABLED", "LONGONLY", "SHORTONLY", "CLOSEONLY", "FULL")
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


@dataclass
class Symbol:
    name: str
    currency_base: str
    currency_profit: str
    currency_margin: str
    id: int = 0
    path: str = ""
    description: str = ""
    isin: str = ""
    digits: int = 5
    contract_size: Decimal = Decimal("100000")
    trade_mode: str = "FULL"
    volume_min: Decimal = Decimal("0.01")
    volume_max: Decimal = Decimal("100")
    volume_step: Decimal = Decimal("0.01")
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # Execution parameters MT4-style planes expose: a fixed spread in points (0: floating,
    # the quotes' own), the stops level in points (how far from the price stop loss and take
    # profit must be), swaps in points per lot per night, and the trading sessions (weekday ->
    # "HH:MM-HH:MM" intervals in server time, a weekday left out closed; None: trading all
    # week). brokerplane stores
    # and serves them; its own execution does not apply them (no swaps are charged, no
    # sessions close the market): see the native notes.
    spread: int = 0
    stops_level: int = 0
    swap_long: Decimal = Decimal(0)
    swap_short: Decimal = Decimal(0)
    sessions: dict[str, list[str]] | None = None

    def snapshot(self) -> dict[str, Any]:
        data = asdict(self)
        for key in (
            "contract_size",
            "volume_min",
            "volume_max",
            "volume_step",
            "swap_long",
            "swap_short",
        ):
            data[key] = str(data[key])
        for key in ("created_at", "updated_at"):
            data.pop(key)
        return data


def _minutes(text: str) -> int | None:
    """ "HH:MM" (00:00 to 24:00) as minutes of the day; None when it is not that."""
    if len(text) != 5 or text[2] != ":" or not (text[:2] + text[3:]).isdigit():
        return None
    hours, minutes = int(text[:2]), int(text[3:])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        return None
    return hours * 60 + minutes


def session_minutes(interval: str) -> tuple[int, int] | None:
    """ "HH:MM-HH:MM" as (open, close) minutes with open < close; None when malformed."""
    if not isinstance(interval, str) or len(interval) != 11 or interval[5] != "-":
        return None
    start, end = _minutes(interval[:5]), _minutes(interval[6:])
    if start is None or end is None or start >= end:
        return None
    return start, end
