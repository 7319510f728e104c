"""What the MT5 user command tests share: seed 002's request and record, passwords, and calls."""

from __future__ import annotations

from typing import Any

from brokerplane.core.access.commands import CreateApiKey
from brokerplane.core.actor import SCOPES
from tests.dialects.mt5.conftest import Mt5

# Seed 002's example request: POST /api/user/add?group=demoforex&name=JohnSmith&leverage=100
SEED_BODY = {
    "PassMain": "1Ar#pqkj",
    "PassInvestor": "2Ar#pqkj",
    "MQID": "5CD369A9",
    "Company": "Individual",
    "Country": "United States",
    "City": "New York",
}
# Every field of seed 002's "Data Structure" (User Parameters).
SEED_RECORD_KEYS = (
    "Login",
    "Group",
    "CertSerialNumber",
    "Rights",
    "Registration",
    "LastAccess",
    "LastIP",
    "LastPassChange",
    "Name",
    "FirstName",
    "LastName",
    "MiddleName",
    "Company",
    "Account",
    "Country",
    "Language",
    "City",
    "State",
    "ZIPCode",
    "Address",
    "Phone",
    "Email",
    "ID",
    "Status",
    "Comment",
    "Color",
    "PhonePassword",
    "Leverage",
    "Agent",
    "Balance",
    "Credit",
    "InterestRate",
    "CommissionDaily",
    "CommissionMonthly",
    "CommissionAgentDaily",
    "CommissionAgentMonthly",
    "BalancePrevDay",
    "BalancePrevMonth",
    "EquityPrevDay",
    "EquityPrevMonth",
    "MQID",
    "TradeAccounts",
    "ApiData",
    "LeadSource",
    "LeadCampaign",
    "LimitOrders",
    "LimitPositions",
)
PERSONAL = ("Email", "Phone", "Address", "City", "State", "ZIPCode", "ID", "Account", "MQID")
PASSWORDS = {"PassMain": "1Ar#pqkj", "PassInvestor": "2Ar#pqkj"}
VIP_PASSWORDS = {"PassMain": "1Ar#pqkjXY", "PassInvestor": "2Ar#pqkjXY"}  # demo\vip: 10 or more


def _all_strings(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_all_strings(v) for v in value.values())
    if isinstance(value, list):
        return all(_all_strings(v) for v in value)
    return isinstance(value, str)


def _add(mt5: Mt5, query: dict[str, Any] | None = None, body: dict[str, Any] | None = None) -> Any:
    params = {"group": "demoforex", "name": "John Smith", "leverage": "100", **(query or {})}
    return mt5.post("user/add", params, {**PASSWORDS, **(body or {})})


def _native_key(mt5: Mt5) -> str:
    issued = mt5.services.create_api_key(CreateApiKey(1005, frozenset(SCOPES)), mt5.admin)
    return str(issued.secret)


def _native_get(mt5: Mt5, login: int | str) -> Any:
    headers = {"Authorization": f"Bearer {_native_key(mt5)}"}
    return mt5.client.get(f"/v1/users/{login}", headers=headers)
