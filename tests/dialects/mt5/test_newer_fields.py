"""What newer MT5 builds send and clients read, over HTTP on both engines: deals, positions and
history orders carry `ApiData` and their `OrigTime*` fields; a group's `Symbols` and
`Commissions` and a symbol's sessions say what applies instead of being empty."""

from __future__ import annotations

from typing import Any

from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.trading.commands import OpenPosition, QuoteInput
from tests.dialects.mt5.conftest import Mt5

EMPTY_API_DATA = [{"AppID": "0", "ID": "0"}] * 16
WINDOW = {"from": 0, "to": 2**33}


def test_deals_positions_and_history_orders_carry_api_data_and_original_times(mt5: Mt5) -> None:
    mt5.services.set_quotes([QuoteInput("EURUSD", "1.10000", "1.10020")], mt5.admin)
    login = mt5.services.open_account(
        OpenAccount("demoforex", leverage=100, name="A"), mt5.admin
    ).login
    mt5.services.post_ledger_entry(PostLedgerEntry(login, "deposit", "10000"), mt5.admin)
    deal = mt5.services.open_position(OpenPosition(login, "EURUSD", "buy", "0.1"), mt5.admin).deal
    at = str(int(deal.at.timestamp()))
    deals = mt5.ok(mt5.get("deal/get_page", login=login, **WINDOW))
    assert [(d["ApiData"], d["OrigTime"]) for d in deals] == [
        (EMPTY_API_DATA, d["Time"]) for d in deals
    ]
    position = mt5.ok(mt5.get("position/get", login=login, symbol="EURUSD"))
    assert (position["ApiData"], position["OrigTimeCreate"], position["OrigTimeUpdate"]) == (
        EMPTY_API_DATA,
        at,
        at,
    )
    order = mt5.ok(mt5.get("history/get", ticket=deal.id))
    assert {
        k: order[k] for k in ("ApiData", "OrigTimeSetup", "OrigTimeExpiration", "OrigTimeDone")
    } == {
        "ApiData": EMPTY_API_DATA,
        "OrigTimeSetup": at,
        "OrigTimeExpiration": "0",
        "OrigTimeDone": at,
    }


def test_a_group_lists_every_symbol_with_defaults_and_no_commission(mt5: Mt5) -> None:
    group = mt5.ok(mt5.get("group/get", group="demo\\eur"))
    [symbols] = group["Symbols"]
    assert (symbols["Path"], symbols["TradeMode"], symbols["SpreadDiff"]) == (
        "*",
        "4294967295",
        "2147483647",
    )
    assert (symbols["VolumeMin"], symbols["MarginInitial"]) == (
        "18446744073709551615",
        "1.7976931348623157e+308",
    )
    [commission] = group["Commissions"]
    assert {k: commission[k] for k in ("Name", "Path", "TurnoverCurrency")} == {
        "Name": "no commission",
        "Path": "*",
        "TurnoverCurrency": "EUR",
    }
    assert commission["Tiers"] == [
        {
            "Mode": "0",
            "Type": "0",
            "Value": "0",
            "Minimal": "0",
            "Maximal": "0",
            "RangeFrom": "0",
            "RangeTo": "0",
            "Currency": "EUR",
        }
    ]


def test_a_symbol_quotes_and_trades_all_day_every_day(mt5: Mt5) -> None:
    symbol: dict[str, Any] = mt5.ok(mt5.get("symbol/get", symbol="EURUSD"))
    day = [
        {
            "Open": "0",
            "OpenHours": "0",
            "OpenMinutes": "0",
            "Close": "1440",
            "CloseHours": "24",
            "CloseMinutes": "0",
        }
    ]
    assert symbol["SessionsQuotes"] == symbol["SessionsTrades"] == [day] * 7
