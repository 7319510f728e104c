"""Seed 004's user management over HTTP on both engines: create a user with minimal parameters
and an account, find it, move it between groups, lock and unlock it, change its password; and
bad input of every kind answered in TraderEvolution's words."""

from __future__ import annotations

from typing import Any

import pytest

from brokerplane.core.account.commands import CheckPassword
from brokerplane.core.group.commands import CreateGroup
from tests.dialects.traderevolution.conftest import TE, USER_PASSWORD, sign_in

MINIMAL = {
    "email": "john.smith@example.com",
    "firstName": "John",
    "lastName": "Smith",
    "login": "jsmith",
    "password": USER_PASSWORD,
    "accounts": {"accountName": "Main"},
}


def _minimal(te: TE, **changes: Any) -> dict[str, Any]:
    return {**MINIMAL, "userGroup": te.ids["retail"], **changes}


def test_a_user_created_with_minimal_parameters_gets_its_ids_and_an_active_account(te: TE) -> None:
    answer = te.ok(te.post("/users", _minimal(te)))

    assert answer["id"] >= 1 and answer["login"] == "jsmith"
    assert answer["userGroupId"] == te.ids["retail"] and answer["brandingId"] == te.ids["brand"]
    assert (answer["status"], answer["statusName"]) == (0, "Unlocked")
    [account] = answer["accounts"]
    assert account["accountName"] == "Main" and account["userId"] == answer["id"]
    # the group's settings: its currency (the server's, USD), its leverage, Active
    assert (account["currency"], account["leverage"], account["status"]) == ("USD", 100, 0)
    assert account["balance"] == 0 and account["statusName"] == "Active"
    # the account id is the account's login in every dialect
    acc = te.services.get_account(account["id"], te.admin)
    assert (acc.name, acc.user_id, acc.group) == ("Main", answer["id"], "retail")
    assert (acc.first_name, acc.last_name, acc.email) == ("John", "Smith", "john.smith@example.com")


def test_the_user_and_its_account_ids_can_be_read_back_by_user_id(te: TE) -> None:
    created = te.create_user()
    uid = created["id"]

    read = te.ok(te.get(f"/users/{uid}"))
    accounts = te.ok(te.get(f"/users/{uid}/accounts"))
    one = te.ok(te.get(f"/accounts/{created['accounts'][0]['id']}"))

    assert read == created
    assert accounts == created["accounts"] == [one]


def test_an_account_preset_applies_its_currency_leverage_and_type(te: TE) -> None:
    euro_spec = {"accountName": "Euro", "presetId": te.ids["preset"]}
    body = _minimal(te, accounts=[{"accountName": "Main"}, euro_spec])

    main, euro = te.ok(te.post("/users", body))["accounts"]

    assert (main["currency"], main["leverage"], main["accountType"]) == ("USD", 100, "HEDGED")
    assert (euro["currency"], euro["leverage"], euro["accountType"]) == ("EUR", 50, "NETTED")
    assert te.services.get_account(euro["id"], te.admin).swap_free is True


def test_post_accounts_adds_an_account_to_the_user_in_its_group(te: TE) -> None:
    uid = te.create_user()["id"]

    added = te.ok(te.post("/accounts", {"accountName": "Second", "userId": uid}))
    preset = te.ok(
        te.post(
            "/accounts", {"accountName": "Euro", "userId": str(uid), "presetId": te.ids["preset"]}
        )
    )

    assert (added["userId"], added["userGroupId"], added["currency"]) == (
        uid,
        te.ids["retail"],
        "USD",
    )
    assert preset["currency"] == "EUR"
    ids = [a["id"] for a in te.ok(te.get(f"/users/{uid}/accounts"))]
    assert ids == sorted(ids) and {added["id"], preset["id"]} < set(ids) and len(ids) == 3
    # the user's password is the new account's password too
    check = CheckPassword(added["id"], "main", USER_PASSWORD)
    assert te.services.check_password(check, te.admin)


def test_users_are_found_by_group_email_login_branding_and_plan(te: TE) -> None:
    a = te.create_user("alice")
    b = te.create_user("bob", group="vip")
    c = te.create_user("carol", group="euro")

    def logins(**params: Any) -> list[str]:
        return [u["login"] for u in te.ok(te.get("/users", params=params))]

    assert logins() == ["alice", "bob", "carol"]
    assert logins(userGroupId=te.ids["vip"]) == ["bob"]
    assert logins(email="ALICE@example.com") == ["alice"]
    assert logins(email="nobody@example.com") == []
    assert logins(login="carol,ALICE") == ["alice", "carol"]
    assert logins(login="bob", userGroupId=te.ids["retail"]) == []
    assert logins(brandingId=te.ids["brand"]) == ["alice", "bob"]
    assert logins(planId=te.ids["risk"]) == ["alice"]
    assert logins(brandingId=999) == logins(planId=999) == []
    assert logins(offset=1, limit=1) == ["bob"] and logins(offset=3) == []
    listed = te.ok(te.get("/users", params={"login": "alice"}))
    assert listed == [{k: v for k, v in a.items() if k != "accounts"}]
    assert b["id"] < c["id"]


def test_moving_a_user_moves_its_accounts_to_the_new_groups_settings(te: TE) -> None:
    te.services.create_group(
        CreateGroup("tight", "USD", {"default_leverage": 20, "max_leverage": 50}), te.admin
    )
    tight = te.services.get_group("tight", te.admin).id
    created = te.create_user(accounts=[{"accountName": "A"}, {"accountName": "B"}])
    uid = created["id"]

    moved = te.patch(f"/users/{uid}", {"userGroup": te.ids["vip"]})

    assert moved.status_code == 204 and moved.content == b""
    user = te.ok(te.get(f"/users/{uid}"))
    assert user["userGroupId"] == te.ids["vip"]
    assert {a["userGroupId"] for a in user["accounts"]} == {te.ids["vip"]}
    assert [u["login"] for u in te.ok(te.get("/users", params={"userGroupId": te.ids["vip"]}))] == [
        "jsmith"
    ]
    # a group whose maximum leverage is lower brings the accounts' leverage down to it
    assert te.patch(f"/users/{uid}", {"userGroupId": str(tight)}).status_code == 204
    accounts = te.ok(te.get(f"/users/{uid}/accounts"))
    assert {(a["userGroupId"], a["leverage"]) for a in accounts} == {(tight, 50)}
    assert te.services.get_account(accounts[0]["id"], te.admin).group == "tight"
    # the branding follows the group: "tight" has none
    assert te.ok(te.get(f"/users/{uid}"))["brandingId"] is None


def test_a_move_to_a_group_that_does_not_exist_changes_nothing(te: TE) -> None:
    uid = te.create_user()["id"]

    for group in (424242, 0, -3):
        assert te.error(te.patch(f"/users/{uid}", {"userGroup": group}), 404) == "1.4.0.3"
    assert te.error(te.patch(f"/users/{uid}", {"userGroup": "vip"}), 400) == "1.0.0.1"
    assert te.ok(te.get(f"/users/{uid}"))["userGroupId"] == te.ids["retail"]


@pytest.mark.parametrize(
    ("value", "name"),
    [(1, "Locked"), (2, "Locked after brute force"), (3, "Need activation"), (4, "Expired")],
)
def test_every_status_but_unlocked_keeps_the_user_out_until_unlocked(
    te: TE, value: int, name: str
) -> None:
    uid = te.create_user()["id"]
    assert te.ok(sign_in(te.client, "jsmith", USER_PASSWORD))["accessToken"]

    locked = te.patch(f"/users/{uid}", {"ruleValue": value})

    assert locked.status_code == 204
    assert te.ok(te.get(f"/users/{uid}"))["statusName"] == name
    refused = sign_in(te.client, "jsmith", USER_PASSWORD)
    assert te.error(refused, 401) == "1.2.0.11"
    assert name.lower() in refused.json()["errorMessage"].lower()
    assert te.patch(f"/users/{uid}", {"ruleName": "Status", "ruleValue": "0"}).status_code == 204
    assert te.ok(te.get(f"/users/{uid}"))["status"] == 0
    assert sign_in(te.client, "jsmith", USER_PASSWORD).status_code == 200


def test_locking_a_user_ends_its_sessions(te: TE) -> None:
    uid = te.create_user()["id"]
    session = te.ok(sign_in(te.client, "jsmith", USER_PASSWORD))
    assert te.get("/webhooksKeys", token=session["accessToken"]).status_code == 200

    assert te.patch(f"/users/{uid}", {"ruleValue": 1}).status_code == 204

    assert te.error(te.get("/webhooksKeys", token=session["accessToken"]), 401) == "1.2.0.1"
    refresh = te.client.get(
        "/proftrading/rest/auth/token/refresh", headers={"token": session["refreshToken"]}
    )
    assert te.error(refresh, 401) == "1.2.0.1"


def test_bad_status_changes_are_refused(te: TE) -> None:
    uid = te.create_user()["id"]

    bodies: list[dict[str, Any]] = [
        {"ruleValue": 5},
        {"ruleValue": -1},
        {"ruleValue": "locked"},
        {"ruleValue": True},
        {"ruleValue": 1.5},
        {},
        {"ruleName": "leverage", "ruleValue": 1},
        {"email": "x@example.com"},
        {"id": uid + 1, "ruleValue": 1},
    ]
    for body in bodies:
        assert te.error(te.patch(f"/users/{uid}", body), 400) == "1.0.0.1", body
    assert te.error(te.patch("/users/424242", {"ruleValue": 1}), 404) == "1.4.0.1"
    assert te.ok(te.get(f"/users/{uid}"))["status"] == 0


def test_a_group_move_and_a_status_go_together_in_one_patch(te: TE) -> None:
    uid = te.create_user()["id"]

    assert (
        te.patch(f"/users/{uid}", {"userGroup": te.ids["vip"], "ruleValue": 1}).status_code == 204
    )

    user = te.ok(te.get(f"/users/{uid}"))
    assert (user["userGroupId"], user["status"]) == (te.ids["vip"], 1)


def test_a_new_password_is_the_users_and_its_accounts(te: TE) -> None:
    created = te.create_user()
    uid, login = created["id"], created["accounts"][0]["id"]

    changed = te.patch(f"/users/{uid}/changePassword", {"password": "NewPass#2025"})

    assert changed.status_code == 200 and changed.json()["id"] == uid
    assert te.error(sign_in(te.client, "jsmith", USER_PASSWORD), 401) == "1.2.0.11"
    assert sign_in(te.client, "jsmith", "NewPass#2025").status_code == 200
    assert te.services.check_password(CheckPassword(login, "main", "NewPass#2025"), te.admin)
    assert not te.services.check_password(CheckPassword(login, "main", USER_PASSWORD), te.admin)


def test_a_weak_or_missing_new_password_is_refused(te: TE) -> None:
    uid = te.create_user()["id"]

    for body in (
        {"password": "short"},
        {"password": "alllowercase1#"},
        {},
        {"password": ""},
        {"password": ["Pass#2025x"]},
    ):
        response = te.patch(f"/users/{uid}/changePassword", body)
        assert te.error(response, 400) in ("1.0.0.1", "1.0.1.3"), body
    assert sign_in(te.client, "jsmith", USER_PASSWORD).status_code == 200


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"login": None}, "1.0.0.1"),
        ({"login": "12345"}, "1.0.0.1"),
        ({"login": "has space"}, "1.0.0.1"),
        ({"login": "x" * 64}, "1.0.0.1"),
        ({"email": "not-an-email"}, "1.0.0.1"),
        ({"email": None}, "1.0.0.1"),
        ({"password": "weak"}, "1.0.1.3"),
        ({"password": None}, "1.0.0.1"),
        ({"userGroup": None}, "1.0.0.1"),
        ({"userGroup": "retail"}, "1.0.0.1"),
        ({"accounts": None}, "1.0.0.1"),
        ({"accounts": []}, "1.0.0.1"),
        ({"accounts": "Main"}, "1.0.0.1"),
        ({"accounts": {"presetId": 1}}, "1.0.0.1"),
        ({"accounts": {"accountName": "  "}}, "1.0.0.1"),
        ({"accounts": {"accountName": "x" * 128}}, "1.0.0.1"),
        ({"accounts": [{"accountName": "A"}, 5]}, "1.0.0.1"),
        ({"accounts": {"accountName": "A", "presetId": "x"}}, "1.0.0.1"),
        ({"firstName": "x" * 128}, "1.0.0.1"),
        ({"firstName": {"a": 1}}, "1.0.0.1"),
        ({"login": "nul\x00"}, "1.0.0.1"),
    ],
)
def test_bad_user_input_is_400_and_creates_nothing(
    te: TE, changes: dict[str, Any], code: str
) -> None:
    response = te.post("/users", _minimal(te, **changes))

    assert te.error(response, 400) == code
    assert te.ok(te.get("/users")) == []


def test_missing_groups_and_presets_are_404(te: TE) -> None:
    assert te.error(te.post("/users", _minimal(te, userGroup=424242)), 404) == "1.4.0.3"
    missing_preset = _minimal(te, accounts={"accountName": "A", "presetId": 999})
    assert te.error(te.post("/users", missing_preset), 404) == "1.4.0.0"
    assert te.ok(te.get("/users")) == []
    uid = te.create_user()["id"]
    assert te.error(te.post("/accounts", {"accountName": "A", "userId": 424242}), 404) == "1.4.0.1"
    assert te.error(te.post("/accounts", {"accountName": "A"}), 400) == "1.0.0.1"
    assert te.error(te.post("/accounts", {"userId": uid}), 400) == "1.0.0.1"


def test_a_login_or_email_in_use_is_refused_whatever_its_case(te: TE) -> None:
    te.create_user()

    same_login = te.post("/users", _minimal(te, login="JSMITH", email="other@example.com"))
    same_email = te.post("/users", _minimal(te, login="other", email="JSmith@Example.com"))

    assert te.error(same_login, 400) == "1.9.0.0"
    assert te.error(same_email, 400) == "1.9.0.5"
    assert len(te.ok(te.get("/users"))) == 1


def test_a_preset_leverage_above_the_groups_maximum_is_refused(te: TE) -> None:
    body = {"presetName": "High", "leverage": 400}
    preset = te.ok(te.post("/accountPresets", body))["presetId"]

    spec = {"accountName": "A", "presetId": preset}
    response = te.post("/users", _minimal(te, userGroup=te.ids["vip"], accounts=spec))

    assert te.error(response, 400) == "1.0.2.1"


def test_a_manager_of_some_groups_sees_and_changes_only_their_users(te: TE) -> None:
    from brokerplane.core.access.commands import CreateManager
    from brokerplane.core.actor import SCOPES

    te.services.create_manager(
        CreateManager(1012, "vip desk", "VipDesk#1012", frozenset(SCOPES), group_mask="vip"),
        te.admin,
    )
    token = te.ok(sign_in(te.client, 1012, "VipDesk#1012"))["accessToken"]
    retail = te.create_user("alice")["id"]
    vip = te.create_user("bob", group="vip")["id"]

    assert [u["id"] for u in te.ok(te.get("/users", token=token))] == [vip]
    assert te.error(te.get(f"/users/{retail}", token=token), 404) == "1.4.0.1"
    assert te.error(te.patch(f"/users/{retail}", {"ruleValue": 1}, token=token), 404) == "1.4.0.1"
    assert (
        te.error(te.patch(f"/users/{vip}", {"userGroup": te.ids["retail"]}, token=token), 404)
        == "1.4.0.3"
    )
    assert [g["name"] for g in te.ok(te.get("/userGroups", token=token))] == ["vip"]
    body = _minimal(te, login="carol", email="carol@example.com")
    assert te.error(te.post("/users", body, token=token), 404) == "1.4.0.3"
