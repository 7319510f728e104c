"""MT5 client records over HTTP on both engines, as brokerplane's users: created one by one from
an array, read back with personal data redacted for a manager without the right, listed by
group, and their accounts' logins; reach and rights as for users everywhere."""

from __future__ import annotations

import hashlib
from typing import Any

from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import SCOPES
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.backoffice.commands import UserFilter
from brokerplane.core.user.commands import LinkAccount
from brokerplane.core.user.model import UserQuery
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
    answer = add(
        mt5,
        {
            "PersonName": "John",
            "PersonLastName": "Smith",
            "ClientType": "1",
            "ContactEmail": "john@example.com",
            "ContactLanguage": "en",
        },
        {"PersonName": "No email"},
        {"PersonName": "Again", "ContactEmail": "JOHN@example.com"},
    )
    first = answer[0]["id"]
    assert answer == [
        {"id": first, "retcode": DONE},
        {"id": "0", "retcode": PARAMS},
        {"id": "0", "retcode": DUPLICATE},
    ]
    record = mt5.get("client/get", id=first).json()
    assert record["retcode"] == DONE
    assert {
        k: record["answer"][k]
        for k in (
            "RecordID",
            "ClientType",
            "PersonName",
            "PersonLastName",
            "ContactEmail",
            "ContactLanguage",
            "TradingGroup",
        )
    } == {
        "RecordID": first,
        "ClientType": "1",
        "PersonName": "John",
        "PersonLastName": "Smith",
        "ContactEmail": "john@example.com",
        "ContactLanguage": "EN",
        "TradingGroup": "",
    }
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
    ids = [
        int(a["id"])
        for a in add(
            mt5,
            {"ContactEmail": "a@example.com"},
            {"ContactEmail": "b@example.com"},
            {"ContactEmail": "c@example.com"},
        )
    ]
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


def test_client_update_changes_what_was_sent_keeps_the_rest_and_is_audited(mt5: Mt5) -> None:
    [created] = add(
        mt5,
        {
            "ContactEmail": "u@example.com",
            "PersonName": "Una",
            "PersonLastName": "Old",
            "ContactLanguage": "en",
        },
    )
    ident = created["id"]
    answer = mt5.post(
        "client/update",
        json=[
            {
                "RecordID": ident,
                "PersonLastName": "New",
                "ContactLanguage": "de",
                "ContactEmail": "",
            }
        ],
    )
    assert answer.json() == {"retcode": DONE, "answer": [{"id": ident, "retcode": DONE}]}
    record = mt5.ok(mt5.get("client/get", id=ident))
    assert (
        record["PersonName"],
        record["PersonLastName"],
        record["ContactLanguage"],
        record["ContactEmail"],
    ) == ("Una", "New", "DE", "u@example.com")
    trail = mt5.services.user_history(int(ident), mt5.admin)
    assert [r.action for r in trail] == ["user.created", "user.updated"]
    assert trail[-1].manager_login == mt5.login


def test_client_update_answers_each_record_and_the_envelope_says_whether_all_were_done(
    mt5: Mt5,
) -> None:
    [one, two] = add(mt5, {"ContactEmail": "one@example.com"}, {"ContactEmail": "two@example.com"})
    single = mt5.post(
        "client/update", json={"RecordID": one["id"], "ContactEmail": "two@example.com"}
    )
    assert single.json() == {
        "retcode": DUPLICATE,
        "answer": [{"id": one["id"], "retcode": DUPLICATE}],
    }
    both = mt5.post(
        "client/update",
        json=[
            {"RecordID": one["id"], "PersonName": "A"},
            {"RecordID": "99999", "PersonName": "B"},
            {"PersonName": "no id"},
            {"RecordID": two["id"], "ContactLanguage": "eng"},
        ],
    )
    assert both.json() == {
        "retcode": "14 Partial error",
        "answer": [
            {"id": one["id"], "retcode": DONE},
            {"id": "99999", "retcode": NOT_FOUND},
            {"id": "0", "retcode": PARAMS},
            {"id": two["id"], "retcode": PARAMS},
        ],
    }
    assert mt5.retcode(mt5.post("client/update")) == PARAMS
    too_many = [{"RecordID": one["id"], "PersonName": str(i)} for i in range(101)]
    assert mt5.retcode(mt5.post("client/update", json=too_many)) == PARAMS
    assert mt5.ok(mt5.get("client/get", id=one["id"]))["PersonName"] == "A"


def test_client_user_add_links_accounts_and_client_user_delete_releases_them(mt5: Mt5) -> None:
    [ann, bob] = add(mt5, {"ContactEmail": "ann@example.com"}, {"ContactEmail": "bob@example.com"})
    first, second = (int(mt5.add_user()["Login"]) for _ in range(2))
    linked = mt5.get("client/user/add", id=ann["id"], login=f"{first},{second}")
    assert linked.json() == {
        "retcode": DONE,
        "answer": [{"login": str(first), "retcode": DONE}, {"login": str(second), "retcode": DONE}],
    }
    assert mt5.ok(mt5.get("client/user/get_logins", id=ann["id"])) == [str(first), str(second)]
    # the same account again for the same client: done, nothing changes; for another: 17
    assert mt5.retcode(mt5.get("client/user/add", id=ann["id"], login=first)) == DONE
    assert mt5.retcode(mt5.get("client/user/add", id=bob["id"], login=first)) == DUPLICATE
    assert mt5.retcode(mt5.get("client/user/add", id=bob["id"], login=1)) == NOT_FOUND
    assert mt5.retcode(mt5.get("client/user/add", id=99999, login=first)) == NOT_FOUND
    # the owner is the same in every dialect: the native account shows it
    assert mt5.services.get_account(first, mt5.admin).user_id == int(ann["id"])
    released = mt5.get("client/user/delete", id=ann["id"], login=first)
    assert released.json()["retcode"] == DONE
    assert mt5.services.get_account(first, mt5.admin).user_id is None
    assert mt5.ok(mt5.get("client/user/get_logins", id=ann["id"])) == [str(second)]
    assert mt5.retcode(mt5.get("client/user/delete", id=ann["id"], login=first)) == NOT_FOUND
    assert mt5.retcode(mt5.get("client/user/delete", id=bob["id"], login=second)) == NOT_FOUND
    # now free: bob may take it
    assert mt5.retcode(mt5.get("client/user/add", id=bob["id"], login=first)) == DONE
    for bad in (
        {"id": ann["id"]},
        {"login": first},
        {"id": "x", "login": first},
        {"id": ann["id"], "login": "1,x"},
        {"id": ann["id"], "login": "0"},
    ):
        assert mt5.retcode(mt5.get("client/user/add", **bad)) == PARAMS
    logins = ",".join(str(n) for n in range(1, 102))
    assert mt5.retcode(mt5.get("client/user/add", id=ann["id"], login=logins)) == PARAMS
    trail = [r.action for r in mt5.services.user_history(int(ann["id"]), mt5.admin)]
    assert trail.count("user.account_linked") == 2
    assert trail.count("user.account_unlinked") == 1


def test_client_delete_refuses_a_client_with_accounts_and_deletes_one_without(mt5: Mt5) -> None:
    [kept, gone] = add(
        mt5, {"ContactEmail": "kept@example.com"}, {"ContactEmail": "gone@example.com"}
    )
    login = int(mt5.add_user()["Login"])
    mt5.ok(mt5.get("client/user/add", id=kept["id"], login=login))
    answer = mt5.get("client/delete", id=f"{kept['id']},{gone['id']}").json()
    assert answer == {
        "retcode": "14 Partial error",
        "answer": [
            {"id": kept["id"], "retcode": "2003 Accounts or trades in group/symbol"},
            {"id": gone["id"], "retcode": DONE},
        ],
    }
    assert mt5.retcode(mt5.get("client/get", id=gone["id"])) == NOT_FOUND
    assert mt5.retcode(mt5.get("client/delete", id=gone["id"])) == NOT_FOUND
    assert gone["id"] not in mt5.ok(mt5.get("client/get_ids"))
    # its email is free again, and the new user gets a new id
    [again] = add(mt5, {"ContactEmail": "gone@example.com"})
    assert again["retcode"] == DONE and int(again["id"]) > int(gone["id"])
    # unlinked, the client can go
    mt5.ok(mt5.get("client/user/delete", id=kept["id"], login=login))
    assert mt5.retcode(mt5.get("client/delete", id=kept["id"])) == DONE
    assert mt5.retcode(mt5.get("client/delete")) == PARAMS


def test_client_history_get_shows_the_record_after_each_change(mt5: Mt5) -> None:
    [created] = add(mt5, {"ContactEmail": "h@example.com", "PersonName": "First"})
    ident = created["id"]
    mt5.ok(mt5.post("client/update", json={"RecordID": ident, "PersonName": "Second"}))
    login = int(mt5.add_user()["Login"])
    mt5.ok(mt5.get("client/user/add", id=ident, login=login))  # not a change of the record
    mt5.ok(mt5.post("client/update", json={"RecordID": ident, "PersonName": "Third"}))
    history = mt5.ok(mt5.get("client/history/get", id=ident))
    assert [h["PersonName"] for h in history] == ["First", "Second", "Third"]
    assert {h["RecordID"] for h in history} == {ident}
    assert all(isinstance(v, str) for h in history for v in h.values() if not isinstance(v, list))
    assert mt5.ok(mt5.get("client/history/get", id=ident, author=mt5.login + 1)) == []
    assert mt5.ok(mt5.get("client/history/get", id=ident, to=0)) == []
    assert len(mt5.ok(mt5.get("client/history/get", id=ident, author=mt5.login))) == 3
    assert mt5.retcode(mt5.get("client/history/get", id=99999)) == NOT_FOUND
    assert mt5.retcode(mt5.get("client/history/get")) == PARAMS
    plain = mt5.as_manager(5011, rights=frozenset(SCOPES) - {"personal_data", "admin"})
    assert {h["ContactEmail"] for h in plain.ok(plain.get("client/history/get", id=ident))} == {""}


def test_client_changes_need_users_write_and_reach(mt5: Mt5) -> None:
    [created] = add(mt5, {"ContactEmail": "r@example.com"})
    ident = created["id"]
    login = int(mt5.add_user()["Login"])  # in demoforex
    writer = mt5.as_manager(5020, rights=frozenset({"users:read", "users:write"}))
    assert writer.retcode(writer.get("client/delete", id=ident)) == PERMISSIONS
    reader = mt5.as_manager(5021, rights=frozenset({"users:read"}))
    for command, params in (
        ("client/delete", {"id": ident}),
        ("client/user/add", {"id": ident, "login": login}),
        ("client/user/delete", {"id": ident, "login": login}),
    ):
        assert reader.retcode(reader.get(command, **params)) == PERMISSIONS
    assert reader.retcode(reader.post("client/update", json={"RecordID": ident})) == PERMISSIONS
    # a manager who does not reach demoforex cannot link an account there, nor see it
    narrow = mt5.as_manager(5022, group_mask="real\\*")
    assert narrow.retcode(narrow.get("client/user/add", id=ident, login=login)) == NOT_FOUND
    mt5.ok(mt5.get("client/user/add", id=ident, login=login))
    assert narrow.retcode(narrow.get("client/user/delete", id=ident, login=login)) == NOT_FOUND
    # a manager limited to a white label does not reach a user under none
    labelled = mt5.as_manager(5023, white_labels="acme")
    for command, params in (
        ("client/delete", {"id": ident}),
        ("client/history/get", {"id": ident}),
        ("client/user/delete", {"id": ident, "login": login}),
    ):
        assert labelled.retcode(labelled.get(command, **params)) == NOT_FOUND
    assert (
        labelled.retcode(
            labelled.post("client/update", json={"RecordID": ident, "PersonName": "X"})
        )
        == NOT_FOUND
    )
    assert mt5.services.get_account(login, mt5.admin).user_id == int(ident)


def test_hostile_client_changes_are_invalid_parameters_and_change_nothing(mt5: Mt5) -> None:
    [created] = add(mt5, {"ContactEmail": "h0@example.com", "PersonName": "Kept"})
    ident = created["id"]
    login = int(mt5.add_user()["Login"])
    bad_ids = ["١", "１", "1_0", "9" * 5000, "-1", "0", "1.0", True, {"id": 1}, [1]]
    sent = [{"RecordID": b, "PersonName": "X"} for b in bad_ids]
    body = mt5.post("client/update", json=sent).json()
    assert body["retcode"] == "14 Partial error"
    assert body["answer"] == [{"id": "0", "retcode": PARAMS}] * len(bad_ids)
    one = [{"RecordID": "١", "PersonName": "X"}]
    assert mt5.retcode(mt5.post("client/update", json=one)) == PARAMS
    for bad_name in ("x" * 128, "a\x00b", {"first": "x"}, ["x"]):
        update = {"RecordID": ident, "PersonName": bad_name}
        assert mt5.retcode(mt5.post("client/update", json=update)) == PARAMS
    surrogate = b'{"RecordID": "%s", "PersonName": "\\ud800"}' % ident.encode()
    assert mt5.retcode(mt5.post("client/update", content=surrogate)) == PARAMS
    assert mt5.retcode(mt5.post("client/update", content=b'[{"RecordID": ')) == PARAMS
    assert mt5.ok(mt5.get("client/get", id=ident))["PersonName"] == "Kept"
    for logins in ("1_0", "١", "1,,x", "9" * 5000, "-5", str(2**63)):
        assert mt5.retcode(mt5.get("client/user/add", id=ident, login=logins)) == PARAMS
        assert mt5.retcode(mt5.get("client/delete", id=logins)) == PARAMS
    for param in ({"from": "-1"}, {"to": "x"}, {"author": "9" * 30}):
        assert mt5.retcode(mt5.get("client/history/get", id=ident, **param)) == PARAMS
    assert mt5.ok(mt5.get("client/user/get_logins", id=ident)) == []
    assert mt5.services.get_account(login, mt5.admin).user_id is None


def test_a_deleted_client_is_gone_for_the_other_dialects_too(mt5: Mt5) -> None:
    [created] = add(mt5, {"ContactEmail": "everywhere@example.com"})
    ident = int(created["id"])
    assert mt5.retcode(mt5.get("client/delete", id=ident)) == DONE
    services, admin = mt5.services, mt5.admin
    assert services.find_user_by_email("everywhere@example.com", admin) is None  # cTID's lookup
    assert services.search_users(UserFilter(), admin) == []  # TraderEvolution's GET /users
    assert services.list_users(UserQuery(), admin) == []
    trail = services.query_audit(AuditQuery(entity_type="user", entity_id=str(ident)), admin)
    assert [r.action for r in trail] == ["user.created", "user.deleted"]
    assert (trail[-1].before or {})["email"] == "everywhere@example.com"
