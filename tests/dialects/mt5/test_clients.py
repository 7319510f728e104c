"""MT5 client records over HTTP on both engines, as brokerplane's users: created one by one from
an array, read back with personal data redacted for a manager without the right, listed by
group, and their accounts' logins; reach and rights as for users everywhere."""

from __future__ import annotations

import hashlib
from typing import Any

from brokerplane.core.account.service import OpenAccount
from brokerplane.core.actor import SCOPES
from brokerplane.core.user.service import LinkAccount
from tests.dialects.mt5.conftest import Mt5

DONE = "0 Done"
PARAMS = "3 Invalid parameters"
PERMISSIONS = "8 Not enough permissions"
NOT_FOUND = "13 Not found"
DUPLICATE = "17 Duplicate data"
NOT_IMPLEMENTED = "12000 Not implement yet"
PASSWORD = "1Ar#pqkj"


def add(mt5: Mt5, *records: dict[str, Any]) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = mt5.ok(mt5.post("client/add", json=list(records)))
    return answer


def owned_account(mt5: Mt5, user_id: int, group: str) -> int:
    cmd = OpenAccount(group, leverage=100, name="A", main_password=PASSWORD)
    login = int(mt5.services.open_account(cmd, mt5.admin).login)
    md5 = hashlib.md5(PASSWORD.encode()).hexdigest()
    mt5.services.link_account(LinkAccount(user_id, login, md5), mt5.admin)
    return login


def test_client_add_creates_each_record_and_client_get_reads_it_back(mt5: Mt5) -> None:
    answer = add(mt5, {"PersonName": "John", "PersonLastName": "Smith", "ClientType": "1",
                       "ContactEmail": "john@example.com", "ContactLanguage": "en"},
                 {"PersonName": "No email"},
                 {"PersonName": "Again", "ContactEmail": "JOHN@example.com"})  # fmt: skip
    first = answer[0]["id"]
    assert answer == [{"id": first, "retcode": DONE}, {"id": "0", "retcode": PARAMS},
                      {"id": "0", "retcode": DUPLICATE}]  # fmt: skip
    record = mt5.get("client/get", id=first).json()
    assert record["retcode"] == DONE
    assert {k: record["answer"][k] for k in ("RecordID", "ClientType", "PersonName",
                                             "PersonLastName", "ContactEmail",
                                             "ContactLanguage", "TradingGroup")} == {
        "RecordID": first, "ClientType": "1", "PersonName": "John", "PersonLastName": "Smith",
        "ContactEmail": "john@example.com", "ContactLanguage": "EN", "TradingGroup": "",
    }  # fmt: skip
    assert all(isinstance(v, str) for v in record["answer"].values())


def test_a_single_record_object_is_accepted_too(mt5: Mt5) -> None:
    answer = mt5.ok(mt5.post("client/add", json={"ContactEmail": "one@example.com"}))
    assert [a["retcode"] for a in answer] == [DONE]


def test_client_add_with_no_record_is_invalid(mt5: Mt5) -> None:
    assert mt5.retcode(mt5.post("client/add")) == PARAMS
    assert mt5.retcode(mt5.post("client/add", json=[])) == PARAMS
    assert add(mt5, "text")[0]["retcode"] == PARAMS  # type: ignore[arg-type]
    assert add(mt5, {"ContactEmail": ["a@b.c"]})[0]["retcode"] == PARAMS


def test_client_add_of_more_than_100_records_is_invalid_and_creates_none(mt5: Mt5) -> None:
    records = [{"ContactEmail": f"bulk{i}@example.com"} for i in range(101)]
    assert mt5.retcode(mt5.post("client/add", json=records)) == PARAMS
    assert mt5.ok(mt5.get("client/get_ids")) == []
    answer = mt5.ok(mt5.post("client/add", json=records[:100]))
    assert [item["retcode"] for item in answer] == ["0 Done"] * 100


def test_client_ids_and_logins_follow_the_accounts_users_own(mt5: Mt5) -> None:
    ids = [int(a["id"]) for a in add(mt5, {"ContactEmail": "a@example.com"},
                                     {"ContactEmail": "b@example.com"},
                                     {"ContactEmail": "c@example.com"})]  # fmt: skip
    demo = owned_account(mt5, ids[0], "demoforex")
    real = owned_account(mt5, ids[1], "real\\standard")
    assert mt5.ok(mt5.get("client/get_ids")) == [str(i) for i in ids]
    assert mt5.ok(mt5.get("client/get_ids", group="demo*")) == [str(ids[0]), str(ids[2])]
    assert mt5.ok(mt5.get("client/user/get_logins", id=ids[0])) == [str(demo)]
    assert mt5.ok(mt5.get("client/user/get_logins", id=ids[1])) == [str(real)]
    assert mt5.ok(mt5.get("client/user/get_logins", id=ids[2])) == []


def test_personal_data_and_reach_apply_to_client_records(mt5: Mt5) -> None:
    [created] = add(mt5, {"ContactEmail": "p@example.com", "PersonName": "P"})
    plain = mt5.as_manager(5001, rights=frozenset(SCOPES) - {"personal_data", "admin"})
    record = plain.ok(plain.get("client/get", id=created["id"]))
    assert (record["ContactEmail"], record["PersonName"]) == ("", "P")
    reader = mt5.as_manager(5002, rights=frozenset({"users:read"}))
    assert reader.retcode(reader.post("client/add", json={"ContactEmail": "r@x.com"})) == (
        PERMISSIONS
    )
    clerk = mt5.as_manager(5003, rights=frozenset({"balances:write"}))
    assert clerk.retcode(clerk.get("client/get", id=created["id"])) == PERMISSIONS
    assert mt5.retcode(mt5.get("client/get", id=99999)) == NOT_FOUND
    for bad in ({}, {"id": "x"}, {"id": "0"}):
        assert mt5.retcode(mt5.get("client/get", **bad)) == PARAMS


def test_client_changes_brokerplane_does_not_model_remain_not_implemented(mt5: Mt5) -> None:
    for command in ("client/update", "client/delete", "client/history/get", "client/user/add",
                    "client/user/delete"):  # fmt: skip
        assert mt5.retcode(mt5.get(command, id=1)) == NOT_IMPLEMENTED
