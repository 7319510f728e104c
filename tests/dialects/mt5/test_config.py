"""MT5 group and symbol commands over HTTP on both engines: the objects' shapes, masks with `!`
and backslashes, next/count paging, the 5,000 cap, reach and rights."""

from __future__ import annotations

from typing import Any

import pytest

from brokerplane.api.mt5 import wire
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.symbol.commands import CreateSymbol
from tests.dialects.mt5.conftest import Mt5

# The fields otokarev/mt5tk's Go entities declare (all `string` or arrays): a JSON number or a
# missing array would break its decoder, so every one of them is present.
_GROUP_FIELDS = (
    "Group Server PermissionsFlags AuthMode AuthPasswordMin AuthOTPMode Company CompanyPage "
    "CompanyEmail CompanySupportPage CompanySupportEmail CompanyCatalog CompanyDepositURL "
    "CompanyWithdrawalURL Currency CurrencyDigits ReportsMode ReportsFlags ReportsEmail NewsMode "
    "NewsCategory NewsLangs MailMode TradeFlags TradeTransferMode TradeInterestrate "
    "TradeVirtualCredit MarginMode MarginFlags MarginSOMode MarginFreeMode MarginCall "
    "MarginStopOut MarginFreeProfitMode DemoLeverage DemoDeposit DemoTradesClean LimitHistory "
    "LimitOrders LimitSymbols LimitPositions Commissions Symbols"
)
GROUP_FIELDS = _GROUP_FIELDS.split()
_SYMBOL_FIELDS = (
    "Symbol Path ISIN CFI Category Exchange Description International Sector Industry Country "
    "Basis Source Page CurrencyBase CurrencyBaseDigits CurrencyProfit CurrencyProfitDigits "
    "CurrencyMargin CurrencyMarginDigits Color ColorBackground Digits Point Multiply TickFlags "
    "TickBookDepth TickChartMode SubscriptionsDelay FilterSoft FilterSoftTicks FilterHard "
    "FilterHardTicks FilterDiscard FilterSpreadMax FilterSpreadMin FilterGap FilterGapTicks "
    "TradeMode TradeFlags CalcMode ExecMode GTCMode FillFlags ExpirFlags OrderFlags Spread "
    "SpreadBalance SpreadDiff SpreadDiffBalance TickValue TickSize ContractSize StopsLevel "
    "FreezeLevel QuotesTimeout VolumeMin VolumeMinExt VolumeMax VolumeMaxExt VolumeStep "
    "VolumeStepExt VolumeLimit VolumeLimitExt MarginFlags MarginInitial MarginMaintenance "
    "MarginInitialBuy MarginInitialSell MarginInitialBuyLimit MarginInitialSellLimit "
    "MarginInitialBuyStop MarginInitialSellStop MarginInitialBuyStopLimit "
    "MarginInitialSellStopLimit MarginMaintenanceBuy MarginMaintenanceSell "
    "MarginMaintenanceBuyLimit MarginMaintenanceSellLimit MarginMaintenanceBuyStop "
    "MarginMaintenanceSellStop MarginMaintenanceBuyStopLimit MarginMaintenanceSellStopLimit "
    "MarginLiquidity MarginHedged MarginCurrency SwapMode SwapLong SwapShort Swap3Day "
    "SwapYearDay TimeStart TimeExpiration SessionsQuotes SessionsTrades REFlags RETimeout "
    "IECheckMode IETimeout IESlipProfit IESlipLosing IEVolumeMax IEVolumeMaxExt PriceSettle "
    "PriceLimitMax PriceLimitMin PriceStrike OptionMode FaceValue AccruedInterest SpliceType "
    "SpliceTimeType SpliceTimeDays"
)
SYMBOL_FIELDS = _SYMBOL_FIELDS.split()
ARRAYS = {"NewsLangs", "Commissions", "Symbols", "SessionsQuotes", "SessionsTrades"}

DEMO = ["demo\\eur", "demo\\vip"]  # the groups `demo\*` admits in the fixture
ALL_GROUPS = ["demo\\eur", "demo\\vip", "demoforex", "real\\standard"]  # in name order


def scalars(value: Any) -> list[Any]:
    """Every scalar inside an answer, however deeply nested."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in scalars(v)]
    if isinstance(value, list):
        return [s for v in value for s in scalars(v)]
    return [value]


def names(answer: list[dict[str, Any]], key: str = "Group") -> list[str]:
    return [item[key] for item in answer]


def body(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# ---- groups -----------------------------------------------------------------------------------


def test_group_total_counts_every_group_the_manager_sees(mt5: Mt5) -> None:
    assert mt5.ok(mt5.get("group/total")) == {"Total": "4"}


def test_group_get_answers_the_group_object_with_every_scalar_a_string(mt5: Mt5) -> None:
    group = mt5.ok(mt5.get("group/get", group="demo\\vip"))

    assert set(GROUP_FIELDS) <= set(group)
    assert all(isinstance(group[k], list) for k in ARRAYS & set(group))
    assert all(isinstance(s, str) for s in scalars(group))
    assert {k: group[k] for k in ("Group", "Server", "AuthMode", "AuthPasswordMin", "Currency",
                                  "CurrencyDigits", "MarginCall", "MarginStopOut", "MarginMode",
                                  "MarginSOMode", "DemoLeverage")} == {
        "Group": "demo\\vip", "Server": "brokerplane", "AuthMode": "0", "AuthPasswordMin": "10",
        "Currency": "USD", "CurrencyDigits": "2", "MarginCall": "100", "MarginStopOut": "50",
        "MarginMode": "2", "MarginSOMode": "0", "DemoLeverage": "100",
    }  # fmt: skip


def test_group_object_carries_the_groups_own_settings(mt5: Mt5) -> None:
    mt5.services.create_group(
        CreateGroup(
            "real\\netting",
            "JPY",
            {
                "company": "Acme Ltd",
                "margin_mode": "NET",
                "default_account_type": "NETTED",
                "default_leverage": 30,
                "margin_call": "80.5",
                "stop_out": "20",
                "permissions": 2,
            },
        ),
        mt5.admin,
    )

    group = mt5.ok(mt5.get("group/get", group="real\\netting"))

    assert {
        k: group[k]
        for k in (
            "Company",
            "Currency",
            "CurrencyDigits",
            "MarginMode",
            "MarginFlags",
            "DemoLeverage",
            "MarginCall",
            "MarginStopOut",
            "PermissionsFlags",
        )
    } == {
        "Company": "Acme Ltd",
        "Currency": "JPY",
        "CurrencyDigits": "0",
        "MarginMode": "0",
        "MarginFlags": "0",
        "DemoLeverage": "30",
        "MarginCall": "80.5",
        "MarginStopOut": "20",
        "PermissionsFlags": "2",
    }


def test_a_group_with_the_larger_leg_margin_is_retail_hedged_with_the_large_leg_flag(
    mt5: Mt5,
) -> None:
    group = mt5.ok(mt5.get("group/get", group="demoforex"))  # margin_mode MAX by default

    assert (group["MarginMode"], group["MarginFlags"]) == ("2", "4")


@pytest.mark.parametrize("name", ["demo\\vip", "demo\\\\vip"], ids=["single", "escaped"])
def test_a_group_name_is_found_with_its_backslash_sent_plain_or_escaped(
    mt5: Mt5, name: str
) -> None:
    assert mt5.ok(mt5.get("group/get", group=name))["Group"] == "demo\\vip"


def test_group_get_of_an_unknown_group_is_not_found(mt5: Mt5) -> None:
    assert mt5.retcode(mt5.get("group/get", group="demo\\nope")) == "13 Not found"


def test_group_get_without_a_name_or_mask_is_invalid(mt5: Mt5) -> None:
    assert mt5.retcode(mt5.get("group/get")) == "3 Invalid parameters"
    assert mt5.retcode(mt5.get("group/get", group="", mask=" ")) == "3 Invalid parameters"


def test_group_get_by_name_wins_over_a_mask(mt5: Mt5) -> None:
    group = mt5.ok(mt5.get("group/get", group="demoforex", mask="demo\\*"))

    assert isinstance(group, dict) and group["Group"] == "demoforex"


@pytest.mark.parametrize("mask", ["demo\\*", "demo\\\\*"], ids=["single", "escaped"])
def test_a_mask_with_a_backslash_selects_the_groups_below_the_path(mt5: Mt5, mask: str) -> None:
    assert names(mt5.ok(mt5.get("group/get", mask=mask))) == DEMO


def test_a_mask_given_unencoded_in_the_url_is_read_as_sent(mt5: Mt5) -> None:
    response = mt5.client.get("/api/group/get?mask=demo\\\\*,!demo\\vip")

    assert names(mt5.ok(response)) == ["demo\\eur"]


def test_a_mask_in_a_json_body_is_read_without_query_unescaping(mt5: Mt5) -> None:
    response = mt5.post("group/get", json={"Mask": "demo\\*"})

    assert names(mt5.ok(response)) == DEMO


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        ("demo*,!demo\\vip", ["demo\\eur", "demoforex"]),
        ("!demo*", ["real\\standard"]),
        ("*,!demo\\*", ["demoforex", "real\\standard"]),
        ("DEMOFOREX", ["demoforex"]),
        ("nothing*", []),
    ],
)
def test_mask_exclusions_leave_the_named_groups_out(
    mt5: Mt5, mask: str, expected: list[str]
) -> None:
    answer = mt5.ok(mt5.get("group/get", mask=mask))

    assert isinstance(answer, list) and names(answer) == expected


def test_a_mask_with_one_match_still_answers_an_array(mt5: Mt5) -> None:
    answer = mt5.ok(mt5.get("group/get", mask="real\\*"))

    assert isinstance(answer, list) and names(answer) == ["real\\standard"]


def test_group_next_walks_the_groups_by_index(mt5: Mt5) -> None:
    walked = [mt5.ok(mt5.get("group/next", index=i))["Group"] for i in range(4)]

    assert walked == ALL_GROUPS
    assert mt5.ok(mt5.get("group/next", index=0)) == mt5.ok(mt5.get("group/get", group=DEMO[0]))


def test_group_next_with_a_count_answers_an_array_of_what_exists(mt5: Mt5) -> None:
    assert names(mt5.ok(mt5.get("group/next", index=1, count=2))) == ALL_GROUPS[1:3]
    assert names(mt5.ok(mt5.get("group/next", index=2, count=50))) == ALL_GROUPS[2:]


@pytest.mark.parametrize("count", ["1", "0"])
def test_group_next_with_a_count_of_one_answers_one_object(mt5: Mt5, count: str) -> None:
    answer = mt5.ok(mt5.get("group/next", index=1, count=count))

    assert isinstance(answer, dict) and answer["Group"] == ALL_GROUPS[1]


def test_group_next_past_the_last_group_is_not_found(mt5: Mt5) -> None:
    assert body(mt5.get("group/next", index=4)) == {"retcode": "13 Not found"}
    assert mt5.retcode(mt5.get("group/next", index=4, count=3)) == "13 Not found"


@pytest.mark.parametrize(
    "params", [{}, {"index": "-1"}, {"index": "x"}, {"index": "0", "count": "-2"}]
)
def test_group_next_with_a_bad_index_or_count_is_invalid(mt5: Mt5, params: dict[str, str]) -> None:
    assert mt5.retcode(mt5.get("group/next", **params)) == "3 Invalid parameters"


def test_a_mask_matching_more_than_the_limit_answers_the_limit_and_partial_error(
    mt5: Mt5, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wire, "MASK_LIMIT", 3)

    capped = body(mt5.get("group/get", mask="*"))
    exact = body(mt5.get("group/get", mask="demo*"))

    assert capped["retcode"] == "14 Partial error"
    assert names(capped["answer"]) == ALL_GROUPS[:3]
    assert exact["retcode"] == "0 Done" and names(exact["answer"]) == ALL_GROUPS[:3]


def test_group_next_with_a_count_beyond_the_limit_is_partial(
    mt5: Mt5, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wire, "MASK_LIMIT", 2)

    capped = body(mt5.get("group/next", index=0, count=10))
    tail = body(mt5.get("group/next", index=2, count=10))

    assert capped["retcode"] == "14 Partial error" and names(capped["answer"]) == ALL_GROUPS[:2]
    assert tail["retcode"] == "0 Done" and names(tail["answer"]) == ALL_GROUPS[2:]


def test_a_manager_limited_to_demo_groups_sees_only_those(mt5: Mt5) -> None:
    limited = mt5.as_manager(2001, group_mask="demo\\*")

    assert limited.ok(limited.get("group/total")) == {"Total": "2"}
    assert names(limited.ok(limited.get("group/get", mask="*"))) == DEMO
    assert names(limited.ok(limited.get("group/next", index=0, count=10))) == DEMO
    assert limited.retcode(limited.get("group/next", index=2)) == "13 Not found"
    assert limited.ok(limited.get("group/get", group="demo\\vip"))["Group"] == "demo\\vip"


@pytest.mark.parametrize("group", ["demoforex", "real\\standard"])
def test_a_group_out_of_reach_reads_as_not_found(mt5: Mt5, group: str) -> None:
    limited = mt5.as_manager(2002, group_mask="demo\\*")

    assert limited.retcode(limited.get("group/get", group=group)) == "13 Not found"
    assert limited.retcode(limited.get("symbol/get_group", symbol="EURUSD", group=group)) == (
        "13 Not found"
    )


READS = [
    ("group/total", {}),
    ("group/get", {"group": "demoforex"}),
    ("group/next", {"index": "0"}),
    ("symbol/total", {}),
    ("symbol/list", {}),
    ("symbol/get", {"symbol": "EURUSD"}),
    ("symbol/next", {"index": "0"}),
    ("symbol/get_group", {"symbol": "EURUSD", "group": "demoforex"}),
]


def test_reading_groups_and_symbols_needs_the_read_right(mt5: Mt5) -> None:
    clerk = mt5.as_manager(2003, rights=frozenset({"balances:write"}))

    refused = {cmd: clerk.retcode(clerk.get(cmd, **params)) for cmd, params in READS}

    assert refused == {cmd: "8 Not enough permissions" for cmd, _ in READS}


# ---- symbols ----------------------------------------------------------------------------------


def test_symbol_total_and_list_name_every_symbol(mt5: Mt5) -> None:
    assert mt5.ok(mt5.get("symbol/total")) == {"Total": "2"}
    assert mt5.ok(mt5.get("symbol/list")) == ["EURUSD", "XAUUSD"]


def test_symbol_get_answers_the_symbol_object_with_every_scalar_a_string(mt5: Mt5) -> None:
    symbol = mt5.ok(mt5.get("symbol/get", symbol="XAUUSD"))

    assert set(SYMBOL_FIELDS) <= set(symbol)
    assert all(isinstance(symbol[k], list) for k in ARRAYS & set(symbol))
    assert all(isinstance(s, str) for s in scalars(symbol))
    assert {k: symbol[k] for k in ("Symbol", "Path", "CurrencyBase", "CurrencyProfit",
                                   "CurrencyMargin", "Digits", "Point", "Multiply",
                                   "ContractSize", "TickSize", "TradeMode", "VolumeMin",
                                   "VolumeMinExt", "VolumeMax", "VolumeStep",
                                   "VolumeStepExt")} == {
        "Symbol": "XAUUSD", "Path": "Metals\\XAUUSD", "CurrencyBase": "XAU",
        "CurrencyProfit": "USD", "CurrencyMargin": "XAU", "Digits": "2", "Point": "0.01",
        "Multiply": "100", "ContractSize": "100", "TickSize": "0.01", "TradeMode": "4",
        "VolumeMin": "100", "VolumeMinExt": "1000000", "VolumeMax": "1000000",
        "VolumeStep": "100", "VolumeStepExt": "1000000",
    }  # fmt: skip


def test_symbol_object_carries_the_symbols_own_settings(mt5: Mt5) -> None:
    mt5.services.create_symbol(
        CreateSymbol(
            "GBPJPY",
            {
                "path": "Forex\\Minor\\GBPJPY",
                "description": "Pound vs Yen",
                "isin": "GB0000000001",
                "digits": 3,
                "trade_mode": "CLOSEONLY",
                "volume_min": "0.1",
                "volume_max": "50",
            },
        ),
        mt5.admin,
    )

    symbol = mt5.ok(mt5.get("symbol/get", symbol="GBPJPY"))

    assert {
        k: symbol[k]
        for k in (
            "Description",
            "ISIN",
            "Digits",
            "Point",
            "TradeMode",
            "CurrencyBase",
            "CurrencyProfit",
            "CurrencyProfitDigits",
            "VolumeMin",
            "VolumeMaxExt",
        )
    } == {
        "Description": "Pound vs Yen",
        "ISIN": "GB0000000001",
        "Digits": "3",
        "Point": "0.001",
        "TradeMode": "3",
        "CurrencyBase": "GBP",
        "CurrencyProfit": "JPY",
        "CurrencyProfitDigits": "0",
        "VolumeMin": "1000",
        "VolumeMaxExt": "5000000000",
    }


def test_symbol_object_carries_the_execution_parameters_set_natively(mt5: Mt5) -> None:
    mt5.services.create_symbol(
        CreateSymbol(
            "GBPUSD",
            {
                "spread": 15,
                "stops_level": 40,
                "swap_long": "-3.5",
                "swap_short": "0.75",
                "sessions": {"MON": ["01:00-12:30", "13:00-23:00"]},
            },
        ),
        mt5.admin,
    )

    symbol = mt5.ok(mt5.get("symbol/get", symbol="GBPUSD"))

    assert {
        k: symbol[k] for k in ("Spread", "StopsLevel", "SwapMode", "SwapLong", "SwapShort")
    } == {
        "Spread": "15",
        "StopsLevel": "40",
        "SwapMode": "1",
        "SwapLong": "-3.5",
        "SwapShort": "0.75",
    }
    monday = symbol["SessionsTrades"][1]
    assert [(s["Open"], s["Close"]) for s in monday] == [("60", "750"), ("780", "1380")]
    assert symbol["SessionsQuotes"][0] == []  # Sunday: no session


def test_symbol_get_of_an_unknown_symbol_is_not_found(mt5: Mt5) -> None:
    assert body(mt5.get("symbol/get", symbol="NOPE")) == {"retcode": "13 Not found"}


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        ("Forex\\*", ["EURUSD"]),
        ("Forex\\\\*", ["EURUSD"]),
        ("*,!Forex\\*", ["XAUUSD"]),
        ("EUR*", ["EURUSD"]),
        ("!XAU*", ["EURUSD"]),
        ("Metals\\*,Forex\\Major\\*", ["EURUSD", "XAUUSD"]),
        ("Indices\\*", []),
    ],
)
def test_symbol_masks_match_names_and_paths(mt5: Mt5, mask: str, expected: list[str]) -> None:
    answer = mt5.ok(mt5.get("symbol/get", mask=mask))

    assert isinstance(answer, list) and names(answer, "Symbol") == expected


def test_symbol_get_by_name_wins_over_a_mask(mt5: Mt5) -> None:
    answer = mt5.ok(mt5.get("symbol/get", symbol="XAUUSD", mask="Forex\\*"))

    assert isinstance(answer, dict) and answer["Symbol"] == "XAUUSD"


def test_symbol_get_without_a_name_or_mask_is_invalid(mt5: Mt5) -> None:
    assert mt5.retcode(mt5.get("symbol/get")) == "3 Invalid parameters"


def test_a_symbol_mask_matching_more_than_the_limit_is_partial(
    mt5: Mt5, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wire, "MASK_LIMIT", 1)

    capped = body(mt5.get("symbol/get", mask="*"))

    assert capped["retcode"] == "14 Partial error"
    assert names(capped["answer"], "Symbol") == ["EURUSD"]


def test_symbol_next_walks_the_symbols_and_counts(mt5: Mt5) -> None:
    first = mt5.ok(mt5.get("symbol/next", index=0))
    both = mt5.ok(mt5.get("symbol/next", index=0, count=2))

    assert first == mt5.ok(mt5.get("symbol/get", symbol="EURUSD"))
    assert mt5.ok(mt5.get("symbol/next", index=1))["Symbol"] == "XAUUSD"
    assert names(both, "Symbol") == ["EURUSD", "XAUUSD"]
    assert mt5.retcode(mt5.get("symbol/next", index=2)) == "13 Not found"
    assert mt5.retcode(mt5.get("symbol/next", index=-1)) == "3 Invalid parameters"


def test_symbol_get_group_answers_the_symbol_as_the_group_sees_it(mt5: Mt5) -> None:
    seen = mt5.ok(mt5.get("symbol/get_group", symbol="EURUSD", group="demoforex"))

    assert seen == mt5.ok(mt5.get("symbol/get", symbol="EURUSD"))


@pytest.mark.parametrize(
    ("params", "retcode"),
    [
        ({"symbol": "NOPE", "group": "demoforex"}, "13 Not found"),
        ({"symbol": "EURUSD", "group": "demo\\nope"}, "13 Not found"),
        ({"symbol": "EURUSD"}, "3 Invalid parameters"),
        ({"group": "demoforex"}, "3 Invalid parameters"),
    ],
)
def test_symbol_get_group_needs_a_known_symbol_and_group(
    mt5: Mt5, params: dict[str, str], retcode: str
) -> None:
    assert mt5.retcode(mt5.get("symbol/get_group", **params)) == retcode


def test_the_legacy_root_paths_answer_the_same(mt5: Mt5) -> None:
    assert mt5.ok(mt5.client.get("/group_total")) == {"Total": "4"}
    assert mt5.ok(mt5.client.get("/symbol_list")) == ["EURUSD", "XAUUSD"]
    legacy = mt5.client.get("/symbol_get_group", params={"symbol": "XAUUSD", "group": "demoforex"})
    assert mt5.ok(legacy)["Symbol"] == "XAUUSD"
