"""MT5 user reads over HTTP, on both engines: user/get, batches, logins, totals, groups and
the money state, within the manager's reach; and the same account seen natively."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from brokerplane.core.ledger.commands import PostLedgerEntry
from tests.dialects.mt5.conftest import Mt5
from tests.dialects.mt5.users_support import (
    PERSONAL,
    SEED_BODY,
    VIP_PASSWORDS,
    _add,
    _all_strings,
    _native_get,
)
from tests.unit.fakes import FakeClock

# ---- reads --------------------------------------------------------------------------------------


def test_user_get_of_an_unknown_login_is_13_and_without_one_3(mt5: Mt5) -> None:
    assert mt5.retcode(mt5.get("user/get", login="4242")) == "13 Not found"
    assert mt5.retcode(mt5.get("user/get")) == "3 Invalid parameters"
    assert mt5.retcode(mt5.get("user/get", login="abc")) == "3 Invalid parameters"


def test_personal_fields_read_empty_without_the_personal_data_right(mt5: Mt5) -> None:
    personal = {
        "Email": "a@b.co",
        "Phone": "+1",
        "Address": "Street",
        "City": "Town",
        "State": "ST",
        "ZIPCode": "12345",
        "ID": "P1",
        "Account": "IBAN1",
        "MQID": "ABCD1234",
    }
    login = mt5.ok(_add(mt5, None, personal))["Login"]
    clerk = mt5.as_manager(1006, rights=frozenset({"users:read", "users:write"}))

    seen = clerk.ok(clerk.get("user/get", login=login))

    assert {k: seen[k] for k in PERSONAL} == dict.fromkeys(PERSONAL, "")
    assert seen["Name"] == "John Smith"
    assert {
        k: v for k, v in mt5.ok(mt5.get("user/get", login=login)).items() if k in PERSONAL
    } == personal
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
    assert {
        k: answer[k]
        for k in (
            "Login",
            "Balance",
            "Credit",
            "Equity",
            "Margin",
            "MarginFree",
            "MarginLevel",
            "Profit",
            "Floating",
            "MarginLeverage",
            "CurrencyDigits",
        )
    } == {
        "Login": str(login),
        "Balance": "1050.00",
        "Credit": "200.00",
        "Equity": "1250.00",
        "Margin": "0.00",
        "MarginFree": "1250.00",
        "MarginLevel": "0.00",
        "Profit": "0.00",
        "Floating": "0.00",
        "MarginLeverage": "100",
        "CurrencyDigits": "2",
    }
    user = mt5.ok(mt5.get("user/get", login=login))
    assert (user["Balance"], user["Credit"]) == ("1050.00", "200.00")


# ---- one account, two dialects ------------------------------------------------------------------


def test_an_account_created_over_mt5_reads_the_same_natively(mt5: Mt5) -> None:
    added = mt5.ok(
        mt5.post(
            "user/add",
            {"group": "demoforex", "name": "JohnSmith", "leverage": "100"},
            {
                **SEED_BODY,
                "Email": "john@example.com",
                "Comment": "crm",
                "Rights": 483,
                "Phone": "+100",
                "Language": 1033,
            },
        )
    )
    mt5.services.post_ledger_entry(
        PostLedgerEntry(int(added["Login"]), "deposit", "1000"), mt5.admin
    )
    mt5_view = mt5.ok(mt5.get("user/get", login=added["Login"]))

    response = _native_get(mt5, added["Login"])

    assert response.status_code == 200, response.text
    native = response.json()
    assert {
        "Login": str(native["login"]),
        "Group": native["group"],
        "Name": native["name"],
        "Leverage": str(native["leverage"]),
        "Rights": str(native["rights"]),
        "Company": native["company"],
        "Country": native["country"],
        "City": native["city"],
        "MQID": native["mqid"],
        "Email": native["email"],
        "Phone": native["phone"],
        "Comment": native["comment"],
        "Language": str(native["language"]),
        "Color": str(native["color"]),
        "Balance": native["balance"],
        "Credit": native["credit"],
    } == {
        k: mt5_view[k]
        for k in (
            "Login",
            "Group",
            "Name",
            "Leverage",
            "Rights",
            "Company",
            "Country",
            "City",
            "MQID",
            "Email",
            "Phone",
            "Comment",
            "Language",
            "Color",
            "Balance",
            "Credit",
        )
    }
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
        return mt5.retcode(
            mt5.get("user/check_password", login=login, type="main", password=password)
        )

    assert {check(f"Guess#{n}") for n in range(60)} == {"3006 Invalid account password"}
    assert check("1Ar#pqkj") == "3006 Invalid account password"
    clock.advance(seconds=1)
    assert check("1Ar#pqkj") == "0 Done"
