"""The Group: MT5 group, cTrader trader group and TraderEvolution user group in one."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

MARGIN_MODES = ("MAX", "SUM", "NET")
ACCOUNT_TYPES = ("HEDGED", "NETTED", "SPREAD_BETTING")
MAX_LEVERAGE_LIMIT = 10_000


@dataclass
class Group:
    """A template for accounts; `name` is MT5 path style (`demo\\forex`), `id` is numeric."""

    name: str
    currency: str
    currency_digits: int = 2
    id: int = 0
    description: str = ""
    company: str = ""
    broker: str = ""
    default_leverage: int = 100
    max_leverage: int = 500
    margin_mode: str = "MAX"
    default_account_type: str = "HEDGED"
    default_rights: int = 0x163
    password_min_length: int = 8
    login_range_from: int | None = None
    login_range_to: int | None = None
    margin_call: Decimal = Decimal("100")
    stop_out: Decimal = Decimal("50")
    permissions: int = 0
    plan_id: int | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def snapshot(self) -> dict[str, Any]:
        data = asdict(self)
        data["margin_call"] = str(self.margin_call)
        data["stop_out"] = str(self.stop_out)
        for key in ("created_at", "updated_at"):
            data.pop(key)
        return data
