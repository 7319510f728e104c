"""MT5 user/add over HTTP, on both engines: seed 002's example, every parameter, passwords,
truncation to what MT5 keeps, rights, logins, errors in MT5's words, and ApiData."""

from __future__ import annotations

from typing import Any

import pytest

from brokerplane.core import passwords
from tests.dialects.mt5.conftest import Mt5
from tests.dialects.mt5.users_support import (
    PASSWORDS,
    SEED_BODY,
    SEED_RECORD_KEYS,
    _add,
    _all_strings,
    _native_key,
)

# ---- user/add: seed 002 -------------------------------------------------------------------------


def test_seed_example_creates_the_user_and_answers_the_whole_record_as_strings(mt5: Mt5) -> None:
    response = mt5.post(
        "user/add", {"group": "demoforex", "name": "JohnSmith", "leverage": "100"}, SEED_BODY
    )

    body = response.json()
    answer = mt5.ok(response)
    assert body["login"] == "954402"
    assert [k for k in SEED_RECORD_KEYS if k not in answer] == []
    assert _all_strings(answer)
    assert {
        k: answer[k]
        for k in (
            "Login",
            "Group",
            "CertSerialNumber",
            "MQID",
            "Name",
            "Company",
            "Country",
            "City",
            "Leverage",
            "Rights",
        )
    } == {
        "Login": "954402",
        "Group": "demoforex",
        "CertSerialNumber": "0",
        "MQID": "5CD369A9",
        "Name": "JohnSmith",
        "Company": "Individual",
        "Country": "United States",
        "City": "New York",
        "Leverage": "100",
        "Rights": "355",
    }
    assert answer["Registration"] == answer["LastAccess"] == answer["LastPassChange"]
    assert int(answer["Registration"]) > 1_500_000_000
    assert (answer["Balance"], answer["Credit"], answer["LastIP"]) == ("0.00", "0.00", "0.0.0.0")
    assert answer["PhonePassword"] == ""
    assert len(answer["ApiData"]) == 16


def test_the_added_user_reads_back_the_same_through_user_get(mt5: Mt5) -> None:
    added = mt5.ok(
        mt5.post(
            "user/add", {"group": "demoforex", "name": "JohnSmith", "leverage": "100"}, SEED_BODY
        )
    )

    assert mt5.ok(mt5.get("user/get", login=added["Login"])) == added


def test_every_query_parameter_of_user_add_reaches_the_account(mt5: Mt5) -> None:
    query = {
        "login": "7001",
        "pass_main": "1Ar#pqkj",
        "pass_investor": "2Ar#pqkj",
        "rights": "483",
        "group": "demoforex",
        "name": "John Smith",
        "company": "ACME",
        "language": "1033",
        "country": "Cyprus",
        "city": "Limassol",
        "state": "Lemesos",
        "zipcode": "3035",
        "address": "1 Main St",
        "phone": "+35799000000",
        "email": "john@example.com",
        "id": "P1234567",
        "status": "RE",
        "comment": "from CRM",
        "color": "255",
        "pass_phone": "4321",
        "leverage": "200",
        "account": "CY00-1234",
        "agent": "5",
    }

    answer = mt5.ok(mt5.get("user/add", **query))

    assert {
        k: answer[k]
        for k in (
            "Login",
            "Rights",
            "Group",
            "Name",
            "Company",
            "Language",
            "Country",
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
            "Leverage",
            "Account",
            "Agent",
        )
    } == {
        "Login": "7001",
        "Rights": "483",
        "Group": "demoforex",
        "Name": "John Smith",
        "Company": "ACME",
        "Language": "1033",
        "Country": "Cyprus",
        "City": "Limassol",
        "State": "Lemesos",
        "ZIPCode": "3035",
        "Address": "1 Main St",
        "Phone": "+35799000000",
        "Email": "john@example.com",
        "ID": "P1234567",
        "Status": "RE",
        "Comment": "from CRM",
        "Color": "255",
        "Leverage": "200",
        "Account": "CY00-1234",
        "Agent": "5",
    }
    stored = mt5.services.get_account(7001, mt5.admin)
    assert passwords.verify(stored.main_password, "1Ar#pqkj")
    assert passwords.verify(stored.investor_password, "2Ar#pqkj")
    assert passwords.verify(stored.phone_password, "4321")


def test_the_json_body_describes_the_whole_record_in_pascal_case(mt5: Mt5) -> None:
    body = {
        "Login": "7002",
        "Group": "demo\\vip",
        "Name": "Jane Roe",
        "Leverage": 50,
        "PassMain": "1Ar#pqkjXY",
        "PassInvestor": "2Ar#pqkjXY",
        "PhonePassword": "9999",
        "Rights": 5,
        "FirstName": "Jane",
        "LastName": "Roe",
        "MiddleName": "Q",
        "Company": "Roe",
        "Account": "BANK-1",
        "Country": "Malta",
        "Language": 1036,
        "ClientID": 77,
        "City": "Valletta",
        "State": "MT",
        "ZIPCode": "VLT1",
        "Address": "2 Side St",
        "Phone": "+356",
        "Email": "jane@example.com",
        "ID": "ID-9",
        "Status": "NEW",
        "Comment": "vip",
        "Color": 65280,
        "Agent": 3,
        "MQID": "ABCDEF12",
        "TradeAccounts": "1=abc|2=def",
        "LeadSource": "google.com",
        "LeadCampaign": "spring",
        "LimitOrders": 10,
        "LimitPositions": 20,
    }

    answer = mt5.ok(mt5.post("user/add", None, body))

    expected = {k: str(v) for k, v in body.items() if not k.startswith("Pass")}
    expected["PhonePassword"] = ""  # never answered
    assert {k: answer[k] for k in expected} == expected


def test_the_body_overrides_the_query(mt5: Mt5) -> None:
    response = _add(
        mt5,
        {"name": "From Query", "leverage": "100", "comment": "query"},
        {"Name": "From Body", "Leverage": 200},
    )

    answer = mt5.ok(response)
    assert (answer["Name"], answer["Leverage"], answer["Comment"]) == ("From Body", "200", "query")


@pytest.mark.parametrize(
    ("where", "main", "investor"),
    [
        ("query", "pass_main", "pass_investor"),
        ("query", "pass-main", "pass-investor"),
        ("query", "PassMain", "PassInvestor"),
        ("body", "PassMain", "PassInvestor"),
        ("body", "pass_main", "pass_investor"),
    ],
)
def test_passwords_are_taken_under_every_spelling(
    mt5: Mt5, where: str, main: str, investor: str
) -> None:
    given = {main: "1Ar#pqkj", investor: "2Ar#pqkj"}
    query = {"group": "demoforex", "name": "N", "leverage": "1"}
    response = mt5.post(
        "user/add",
        {**query, **given} if where == "query" else query,
        given if where == "body" else None,
    )

    login = mt5.ok(response)["Login"]
    check = mt5.get("user/check_password", login=login, type="investor", password="2Ar#pqkj")
    assert mt5.retcode(check) == "0 Done"
    check = mt5.get("user/check_password", login=login, type="main", password="1Ar#pqkj")
    assert mt5.retcode(check) == "0 Done"


@pytest.mark.parametrize(
    "body",
    [
        {"PassMain": "abcdefgh"},  # no upper case, digit or special
        {"PassMain": "1Ar#pqk"},  # 7 characters
        {"PassMain": "1Ar#pqkj90123456X"},  # 17 characters
        {"PassInvestor": "Abcdefg1"},  # no special character
        {"PassMain": None},
        {"PassInvestor": None},
        {"PassMain": ""},
    ],
)
def test_a_missing_or_weak_password_is_3006(mt5: Mt5, body: dict[str, Any]) -> None:
    payload = {k: v for k, v in {**PASSWORDS, **body}.items() if v is not None}

    response = mt5.post("user/add", {"group": "demoforex", "name": "N", "leverage": "1"}, payload)

    assert mt5.retcode(response) == "3006 Invalid account password"
    assert mt5.ok(mt5.get("user/total")) == {"Total": "0"}


def test_the_group_minimum_password_length_is_3006_below_it(mt5: Mt5) -> None:
    response = _add(mt5, {"group": "demo\\vip"}, {"PassMain": "1Ar#pqkjX"})  # 9 < 10

    assert mt5.retcode(response) == "3006 Invalid account password"
    response = _add(
        mt5, {"group": "demo\\vip"}, {"PassMain": "1Ar#pqkjXY", "PassInvestor": "2Ar#pqkjXY"}
    )
    assert mt5.ok(response)["Group"] == "demo\\vip"


# ---- truncation ---------------------------------------------------------------------------------


def test_overlong_text_is_cut_to_the_length_mt5_keeps(mt5: Mt5) -> None:
    body = {
        "Name": "N" * 200,
        "Company": "C" * 100,
        "Address": "A" * 300,
        "Comment": "c" * 64,
        "FirstName": "F" * 128,
        "City": "Y" * 40,
        "Status": "S" * 20,
        "MQID": "M" * 20,
    }

    answer = mt5.ok(_add(mt5, None, body))

    lengths = {k: len(answer[k]) for k in body}
    assert lengths == {
        "Name": 127,
        "Company": 63,
        "Address": 127,
        "Comment": 63,
        "FirstName": 127,
        "City": 31,
        "Status": 15,
        "MQID": 15,
    }
    assert answer["Name"] == "N" * 127


def test_text_within_the_limit_is_kept_whole(mt5: Mt5) -> None:
    answer = mt5.ok(_add(mt5, {"name": "N" * 127, "comment": "c" * 63}))

    assert (len(answer["Name"]), len(answer["Comment"])) == (127, 63)


def test_update_cuts_overlong_text_too(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]

    answer = mt5.ok(mt5.post("user/update", {"login": login}, {"Company": "x" * 90}))

    assert answer["Company"] == "x" * 63


def test_the_native_api_refuses_the_text_mt5_cuts(mt5: Mt5) -> None:
    headers = {"Authorization": f"Bearer {_native_key(mt5)}"}
    body = {"group": "demoforex", "leverage": 100, "name": "N" * 128}

    response = mt5.client.post("/v1/users", headers=headers, json=body)

    assert response.status_code == 400


def test_trade_accounts_longer_than_mt5_keeps_is_4_not_cut(mt5: Mt5) -> None:
    too_long = "|".join(f"{n}=" + "a" * 20 for n in range(6))  # 137 characters

    assert mt5.retcode(_add(mt5, None, {"TradeAccounts": too_long})) == "4 Invalid data"
    one_too_long = "1=" + "a" * 30  # 32 characters in one account
    assert mt5.retcode(_add(mt5, None, {"TradeAccounts": one_too_long})) == "4 Invalid data"
    assert mt5.ok(mt5.get("user/total")) == {"Total": "0"}


# ---- rights, logins, errors ---------------------------------------------------------------------


def test_rights_flags_are_kept_as_given(mt5: Mt5) -> None:
    answer = mt5.ok(_add(mt5, {"rights": str(0x1 | 0x2 | 0x4 | 0x400)}))

    assert answer["Rights"] == "1031"
    assert mt5.retcode(_add(mt5, {"rights": str(0x40000)})) == "3 Invalid parameters"


def test_login_zero_or_absent_allocates_from_the_group_range(mt5: Mt5) -> None:
    first = mt5.ok(_add(mt5))["Login"]
    second = mt5.ok(_add(mt5, {"login": "0"}))["Login"]
    chosen = mt5.ok(_add(mt5, {"login": "123456"}))["Login"]

    assert (first, second, chosen) == ("954402", "954403", "123456")


def test_an_existing_login_is_3004(mt5: Mt5) -> None:
    mt5.ok(_add(mt5, {"login": "123456"}))

    assert mt5.retcode(_add(mt5, {"login": "123456"})) == "3004 Account already exists"


def test_an_exhausted_login_range_is_3002(mt5: Mt5) -> None:
    for _ in range(3):  # real\standard hands out 5000-5002
        mt5.ok(_add(mt5, {"group": "real\\standard"}))

    assert mt5.retcode(_add(mt5, {"group": "real\\standard"})) == "3002 Logins range exhausted"


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ({"leverage": "0"}, {}),
        ({"leverage": "501"}, {}),  # demoforex allows 1 to 500
        ({"leverage": "abc"}, {}),
        ({"leverage": None}, {}),
        ({"name": None}, {}),
        ({"name": "   "}, {}),
        ({"group": None}, {}),
        ({"login": "-5"}, {}),
        ({}, {"Email": "not an address"}),
        ({}, {"Color": "red"}),
        ({}, {"Language": 70000}),
        ({}, {"Name": {"first": "John"}}),
        ({}, {"ApiData": "cells"}),
    ],
)
def test_an_invalid_record_is_3(mt5: Mt5, query: dict[str, Any], body: dict[str, Any]) -> None:
    params = {"group": "demoforex", "name": "N", "leverage": "100", **query}

    response = mt5.post(
        "user/add", {k: v for k, v in params.items() if v is not None}, {**PASSWORDS, **body}
    )

    assert mt5.retcode(response) == "3 Invalid parameters"
    assert mt5.ok(mt5.get("user/total")) == {"Total": "0"}


def test_a_group_that_does_not_exist_is_8(mt5: Mt5) -> None:
    assert mt5.retcode(_add(mt5, {"group": "demo\\nowhere"})) == "8 Not enough permissions"


def test_a_group_out_of_the_managers_reach_is_8(mt5: Mt5) -> None:
    limited = mt5.as_manager(1006, group_mask="demo*")

    assert limited.retcode(_add(limited, {"group": "real\\standard"})) == "8 Not enough permissions"
    assert limited.ok(_add(limited, {"group": "demoforex"}))["Group"] == "demoforex"


def test_a_manager_without_the_right_to_edit_accounts_gets_8(mt5: Mt5) -> None:
    reader = mt5.as_manager(1006, rights=frozenset({"users:read"}))

    assert reader.retcode(_add(reader)) == "8 Not enough permissions"
    assert mt5.ok(mt5.get("user/total")) == {"Total": "0"}


# ---- ApiData ------------------------------------------------------------------------------------


def test_api_data_takes_the_type_of_the_last_value_field_in_mt5_order(mt5: Mt5) -> None:
    cells = [
        {"AppID": "1", "ID": "2", "ValueUInt": "3"},
        {"AppID": 1, "ID": 3, "ValueDouble": "2.5", "ValueInt": -5},  # double wins
        {"appid": 1, "id": 4, "valueint": "-7"},
        {"AppID": 2, "ID": 1, "ValueUInt": 18446744073709551615, "ValueInt": 1},  # uint wins
    ]

    answer = mt5.ok(_add(mt5, None, {"ApiData": cells}))

    assert len(answer["ApiData"]) == 16
    assert (
        answer["ApiData"]
        == [
            {"AppID": "1", "ID": "2", "ValueUInt": "3"},
            {"AppID": "1", "ID": "3", "ValueDouble": "2.5"},
            {"AppID": "1", "ID": "4", "ValueInt": "-7"},
            {"AppID": "2", "ID": "1", "ValueUInt": "18446744073709551615"},
        ]
        + [{"AppID": "0", "ID": "0"}] * 12
    )


def test_api_data_read_back_and_sent_again_keeps_values_and_types(mt5: Mt5) -> None:
    cells = [
        {"AppID": 9, "ID": 1, "ValueInt": 42},
        {"AppID": 9, "ID": 2, "ValueDouble": 3},
        {"AppID": 9, "ID": 3, "ValueUInt": 0},
    ]
    added = mt5.ok(_add(mt5, None, {"ApiData": cells}))

    updated = mt5.ok(
        mt5.post("user/update", {"login": added["Login"]}, {"ApiData": added["ApiData"]})
    )

    assert updated["ApiData"] == added["ApiData"]
    assert added["ApiData"][:3] == [
        {"AppID": "9", "ID": "1", "ValueInt": "42"},
        {"AppID": "9", "ID": "2", "ValueDouble": "3"},
        {"AppID": "9", "ID": "3", "ValueUInt": "0"},
    ]


@pytest.mark.parametrize(
    "cells",
    [
        [{"AppID": n, "ID": 1, "ValueInt": 1} for n in range(1, 18)],  # 17 cells
        [{"AppID": 1, "ID": 1}],  # no value field
        [{"AppID": 1, "ID": 1, "ValueUInt": -1}],
        [{"AppID": 70000, "ID": 1, "ValueInt": 1}],
        [{"AppID": 1, "ID": 1, "ValueDouble": "nan"}],
        ["cell"],
    ],
)
def test_invalid_api_data_is_3_on_add(mt5: Mt5, cells: list[Any]) -> None:
    assert mt5.retcode(_add(mt5, None, {"ApiData": cells})) == "3 Invalid parameters"
