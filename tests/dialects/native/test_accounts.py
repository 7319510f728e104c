"""Accounts through the native API: create, read, update, disable, enable, list, history."""

from __future__ import annotations

import pytest

from brokerplane.core.user.commands import CreateUser
from tests.dialects.native.conftest import Api

SEED_000_EXAMPLE = {"login": 910024, "name": "Demo User", "group": "demo-usd", "leverage": 100}


def test_seed_000_create_user_example_works_verbatim_under_mt4_manager(api: Api) -> None:
    response = api.client.post(
        "/mt4/manager/users",
        headers={
            "Authorization": f"Bearer {api.admin_key}",
            "Content-Type": "application/json",
        },
        json=SEED_000_EXAMPLE,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["login"], body["name"], body["group"], body["leverage"]) == (
        910024,
        "Demo User",
        "demo-usd",
        100,
    )
    assert body["currency"] == "USD"
    assert body["balance"] == "0.00"
    assert body["enabled"] is True
    # The same account under the /v1 mount.
    assert api.get("/v1/users/910024").json() == body


def test_created_account_never_returns_passwords(api: Api) -> None:
    body = api.open(main_password="1Ar#pqkj", investor_password="2Ar#pqkj")
    text = str(body)
    assert "1Ar#pqkj" not in text and "password" not in body
    assert "main_password" not in api.get(f"/v1/users/{body['login']}").json()


def test_absent_or_zero_login_is_allocated_from_the_group_range(api: Api) -> None:
    first = api.open(group="real\\standard")
    second = api.open(group="real\\standard", login=0)
    assert (first["login"], second["login"]) == (5000, 5001)


def test_accounts_outside_a_ranged_group_take_logins_from_the_server_range(api: Api) -> None:
    body = api.open()
    low, high = api.runtime.settings.login_range_from, api.runtime.settings.login_range_to
    assert low <= body["login"] <= high


def test_an_exhausted_login_range_is_a_409_naming_the_range(api: Api) -> None:
    for _ in range(3):
        api.open(group="real\\standard")
    response = api.post("/v1/users", {"name": "N", "group": "real\\standard", "leverage": 100})
    assert response.status_code == 409
    assert response.json()["code"] == "account.login_range_exhausted"
    assert "5000-5002" in response.json()["detail"]


def test_a_duplicate_login_is_a_409_naming_the_login_field(api: Api) -> None:
    api.open(login=777001)
    response = api.post(
        "/v1/users", {"login": 777001, "name": "B", "group": "demo-usd", "leverage": 100}
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [{"field": "login", "message": "already in use"}]


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short1A#", None),
        ("alllower1#x", "uppercase"),
        ("NoDigits#abc", "digit"),
        ("NoSpecial1abc", "special"),
        ("Way2Long#" + "x" * 10, "16"),
    ],
)
def test_main_password_is_checked_against_seed_002_rules(
    api: Api, password: str, problem: str | None
) -> None:
    response = api.post(
        "/v1/users", {"name": "P", "group": "demo-usd", "leverage": 100, "main_password": password}
    )
    if problem is None:
        assert response.status_code == 201
        return
    assert response.status_code == 400
    assert response.json()["code"] == "validation.password"
    [error] = response.json()["errors"]
    assert error["field"] == "main_password" and problem in error["message"]


def test_the_group_raises_the_minimum_password_length(api: Api) -> None:
    body = {"name": "P", "group": "demo\\vip", "leverage": 100, "investor_password": "1Ar#pqkj"}
    response = api.post("/v1/users", body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "investor_password"
    assert "10 to 16" in response.json()["errors"][0]["message"]


def test_leverage_above_the_group_maximum_is_a_400_naming_leverage(api: Api) -> None:
    response = api.post("/v1/users", {"name": "L", "group": "demo-eur", "leverage": 501})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "leverage"


def test_an_unknown_group_is_a_404(api: Api) -> None:
    response = api.post("/v1/users", {"name": "G", "group": "no-such", "leverage": 100})
    assert response.status_code == 404
    assert response.json()["code"] == "group.not_found"


def test_missing_required_fields_are_each_named(api: Api) -> None:
    response = api.post("/v1/users", {"email": "a@b.co"})
    assert response.status_code == 400
    named = {e["field"] for e in response.json()["errors"]}
    assert {"name", "group", "leverage"} <= named


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"leverage": "lots"}, "leverage"),
        ({"login": "abc"}, "login"),
        ({"login": -5}, "login"),
        ({"name": "x" * 128}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"comment": "c" * 64}, "comment"),
        ({"rights": -1}, "rights"),
        ({"balance": "100"}, "balance"),
        ({"favourite_colour": "red"}, "favourite_colour"),
        ({"access_rights": "EVERYTHING"}, "access_rights"),
    ],
)
def test_bad_fields_on_create_are_400_naming_the_field(
    api: Api, body: dict[str, object], field: str
) -> None:
    payload = {"name": "B", "group": "demo-usd", "leverage": 100, **body}
    response = api.post("/v1/users", payload)
    assert response.status_code == 400, response.text
    assert field in {e["field"] for e in response.json()["errors"]}


def test_malformed_json_is_a_400_not_a_500(api: Api) -> None:
    response = api.client.post(
        "/v1/users",
        content=b'{"name": ',
        headers={**api.headers(), "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "body"


def test_a_body_that_is_not_an_object_is_a_400(api: Api) -> None:
    assert api.post("/v1/users", [1, 2, 3]).status_code == 400


def test_a_refused_create_leaves_no_account_and_no_audit_record(api: Api) -> None:
    before = api.runtime.app.verify_audit().records
    response = api.post(
        "/v1/users",
        {
            "login": 123456,
            "name": "X",
            "group": "demo-usd",
            "leverage": 100,
            "main_password": "weak",
        },
    )
    assert response.status_code == 400
    assert api.get("/v1/users/123456").status_code == 404
    assert api.runtime.app.verify_audit().records == before


def test_patch_changes_fields_and_the_audit_keeps_before_after_operator_and_request(
    api: Api,
) -> None:
    login = api.open(login=910030)["login"]
    response = api.client.patch(
        f"/v1/users/{login}",
        json={"leverage": 200, "email": "jane@example.com", "comment": "vip", "rights": 0x163},
        headers=api.headers(**{"x-operator-id": "crm-sync-worker", "x-request-id": "req_77"}),
    )
    assert response.status_code == 200, response.text
    assert response.json()["leverage"] == 200
    assert response.headers["x-request-id"] == "req_77"
    history = api.get(f"/v1/users/{login}/history").json()["items"]
    change = history[-1]
    assert change["action"] == "account.updated"
    assert change["before"]["leverage"] == 100 and change["after"]["leverage"] == 200
    assert change["after"]["email"] == "jane@example.com"
    assert (change["operator_id"], change["request_id"]) == ("crm-sync-worker", "req_77")
    assert change["manager_login"] == 1000 and change["dialect"] == "native"


@pytest.mark.parametrize("field", ["login", "balance", "currency", "registered_at"])
def test_patching_a_read_only_field_is_a_field_error(api: Api, field: str) -> None:
    login = api.open()["login"]
    response = api.patch(f"/v1/users/{login}", {field: 1})
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": field, "message": "is read-only"}]


def test_patching_an_unknown_field_is_a_field_error(api: Api) -> None:
    login = api.open()["login"]
    response = api.patch(f"/v1/users/{login}", {"shoe_size": 44})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "shoe_size", "message": "is not an account field"}
    ]


def test_an_empty_patch_is_a_400(api: Api) -> None:
    login = api.open()["login"]
    assert api.patch(f"/v1/users/{login}", {}).status_code == 400


def test_leverage_patch_is_checked_against_the_group_maximum(api: Api) -> None:
    login = api.open(group="demo-eur", leverage=50)["login"]
    response = api.patch(f"/v1/users/{login}", {"leverage": 1000})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "leverage"
    assert api.get(f"/v1/users/{login}").json()["leverage"] == 50


def test_moving_between_groups_of_the_same_currency_works(api: Api) -> None:
    login = api.open()["login"]
    response = api.patch(f"/v1/users/{login}", {"group": "demo\\vip"})
    assert response.status_code == 200
    assert api.get(f"/v1/users/{login}").json()["group"] == "demo\\vip"


def test_moving_to_a_group_of_another_currency_is_refused(api: Api) -> None:
    login = api.open()["login"]
    response = api.patch(f"/v1/users/{login}", {"group": "demo-eur"})
    assert response.status_code == 400
    assert response.json()["code"] == "validation.currency_mismatch"
    assert api.get(f"/v1/users/{login}").json()["group"] == "demo-usd"


def test_moving_to_an_unknown_group_is_a_404(api: Api) -> None:
    login = api.open()["login"]
    assert api.patch(f"/v1/users/{login}", {"group": "nope"}).status_code == 404


def test_a_disabled_account_stays_readable_and_enable_restores_it(api: Api) -> None:
    login = api.open()["login"]
    disabled = api.post(f"/v1/users/{login}/disable", {"reason": "KYC documents expired"})
    assert disabled.status_code == 200
    assert disabled.json()["enabled"] is False
    assert disabled.json()["disabled_reason"] == "KYC documents expired"
    read = api.get(f"/v1/users/{login}").json()
    assert read["enabled"] is False and read["rights"] & 1 == 0
    enabled = api.post(f"/v1/users/{login}/enable")
    assert enabled.status_code == 200 and enabled.json()["enabled"] is True
    actions = [r["action"] for r in api.get(f"/v1/users/{login}/history").json()["items"]]
    assert actions == ["account.opened", "account.disabled", "account.enabled"]


def test_disable_without_a_body_is_accepted(api: Api) -> None:
    login = api.open()["login"]
    assert api.post(f"/v1/users/{login}/disable").json()["enabled"] is False


def test_unknown_logins_are_404_and_non_numeric_logins_are_400(api: Api) -> None:
    assert api.get("/v1/users/424242").status_code == 404
    assert api.patch("/v1/users/424242", {"leverage": 10}).status_code == 404
    assert api.post("/v1/users/424242/disable").status_code == 404
    assert api.get("/v1/users/abc").status_code == 400
    assert api.get("/v1/users/0").status_code == 400


def test_listing_filters_by_group_mask_email_logins_and_registration_time(api: Api) -> None:
    a = api.open(login=600001, email="Ann@Example.com")
    api.open(login=600002, group="demo\\vip")
    api.open(login=600003, group="demo-eur")

    def logins(query: str) -> list[int]:
        response = api.get("/v1/users" + query)
        assert response.status_code == 200, response.text
        return [item["login"] for item in response.json()["items"]]

    assert logins("?group=demo*,!demo\\vip") == [600001, 600003]
    assert logins("?group=demo\\*") == [600002]
    assert logins("?email=ann@example.com") == [600001]
    assert logins("?logins=600003,600002") == [600002, 600003]
    registered = a["registered_at"]
    assert logins(f"?registered_to={registered}") == []
    assert 600001 in logins(f"?registered_from={registered}")
    assert logins("?registered_from=2000-01-01T00:00:00Z&limit=2") == [600001, 600002]


def test_cursor_paging_visits_every_account_exactly_once(api: Api) -> None:
    created = sorted(api.open()["login"] for _ in range(7))
    seen: list[int] = []
    cursor = None
    while True:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = api.get("/v1/users" + query).json()
        seen += [item["login"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == created


@pytest.mark.parametrize(
    "query", ["?cursor=%%%", "?logins=1,x", "?limit=0", "?limit=5000", "?registered_from=yesterday"]
)
def test_bad_list_parameters_are_400(api: Api, query: str) -> None:
    response = api.get("/v1/users" + query)
    assert response.status_code == 400
    assert response.json()["title"] == "ValidationError"


def test_an_accounts_owner_cannot_be_set_by_patch_and_unknown_and_real_users_answer_alike(
    api: Api,
) -> None:
    login = api.open()["login"]
    user = api.runtime.app.create_user(CreateUser(email="owner@example.com"), api.admin).user

    real = api.patch(f"/v1/users/{login}", {"user_id": user.id})
    unknown = api.patch(f"/v1/users/{login}", {"user_id": user.id + 1000})
    unlink = api.patch(f"/v1/users/{login}", {"user_id": None})
    opened = api.post(
        "/v1/users", {"name": "N", "group": "demo-usd", "leverage": 100, "user_id": user.id}
    )

    bodies = []
    for response in (real, unknown, unlink, opened):
        assert response.status_code == 400, response.text
        body = response.json()
        body.pop("request_id")
        bodies.append(body)
    assert bodies[0] == bodies[1] == bodies[2] == bodies[3]
    [error] = bodies[0]["errors"]
    assert error["field"] == "user_id" and "/cid/ctid/link" in error["message"]
    assert api.get(f"/v1/users/{login}").json()["user_id"] is None
