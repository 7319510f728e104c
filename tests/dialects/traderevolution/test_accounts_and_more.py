"""The endpoints a TE CRM calls beyond seed 004, at the wire: the account list, assets, account
details, account changes, deletion and closing, user deletion and password reset, session
verification, error decoding, the isSettled and sort filters, transfers between a user's
accounts through the ledger, and cTrader-made users read as TE users."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import SCOPES
from brokerplane.core.user.commands import CreateUser
from tests.dialects.traderevolution.conftest import TE, USER_PASSWORD, sign_in


def deposit(te: TE, account: int, amount: Any) -> None:
    te.ok(
        te.post(
            "/accountOperations", {"accountId": account, "amount": amount, "operationTypeId": 2}
        )
    )


def manager(te: TE, login: int, scopes: set[str], mask: str = "*") -> str:
    password = f"Desk#{login}x"
    te.services.create_manager(
        CreateManager(login, f"desk {login}", password, frozenset(scopes), mask), te.admin
    )
    return str(sign_in(te.client, login, password).json()["accessToken"])


def test_the_account_list_pages_and_filters_within_reach(te: TE) -> None:
    made = [
        te.create_user(name, group=group)
        for name, group in (("ann", "retail"), ("bob", "vip"), ("cat", "retail"))
    ]
    ids = [m["accounts"][0]["id"] for m in made]
    listed = te.ok(te.get("/accounts"))
    assert [a["id"] for a in listed] == sorted(ids)
    assert listed[0]["balance"] == 0 and listed[0]["statusName"] == "Active"
    assert [a["id"] for a in te.ok(te.get("/accounts", params={"limit": 1, "offset": 1}))] == [
        sorted(ids)[1]
    ]
    assert [a["id"] for a in te.ok(te.get("/accounts", params={"userId": made[1]["id"]}))] == [
        ids[1]
    ]
    retail = te.ok(te.get("/accounts", params={"userGroupId": te.ids["retail"]}))
    assert {a["id"] for a in retail} == {ids[0], ids[2]}
    token = manager(te, 1030, {"users:read"}, "retail")
    assert {a["id"] for a in te.ok(te.get("/accounts", token=token))} == {ids[0], ids[2]}
    assert (
        te.error(te.get("/accounts", params={"userId": made[1]["id"]}, token=token), 404)
        == "1.4.0.1"
    )
    assert te.error(te.get("/accounts", params={"limit": 0}), 400) == "1.0.0.1"
    assert te.error(te.get("/accounts", params={"offset": "x"}), 400) == "1.0.0.1"
    assert te.error(te.get("/accounts", params={"userGroupId": 99999}), 404) == "1.4.0.3"


def test_assets_and_account_details(te: TE) -> None:
    assets = te.ok(te.get("/assets"))
    by_name = {a["name"]: a for a in assets}
    assert by_name["USD"] == {"id": 840, "name": "USD", "description": "USD", "precision": 2}
    assert by_name["EUR"]["id"] == 978
    assert te.ok(te.get("/assets", params={"name": "eur"})) == [by_name["EUR"]]
    account = te.create_user()["accounts"][0]["id"]
    deposit(te, account, "125.50")
    details = te.ok(te.get("/accountDetails", params={"accountId": account}))
    assert details["id"] == account and details["groupName"] == "retail"
    assert details["balance"] == 125.5 and details["availableFunds"] == 125.5
    assert details["withdrawalAvailable"] == 125.5 and details["positions"] == 0
    assert details["marginLevel"] is None
    assert te.error(te.get("/accountDetails"), 400) == "1.0.0.1"
    assert te.error(te.get("/accountDetails", params={"accountId": 999999}), 404) == "1.4.0.2"
    token = manager(te, 1031, {"users:read"}, "vip")
    refused = te.get("/accountDetails", params={"accountId": account}, token=token)
    assert te.error(refused, 404) == "1.4.0.2"  # out of reach reads as absent


def test_an_account_is_renamed_blocked_closed_and_deleted(te: TE) -> None:
    account = te.create_user()["accounts"][0]["id"]
    changed = te.ok(te.patch(f"/accounts/{account}", {"accountName": "renamed", "leverage": 50}))
    assert changed["accountName"] == "renamed" and changed["leverage"] == 50
    blocked = te.ok(te.patch(f"/accounts/{account}", {"status": 1}))
    assert blocked["statusName"] == "Blocked"
    assert te.ok(te.patch(f"/accounts/{account}", {"status": "0"}))["statusName"] == "Active"
    assert te.error(te.patch(f"/accounts/{account}", {"status": 7}), 400) == "1.0.0.1"
    assert te.error(te.patch(f"/accounts/{account}", {"balance": 1e9}), 400) == "1.0.0.1"
    assert te.error(te.patch(f"/accounts/{account}", {}), 400) == "1.0.0.1"
    assert te.error(te.patch(f"/accounts/{account}", {"leverage": 10**30}), 400) == "1.0.0.1"
    assert te.error(te.patch("/accounts/abc", {"status": 1}), 400) == "1.0.0.1"
    closed = te.ok(te.post(f"/closeAccount/{account}"))
    assert closed["status"] == 1 and closed["statusName"] == "Blocked"
    # deleting needs users:delete
    token = manager(te, 1032, set(SCOPES) - {"users:delete", "admin"})
    assert te.error(te.delete(f"/accounts/{account}", token=token), 403) == "2.0.2.4"
    assert te.ok(te.delete(f"/accounts/{account}"))["id"] == account
    assert te.error(te.get(f"/accounts/{account}"), 404) == "1.4.0.2"
    assert te.error(te.delete(f"/accounts/{account}"), 404) == "1.4.0.2"


def test_a_user_is_deleted_only_when_its_accounts_are_empty_and_its_login_is_free_again(
    te: TE,
) -> None:
    made = te.create_user("dora")
    account = made["accounts"][0]["id"]
    deposit(te, account, 10)
    refused = te.delete(f"/users/{made['id']}")
    assert te.error(refused, 400) == "1.9.0.0"
    assert te.ok(te.get(f"/accounts/{account}"))["balance"] == 10  # nothing was deleted
    te.ok(
        te.post("/accountOperations", {"accountId": account, "amount": -10, "operationTypeId": 3})
    )
    gone = te.ok(te.delete(f"/users/{made['id']}"))
    assert gone["id"] == made["id"] and gone["login"] == "dora"
    assert te.error(te.get(f"/users/{made['id']}"), 404) == "1.4.0.1"
    assert te.error(te.get(f"/accounts/{account}"), 404) == "1.4.0.2"
    assert te.ok(te.get("/users", params={"login": "dora"})) == []
    assert sign_in(te.client, "dora", USER_PASSWORD).status_code == 401
    again = te.create_user("dora")  # the login and email are free again
    assert again["id"] != made["id"]
    assert te.error(te.delete("/users/0"), 400) == "1.0.0.1"


def test_reset_password_gives_a_new_working_password_once(te: TE) -> None:
    made = te.create_user("erin")
    reset = te.ok(te.post(f"/users/{made['id']}/resetPassword"))
    assert reset["userId"] == made["id"] and reset["login"] == "erin"
    assert sign_in(te.client, "erin", USER_PASSWORD).status_code == 401
    assert sign_in(te.client, "erin", reset["password"]).status_code == 200
    assert reset["password"] not in te.get("/reports/139").text
    token = manager(te, 1033, {"users:read"})
    assert te.error(te.post(f"/users/{made['id']}/resetPassword", token=token), 403) == "2.0.2.4"


def test_pfix_token_verify_names_the_session_and_says_when_it_expired(te: TE) -> None:
    made = te.create_user("finn")
    session = sign_in(te.client, "finn", USER_PASSWORD).json()["accessToken"]
    verify = "/proftrading/rest/auth/pfixtoken/verify"
    answer = te.client.get(verify, headers={"token": session})
    assert answer.status_code == 200 and answer.json() == {"login": "finn", "isExpired": False}
    services = te.services
    now = services.clock
    services.clock = lambda: now() + timedelta(days=3)
    try:
        after = te.client.get(verify, headers={"token": session}).json()
    finally:
        services.clock = now
    assert after == {"login": "finn", "isExpired": True}
    # a new password ends the user's sessions: the token is no longer known at all
    te.ok(te.patch(f"/users/{made['id']}/changePassword", {"password": "Other#Pass2025"}))
    assert te.error(te.client.get(verify, headers={"token": session}), 401) == "1.2.0.1"
    assert te.error(te.client.get(verify, headers={"token": "nope"}), 401) == "1.2.0.1"
    assert te.error(te.client.get(verify), 401) == "1.2.0.1"
    assert te.error(te.client.get(verify, headers={"token": "x" * 5000}), 401) == "1.2.0.1"
    mine = te.client.get(verify, headers={"token": te.token}).json()
    assert mine == {"login": "1010", "isExpired": False}


def test_error_codes_are_decoded(te: TE) -> None:
    found = te.ok(te.get("/methods/errors", params={"errorId": "1.6.2.2"}))
    assert found["httpStatus"] == 406 and "REPORT_REQUEST" in found["description"]
    assert te.ok(te.get("/methods/errors", params={"errorId": "1.4.0.2"}))["description"] == (
        "Account not found"
    )
    assert te.error(te.get("/methods/errors", params={"errorId": "9.9.9.9"}), 404) == "1.4.0.0"
    assert te.error(te.get("/methods/errors"), 400) == "1.0.0.1"
    assert te.error(te.get("/methods/errors", params={"errorId": "1." * 100}), 400) == "1.0.0.1"


def test_is_settled_and_sort_on_account_operations(te: TE) -> None:
    account = te.create_user()["accounts"][0]["id"]
    for amount in (10, 20, 30):
        deposit(te, account, amount)
    oldest = te.ok(te.get("/accountOperations", params={"accountId": account}))
    assert [o["amount"] for o in oldest] == [10, 20, 30]
    assert all(o["isSettled"] is True for o in oldest)
    assert te.ok(te.get("/accountOperations", params={"isSettled": "true"})) == oldest
    assert te.ok(te.get("/accountOperations", params={"isSettled": "false"})) == []
    for sort in ("desc", "id,desc", "time:desc", "-id", "createdAt desc"):
        newest = te.ok(te.get("/accountOperations", params={"sort": sort}))
        assert [o["amount"] for o in newest] == [30, 20, 10], sort
    page = te.ok(te.get("/accountOperations", params={"sort": "-id", "limit": 1, "offset": 1}))
    assert [o["amount"] for o in page] == [20]
    assert te.ok(te.get("/accountOperations", params={"sort": "id,asc"})) == oldest
    for bad in ("sideways", "amount,desc", "id;desc", ""):
        response = te.get("/accountOperations", params={"sort": bad})
        if bad:
            assert te.error(response, 400) == "1.0.0.1"
    assert te.error(te.get("/accountOperations", params={"isSettled": "maybe"}), 400) == ("1.0.0.1")


def _two_accounts(te: TE, login: str = "gina") -> tuple[int, int, int]:
    made = te.create_user(login, accounts=[{"accountName": "main"}, {"accountName": "savings"}])
    first, second = (a["id"] for a in made["accounts"])
    return made["id"], first, second


def test_a_transfer_moves_money_between_a_users_accounts_once(te: TE) -> None:
    _, first, second = _two_accounts(te)
    deposit(te, first, 1000)
    body = {
        "accountId": first,
        "toAccountId": second,
        "amount": -300,
        "operationTypeId": 17,
        "frontendComment": "to savings",
    }
    key = {"Idempotency-Key": "transfer-1"}
    done = te.ok(te.post("/accountOperations", body, headers=key))
    assert done["operationTypeId"] == 17 and done["operationType"] == "Transfer"
    assert done["accountId"] == first and done["amount"] == -300 and done["balance"] == 700
    assert done["counterOperation"]["accountId"] == second
    assert done["counterOperation"]["amount"] == 300
    assert done["transferId"].startswith("transfer:")
    again = te.post("/accountOperations", body, headers=key)
    assert again.status_code == 200 and again.headers["Idempotent-Replay"] == "true"
    assert again.json() == done
    assert te.ok(te.get(f"/accounts/{first}"))["balance"] == 700
    assert te.ok(te.get(f"/accounts/{second}"))["balance"] == 300
    legs = te.ok(te.get("/accountOperations", params={"operationTypeId": 17}))
    assert sorted(o["amount"] for o in legs) == [-300, 300]
    deposits = te.ok(te.get("/accountOperations", params={"operationTypeId": 2}))
    assert [o["amount"] for o in deposits] == [1000]  # the legs are not deposits
    assert te.services.verify_ledger() == []
    report = te.services.audit_ledger()
    assert report.ok, report  # both legs tied to their audit records
    records = [r for r in te.get("/reports/139").json()["data"] if r[6] == "ledger.transfer"]
    assert len(records) == 1
    # in the reports the legs are money between accounts, not cash in or out
    summary = te.ok(te.get("/reports/102", params={"accountId": first}))
    row = dict(zip(summary["headers"], summary["data"][0], strict=True))
    assert row["deposit_with_unsettled"] == 1000 and row["widthdraw"] == 0
    assert row["other_account_operations"] == -300 and row["balance_after"] == 700
    cash = te.ok(te.get("/reports/109"))["data"]
    assert [c[7] for c in cash] == [1000]
    # nobody else can make an entry look like a transfer leg
    api_key = te.services.create_api_key(CreateApiKey(1010, frozenset(SCOPES)), te.admin).secret
    forged = te.client.post(
        "/v1/balances/deposit",
        json={"login": second, "amount": "1", "reference": "transfer:0123"},
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert forged.status_code == 400, forged.text


def test_a_transfer_is_refused_whole_when_it_cannot_apply(te: TE) -> None:
    uid, first, second = _two_accounts(te)
    deposit(te, first, 100)
    other = te.create_user("hal")["accounts"][0]["id"]

    def transfer(**changes: Any) -> str:
        body = {
            "accountId": first,
            "toAccountId": second,
            "amount": 50,
            "operationTypeId": 17,
            **changes,
        }
        response = te.post("/accountOperations", body)
        assert response.status_code >= 400, response.text
        return str(response.json()["errorCode"])

    assert transfer(amount=500) == "2.3.0.1"  # more than the balance
    assert transfer(toAccountId=other) == "1.0.0.1"  # another user's account
    assert transfer(toAccountId=first) == "1.0.0.1"
    assert transfer(toAccountId=None) == "1.0.0.1"
    assert transfer(toAccountId=99999999) == "1.4.0.2"
    assert transfer(amount=0) == "1.0.3.1"
    assert transfer(amount="1e400") == "1.0.3.2"
    token = manager(te, 1034, {"users:read"})
    response = te.post(
        "/accountOperations",
        {"accountId": first, "toAccountId": second, "amount": 5, "operationTypeId": 17},
        token=token,
    )
    assert te.error(response, 403) == "2.0.2.4"
    assert te.ok(te.get(f"/accounts/{first}"))["balance"] == 100
    assert te.ok(te.get(f"/accounts/{second}"))["balance"] == 0
    assert te.ok(te.get(f"/users/{uid}"))["accounts"][0]["balance"] == 100


def test_users_made_through_ctrader_read_as_te_users(te: TE) -> None:
    made = te.services.create_user(CreateUser("ctrader.user@example.com"), te.admin).user
    account = te.services.open_account(OpenAccount(group="vip", owner_id=made.id), te.admin)
    found = te.ok(te.get("/users", params={"email": "ctrader.user@example.com"}))
    (user,) = found
    assert user["login"] == made.nickname == f"ctid{made.id}"
    assert user["userGroupId"] == te.ids["vip"]
    by_login = te.ok(te.get("/users", params={"login": f"ctid{made.id}"}))
    assert [u["id"] for u in by_login] == [made.id]
    single = te.ok(te.get(f"/users/{made.id}"))
    assert single["login"] == f"ctid{made.id}" and single["userGroupId"] == te.ids["vip"]
    assert [a["id"] for a in single["accounts"]] == [account.login]
    # a TE user cannot take that login
    body = {
        "email": "x@example.com",
        "login": f"ctid{made.id}",
        "password": USER_PASSWORD,
        "userGroup": te.ids["retail"],
        "accounts": {"accountName": "x"},
    }
    assert te.error(te.post("/users", body), 400) == "1.9.0.0"


def test_a_limited_back_office_user_cannot_touch_accounts_out_of_its_reach(te: TE) -> None:
    vip = te.create_user("vera", group="vip", accounts=[{"accountName": "a"}, {"accountName": "b"}])
    first, second = (a["id"] for a in vip["accounts"])
    deposit(te, first, 100)
    token = manager(te, 1040, set(SCOPES) - {"admin"}, "retail")
    calls = [
        ("PATCH", f"/accounts/{first}", {"accountName": "x"}),
        ("DELETE", f"/accounts/{first}", None),
        ("POST", f"/closeAccount/{first}", None),
        ("GET", f"/accountDetails?accountId={first}", None),
        (
            "POST",
            "/accountOperations",
            {"accountId": first, "toAccountId": second, "amount": 5, "operationTypeId": 17},
        ),
    ]
    for method, path, body in calls:
        assert te.error(te.call(method, path, json=body, token=token), 404) == "1.4.0.2", path
    for method, path in (
        ("DELETE", f"/users/{vip['id']}"),
        ("POST", f"/users/{vip['id']}/resetPassword"),
    ):
        assert te.error(te.call(method, path, token=token), 404) == "1.4.0.1", path
    # nothing changed
    assert te.ok(te.get(f"/accounts/{first}"))["balance"] == 100
    assert te.ok(te.get(f"/accounts/{first}"))["statusName"] == "Active"
    assert sign_in(te.client, "vera", USER_PASSWORD).status_code == 200


def test_parallel_transfers_apply_once_per_key_and_never_lose_money(te: TE) -> None:
    _, first, second = _two_accounts(te, "ivy")
    deposit(te, first, 1000)
    deposit(te, second, 1000)
    body = {"accountId": first, "toAccountId": second, "amount": 100, "operationTypeId": 17}
    go = threading.Barrier(8)

    def retry(_: int) -> int:
        go.wait(timeout=30)
        return te.post("/accountOperations", body, headers={"Idempotency-Key": "same"}).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(retry, range(8))) == {200}
    assert te.ok(te.get(f"/accounts/{first}"))["balance"] == 900
    # both directions at once, without keys: each applies, nothing deadlocks or is lost
    ways = [(first, second), (second, first)] * 5
    both = threading.Barrier(len(ways))

    def move(way: tuple[int, int]) -> int:
        both.wait(timeout=30)
        sent = {"accountId": way[0], "toAccountId": way[1], "amount": 10, "operationTypeId": 17}
        return te.post("/accountOperations", sent).status_code

    with ThreadPoolExecutor(len(ways)) as pool:
        assert set(pool.map(move, ways)) == {200}
    balances = [te.ok(te.get(f"/accounts/{a}"))["balance"] for a in (first, second)]
    assert balances == [900, 1100]
    assert te.services.audit_ledger().ok


def test_a_login_sent_in_single_quotes_finds_the_user(te: TE) -> None:
    made = te.create_user("quinn")
    found = te.ok(te.get("/users", params={"login": "'quinn'"}))
    assert [u["id"] for u in found] == [made["id"]]
    assert te.ok(te.get("/users", params={"login": "'"})) == []
