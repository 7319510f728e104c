"""MT5 user/update, user/delete and the password commands over HTTP, on both engines: what
they change, what they refuse in MT5's words, the rights they need, and the audit."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from brokerplane.core import passwords
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.ledger.commands import PostLedgerEntry
from tests.dialects.mt5.conftest import Mt5
from tests.dialects.mt5.users_support import VIP_PASSWORDS, _add, _native_get

# ---- user/update --------------------------------------------------------------------------------


def test_update_applies_the_fields_it_is_given(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]

    body = {"Name": "John Q Smith", "Leverage": "300", "Email": "j@x.io"}

    answer = mt5.ok(mt5.post("user/update", {"login": login, "comment": "vip soon"}, body))

    assert (answer["Name"], answer["Leverage"], answer["Email"], answer["Comment"]) == (
        "John Q Smith",
        "300",
        "j@x.io",
        "vip soon",
    )
    assert mt5.ok(mt5.get("user/get", login=login)) == answer


def test_update_leaves_out_invalid_values_silently_and_applies_the_rest(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]

    answer = mt5.ok(
        mt5.post(
            "user/update",
            {"login": login},
            {
                "Leverage": 9999,
                "Email": "nope",
                "Rights": -1,
                "Color": "red",
                "Language": [1],
                "ApiData": [{"AppID": 1}],
                "City": "Paris",
            },
        )
    )

    assert (answer["Leverage"], answer["Email"], answer["Rights"], answer["City"]) == (
        "100",
        "",
        "355",
        "Paris",
    )


def test_update_ignores_server_fields_and_cannot_change_the_balance(mt5: Mt5) -> None:
    added = mt5.add_user()

    answer = mt5.ok(
        mt5.post(
            "user/update",
            {"login": added["Login"]},
            {
                "Balance": "1000",
                "Credit": "5",
                "Registration": "1",
                "CertSerialNumber": "7",
                "LastIP": "10.0.0.1",
                "CurrencyDigits": "5",
                "PassMain": "9Zz#changed",
            },
        )
    )

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
        "8 Not enough permissions"
    )


def test_update_of_an_unknown_login_is_13_and_without_login_3(mt5: Mt5) -> None:
    assert mt5.retcode(mt5.get("user/update", login="4242", name="X")) == "13 Not found"
    assert mt5.retcode(mt5.post("user/update", None, {"Name": "X"})) == "3 Invalid parameters"


def test_update_needs_the_right_to_edit_accounts(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]
    reader = mt5.as_manager(1006, rights=frozenset({"users:read"}))

    assert reader.retcode(reader.get("user/update", login=login, name="X")) == (
        "8 Not enough permissions"
    )


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
    actions = [
        r.action
        for r in mt5.services.query_audit(
            AuditQuery(entity_type="account", entity_id=str(login)), mt5.admin
        )
    ]
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


# ---- passwords ----------------------------------------------------------------------------------


def test_check_password_answers_done_or_3006(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]

    def check(kind: str, password: str) -> str:
        return mt5.retcode(
            mt5.get("user/check_password", login=login, type=kind, password=password)
        )

    assert check("main", "1Ar#pqkj") == "0 Done"
    assert check("investor", "2Ar#pqkj") == "0 Done"
    assert check("main", "2Ar#pqkj") == "3006 Invalid account password"
    assert check("investor", "1Ar#pqkj") == "3006 Invalid account password"
    assert check("api", "1Ar#pqkj") == "3006 Invalid account password"  # none set
    assert check("MAIN", "1Ar#pqkj") == "0 Done"
    assert check("phone", "1Ar#pqkj") == "3 Invalid parameters"


def test_check_password_takes_a_post_body(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]

    ok = mt5.post(
        "user/check_password", None, {"Login": login, "Type": "main", "Password": "1Ar#pqkj"}
    )
    wrong = mt5.post(
        "user/check_password", None, {"Login": int(login), "Type": "main", "Password": "nope"}
    )

    assert (mt5.retcode(ok), mt5.retcode(wrong)) == ("0 Done", "3006 Invalid account password")


def test_check_password_errors(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]

    assert (
        mt5.retcode(mt5.get("user/check_password", login="4242", type="main", password="x"))
        == "13 Not found"
    )
    assert mt5.retcode(mt5.get("user/check_password", login=login, type="main")) == (
        "3 Invalid parameters"
    )
    assert mt5.retcode(mt5.get("user/check_password", login=login, password="x")) == (
        "3 Invalid parameters"
    )


def test_change_password_sets_each_kind(mt5: Mt5) -> None:
    login = mt5.add_user()["Login"]

    for kind, new in (("main", "NewMain123"), ("investor", "newinv123"), ("api", "ApiPass99")):
        changed = mt5.post(
            "user/change_password", None, {"Login": login, "Type": kind, "Password": new}
        )
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
    assert (
        mt5.retcode(
            mt5.get("user/change_password", login=login, type="main", password="Abcdefg123")
        )
        == "0 Done"
    )


def test_change_password_is_audited_without_the_password(
    mt5: Mt5, caplog: pytest.LogCaptureFixture
) -> None:
    login = mt5.add_user()["Login"]
    secret = "Secr3tPassw0rd"

    with caplog.at_level(logging.DEBUG):
        mt5.ok(
            mt5.post(
                "user/change_password", None, {"Login": login, "Type": "main", "Password": secret}
            )
        )

    records = mt5.services.query_audit(
        AuditQuery(entity_type="account", entity_id=login), mt5.admin
    )
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
