"""What the MT5 money and history tests share: MT5's answers, the deal record's fields, calls
and reads, and the funded `account` fixture."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.ledger.model import LedgerEntry, LedgerQuery
from tests.dialects.mt5.conftest import Mt5

DONE = "0 Done"
PARAMS = "3 Invalid parameters"
PERMISSIONS = "8 Not enough permissions"
NOT_FOUND = "13 Not found"
MONEY_LIMIT = "4005 Money limit reached"
REJECTED = "10006 Request rejected"
NO_MONEY = "10019 Not enough money"

DEAL_FIELDS = [
    "Deal",
    "ExternalID",
    "Login",
    "Dealer",
    "Order",
    "Action",
    "Entry",
    "Reason",
    "Digits",
    "DigitsCurrency",
    "ContractSize",
    "Time",
    "TimeMsc",
    "Symbol",
    "Price",
    "Volume",
    "VolumeExt",
    "Profit",
    "Storage",
    "Commission",
    "CommissionAgent",
    "Fee",
    "RateProfit",
    "RateMargin",
    "ExpertID",
    "ExpertPositionID",
    "PositionID",
    "Comment",
    "ProfitRaw",
    "PricePosition",
    "PriceSL",
    "PriceTP",
    "VolumeClosed",
    "VolumeClosedExt",
    "TickValue",
    "TickSize",
    "Flags",
    "Gateway",
    "PriceGateway",
    "ModifyFlags",
    "Value",
    "MarketBid",
    "MarketAsk",
    "MarketLast",
    "ApiData",
    "OrigTime",
]
EMPTY_API_DATA = [{"AppID": "0", "ID": "0"}] * 16


def _open(mt5: Mt5, group: str = "demoforex") -> int:
    acc = mt5.services.open_account(OpenAccount(group=group, name="John Smith"), mt5.admin)
    return int(acc.login)


def _balance(mt5: Mt5, login: int, type_: Any, amount: Any, **extra: Any) -> Any:
    return mt5.get("trade/balance", login=login, type=type_, balance=amount, **extra)


def _ticket(mt5: Mt5, login: int, type_: Any, amount: Any, **extra: Any) -> int:
    return int(mt5.ok(_balance(mt5, login, type_, amount, **extra))["Ticket"])


def _figures(mt5: Mt5, login: int) -> tuple[Decimal, Decimal, Decimal]:
    acc = mt5.services.get_account(login, mt5.admin)
    return Decimal(acc.balance) / 100, Decimal(acc.credit) / 100, Decimal(acc.bonus) / 100


def _entries(mt5: Mt5, login: int) -> list[LedgerEntry]:
    return mt5.services.list_ledger(LedgerQuery(login=login), mt5.admin)


def _all_strings(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _all_strings(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_all_strings(v) for v in value)
    return isinstance(value, str)


@pytest.fixture
def account(mt5: Mt5) -> int:
    """A demoforex (USD) account holding 1000.00 deposited over MT5."""
    login = _open(mt5)
    _ticket(mt5, login, 2, "1000")
    return login
