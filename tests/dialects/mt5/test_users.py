"""MT5 user commands over HTTP, on both engines: seed 002's user/add, the other user commands,
their errors in MT5's words, lenient input, truncation, and the same account seen natively."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from brokerplane.core import passwords
from brokerplane.core.access.commands import CreateApiKey
from brokerplane.core.actor import SCOPES
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.ledger.commands import PostLedgerEntry
from tests.dialects.mt5.conftest import Mt5
from tests.unit.fakes import FakeClock

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
    "Login", "Group", "CertSerialNumber", "Rights", "Registration", "LastAccess", "LastIP",
    "LastPassChange", "Name", "FirstName", "LastName", "MiddleName", "Company", "Account",
    "Country", "Language", "City", "State", "ZIPCode", "Address", "Phone", "Email", "ID",
    "Status", "Comment", "Color", "PhonePassword", "Leverage", "Agent", "Balance", "Credit",
    "InterestRate", "CommissionDaily", "CommissionMonthly", "CommissionAgentDaily",
    "CommissionAgentMonthly", "BalancePrevDay", "BalancePrevMonth", "EquityPrevDay",
    "EquityPrevMonth", "MQID", "TradeAccounts", "ApiData", "LeadSource", "LeadCampaign",
    "LimitOrders", "LimitPositions",
)  # fmt: skip
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


# ---- user/add: seed 002 -------------------------------------------------------------------------


def test_seed_example_creates_the_user_and_answers_the_whole_record_as_strings(mt5: Mt5) -> None:
    response = mt5.post("user/add", {"group": "demoforex", "name": "JohnSmith",
                                     "leverage": "100"}, SEED_BODY)  # fmt: skip

    body = response.json()
    answer = mt5.ok(response)
    assert body["login"] == "954402"
    assert [k for k in SEED_RECORD_KEYS if k not in answer] == []
    assert _all_strings(answer)
    assert {k: answer[k] for k in ("Login", "Group", "CertSerialNumber", "MQID", "Name",
                                   "Company", "Country", "City", "Leverage", "Rights")} == {
        "Login": "954402", "Group": "demoforex", "CertSerialNumber": "0", "MQID": "5CD369A9",
        "Name": "JohnSmith", "Company": "Individual", "Country": "United States",
        "City": "New York", "Leverage": "100", "Rights": "355",
    }  # fmt: skip
    assert answer["Registration"] == answer["LastAccess"] == answer["LastPassChange"]
    assert int(answer["Registration"]) > 1_500_000_000
    assert (answer["Balance"], answer["Credit"], answer["LastIP"]) == ("0.00", "0.00", "0.0.0.0")
    assert answer["PhonePassword"] == ""
    assert len(answer["ApiData"]) == 16


def test_the_added_user_reads_back_the_same_through_user_get(mt5: Mt5) -> None:
    added = mt5.ok(mt5.post("user/add", {"group": "demoforex", "name": "JohnSmith",
                                         "leverage": "100"}, SEED_BODY))  # fmt: skip

    assert mt5.ok(mt5.get("user/get", login=added["Login"])) == added


def test_every_query_parameter_of_user_add_reaches_the_account(mt5: Mt5) -> None:
    query = {
        "login": "7001", "pass_main": "1Ar#pqkj", "pass_investor": "2Ar#pqkj", "rights": "483",
        "group": "demoforex", "name": "John Smith", "company": "ACME", "language": "1033",
        "country": "Cyprus", "city": "Limassol", "state": "Lemesos", "zipcode": "3035",
        "address": "1 Main St", "phone": "+35799000000", "email": "john@example.com",
        "id": "P1234567", "status": "RE", "comment": "from CRM", "color": "255",
        "pass_phone": "4321", "leverage": "200", "account": "CY00-1234", "agent": "5",
    }  # fmt: skip

    answer = mt5.ok(mt5.get("user/add", **query))

    assert {k: answer[k] for k in (
        "Login", "Rights", "Group", "Name", "Company", "Language", "Country", "City", "State",
        "ZIPCode", "Address", "Phone", "Email", "ID", "Status", "Comment", "Color", "Leverage",
        "Account", "Agent")} == {
        "Login": "7001", "Rights": "483", "Group": "demoforex", "Name": "John Smith",
        "Company": "ACME", "Language": "1033", "Country": "Cyprus", "City": "Limassol",
        "State": "Lemesos", "ZIPCode": "3035", "Address": "1 Main St", "Phone": "+35799000000",
        "Email": "john@example.com", "ID": "P1234567", "Status": "RE", "Comment": "from CRM",
        "Color": "255", "Leverage": "200", "Account": "CY00-1234", "Agent": "5",
    }  # fmt: skip
    stored = mt5.services.get_account(7001, mt5.admin)
    assert passwords.verify(stored.main_password, "1Ar#pqkj")
    assert passwords.verify(stored.investor_password, "2Ar#pqkj")
    assert passwords.verify(stored.phone_password, "4321")


def test_the_json_body_describes_the_whole_record_in_pascal_case(mt5: Mt5) -> None:
    body = {
        "Login": "7002", "Group": "demo\\vip", "Name": "Jane Roe", "Leverage": 50,
        "PassMain": "1Ar#pqkjXY", "PassInvestor": "2Ar#pqkjXY", "PhonePassword": "9999",
        "Rights": 5, "FirstName": "Jane", "LastName": "Roe", "MiddleName": "Q", "Company": "Roe",
        "Account": "BANK-1", "Country": "Malta", "Language": 1036, "ClientID": 77,
        "City": "Valletta", "State": "MT", "ZIPCode": "VLT1", "Address": "2 Side St",
        "Phone": "+356", "Email": "jane@example.com", "ID": "ID-9", "Status": "NEW",
        "Comment": "vip", "Color": 65280, "Agent": 3, "MQID": "ABCDEF12",
        "TradeAccounts": "1=abc|2=def", "LeadSource": "google.com", "LeadCampaign": "spring",
        "LimitOrders": 10, "LimitPositions": 20,
    }  # fmt: skip

    answer = mt5.ok(mt5.post("user/add", None, body))

    expected = {k: str(v) for k, v in body.items() if not k.startswith("Pass")}
    expected["PhonePassword"] = ""  # never answered
    assert {k: answer[k] for k in expected} == expected


def test_the_body_overrides_the_query(mt5: Mt5) -> None:
    response = _add(mt5, {"name": "From Query", "leverage": "100", "comment": "query"},
                    {"Name": "From Body", "Leverage": 200})  # fmt: skip

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
    response = mt5.post("user/add", {**query, **given} if where == "query" else query,
                        given if where == "body" else None)  # fmt: skip

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
    response = _add(mt5, {"group": "demo\\vip"}, {"PassMain": "1Ar#pqkjXY",
                                                    "PassInvestor": "2Ar#pqkjXY"})  # fmt: skip
    assert mt5.ok(response)["Group"] == "demo\\vip"


# ---- truncation ---------------------------------------------------------------------------------


def test_overlong_text_is_cut_to_the_length_mt5_keeps(mt5: Mt5) -> None:
    body = {"Name": "N" * 200, "Company": "C" * 100, "Address": "A" * 300, "Comment": "c" * 64,
            "FirstName": "F" * 128, "City": "Y" * 40, "Status": "S" * 20,
            "MQID": "M" * 20}  # fmt: skip

    answer = mt5.ok(_add(mt5, None, body))

    lengths = {k: len(answer[k]) for k in body}
    assert lengths == {"Name": 127, "Company": 63, "Address": 127, "Comment": 63,
                       "FirstName": 127, "City": 31, "Status": 15, "MQID": 15}  # fmt: skip
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

    response = mt5.post("user/add", {k: v for k, v in params.items() if v is not None},
                        {**PASSWORDS, **body})  # fmt: skip

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
    assert answer["ApiData"] == [
        {"AppID": "1", "ID": "2", "ValueUInt": "3"},
        {"AppID": "1", "ID": "3", "ValueDouble": "2.5"},
        {"AppID": "1", "ID": "4", "ValueInt": "-7"},
        {"AppID": "2", "ID": "1", "ValueUInt": "18446744073709551615"},
    ] + [{"AppID": "0", "ID": "0"}] * 12  # fmt: skip


def test_api_data_read_back_and_sent_again_keeps_values_and_types(mt5: Mt5) -> None:
    cells = [{"AppID": 9, "ID": 1, "ValueInt": 42}, {"AppID": 9, "ID": 2, "ValueDouble": 3},
             {"AppID": 9, "ID": 3, "ValueUInt": 0}]  # fmt: skip
    added = mt5.ok(_add(mt5, None, {"ApiData": cells}))

    updated = mt5.ok(mt5.post("user/update", {"login": added["Login"]},
                              {"ApiData": added["ApiData"]}))  # fmt: skip

    assert updated["ApiData"] == added["ApiData"]
    assert added["ApiData"][:3] == [{"AppID": "9", "ID": "1", "ValueInt": "42"},
                                    {"AppID": "9", "ID": "2", "ValueDouble": "3"},
                                    {"AppID": "9", "ID": "3", "ValueUInt": "0"}]  # fmt: skip


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


# ---- user/update --------------------------------------------------------------------------------


def test_update_applies_the_fields_it_is_given(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]

    body = {"Name": "John Q Smith", "Leverage": "300", "Email": "j@x.io"}

    answer = mt5.ok(mt5.post("user/update", {"login": login, "comment": "vip soon"}, body))

    assert (answer["Name"], answer["Leverage"], answer["Email"], answer["Comment"]) == (
        "John Q Smith", "300", "j@x.io", "vip soon")  # fmt: skip
    assert mt5.ok(mt5.get("user/get", login=login)) == answer


def test_update_leaves_out_invalid_values_silently_and_applies_the_rest(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]

    answer = mt5.ok(mt5.post("user/update", {"login": login}, {
        "Leverage": 9999, "Email": "nope", "Rights": -1, "Color": "red", "Language": [1],
        "ApiData": [{"AppID": 1}], "City": "Paris",
    }))  # fmt: skip

    assert (answer["Leverage"], answer["Email"], answer["Rights"], answer["City"]) == (
        "100", "", "355", "Paris")  # fmt: skip


def test_update_ignores_server_fields_and_cannot_change_the_balance(mt5: Mt5) -> None:
    added = mt5.add_user()

    answer = mt5.ok(mt5.post("user/update", {"login": added["Login"]}, {
        "Balance": "1000", "Credit": "5", "Registration": "1", "CertSerialNumber": "7",
        "LastIP": "10.0.0.1", "CurrencyDigits": "5", "PassMain": "9Zz#changed",
    }))  # fmt: skip

    assert answer == added
    check = mt5.get("user/check_password", login=added["Login"], type="main", password="1Ar#pqkj")
    assert mt5.retcode(check) == "0 Done"


def test_update_sets_the_phone_password(mt5: Mt5) -> None:
    login = int(mt5.add_user()["Login"])

    mt5.ok(mt5.post("user/update", {"login": login}, {"PhonePassword": "2468"}))

    assert passwords.verify(mt5.services.get_account(login, mt5.admin).phone_password, "2468")


def test_update_moves_the_account_to_another_group_of_its_currency(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]

    assert mt5.ok(mt5.get("user/update", login=login, group="demo\\vip"))["Group"] == "demo\\vip"
    moved = mt5.get("user/update", login=login, group="demo\\eur")
    assert mt5.retcode(moved) == "3010 Attempt to move account to different currency group"
    assert mt5.retcode(mt5.get("user/update", login=login, group="nowhere")) == (
        "8 Not enough permissions")  # fmt: skip


def test_update_of_an_unknown_login_is_13_and_without_login_3(mt5: Mt5) -> None:
    assert mt5.retcode(mt5.get("user/update", login="4242", name="X")) == "13 Not found"
    assert mt5.retcode(mt5.post("user/update", None, {"Name": "X"})) == "3 Invalid parameters"


def test_update_needs_the_right_to_edit_accounts(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]
    reader = mt5.as_manager(1006, rights=frozenset({"users:read"}))

    assert reader.retcode(reader.get("user/update", login=login, name="X")) == (
        "8 Not enough permissions")  # fmt: skip


# ---- user/delete --------------------------------------------------------------------------------


def test_a_deleted_account_is_not_found_over_mt5_and_natively(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]

    assert mt5.retcode(mt5.get("user/delete", login=login)) == "0 Done"

    for cmd in ("user/get", "user/group", "user/account/get", "user/delete"):
        assert mt5.retcode(mt5.get(cmd, login=login)) == "13 Not found", cmd
    assert mt5.retcode(mt5.get("user/update", login=login, name="X")) == "13 Not found"
    assert mt5.ok(mt5.get("user/get_batch", login=login)) == []
    assert mt5.ok(mt5.get("user/logins", group="*")) == []
    assert mt5.ok(mt5.get("user/total")) == {"Total": "0"}
    assert _native_get(mt5, login).status_code == 404


def test_a_deleted_login_is_never_handed_out_again(mt5: Mt5) -> None:
    first = mt5.add_user()["Login"]
    mt5.ok(mt5.get("user/delete", login=first))

    assert mt5.add_user()["Login"] == str(int(first) + 1)
    assert mt5.retcode(_add(mt5, {"login": first})) == "3004 Account already exists"


def test_deleting_keeps_the_ledger_and_the_audit(mt5: Mt5) -> None:
    login = int(mt5.add_user()["Login"])
    mt5.services.post_ledger_entry(PostLedgerEntry(login, "deposit", "250"), mt5.admin)

    mt5.ok(mt5.get("user/delete", login=login))

    assert mt5.services.verify_ledger() == []
    with mt5.runtime.storage.uow(write=False) as uow:
        assert [e.amount for e in uow.ledger.list(_ledger_query(login))] == [25000]
    actions = [r.action for r in mt5.services.query_audit(
        AuditQuery(entity_type="account", entity_id=str(login)), mt5.admin)]  # fmt: skip
    assert actions[0] == "account.opened" and actions[-1] == "account.deleted"
    assert mt5.services.verify_audit().ok


def _ledger_query(login: int) -> Any:
    from brokerplane.core.ledger.model import LedgerQuery

    return LedgerQuery(login=login)


def test_delete_needs_the_delete_right(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]
    editor = mt5.as_manager(1006, rights=frozenset({"users:read", "users:write"}))

    assert editor.retcode(editor.get("user/delete", login=login)) == "8 Not enough permissions"
    assert mt5.ok(mt5.get("user/get", login=login))["Login"] == login


# ---- reads --------------------------------------------------------------------------------------


def test_user_get_of_an_unknown_login_is_13_and_without_one_3(mt5: Mt5) -> None:
    assert mt5.retcode(mt5.get("user/get", login="4242")) == "13 Not found"
    assert mt5.retcode(mt5.get("user/get")) == "3 Invalid parameters"
    assert mt5.retcode(mt5.get("user/get", login="abc")) == "3 Invalid parameters"


def test_personal_fields_read_empty_without_the_personal_data_right(mt5: Mt5) -> None:
    personal = {"Email": "a@b.co", "Phone": "+1", "Address": "Street", "City": "Town",
                "State": "ST", "ZIPCode": "12345", "ID": "P1", "Account": "IBAN1",
                "MQID": "ABCD1234"}  # fmt: skip
    login = mt5.ok(_add(mt5, None, personal))["Login"]
    clerk = mt5.as_manager(1006, rights=frozenset({"users:read", "users:write"}))

    seen = clerk.ok(clerk.get("user/get", login=login))

    assert {k: seen[k] for k in PERSONAL} == dict.fromkeys(PERSONAL, "")
    assert seen["Name"] == "John Smith"
    assert {k: v for k, v in mt5.ok(mt5.get("user/get", login=login)).items()
            if k in PERSONAL} == personal  # fmt: skip
    batch = clerk.ok(clerk.get("user/get_batch", login=login))
    assert {k: batch[0][k] for k in PERSONAL} == dict.fromkeys(PERSONAL, "")
    added_by_clerk = clerk.ok(_add(clerk, None, personal))
    assert {k: added_by_clerk[k] for k in PERSONAL} == dict.fromkeys(PERSONAL, "")


def test_a_manager_without_personal_data_writing_back_a_record_keeps_the_contact_fields(
    mt5: Mt5,
) -> None:
    login = mt5.ok(_add(mt5, None, {"Email": "a@b.co", "City": "Rome"}))["Login"]
    clerk = mt5.as_manager(1006, rights=frozenset({"users:read", "users:write"}))
    record = clerk.ok(clerk.get("user/get", login=login))

    clerk.ok(clerk.post("user/update", {"login": login}, {**record, "Comment": "called"}))

    stored = mt5.ok(mt5.get("user/get", login=login))
    assert (stored["Email"], stored["City"], stored["Comment"]) == ("a@b.co", "Rome", "called")


def test_get_batch_by_logins_answers_those_found(mt5: Mt5) -> None:
    a, b, c = (mt5.add_user(name=n)["Login"] for n in ("A", "B", "C"))

    answer = mt5.ok(mt5.get("user/get_batch", login=f"{a},{c},4242"))

    assert [u["Login"] for u in answer] == [a, c]
    assert _all_strings(answer)
    assert b not in {u["Login"] for u in answer}


def test_get_batch_takes_a_long_login_list_in_any_order_and_answers_in_login_order(
    mt5: Mt5,
) -> None:
    a, b = (mt5.add_user(name=n)["Login"] for n in ("A", "B"))
    logins = [b, *(str(n) for n in range(1, 2500)), a, b]

    answer = mt5.ok(mt5.post("user/get_batch", None, {"Login": ",".join(logins)}))

    assert [u["Login"] for u in answer] == [a, b]
    as_list = mt5.ok(mt5.post("user/get_batch", None, {"Login": [int(b), int(a)]}))
    assert [u["Login"] for u in as_list] == [a, b]


def test_get_batch_by_group_masks(mt5: Mt5) -> None:
    demo = mt5.add_user()["Login"]
    vip = mt5.ok(_add(mt5, {"group": "demo\\vip"}, VIP_PASSWORDS))["Login"]
    real = mt5.ok(_add(mt5, {"group": "real\\standard"}))["Login"]

    everything_demo = mt5.ok(mt5.get("user/get_batch", group="demo*"))
    not_vip = mt5.ok(mt5.get("user/get_batch", group="*,!demo\\\\vip"))

    assert [u["Login"] for u in everything_demo] == sorted([demo, vip])
    assert sorted(u["Login"] for u in not_vip) == sorted([demo, real])


def test_get_batch_needs_exactly_one_of_login_and_group(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]

    assert mt5.retcode(mt5.get("user/get_batch")) == "3 Invalid parameters"
    both = mt5.get("user/get_batch", login=login, group="*")
    assert mt5.retcode(both) == "3 Invalid parameters"
    assert mt5.retcode(mt5.get("user/get_batch", login="1,x")) == "3 Invalid parameters"


def test_logins_lists_the_logins_in_the_groups_as_strings(mt5: Mt5) -> None:
    demo = mt5.add_user()["Login"]
    real = mt5.ok(_add(mt5, {"group": "real\\standard"}))["Login"]

    assert mt5.ok(mt5.get("user/logins", group="demo*")) == [demo]
    assert mt5.ok(mt5.get("user/logins", group="demo*,real\\\\*")) == sorted([demo, real])
    assert mt5.ok(mt5.get("user/logins", group="*,!real*")) == [demo]
    assert mt5.retcode(mt5.get("user/logins")) == "3 Invalid parameters"


def test_total_counts_the_users_the_manager_can_see(mt5: Mt5) -> None:
    mt5.add_user()
    mt5.ok(_add(mt5, {"group": "real\\standard"}))
    limited = mt5.as_manager(1006, group_mask="real*")

    assert mt5.ok(mt5.get("user/total")) == {"Total": "2"}
    assert limited.ok(limited.get("user/total")) == {"Total": "1"}


def test_an_account_out_of_reach_reads_as_not_found(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]
    limited = mt5.as_manager(1006, group_mask="real*")

    assert limited.retcode(limited.get("user/get", login=login)) == "13 Not found"
    assert limited.ok(limited.get("user/get_batch", login=login)) == []
    assert limited.ok(limited.get("user/logins", group="*")) == []


def test_user_group_answers_the_group_name(mt5: Mt5) -> None:
    login = mt5.ok(_add(mt5, {"group": "demo\\vip"}, VIP_PASSWORDS))["Login"]

    response = mt5.get("user/group", login=login)

    assert mt5.ok(response) == {"Group": "demo\\vip"}
    assert '"demo\\\\vip"' in response.text


def test_account_get_answers_the_money_state(mt5: Mt5) -> None:
    login = int(mt5.add_user()["Login"])
    for operation, amount in (("deposit", "1000"), ("credit", "200"), ("bonus", "50")):
        mt5.services.post_ledger_entry(PostLedgerEntry(login, operation, amount), mt5.admin)  # type: ignore[arg-type]  # text the core reads

    answer = mt5.ok(mt5.get("user/account/get", login=login))

    assert _all_strings(answer)
    assert {k: answer[k] for k in ("Login", "Balance", "Credit", "Equity", "Margin", "MarginFree",
                                   "MarginLevel", "Profit", "Floating", "MarginLeverage",
                                   "CurrencyDigits")} == {
        "Login": str(login), "Balance": "1050.00", "Credit": "200.00", "Equity": "1250.00",
        "Margin": "0.00", "MarginFree": "1250.00", "MarginLevel": "0.00", "Profit": "0.00",
        "Floating": "0.00", "MarginLeverage": "100", "CurrencyDigits": "2",
    }  # fmt: skip
    user = mt5.ok(mt5.get("user/get", login=login))
    assert (user["Balance"], user["Credit"]) == ("1050.00", "200.00")


# ---- passwords ----------------------------------------------------------------------------------


def test_check_password_answers_done_or_3006(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]

    def check(kind: str, password: str) -> str:
        return mt5.retcode(mt5.get("user/check_password", login=login, type=kind,
                                   password=password))  # fmt: skip

    assert check("main", "1Ar#pqkj") == "0 Done"
    assert check("investor", "2Ar#pqkj") == "0 Done"
    assert check("main", "2Ar#pqkj") == "3006 Invalid account password"
    assert check("investor", "1Ar#pqkj") == "3006 Invalid account password"
    assert check("api", "1Ar#pqkj") == "3006 Invalid account password"  # none set
    assert check("MAIN", "1Ar#pqkj") == "0 Done"
    assert check("phone", "1Ar#pqkj") == "3 Invalid parameters"


def test_check_password_takes_a_post_body(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]

    ok = mt5.post("user/check_password", None,
                  {"Login": login, "Type": "main", "Password": "1Ar#pqkj"})  # fmt: skip
    wrong = mt5.post("user/check_password", None,
                     {"Login": int(login), "Type": "main", "Password": "nope"})  # fmt: skip

    assert (mt5.retcode(ok), mt5.retcode(wrong)) == ("0 Done", "3006 Invalid account password")


def test_check_password_errors(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]

    assert mt5.retcode(mt5.get("user/check_password", login="4242", type="main",
                               password="x")) == "13 Not found"  # fmt: skip
    assert mt5.retcode(mt5.get("user/check_password", login=login, type="main")) == (
        "3 Invalid parameters")  # fmt: skip
    assert mt5.retcode(mt5.get("user/check_password", login=login, password="x")) == (
        "3 Invalid parameters")  # fmt: skip


def test_change_password_sets_each_kind(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]

    for kind, new in (("main", "NewMain123"), ("investor", "newinv123"), ("api", "ApiPass99")):
        changed = mt5.post("user/change_password", None,
                           {"Login": login, "Type": kind, "Password": new})  # fmt: skip
        assert mt5.retcode(changed) == "0 Done", kind
        check = mt5.get("user/check_password", login=login, type=kind, password=new)
        assert mt5.retcode(check) == "0 Done", kind
    old = mt5.get("user/check_password", login=login, type="main", password="1Ar#pqkj")
    assert mt5.retcode(old) == "3006 Invalid account password"


@pytest.mark.parametrize(
    "password", ["abcdefgh", "ABCDEFGH", "12345678", "Ab1", "Abcdefgh1234567890"]
)
def test_change_password_refuses_what_the_policy_refuses_with_3006(mt5: Mt5, password: str) -> None:
    login = mt5.add_user()["Login"]

    response = mt5.get("user/change_password", login=login, type="main", password=password)

    assert mt5.retcode(response) == "3006 Invalid account password"
    still = mt5.get("user/check_password", login=login, type="main", password="1Ar#pqkj")
    assert mt5.retcode(still) == "0 Done"


def test_change_password_follows_the_group_minimum_length(mt5: Mt5) -> None:
    login = mt5.ok(_add(mt5, {"group": "demo\\vip"}, VIP_PASSWORDS))["Login"]

    short = mt5.get("user/change_password", login=login, type="main", password="Abcdefg12")

    assert mt5.retcode(short) == "3006 Invalid account password"
    assert mt5.retcode(mt5.get("user/change_password", login=login, type="main",
                               password="Abcdefg123")) == "0 Done"  # fmt: skip


def test_change_password_is_audited_without_the_password(
    mt5: Mt5, caplog: pytest.LogCaptureFixture
) -> None:
    login = mt5.add_user()["Login"]
    secret = "Secr3tPassw0rd"

    with caplog.at_level(logging.DEBUG):
        mt5.ok(mt5.post("user/change_password", None,
                        {"Login": login, "Type": "main", "Password": secret}))  # fmt: skip

    records = mt5.services.query_audit(AuditQuery(entity_type="account", entity_id=login),
                                       mt5.admin)  # fmt: skip
    changed = [r for r in records if r.action == "account.password_changed"]
    assert len(changed) == 1
    assert changed[0].manager_login == 1005 and changed[0].dialect == "mt5"
    assert changed[0].after is not None and changed[0].after["main_password"] == "changed"
    dumped = json.dumps([(r.before, r.after) for r in records])
    assert secret not in dumped and passwords.md5_hex(secret) not in dumped
    assert secret not in caplog.text


def test_change_password_needs_the_right_to_edit_accounts(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]
    reader = mt5.as_manager(1006, rights=frozenset({"users:read"}))

    response = reader.get("user/change_password", login=login, type="main", password="Abcdefg12")

    assert reader.retcode(response) == "8 Not enough permissions"


# ---- lenient input ------------------------------------------------------------------------------


def test_user_add_with_query_parameters_only(mt5: Mt5) -> None:
    response = mt5.get("user/add", group="demoforex", name="Q", leverage="100",
                       pass_main="1Ar#pqkj", pass_investor="2Ar#pqkj")  # fmt: skip

    assert mt5.ok(response)["Name"] == "Q"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/json", None]
)
def test_a_json_body_is_read_whatever_its_content_type(mt5: Mt5, content_type: str | None) -> None:
    body = json.dumps({"Group": "demoforex", "Name": "Body", "Leverage": 100, **PASSWORDS})
    headers = {"Content-Type": content_type} if content_type else {}

    response = mt5.post("user/add", None, content=body.encode(), headers=headers)

    assert mt5.ok(response)["Name"] == "Body"


def test_a_form_body_is_read(mt5: Mt5) -> None:
    form = {"group": "demoforex", "name": "Form", "leverage": "100", "pass_main": "1Ar#pqkj",
            "pass_investor": "2Ar#pqkj", "comment": "a b&c"}  # fmt: skip

    answer = mt5.ok(mt5.post("user/add", None, data=form))

    assert (answer["Name"], answer["Comment"]) == ("Form", "a b&c")


def test_numbers_are_taken_bare_or_quoted(mt5: Mt5) -> None:
    bare = mt5.ok(_add(mt5, None, {"Leverage": 200, "Rights": 483, "Login": 7010}))
    quoted = mt5.ok(_add(mt5, None, {"Leverage": "200", "Rights": "483", "Login": "7011"}))

    assert (bare["Leverage"], bare["Rights"], bare["Login"]) == ("200", "483", "7010")
    assert (quoted["Leverage"], quoted["Rights"], quoted["Login"]) == ("200", "483", "7011")


def test_keys_match_whatever_their_case(mt5: Mt5) -> None:
    response = mt5.post("user/add", {"GROUP": "demoforex", "Name": "Case", "LEVERAGE": "100"},
                        {"passmain": "1Ar#pqkj", "PASSINVESTOR": "2Ar#pqkj",
                         "company": "lower", "COUNTRY": "upper"})  # fmt: skip

    answer = mt5.ok(response)
    assert (answer["Company"], answer["Country"]) == ("lower", "upper")
    assert mt5.ok(mt5.get("user/get", LOGIN=answer["Login"]))["Name"] == "Case"


def test_an_escaped_bar_in_the_name_is_a_bar(mt5: Mt5) -> None:
    raw = "/api/user/add?group=demoforex&leverage=100&name=John\\|Smith&comment=a\\=b"

    answer = mt5.ok(mt5.client.post(raw, json=PASSWORDS))

    assert (answer["Name"], answer["Comment"]) == ("John|Smith", "a=b")


@pytest.mark.parametrize("group", ["demo\\vip", "demo\\\\vip"])
def test_a_group_path_is_taken_with_one_backslash_or_an_escaped_one(mt5: Mt5, group: str) -> None:
    body = {"PassMain": "1Ar#pqkjXY", "PassInvestor": "2Ar#pqkjXY"}

    in_query = mt5.ok(mt5.post("user/add", {"group": group, "name": "G", "leverage": "1"}, body))
    in_body = mt5.ok(mt5.post("user/add", None, {"Group": "demo\\vip", "Name": "G",
                                                "Leverage": 1, **body}))  # fmt: skip

    assert in_query["Group"] == in_body["Group"] == "demo\\vip"


def test_the_legacy_root_path_is_the_same_command(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]

    response = mt5.client.get("/user_get", params={"login": login})

    assert mt5.ok(response)["Login"] == login
    assert mt5.retcode(mt5.client.get("/user_account_get", params={"login": login})) == "0 Done"


# ---- one account, two dialects ------------------------------------------------------------------


def test_an_account_created_over_mt5_reads_the_same_natively(mt5: Mt5) -> None:
    added = mt5.ok(mt5.post("user/add", {"group": "demoforex", "name": "JohnSmith",
                                         "leverage": "100"},
                            {**SEED_BODY, "Email": "john@example.com", "Comment": "crm",
                             "Rights": 483, "Phone": "+100", "Language": 1033}))  # fmt: skip
    mt5.services.post_ledger_entry(PostLedgerEntry(int(added["Login"]), "deposit", "1000"),
                                   mt5.admin)  # fmt: skip
    mt5_view = mt5.ok(mt5.get("user/get", login=added["Login"]))

    response = _native_get(mt5, added["Login"])

    assert response.status_code == 200, response.text
    native = response.json()
    assert {
        "Login": str(native["login"]), "Group": native["group"], "Name": native["name"],
        "Leverage": str(native["leverage"]), "Rights": str(native["rights"]),
        "Company": native["company"], "Country": native["country"], "City": native["city"],
        "MQID": native["mqid"], "Email": native["email"], "Phone": native["phone"],
        "Comment": native["comment"], "Language": str(native["language"]),
        "Color": str(native["color"]), "Balance": native["balance"], "Credit": native["credit"],
    } == {k: mt5_view[k] for k in ("Login", "Group", "Name", "Leverage", "Rights", "Company",
                                   "Country", "City", "MQID", "Email", "Phone", "Comment",
                                   "Language", "Color", "Balance", "Credit")}  # fmt: skip
    assert native["balance"] == "1000.00" and native["currency"] == "USD"


def test_five_wrong_password_checks_hold_the_account_back_until_the_lock_ends(
    mt5: Mt5, monkeypatch: pytest.MonkeyPatch
) -> None:
    """user/check_password is counted under the account's sign-in lockout: sixty guesses in
    a row do not find the password, as the right one is answered 3006 while it is locked."""
    clock = FakeClock(datetime.now(UTC))
    monkeypatch.setattr(mt5.services, "clock", clock)
    login = mt5.add_user()["Login"]

    def check(password: str) -> str:
        return mt5.retcode(mt5.get("user/check_password", login=login, type="main",
                                   password=password))  # fmt: skip

    assert {check(f"Guess#{n}") for n in range(60)} == {"3006 Invalid account password"}
    assert check("1Ar#pqkj") == "3006 Invalid account password"
    clock.advance(seconds=1)
    assert check("1Ar#pqkj") == "0 Done"
