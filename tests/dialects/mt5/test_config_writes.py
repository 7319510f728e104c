"""MT5 configuration writes over HTTP on both engines: group/add|delete and symbol/add|delete
reach the core's group and symbol commands (admin only, reach checked), answer the object as
group/get and symbol/get do, and refuse to delete what accounts, users or positions use."""

from __future__ import annotations

from typing import Any

from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import SCOPES
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.trading.commands import OpenPosition, QuoteInput
from tests.dialects.mt5.conftest import Mt5

DONE = "0 Done"
PARAMS = "3 Invalid parameters"
PERMISSIONS = "8 Not enough permissions"
NOT_FOUND = "13 Not found"
IN_USE = "2003 Accounts or trades in group/symbol"


def body(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


# --- group/add ----------------------------------------------------------------------------------


def test_group_add_creates_the_group_from_mt5_fields_and_answers_it(mt5: Mt5) -> None:
    sent = {
        "Group": "real\\pro",
        "Currency": "EUR",
        "Company": "Acme",
        "AuthPasswordMin": "10",
        "MarginCall": "80",
        "MarginStopOut": "40",
        "DemoLeverage": "200",
        "MarginMode": "0",
        "NewsMode": "2",
    }
    answer = mt5.ok(mt5.post("group/add", json=sent))
    assert {
        k: answer[k]
        for k in (
            "Group",
            "Currency",
            "CurrencyDigits",
            "Company",
            "AuthPasswordMin",
            "MarginCall",
            "MarginStopOut",
            "DemoLeverage",
            "MarginMode",
        )
    } == {
        "Group": "real\\pro",
        "Currency": "EUR",
        "CurrencyDigits": "2",
        "Company": "Acme",
        "AuthPasswordMin": "10",
        "MarginCall": "80",
        "MarginStopOut": "40",
        "DemoLeverage": "200",
        "MarginMode": "0",
    }
    assert mt5.ok(mt5.get("group/get", group="real\\pro")) == answer
    group = mt5.services.get_group("real\\pro", mt5.admin)
    assert (group.currency, group.margin_mode, group.default_leverage) == ("EUR", "NET", 200)


def test_group_add_of_an_existing_group_updates_what_it_names(mt5: Mt5) -> None:
    sent = {"Group": "demo\\vip", "MarginCall": "120", "MarginMode": "2", "MarginFlags": "4"}
    answer = mt5.ok(mt5.post("group/add", json=sent))
    assert (answer["MarginCall"], answer["MarginFlags"]) == ("120", "4")
    group = mt5.services.get_group("demo\\vip", mt5.admin)
    assert (str(group.margin_call), group.password_min_length, group.margin_mode) == (
        "120",
        10,
        "MAX",
    )


def test_group_add_without_currency_takes_the_server_currency(mt5: Mt5) -> None:
    answer = mt5.ok(mt5.get("group/add", group="demo\\plain"))
    assert answer["Currency"] == mt5.services.config.server_currency


def test_group_add_with_bad_fields_is_invalid_and_creates_nothing(mt5: Mt5) -> None:
    for sent in (
        {"Currency": "USD"},
        {"Group": "x\\y", "MarginMode": "1"},
        {"Group": "x\\y", "AuthPasswordMin": "lots"},
        {"Group": "x\\y", "MarginCall": "-5"},
    ):
        assert body(mt5.post("group/add", json=sent))["retcode"] == PARAMS, sent
    assert [g.name for g in mt5.services.list_groups(mt5.admin) if g.name == "x\\y"] == []


def test_group_add_and_delete_need_admin_and_a_reach_covering_the_group(mt5: Mt5) -> None:
    clerk = mt5.as_manager(3001, rights=frozenset(SCOPES) - {"admin"})
    assert clerk.retcode(clerk.post("group/add", json={"Group": "demo\\new"})) == PERMISSIONS
    assert clerk.retcode(clerk.get("group/delete", group="demo\\eur")) == PERMISSIONS
    limited = mt5.as_manager(3002, group_mask="demo\\*")
    assert limited.retcode(limited.post("group/add", json={"Group": "real\\x"})) == PERMISSIONS
    assert limited.retcode(limited.get("group/delete", group="real\\standard")) == NOT_FOUND
    assert limited.ok(limited.post("group/add", json={"Group": "demo\\mine"}))["Group"] == (
        "demo\\mine"
    )


# --- group/delete -------------------------------------------------------------------------------


def test_group_delete_removes_an_unused_group_and_audits_it(mt5: Mt5) -> None:
    mt5.ok(mt5.get("group/add", group="demo\\temp"))
    assert body(mt5.get("group/delete", group="demo\\temp")) == {"retcode": DONE}
    assert mt5.retcode(mt5.get("group/get", group="demo\\temp")) == NOT_FOUND
    audit = mt5.services.query_audit(AuditQuery(entity_type="group"), mt5.admin)
    assert "group.deleted" in [r.action for r in audit]


def test_a_group_with_accounts_even_deleted_ones_cannot_be_deleted(mt5: Mt5) -> None:
    login = mt5.add_user(group="demo\\eur")["Login"]
    assert mt5.retcode(mt5.get("group/delete", group="demo\\eur")) == IN_USE
    mt5.ok(mt5.get("user/delete", login=login))
    assert mt5.retcode(mt5.get("group/delete", group="demo\\eur")) == IN_USE
    assert mt5.ok(mt5.get("group/get", group="demo\\eur"))["Group"] == "demo\\eur"


def test_group_delete_of_an_unknown_group_or_without_a_name(mt5: Mt5) -> None:
    assert mt5.retcode(mt5.get("group/delete", group="no\\such")) == NOT_FOUND
    assert mt5.retcode(mt5.get("group/delete")) == PARAMS


# --- symbol/add and symbol/delete ---------------------------------------------------------------


def test_symbol_add_creates_the_symbol_from_mt5_fields_and_answers_it(mt5: Mt5) -> None:
    sent = {
        "Symbol": "GBPUSD",
        "Path": "Forex\\Major\\GBPUSD",
        "Description": "Pound",
        "Digits": "5",
        "ContractSize": "100000",
        "CurrencyBase": "GBP",
        "CurrencyProfit": "USD",
        "CurrencyMargin": "GBP",
        "TradeMode": "3",
        "VolumeMin": "1000",
        "VolumeMaxExt": "20000000000",
        "VolumeStep": "1000",
    }
    answer = mt5.ok(mt5.post("symbol/add", json=sent))
    assert {
        k: answer[k]
        for k in (
            "Symbol",
            "Path",
            "Digits",
            "ContractSize",
            "TradeMode",
            "VolumeMin",
            "VolumeMax",
            "VolumeStep",
        )
    } == {
        "Symbol": "GBPUSD",
        "Path": "Forex\\Major\\GBPUSD",
        "Digits": "5",
        "ContractSize": "100000",
        "TradeMode": "3",
        "VolumeMin": "1000",
        "VolumeMax": "2000000",
        "VolumeStep": "1000",
    }
    assert mt5.ok(mt5.get("symbol/get", symbol="GBPUSD")) == answer


def test_symbol_add_of_an_existing_symbol_updates_it(mt5: Mt5) -> None:
    answer = mt5.ok(mt5.post("symbol/add", json={"Symbol": "EURUSD", "TradeMode": "0"}))
    assert (answer["TradeMode"], answer["Path"]) == ("0", "Forex\\Major\\EURUSD")


def test_symbol_add_with_bad_fields_is_invalid(mt5: Mt5) -> None:
    for sent in (
        {"Path": "x"},
        {"Symbol": "ABCDEF", "TradeMode": "9"},
        {"Symbol": "ABCDEF", "Digits": "many"},
        {"Symbol": "ABCDEF", "Digits": "40"},
    ):
        assert mt5.retcode(mt5.post("symbol/add", json=sent)) == PARAMS, sent
    assert mt5.retcode(mt5.get("symbol/get", symbol="ABCDEF")) == NOT_FOUND


def test_symbol_add_refuses_a_contract_size_or_volume_out_of_bounds(mt5: Mt5) -> None:
    before = mt5.ok(mt5.get("symbol/get", symbol="EURUSD"))
    for sent in (
        {"Symbol": "EURUSD", "ContractSize": "1e999999"},
        {"Symbol": "EURUSD", "ContractSize": "1000000001"},
        {"Symbol": "EURUSD", "ContractSize": "0.000000001"},
        {"Symbol": "EURUSD", "ContractSize": "1e-999999"},
        {"Symbol": "EURUSD", "VolumeMaxExt": "9223372036854775807"},
        {"Symbol": "ABCDEF", "ContractSize": "1e999999"},
    ):
        assert mt5.retcode(mt5.post("symbol/add", json=sent)) == PARAMS, sent
    assert mt5.ok(mt5.get("symbol/get", symbol="EURUSD")) == before
    assert mt5.retcode(mt5.get("symbol/get", symbol="ABCDEF")) == NOT_FOUND
    # the largest contract size is taken, and the what-if calls still answer on it
    big = {"Symbol": "EURUSD", "ContractSize": "1000000000", "VolumeMaxExt": "100000000000000000"}
    assert mt5.ok(mt5.post("symbol/add", json=big))["ContractSize"] == "1000000000"
    profit = mt5.get(
        "trade/calc_profit",
        group="demoforex",
        symbol="EURUSD",
        type="0",
        volume="100000000000000000",
        price_open="0.0000000001",
        price_close="1000000000",
    )
    assert mt5.retcode(profit) == "0 Done"
    login = mt5.add_user()["Login"]
    margin = mt5.get(
        "trade/check_margin",
        login=login,
        symbol="EURUSD",
        type="0",
        volume="100000000000000000",
        price="1000000000",
    )
    assert mt5.retcode(margin) == "0 Done"


def test_symbols_need_admin_with_unlimited_reach(mt5: Mt5) -> None:
    limited = mt5.as_manager(3003, group_mask="demo\\*")
    assert limited.retcode(limited.post("symbol/add", json={"Symbol": "AUDUSD"})) == PERMISSIONS
    assert limited.retcode(limited.get("symbol/delete", symbol="XAUUSD")) == PERMISSIONS
    clerk = mt5.as_manager(3004, rights=frozenset(SCOPES) - {"admin"})
    assert clerk.retcode(clerk.get("symbol/delete", symbol="XAUUSD")) == PERMISSIONS
    assert mt5.ok(mt5.get("symbol/get", symbol="XAUUSD"))["Symbol"] == "XAUUSD"


def test_symbol_delete_removes_it_and_its_quote_unless_a_position_is_open(mt5: Mt5) -> None:
    mt5.services.set_quotes(
        [QuoteInput("EURUSD", "1.10000", "1.10020"), QuoteInput("XAUUSD", "2000.00", "2000.50")],
        mt5.admin,
    )
    login = mt5.services.open_account(
        OpenAccount("demoforex", leverage=100, name="A"), mt5.admin
    ).login
    mt5.services.post_ledger_entry(PostLedgerEntry(login, "deposit", "10000"), mt5.admin)
    mt5.services.open_position(OpenPosition(login, "EURUSD", "buy", "0.1"), mt5.admin)
    assert mt5.retcode(mt5.get("symbol/delete", symbol="EURUSD")) == IN_USE
    assert body(mt5.get("symbol/delete", symbol="XAUUSD")) == {"retcode": DONE}
    assert mt5.retcode(mt5.get("symbol/get", symbol="XAUUSD")) == NOT_FOUND
    assert [q.symbol for q in mt5.services.list_quotes(mt5.admin)] == ["EURUSD"]
    assert mt5.retcode(mt5.get("symbol/delete", symbol="XAUUSD")) == NOT_FOUND
    assert mt5.retcode(mt5.get("symbol/delete")) == PARAMS
