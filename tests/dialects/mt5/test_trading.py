"""MT5 trading over HTTP on both engines, through the real handshake: dealer requests executed
at the current quote, positions, deals and filled orders read back, the account's figures with
positions open, check_margin, ticks, and bad requests that never execute."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.account.model import DEFAULT_RIGHTS, RIGHT_TRADE_DISABLED
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.kinds import Dialect
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.ledger.model import LedgerQuery
from brokerplane.core.symbol.commands import CreateSymbol
from brokerplane.core.trading.commands import QuoteInput
from brokerplane.core.trading.model import DealQuery
from tests.dialects.mt5.conftest import Mt5

DONE = "0 Done"
PARAMS = "3 Invalid parameters"
PERMISSIONS = "8 Not enough permissions"
NOT_FOUND = "13 Not found"
INVALID_REQUEST = "10013 Invalid request"
INVALID_VOLUME = "10014 Invalid volume"
TRADE_DISABLED = "10017 Trade disabled"
NO_MONEY = "10019 Not enough money"
NO_PRICES = "10021 No prices"

POSITION_FIELDS = [
    "Position", "ExternalID", "Login", "Dealer", "Symbol", "Action", "Digits", "DigitsCurrency",
    "Reason", "ContractSize", "TimeCreate", "TimeUpdate", "TimeCreateMsc", "TimeUpdateMsc",
    "ModifyFlags", "PriceOpen", "PriceCurrent", "PriceSL", "PriceTP", "Volume", "VolumeExt",
    "Profit", "Storage", "RateProfit", "RateMargin", "ExpertID", "ExpertPositionID", "Comment",
    "ActivationMode", "ActivationTime", "ActivationPrice", "ActivationFlags", "ApiData",
    "OrigTimeCreate", "OrigTimeUpdate",
]  # fmt: skip
EMPTY_API_DATA = [{"AppID": "0", "ID": "0"}] * 16


def quote(mt5: Mt5, symbol: str, bid: str, ask: str) -> None:
    mt5.services.set_quotes([QuoteInput(symbol, bid, ask)], mt5.admin)


def funded(mt5: Mt5, amount: str = "10000", **profile: Any) -> int:
    """A demoforex (USD, leverage 100) account holding `amount`."""
    cmd = OpenAccount("demoforex", leverage=100, name="John Smith", profile=profile)
    login = mt5.services.open_account(cmd, mt5.admin).login
    mt5.services.post_ledger_entry(PostLedgerEntry(login, "deposit", amount), mt5.admin)
    return int(login)


@pytest.fixture
def login(mt5: Mt5) -> int:
    """A hedged account with 10000.00, EURUSD quoted 1.10000 / 1.10020, XAUUSD 2000.00 / 2000.50."""
    quote(mt5, "EURUSD", "1.10000", "1.10020")
    quote(mt5, "XAUUSD", "2000.00", "2000.50")
    return funded(mt5)


def send(mt5: Mt5, **request: Any) -> Any:
    """POST a dealer request (Action 200 unless given); None values are left out."""
    body = {"Action": "200", "TypeFill": "0", "Digits": "5", **request}
    return mt5.post("dealer/send_request", json={k: v for k, v in body.items() if v is not None})


def execute(mt5: Mt5, login: int, kind: int, volume: int, **extra: Any) -> dict[str, Any]:
    """A market execution that must succeed; its `result` (IMTConfirm)."""
    extra.setdefault("Symbol", "EURUSD")
    answer = mt5.ok(send(mt5, Login=str(login), Type=str(kind), Volume=str(volume), **extra))
    assert answer["ID"] == answer["id"] == answer["result"]["ID"]
    result: dict[str, Any] = answer["result"]
    return result


def positions(mt5: Mt5, login: int) -> list[dict[str, Any]]:
    page: list[dict[str, Any]] = mt5.ok(mt5.get("position/get_page", login=login, total=0))
    return page


def account(mt5: Mt5, login: int) -> dict[str, Any]:
    state: dict[str, Any] = mt5.ok(mt5.get("user/account/get", login=login))
    return state


def nothing_happened(mt5: Mt5, login: int) -> None:
    assert mt5.services.list_deals(DealQuery(login=login), mt5.admin) == []
    assert mt5.services.list_positions(mt5.admin, logins=[login]) == []
    assert account(mt5, login)["Balance"] == "10000.00"


# --- dealer/send_request: golden shapes ----------------------------------------------------------


def test_a_market_buy_answers_its_deal_and_opens_a_position(mt5: Mt5, login: int) -> None:
    body = {
        "Action": "200",
        "Login": str(login),
        "Symbol": "EURUSD",
        "Volume": "10000",
        "TypeFill": "1",
        "Type": "0",
        "PriceOrder": "1.05",
        "Digits": "5",
        "Comment": "hi",
    }
    response = mt5.post("dealer/send_request", json=body)
    [deal] = mt5.services.list_deals(DealQuery(login=login), mt5.admin)
    ticket = str(deal.id)
    result = {
        "ID": ticket,
        "DealID": ticket,
        "OrderID": ticket,
        "PositionExternalID": "",
        "Retcode": "10009",
        "ExternalRetcode": "0",
        "Volume": "10000",
        "VolumeExt": "100000000",
        "Price": "1.10020",
        "PriceGateway": "0",
        "TickBid": "0",
        "TickAsk": "0",
        "TickLast": "0",
        "Flags": "0",
        "Comment": "hi",
    }
    assert response.json() == {
        "retcode": DONE,
        "answer": {"ID": ticket, "id": ticket, "result": result},
    }
    assert (deal.side, deal.entry, deal.price_decimal) == ("buy", "in", Decimal("1.10020"))
    assert (deal.manager_login, deal.comment) == (1005, "hi")
    at = int(deal.at.timestamp())
    position = mt5.ok(mt5.get("position/get", login=login, symbol="EURUSD"))
    assert list(position) == POSITION_FIELDS
    assert position == {
        "Position": str(deal.position_id), "ExternalID": "", "Login": str(login), "Dealer": "0",
        "Symbol": "EURUSD", "Action": "0", "Digits": "5", "DigitsCurrency": "2", "Reason": "2",
        "ContractSize": "100000", "TimeCreate": str(at), "TimeUpdate": str(at),
        "TimeCreateMsc": str(int(deal.at.timestamp() * 1000)),
        "TimeUpdateMsc": str(int(deal.at.timestamp() * 1000)), "ModifyFlags": "0",
        "PriceOpen": "1.10020", "PriceCurrent": "1.10000", "PriceSL": "0", "PriceTP": "0",
        "Volume": "10000", "VolumeExt": "100000000", "Profit": "-20.00", "Storage": "0.00",
        "RateProfit": "1", "RateMargin": "0", "ExpertID": "0",
        "ExpertPositionID": str(deal.position_id), "Comment": "hi", "ActivationMode": "0",
        "ActivationTime": "0", "ActivationPrice": "0", "ActivationFlags": "0",
        "ApiData": EMPTY_API_DATA, "OrigTimeCreate": str(at), "OrigTimeUpdate": str(at),
    }  # fmt: skip


def test_the_request_result_answers_the_confirmation_and_the_request(mt5: Mt5, login: int) -> None:
    ticket = execute(mt5, login, 1, 2500, Comment="short")["ID"]
    balance_ticket = mt5.services.list_ledger(LedgerQuery(login=login), mt5.admin)[0].id
    answer = mt5.ok(mt5.get("dealer/get_request_result", id=f"{ticket},{balance_ticket},999999"))
    assert list(answer) == [ticket]
    [confirm, request] = answer[ticket]
    assert confirm["result"]["DealID"] == ticket and confirm["result"]["Price"] == "1.10000"
    request = request["answer"]
    assert (request["Login"], request["Group"], request["Symbol"]) == (
        str(login),
        "demoforex",
        "EURUSD",
    )
    assert (request["Action"], request["Type"], request["Volume"]) == ("200", "1", "2500")
    assert (request["ResultRetcode"], request["ResultDeal"], request["ResultOrder"]) == (
        "10009",
        ticket,
        ticket,
    )
    assert (request["ResultPrice"], request["ResultVolume"], request["Position"]) == (
        "1.10000",
        "2500",
        "0",
    )
    assert (request["SourceLogin"], request["ResultDealer"], request["Comment"]) == (
        "1005",
        "1005",
        "short",
    )
    assert mt5.ok(mt5.get("dealer/get_request_result")) == {}
    assert mt5.retcode(mt5.get("dealer/get_request_result", id="x")) == PARAMS


def test_a_request_in_query_form_and_volume_ext_execute_the_same(mt5: Mt5, login: int) -> None:
    query = {"action": 200, "login": login, "symbol": "XAUUSD", "type": 1, "volume_ext": 50000000}
    mt5.ok(mt5.get("dealer/send_request", **query))
    [position] = positions(mt5, login)
    assert (position["Symbol"], position["Action"], position["Volume"]) == ("XAUUSD", "1", "5000")
    assert (position["VolumeExt"], position["PriceOpen"], position["ContractSize"]) == (
        "50000000",
        "2000.00",
        "100",
    )
    # 0.5 lot x 100 oz sold at 2000.00, buys back at 2000.50
    assert position["Profit"] == "-25.00"


# --- hedged and netted accounts ------------------------------------------------------------------


def test_a_hedged_account_holds_both_sides_and_every_read_lists_them(mt5: Mt5, login: int) -> None:
    execute(mt5, login, 0, 10000)
    execute(mt5, login, 1, 5000)
    execute(mt5, login, 0, 100, Symbol="XAUUSD")
    other = funded(mt5)
    execute(mt5, other, 1, 100)
    mine = positions(mt5, login)
    assert [(p["Symbol"], p["Action"], p["Volume"]) for p in mine] == [
        ("EURUSD", "0", "10000"),
        ("EURUSD", "1", "5000"),
        ("XAUUSD", "0", "100"),
    ]
    assert mt5.ok(mt5.get("position/get_total", login=login)) == {"Total": "3"}
    page = mt5.ok(mt5.get("position/get_page", login=login, offset=1, total=1))
    assert page == mine[1:2]
    first = mt5.ok(mt5.get("position/get", login=login, symbol="EURUSD"))
    assert first == mine[0]
    by_login = mt5.ok(mt5.get("position/get_batch", login=f"{login},{other}"))
    assert [p["Login"] for p in by_login] == [str(login)] * 3 + [str(other)]
    by_group = mt5.ok(mt5.get("position/get_batch", group="demo*", symbol="EURUSD"))
    assert [p["Position"] for p in by_group] == [p["Position"] for p in mine[:2]] + [
        by_login[3]["Position"]
    ]
    tickets = f"{mine[2]['Position']},{mine[0]['Position']},999999"
    by_ticket = mt5.ok(mt5.get("position/get_batch", ticket=tickets))
    assert by_ticket == [mine[0], mine[2]]
    assert mt5.ok(mt5.get("position/get_batch", group="real*")) == []
    assert mt5.retcode(mt5.get("position/get", login=login, symbol="GBPUSD")) == NOT_FOUND


def test_a_netted_account_adds_reduces_and_reverses_one_position(mt5: Mt5, login: int) -> None:
    netted = funded(mt5, account_type="NETTED")
    execute(mt5, netted, 0, 6000)
    execute(mt5, netted, 0, 4000)
    [held] = positions(mt5, netted)
    assert (held["Action"], held["Volume"], held["PriceOpen"]) == ("0", "10000", "1.10020")
    quote(mt5, "EURUSD", "1.10520", "1.10540")
    execute(mt5, netted, 1, 4000)  # closes 0.4 at 1.10520: +200.00
    execute(mt5, netted, 1, 10000)  # closes 0.6 (+300.00) and sells 0.4
    [reversed_] = positions(mt5, netted)
    assert reversed_["Position"] == held["Position"]
    assert (reversed_["Action"], reversed_["Volume"], reversed_["PriceOpen"]) == (
        "1",
        "4000",
        "1.10520",
    )
    deals = mt5.ok(mt5.get("deal/get_page", login=netted, total=0))
    trades = [(d["Action"], d["Entry"], d["Volume"], d["Profit"]) for d in deals[1:]]
    assert trades == [
        ("0", "0", "6000", "0.00"),
        ("0", "0", "4000", "0.00"),
        ("1", "1", "4000", "200.00"),
        ("1", "2", "10000", "300.00"),
    ]
    assert account(mt5, netted)["Balance"] == "10500.00"


# --- closing, realised profit, deals and history ------------------------------------------------


def test_a_partial_close_by_position_realises_profit_everywhere(mt5: Mt5, login: int) -> None:
    opened = execute(mt5, login, 0, 10000, Comment="open")
    position = positions(mt5, login)[0]["Position"]
    quote(mt5, "EURUSD", "1.10520", "1.10540")
    closed = execute(mt5, login, 1, 4000, Position=position, Comment="part")
    assert (closed["Price"], closed["Volume"]) == ("1.10520", "4000")
    [rest] = positions(mt5, login)
    assert (rest["Position"], rest["Volume"], rest["Profit"]) == (position, "6000", "300.00")
    state = account(mt5, login)
    assert (state["Balance"], state["Profit"], state["Equity"]) == (
        "10200.00",
        "300.00",
        "10500.00",
    )
    deals = mt5.ok(mt5.get("deal/get_page", login=login, offset=1, total=2))
    assert [d["Deal"] for d in deals] == [opened["ID"], closed["ID"]]
    out = deals[1]
    expected = {
        "Order": closed["ID"], "Action": "1", "Entry": "1", "Digits": "5", "Symbol": "EURUSD",
        "ContractSize": "100000", "Price": "1.10520", "Volume": "4000", "VolumeExt": "40000000",
        "Profit": "200.00", "ProfitRaw": "200.00", "PricePosition": "1.10020",
        "PositionID": position, "ExpertPositionID": position, "RateProfit": "1",
        "VolumeClosed": "4000", "VolumeClosedExt": "40000000", "Comment": "part",
        "Value": "44208.00", "Dealer": "1005", "Reason": "2", "ExternalID": "",
    }  # fmt: skip
    assert {k: out[k] for k in expected} == expected
    assert mt5.ok(mt5.get("deal/get", ticket=closed["ID"])) == out
    history = mt5.ok(mt5.get("history/get_page", login=login, **{"from": 0, "to": 2**33}))
    assert [(o["Order"], o["Type"], o["State"], o["VolumeInitial"]) for o in history] == [
        (opened["ID"], "0", "4", "10000"),
        (closed["ID"], "1", "4", "4000"),
    ]
    assert mt5.ok(mt5.get("history/get_total", login=login)) == {"Total": "2"}
    order = mt5.ok(mt5.get("history/get", ticket=closed["ID"]))
    assert (order["PriceOrder"], order["PositionID"], order["VolumeCurrent"]) == (
        "1.10520",
        position,
        "0",
    )
    assert mt5.get("history/get", ticket=int(opened["ID"]) - 1).json() == {"retcode": NOT_FOUND}
    whole = {"Login": login, "Type": 1, "Position": position}  # no volume: all of it
    full = mt5.ok(send(mt5, **whole))["result"]
    assert (full["Volume"], positions(mt5, login)) == ("6000", [])
    assert account(mt5, login)["Balance"] == "10500.00"


def test_open_orders_are_always_none(mt5: Mt5, login: int) -> None:
    ticket = execute(mt5, login, 0, 100)["ID"]
    assert mt5.ok(mt5.get("order/get_total", login=login)) == {"Total": "0"}
    assert mt5.ok(mt5.get("order/get_page", login=login, total=0)) == []
    assert mt5.get("order/get", ticket=ticket).json() == {"retcode": NOT_FOUND}


# --- the account's figures with positions open ---------------------------------------------------


def test_user_account_get_shows_margin_profit_and_equity(mt5: Mt5, login: int) -> None:
    execute(mt5, login, 0, 10000)
    state = account(mt5, login)
    # margin: 1 lot x 100000 x mid 1.10010 / 100; profit: closes at the bid, 1.10000
    expected = {
        "Balance": "10000.00",
        "Margin": "1100.10",
        "Profit": "-20.00",
        "Floating": "-20.00",
        "Equity": "9980.00",
        "MarginFree": "8879.90",
        "MarginLevel": "907.19",
        "MarginLeverage": "100",
    }
    assert {k: state[k] for k in expected} == expected
    execute(mt5, login, 1, 10000)  # the other leg of a MAX (larger leg) hedge adds no margin
    state = account(mt5, login)
    assert (state["Margin"], state["Profit"], state["Equity"]) == ("1100.10", "-40.00", "9960.00")


def test_check_margin_limits_a_withdrawal_to_the_free_margin(mt5: Mt5, login: int) -> None:
    execute(mt5, login, 0, 50000)  # margin 5500.50, profit -100.00: free margin 4399.50
    withdraw = {"login": login, "type": 2, "balance": "-4400"}
    assert mt5.retcode(mt5.get("trade/balance", **withdraw)) == NO_MONEY
    assert mt5.retcode(mt5.get("trade/balance", **withdraw, check_margin=1)) == NO_MONEY
    assert account(mt5, login)["Balance"] == "10000.00"
    assert mt5.retcode(mt5.get("trade/balance", **{**withdraw, "balance": "-4399.50"})) == DONE
    assert mt5.retcode(mt5.get("trade/balance", **withdraw, check_margin=0)) == DONE
    state = account(mt5, login)
    assert (state["Balance"], state["MarginFree"]) == ("1200.50", "-4400.00")
    beyond = {**withdraw, "balance": "-1200.51"}
    assert mt5.retcode(mt5.get("trade/balance", **beyond, check_margin=0)) == NO_MONEY


def test_an_order_beyond_the_free_margin_is_not_enough_money(mt5: Mt5, login: int) -> None:
    assert mt5.retcode(send(mt5, Login=login, Symbol="EURUSD", Type=0, Volume=1_000_000)) == (
        NO_MONEY
    )
    nothing_happened(mt5, login)


# --- bad requests never execute -----------------------------------------------------------------

BAD = [
    ({"Symbol": "NOPE"}, NOT_FOUND),
    ({"Volume": "0"}, INVALID_VOLUME),
    ({"Volume": "-10000"}, INVALID_VOLUME),
    ({"Volume": "150"}, INVALID_VOLUME),  # 0.015 lot: off the 0.01 step
    ({"Volume": None, "VolumeExt": "1234567"}, INVALID_VOLUME),  # more precise than 1/10000
    ({"Volume": None}, INVALID_VOLUME),
    ({"Volume": "lots"}, PARAMS),
    ({"Type": "7"}, INVALID_REQUEST),
    ({"Type": None}, INVALID_REQUEST),
    ({"Type": "buy"}, PARAMS),
    ({"Action": "201"}, INVALID_REQUEST),
    ({"Action": "3"}, INVALID_REQUEST),
    ({"Action": None}, PARAMS),
    ({"Login": None}, PARAMS),
    ({"Login": "954499"}, NOT_FOUND),
    ({"Symbol": None}, PARAMS),
    ({"Position": "999999"}, NOT_FOUND),
    ({"Position": "-1"}, PARAMS),
    ({"Comment": ["x"]}, PARAMS),
]


@pytest.mark.parametrize(("change", "expected"), BAD)
def test_a_bad_request_is_refused_and_executes_nothing(
    mt5: Mt5, login: int, change: dict[str, Any], expected: str
) -> None:
    request = {"Login": str(login), "Symbol": "EURUSD", "Type": "0", "Volume": "10000", **change}
    response = send(mt5, **request)
    assert response.json() == {"retcode": expected}
    nothing_happened(mt5, login)


def test_a_symbol_without_a_quote_is_no_prices(mt5: Mt5, login: int) -> None:
    mt5.services.create_symbol(CreateSymbol("GBPUSD", {"path": "Forex\\GBPUSD"}), mt5.admin)
    assert mt5.retcode(send(mt5, Login=login, Symbol="GBPUSD", Type=0, Volume=100)) == NO_PRICES
    nothing_happened(mt5, login)


def test_closing_someone_elses_or_with_the_wrong_side_or_too_much_is_refused(
    mt5: Mt5, login: int
) -> None:
    other = funded(mt5)
    execute(mt5, other, 0, 10000)
    theirs = positions(mt5, other)[0]["Position"]
    closing = {"Type": "1", "Volume": "10000", "Position": theirs}
    assert mt5.retcode(send(mt5, Login=login, Symbol="EURUSD", **closing)) == NOT_FOUND
    assert mt5.retcode(send(mt5, Login=other, Symbol="XAUUSD", **closing)) == NOT_FOUND
    assert mt5.retcode(send(mt5, Login=other, **{**closing, "Type": "0"})) == INVALID_REQUEST
    assert mt5.retcode(send(mt5, Login=other, **{**closing, "Volume": "20000"})) == INVALID_VOLUME
    nothing_happened(mt5, login)
    assert [p["Volume"] for p in positions(mt5, other)] == ["10000"]
    assert len(mt5.services.list_deals(DealQuery(login=other), mt5.admin)) == 1


def test_an_account_with_trading_disabled_is_trade_disabled(mt5: Mt5, login: int) -> None:
    rights = str(DEFAULT_RIGHTS | RIGHT_TRADE_DISABLED)
    mt5.ok(mt5.post("user/update", {"login": login}, {"Rights": rights}))
    assert mt5.retcode(send(mt5, Login=login, Symbol="EURUSD", Type=0, Volume=100)) == (
        TRADE_DISABLED
    )
    nothing_happened(mt5, login)


def test_a_manager_without_trades_write_lacks_permissions(mt5: Mt5, login: int) -> None:
    rights = frozenset(SCOPES) - {"trades:write", "admin"}
    reader = mt5.as_manager(1006, rights=rights)
    assert reader.retcode(send(reader, Login=login, Symbol="EURUSD", Type=0, Volume=100)) == (
        PERMISSIONS
    )
    nothing_happened(mt5, login)


def test_a_manager_out_of_reach_of_the_account_finds_nothing(mt5: Mt5, login: int) -> None:
    limited = mt5.as_manager(1006, group_mask="real*")
    assert limited.retcode(send(limited, Login=login, Symbol="EURUSD", Type=0, Volume=100)) == (
        NOT_FOUND
    )
    ticket = execute(mt5, login, 0, 100)["ID"]
    assert limited.ok(limited.get("dealer/get_request_result", id=ticket)) == {}
    assert limited.retcode(limited.get("position/get_total", login=login)) == NOT_FOUND


# --- ticks ---------------------------------------------------------------------------------------


def test_tick_last_answers_the_latest_quotes_and_what_changed_since(mt5: Mt5, login: int) -> None:
    response = mt5.get("tick/last", symbol="EURUSD,XAU*", trans_id=0)
    body = response.json()
    assert list(body) == ["retcode", "trans_id", "answer"] and body["retcode"] == DONE
    quotes = {q.symbol: q for q in mt5.services.list_quotes(mt5.admin)}
    eur = quotes["EURUSD"]
    assert body["answer"][0] == {
        "Symbol": "EURUSD",
        "Digits": "5",
        "Datetime": str(int(eur.at.timestamp())),
        "DatetimeMsc": str(int(eur.at.timestamp() * 1000)),
        "Bid": "1.10000",
        "Ask": "1.10020",
        "Last": "0.00000",
        "Volume": "0",
        "VolumeReal": "0.00",
    }
    assert [t["Symbol"] for t in body["answer"]] == ["EURUSD", "XAUUSD"]
    assert body["answer"][1]["Digits"] == "2" and body["answer"][1]["Ask"] == "2000.50"
    newest = max(int(t["DatetimeMsc"]) for t in body["answer"])
    assert body["trans_id"] == str(newest)
    unchanged = mt5.get("tick/last", symbol="EURUSD,XAU*", trans_id=newest).json()
    assert unchanged == {"retcode": DONE, "trans_id": str(newest), "answer": []}
    assert mt5.get("tick/last", symbol="NOPE").json() == {"retcode": NOT_FOUND}
    assert mt5.retcode(mt5.get("tick/last")) == PARAMS
    by_group = mt5.get("tick/last_group", symbol="EURUSD", group="demoforex").json()
    assert by_group["answer"] == body["answer"][:1]
    assert mt5.retcode(mt5.get("tick/last_group", symbol="EURUSD", group="nope")) == NOT_FOUND


def test_a_manager_cannot_deal_against_a_quote_it_set_itself(mt5: Mt5, login: int) -> None:
    execute(mt5, login, 0, 10000)  # at the system's quote
    position = positions(mt5, login)[0]["Position"]
    own = Actor(manager_login=mt5.login, scopes=frozenset(SCOPES), dialect=Dialect.NATIVE)
    mt5.services.set_quotes([QuoteInput("EURUSD", "1.50000", "1.50000")], own)

    close = send(
        mt5, Login=str(login), Type="1", Volume="10000", Symbol="EURUSD", Position=position
    )
    again = send(mt5, Login=str(login), Type="0", Volume="10000", Symbol="EURUSD")

    assert mt5.retcode(close) == mt5.retcode(again) == PERMISSIONS
    assert len(positions(mt5, login)) == 1
    quote(mt5, "EURUSD", "1.10000", "1.10020")  # the feed again
    assert (
        mt5.retcode(send(mt5, Login=str(login), Type="0", Volume="10000", Symbol="EURUSD")) == DONE
    )
