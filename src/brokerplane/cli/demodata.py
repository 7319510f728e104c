"""The demo data: groups, symbols, first quotes, managers and the approval threshold the
examples use, and the names demo accounts are opened with (cli/demo.py loads them)."""

from __future__ import annotations

from typing import Any

DEMO_MANAGER_LOGIN = 1000
DEMO_MANAGER_NAME = "Demo Manager"
DEMO_ACCOUNTS_GROUP = "demo-usd"
# A second manager, so a held high-value operation has someone other than its requester to
# approve it (seed 000: approval before high-value operations).
DEMO_APPROVER_LOGIN = 1001
DEMO_APPROVER_NAME = "Finance approver"
DEMO_APPROVER_RIGHTS = frozenset(
    {"users:read", "balances:write", "balances:approve", "reports:read"}
)
# USD operations above this amount wait for a second manager's approval.
DEMO_APPROVAL_THRESHOLDS: tuple[tuple[str, str], ...] = (("USD", "10000.00"),)


# (name, currency, settings). Every seed example names one of these groups.
DEMO_GROUPS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    # Seed 000: `POST /mt4/manager/users {"login": 910024, "group": "demo-usd", ...}`.
    # No login range of its own: allocations come from the server range (100000-99999999).
    (
        "demo-usd",
        "USD",
        {
            "description": "Demo accounts in USD (the MT4 Manager API quick start)",
            "default_leverage": 100,
            "max_leverage": 500,
            "margin_call": "100",
            "stop_out": "50",
        },
    ),
    # Seed 002: `POST /api/user/add?group=demoforex&name=JohnSmith&leverage=100`; its reply shows
    # login 954402, so the group allocates from 950000-959999.
    (
        "demoforex",
        "USD",
        {
            "description": "MT5 demo forex (the MT5 Web API user/add example)",
            "default_leverage": 100,
            "max_leverage": 500,
            "login_range_from": 950_000,
            "login_range_to": 959_999,
            "margin_call": "100",
            "stop_out": "50",
        },
    ),
    # Seed 002's JSON user record: `"Group": "demo\\demoforex"`.
    (
        "demo\\demoforex",
        "USD",
        {
            "description": "MT5 demo forex, path-style name (the MT5 Web API user record)",
            "default_leverage": 100,
            "max_leverage": 500,
            "margin_call": "100",
            "stop_out": "50",
        },
    ),
    # Kept out by masks such as `demo\*,!demo\vip`.
    (
        "demo\\vip",
        "USD",
        {
            "description": "Demo VIP accounts (excluded by `demo\\*,!demo\\vip` masks)",
            "default_leverage": 200,
            "max_leverage": 1000,
            "margin_call": "80",
            "stop_out": "30",
        },
    ),
    # Seed 003 (cTrader use cases): traders are created in `Default` and moved to `DX_452`, both
    # with depositCurrency EUR and brokerName BESTBROKER; the first two created get 8035344 and
    # 8035345, hence the range. The seed's white-label example also opens a *USD* account in
    # `Default` (brokerName BESTBROKER_UK): an account may carry a deposit currency other than
    # its group's, but it cannot then move to a group in another currency.
    (
        "Default",
        "EUR",
        {
            "description": "cTrader default trader group (cTrader Web Services examples)",
            "broker": "BESTBROKER",
            "default_leverage": 100,
            "max_leverage": 1000,
            "login_range_from": 8_035_344,
            "login_range_to": 8_999_999,
            "margin_call": "100",
            "stop_out": "50",
        },
    ),
    (
        "DX_452",
        "EUR",
        {
            "description": "cTrader group traders are moved to (cTrader Web Services examples)",
            "broker": "BESTBROKER",
            "default_leverage": 100,
            "max_leverage": 500,
            "login_range_from": 8_035_344,
            "login_range_to": 8_999_999,
            "margin_call": "100",
            "stop_out": "50",
        },
    ),
    # Live-style groups for mask examples (`real\*`, `!real\vip`).
    (
        "real\\standard",
        "USD",
        {
            "description": "Live standard accounts",
            "default_leverage": 100,
            "max_leverage": 200,
            "login_range_from": 2_000_000,
            "login_range_to": 2_999_999,
            "password_min_length": 10,
            "margin_call": "100",
            "stop_out": "50",
        },
    ),
    (
        "real\\vip",
        "USD",
        {
            "description": "Live VIP accounts",
            "default_leverage": 100,
            "max_leverage": 500,
            "login_range_from": 3_000_000,
            "login_range_to": 3_999_999,
            "password_min_length": 10,
            "margin_call": "80",
            "stop_out": "30",
        },
    ),
    # Seed 004 (TraderEvolution): users belong to user groups and inherit their settings.
    (
        "TE Retail",
        "USD",
        {
            "description": "TraderEvolution retail user group (TraderEvolution user guide)",
            "default_leverage": 30,
            "max_leverage": 100,
            "default_account_type": "NETTED",
            "margin_mode": "NET",
            "margin_call": "100",
            "stop_out": "50",
        },
    ),
    (
        "TE Professional",
        "USD",
        {
            "description": "TraderEvolution professional user group (TraderEvolution user guide)",
            "default_leverage": 100,
            "max_leverage": 500,
            "default_account_type": "NETTED",
            "margin_mode": "NET",
            "margin_call": "80",
            "stop_out": "30",
        },
    ),
)


def _fx(name: str, description: str, path: str, digits: int = 5) -> tuple[str, dict[str, Any]]:
    base, quote = name[:3], name[3:]
    return name, {
        "path": f"{path}\\{name}",
        "description": description,
        "digits": digits,
        "contract_size": "100000",
        "currency_base": base,
        "currency_profit": quote,
        "currency_margin": base,
        "volume_min": "0.01",
        "volume_max": "100",
        "volume_step": "0.01",
    }


def _cfd(
    name: str, description: str, path: str, digits: int, contract_size: str, base: str
) -> tuple[str, dict[str, Any]]:
    return name, {
        "path": f"{path}\\{name}",
        "description": description,
        "digits": digits,
        "contract_size": contract_size,
        "currency_base": base,
        "currency_profit": "USD",
        "currency_margin": "USD",
        "volume_min": "0.01",
        "volume_max": "50",
        "volume_step": "0.01",
    }


DEMO_SYMBOLS: tuple[tuple[str, dict[str, Any]], ...] = (
    _fx("EURUSD", "Euro vs US Dollar", "Forex\\Major"),
    _fx("GBPUSD", "Great Britain Pound vs US Dollar", "Forex\\Major"),
    _fx("USDJPY", "US Dollar vs Japanese Yen", "Forex\\Major", digits=3),
    _fx("USDCHF", "US Dollar vs Swiss Franc", "Forex\\Major"),
    _fx("AUDUSD", "Australian Dollar vs US Dollar", "Forex\\Major"),
    _fx("USDCAD", "US Dollar vs Canadian Dollar", "Forex\\Major"),
    _fx("NZDUSD", "New Zealand Dollar vs US Dollar", "Forex\\Major"),
    _fx("EURGBP", "Euro vs Great Britain Pound", "Forex\\Cross"),
    _fx("EURJPY", "Euro vs Japanese Yen", "Forex\\Cross", digits=3),
    _cfd("XAUUSD", "Gold vs US Dollar", "Metals", 2, "100", "XAU"),
    _cfd("XAGUSD", "Silver vs US Dollar", "Metals", 3, "5000", "XAG"),
    _cfd("BTCUSD", "Bitcoin vs US Dollar", "Crypto", 2, "1", "BTC"),
    _cfd("US500", "US 500 Cash Index", "Indices", 1, "1", "USD"),
)

# A plausible first quote (symbol, bid, ask) of each demo symbol, so the examples can trade
# at once; a feed (`brokerplane quotes feed`) or `PUT /v1/quotes` moves them.
DEMO_QUOTES: tuple[tuple[str, str, str], ...] = (
    ("EURUSD", "1.08500", "1.08515"),
    ("GBPUSD", "1.26500", "1.26518"),
    ("USDJPY", "151.200", "151.215"),
    ("USDCHF", "0.88500", "0.88516"),
    ("AUDUSD", "0.65800", "0.65814"),
    ("USDCAD", "1.36200", "1.36217"),
    ("NZDUSD", "0.60100", "0.60117"),
    ("EURGBP", "0.85750", "0.85765"),
    ("EURJPY", "164.050", "164.070"),
    ("XAUUSD", "2350.00", "2350.40"),
    ("XAGUSD", "28.500", "28.530"),
    ("BTCUSD", "65000.00", "65030.00"),
    ("US500", "5200.0", "5200.6"),
)

# Demo accounts are opened with these names and places, in turn.
DEMO_FIRST_NAMES = (
    "Alice",
    "Bruno",
    "Chen",
    "Dana",
    "Emeka",
    "Fatima",
    "Goran",
    "Hana",
    "Ivan",
    "Jana",
)
DEMO_LAST_NAMES = (
    "Smith",
    "Rossi",
    "Wang",
    "Novak",
    "Okafor",
    "Haddad",
    "Petrov",
    "Sato",
    "Silva",
    "Berg",
)
DEMO_PLACES = (
    ("United States", "New York"),
    ("United Kingdom", "London"),
    ("Germany", "Berlin"),
    ("Cyprus", "Limassol"),
    ("Japan", "Tokyo"),
)
