"""The Symbol: name, path, digits, contract size, currencies and trade mode of an instrument."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

TRADE_MODES = ("DISABLED", "LONGONLY", "SHORTONLY", "CLOSEONLY", "FULL")


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

    def snapshot(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("contract_size", "volume_min", "volume_max", "volume_step"):
            data[key] = str(data[key])
        for key in ("created_at", "updated_at"):
            data.pop(key)
        return data
