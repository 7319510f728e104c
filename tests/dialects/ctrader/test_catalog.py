"""Symbols, deposit assets, open and closed positions as CSV (exact headers, the 2-day window)
and sub-accounts, over HTTP."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from brokerplane.api.ctrader.positions import (
    CLOSED_POSITION_COLUMNS,
    OPEN_POSITION_COLUMNS,
    csv_body,
)
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.symbol.commands import CreateSymbol
from tests.dialects.ctrader.conftest import CTrader, as_manager

OPEN_HEADER = (
    "login,positionId,openTimestamp,entryPrice,direction,volume,symbol,commission,"
    "swap,bookType,stake,spreadBetting,usedMargin"
)
CLOSED_HEADER = (
    "login,positionId,dealId,openTimestamp,closeTimestamp,entryPrice,closePrice,"
    "direction,volume,symbol,commission,swap,pnl,depositConversionRate,"
    "usdConversionRate,bookType,stake,spreadBetting"
)
DAY = {"from": "2018-01-01T12:12:12.000", "to": "2018-01-02T12:12:12.000"}


def test_symbols_with_asset_class_and_category_from_their_path(ct: CTrader) -> None:
    for name, settings in [
        ("EURUSD", {"path": "Forex\\Majors\\EURUSD", "description": "Euro vs US Dollar"}),
        ("XAUUSD", {"path": "Metals\\XAUUSD", "trade_mode": "DISABLED"}),
        ("GBPJPY", {}),
        ("US500", {"currency_base": "USD", "currency_profit": "USD"}),
    ]:
        ct.services.create_symbol(CreateSymbol(name, settings), ct.admin)
    response = ct.get("/symbols")
    assert response.status_code == 200
    symbols = response.json()["symbol"]
    ids = {s["name"]: s["id"] for s in symbols}
    assert all(isinstance(i, int) and i > 0 for i in ids.values())
    assert symbols == [
        {
            "name": "EURUSD",
            "id": ids["EURUSD"],
            "description": "Euro vs US Dollar",
            "assetClass": "Forex",
            "category": "Majors",
            "quotesEnabled": True,
            "showInCtrader": True,
        },
        {
            "name": "GBPJPY",
            "id": ids["GBPJPY"],
            "description": "",
            "assetClass": "Forex",
            "category": "Forex",
            "quotesEnabled": True,
            "showInCtrader": True,
        },
        {
            "name": "US500",
            "id": ids["US500"],
            "description": "",
            "assetClass": "Other",
            "category": "Other",
            "quotesEnabled": True,
            "showInCtrader": True,
        },
        {
            "name": "XAUUSD",
            "id": ids["XAUUSD"],
            "description": "",
            "assetClass": "Metals",
            "category": "Metals",
            "quotesEnabled": False,
            "showInCtrader": True,
        },
    ]
    xml = ct.get("/symbols/", headers={"Accept": "*/*"})
    assert xml.headers["content-type"].startswith("application/xml")
    assert xml.text.count("<symbol>") == 4 and "<quotesEnabled>false</quotesEnabled>" in xml.text


def test_deposit_assets_are_the_groups_currencies_and_the_servers(ct: CTrader) -> None:
    assert ct.get("/depositAssets").json() == {"depositAsset": ["EUR", "USD"]}
    ct.services.create_group(CreateGroup("jpy\\std", "JPY"), ct.admin)
    assert ct.get("/depositAssets/").json() == {"depositAsset": ["EUR", "JPY", "USD"]}
    limited = as_manager(ct, 1101, group_mask="Default")
    assert limited.get("/depositAssets").json() == {"depositAsset": ["EUR", "USD"]}
    xml = ct.get("/depositAssets", headers={"Accept": "application/xml"}).text
    assert "<depositAsset>EUR</depositAsset><depositAsset>JPY</depositAsset>" in xml


@pytest.mark.parametrize("slash", ["", "/"])
def test_positions_are_csv_with_the_exact_headers(ct: CTrader, slash: str) -> None:
    login = ct.create()["login"]
    for params in ({}, {"login": str(login)}):
        response = ct.get("/openPositions" + slash, params=params)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert response.text == OPEN_HEADER + "\n"
    for params in (DAY, {**DAY, "login": login}):
        response = ct.get("/closedPositions" + slash, params=params)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert response.text == CLOSED_HEADER + "\n"


def test_a_position_row_follows_the_header() -> None:
    row = {
        "login": 100001,
        "positionId": 7,
        "entryPrice": Decimal("1.10250"),
        "openTimestamp": datetime(2018, 1, 1, 12, 12, 12, 345678, tzinfo=UTC),
        "direction": "BUY",
        "symbol": "EURUSD",
        "spreadBetting": False,
    }
    lines = csv_body(OPEN_POSITION_COLUMNS, [row]).splitlines()
    assert lines == [OPEN_HEADER, "100001,7,2018-01-01T12:12:12.345,1.10250,BUY,,EURUSD,,,,,false,"]


def test_an_unknown_or_unreachable_login_is_trader_not_found(ct: CTrader) -> None:
    other = ct.create(groupName="DX_452")["login"]
    limited = as_manager(ct, 1101, group_mask="Default")
    for client, login in ((ct, 987654), (limited, other)):
        for path, params in (("/openPositions", {}), ("/closedPositions", DAY)):
            response = client.get(path, params={**params, "login": login})
            assert client.error(response, 404) == "TRADER_NOT_FOUND"
    bad = ct.get("/openPositions", params={"login": "abc"})
    assert ct.error(bad, 400) == "INVALID_REQUEST"


WINDOWS = [
    ({"from": "2018-01-01T00:00:00.000", "to": "2018-01-03T00:00:00.000"}, 200),
    ({"from": "2018-01-01T00:00:00.000", "to": "2018-01-03T00:00:00.001"}, 400),
    ({"from": "2018-01-02T00:00:00.000", "to": "2018-01-02T00:00:00.000"}, 400),
    ({"from": "2018-01-02T00:00:00.000", "to": "2018-01-01T00:00:00.000"}, 400),
    ({"from": "2018-01-01T00:00:00.000"}, 400),
    ({"to": "2018-01-01T00:00:00.000"}, 400),
    ({"from": "2018-01-01TCET12:00:00.000", "to": "2018-01-02T00:00:00.000"}, 400),
    ({"from": "99999999999999999999", "to": "99999999999999999999"}, 400),
]


def test_closed_positions_take_a_window_of_at_most_two_days(ct: CTrader) -> None:
    for params, status in WINDOWS:
        response = ct.get("/closedPositions", params=params)
        assert response.status_code == status, (params, response.text)
        if status == 200:
            assert response.text == CLOSED_HEADER + "\n"
        else:
            assert ct.error(response, 400) == "INVALID_REQUEST"


def test_sub_accounts_of_a_trader_are_none(ct: CTrader) -> None:
    login = ct.create()["login"]
    for path in (f"/traders/{login}/subaccounts", f"/traders/{login}/subaccounts/"):
        assert ct.get(path).json() == {
            "subAccountLogins": {"login": []},
            "totalSubAccountsBalance": 0,
            "totalSubAccountsEquity": 0,
        }
    assert ct.error(ct.get("/traders/987654/subaccounts"), 404) == "TRADER_NOT_FOUND"


def test_a_symbol_named_like_a_formula_is_text_in_the_positions_csv_and_numbers_stay() -> None:
    # the symbol is the one free-text cell (an operator names it); money keeps its sign
    row = {
        "login": 100001,
        "positionId": 7,
        "entryPrice": Decimal("-1.5"),
        "direction": "SELL",
        "symbol": "=cmd|' /C calc'!A0",
        "pnl": Decimal("-5.00"),
    }
    (header, line) = list(csv.reader(io.StringIO(csv_body(CLOSED_POSITION_COLUMNS, [row]))))

    cells = dict(zip(header, line, strict=True))
    assert cells["symbol"] == "'=cmd|' /C calc'!A0"
    assert (cells["pnl"], cells["entryPrice"], cells["direction"]) == ("-5.00", "-1.5", "SELL")
