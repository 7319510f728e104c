"""cID's guards: bad input and odd values never a 500, JSON answers to any client, reach by
white label, and the personal data right."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dialects.ctrader.cid_support import call, classic, get_user_id, link, sso, user
from tests.dialects.ctrader.conftest import JSON, SEED_HASH, CTrader, as_manager

# ---- bad input, never a 500 -----------------------------------------------------------------

POSTS = [
    "/ctid/create",
    "/oauth2/ctid/create",
    "/ctid/link",
    "/ctid/changeCtidTraderAccount",
    "/oauth2/ctid/changeEmail",
    "/oauth2/ctid/logout",
    "/oauth2/ctid/acceptAgreement",
]


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize(
    "raw", [b"{not json", b"[1, 2]", b"\xff\xfe", b'"text"', b'{"a": 1e999999}']
)
def test_garbage_bodies_are_invalid_request_in_json(ct: CTrader, path: str, raw: bytes) -> None:
    response = ct.client.post(
        "/cid" + path,
        params={"token": ct.token},
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["errorCode"] == "INVALID_REQUEST"


def test_cid_answers_json_even_to_clients_accepting_anything(ct: CTrader) -> None:
    created = ct.client.post(
        "/cid/ctid/create",
        params={"token": ct.token},
        json={"email": "any@example.com"},
        headers={"Accept": "*/*"},
    )
    assert created.status_code == 200
    assert created.headers["content-type"].startswith("application/json")
    unknown_path = ct.client.get("/v2/cid/ctid/nothing", params={"token": ct.token})
    assert unknown_path.status_code == 404
    assert unknown_path.json()["error"]["errorCode"] == "ENTITY_NOT_FOUND"
    wrong_method = ct.client.get("/cid/ctid/create", params={"token": ct.token})
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()
    no_token = ct.client.post("/cid/ctid/create", json={"email": "t@example.com"}, headers=JSON)
    assert ct.error(no_token, 401) == "CH_CLIENT_AUTH_FAILURE"


# ---- reach ----------------------------------------------------------------------------------


def test_a_manager_limited_to_a_white_label_neither_sees_nor_creates_users_of_another(
    ct: CTrader,
) -> None:
    limited = as_manager(ct, 2001, white_labels="BESTBROKER")
    foreign = classic(ct, "foreign@example.com", brokerName="OTHERBROKER")["userId"]
    foreign_sso = sso(ct, "foreign-sso@example.com")  # under BESTBROKERCRM
    login = limited.create()["login"]  # a BESTBROKER trader the limited manager reaches

    for body in ({"email": "new@example.com", "brokerName": "OTHERBROKER"},):
        refused = call(limited, "POST", "/ctid/create", body)
        assert limited.error(refused, 403) == "NOT_ENOUGH_RIGHTS"
    refused_sso = call(
        limited,
        "POST",
        "/oauth2/ctid/create",
        {"brokerCrmName": "OTHERBROKER", "email": "new@example.com"},
    )
    assert limited.error(refused_sso, 403) == "NOT_ENOUGH_RIGHTS"
    assert get_user_id(ct, "new@example.com") is None

    for user_id, email in (
        (foreign, "foreign@example.com"),
        (foreign_sso, "foreign-sso@example.com"),
    ):
        assert get_user_id(limited, email) is None
        assert limited.error(link(limited, login, user_id), 404) == "CH_USER_NOT_FOUND"
        query = {"brokerCrmName": "X", "userId": user_id}
        for path in ("/oauth2/ctid/logout", "/oauth2/ctid/acceptAgreement"):
            assert limited.error(call(limited, "PUT", path, params=query), 404) == (
                "CH_USER_NOT_FOUND"
            )
        change = call(
            limited, "PUT", "/oauth2/ctid/changeEmail", {**query, "newEmail": "stolen@example.com"}
        )
        assert limited.error(change, 404) == "CH_USER_NOT_FOUND"
        # Its email is taken, but its id is not given away.
        again = call(limited, "POST", "/ctid/create", {"email": email})
        assert limited.error(again, 400) == "CH_EMAIL_ALREADY_EXISTS"
        assert str(user_id) not in again.text

    own = classic(limited, "own@example.com", brokerName="BESTBROKER")["userId"]
    assert get_user_id(limited, "own@example.com") == {"userId": own}
    assert classic(limited, "own@example.com") == {"userId": own}
    assert link(limited, login, own, returnAccountDetails=True).status_code == 200
    assert ct.services.get_account(login, ct.admin).user_id == own
    # A trader out of its reach is not found, whoever the user is.
    outside = ct.create(brokerName="OTHERBROKER")["login"]
    assert limited.error(link(limited, outside, own), 404) == "TRADER_NOT_FOUND"
    move = call(
        limited,
        "POST",
        "/ctid/changeCtidTraderAccount",
        {"traderLogin": login, "brokerName": "OTHERBROKER"},
    )
    assert limited.error(move, 403) == "NOT_ENOUGH_RIGHTS"
    assert ct.trader(login)["brokerName"] == "BESTBROKER"


ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    10**19,
    10**40,
    1.5,
    "",
    " ",
    "\x00",
    "a\x00b",
    "x" * 5000,
    [],
    {},
    "é",
    "1e3",
    "ctid1",
    "a@b.c",
]
FIELDS = {
    "/ctid/create": ["email", "brokerName", "preferredLanguage"],
    "/oauth2/ctid/create": [
        "brokerCrmName",
        "email",
        "firstName",
        "nickName",
        "nickname",
        "preferredLanguage",
    ],
    "/ctid/link": [
        "traderLogin",
        "traderPasswordHash",
        "userId",
        "brokerName",
        "environmentName",
        "returnAccountDetails",
    ],
    "/ctid/changeCtidTraderAccount": ["traderLogin", "brokerName", "environmentName"],
    "/oauth2/ctid/changeEmail": ["userId", "newEmail", "brokerCrmName"],
    "/oauth2/ctid/logout": ["userId", "brokerCrmName"],
    "/oauth2/ctid/acceptAgreement": ["userId", "brokerCrmName"],
}


def test_no_value_in_any_field_gives_a_server_error(ct: CTrader) -> None:
    user_id = classic(ct, "fuzz@example.com")["userId"]
    login = ct.create()["login"]
    valid = {
        "email": "fuzz2@example.com",
        "brokerName": "BESTBROKER",
        "preferredLanguage": "EN",
        "brokerCrmName": "BESTBROKERCRM",
        "firstName": "F",
        "nickName": "fuzzy",
        "nickname": "fuzzy",
        "traderLogin": login,
        "traderPasswordHash": SEED_HASH,
        "userId": user_id,
        "environmentName": "demo",
        "returnAccountDetails": True,
        "newEmail": "fuzz3@example.com",
    }
    for path, fields in FIELDS.items():
        for field in fields:
            for value in ODD_VALUES:
                body = {**{f: valid[f] for f in fields}, field: value}
                if "email" in fields and field != "email":  # a new user each time
                    body["email"] = f"fuzz.{field}.{ODD_VALUES.index(value)}@example.com"
                response = call(ct, "POST", path, body)
                assert response.status_code < 500, (path, field, value, response.text)
                if response.status_code >= 400:
                    assert set(response.json()["error"]) == {"errorCode", "description"}
                query = {k: str(v) for k, v in body.items() if v is not None}
                response = call(ct, "GET", "/oauth2/ctid/getUserId", params=query)
                assert response.status_code < 500, (field, value, response.text)


# ---- personal data and white labels ---------------------------------------------------------


def test_finding_a_user_by_email_needs_the_personal_data_right(ct: CTrader) -> None:
    user_id = classic(ct, "private@example.com")["userId"]
    plain = as_manager(ct, 2002, rights=frozenset({"users:read", "users:write"}))

    refused = call(
        plain,
        "GET",
        "/oauth2/ctid/getUserId",
        params={"email": "private@example.com", "brokerCrmName": "X"},
    )
    again = call(plain, "POST", "/ctid/create", {"email": "private@example.com"})

    assert plain.error(refused, 403) == "NOT_ENOUGH_RIGHTS"
    assert str(user_id) not in refused.text
    assert plain.error(again, 400) == "CH_EMAIL_ALREADY_EXISTS"
    assert str(user_id) not in again.text
    assert get_user_id(ct, "private@example.com") == {"userId": user_id}


def test_a_known_email_answers_alike_whichever_white_label_holds_it(ct: CTrader) -> None:
    limited = as_manager(ct, 2003, white_labels="BESTBROKER")
    classic(ct, "foreign@example.com", brokerName="OTHERBROKER")
    classic(ct, "nolabel@example.com")
    sso(ct, "crm@example.com")  # under BESTBROKERCRM

    answers = []
    for email in ("foreign@example.com", "nolabel@example.com", "crm@example.com"):
        for path, body in (
            ("/ctid/create", {"email": email}),
            ("/ctid/create", {"email": email, "brokerName": "BESTBROKER"}),
            ("/oauth2/ctid/create", {"email": email, "brokerCrmName": "BESTBROKER"}),
        ):
            response = call(limited, "POST", path, body)
            answers.append((response.status_code, response.text.replace(email, "<email>")))

    assert len(set(answers)) == 1, answers
    assert answers[0][0] == 400 and "CH_EMAIL_ALREADY_EXISTS" in answers[0][1]


def test_a_white_label_manager_neither_reads_nor_changes_a_user_without_a_white_label(
    ct: CTrader,
) -> None:
    limited = as_manager(ct, 2004, white_labels="BESTBROKER")
    user_id = classic(ct, "nolabel@example.com")["userId"]

    found = get_user_id(limited, "nolabel@example.com")
    change = call(
        limited,
        "PUT",
        "/oauth2/ctid/changeEmail",
        {"userId": user_id, "newEmail": "taken@example.com", "brokerCrmName": "X"},
    )
    unknown = call(
        limited,
        "PUT",
        "/oauth2/ctid/changeEmail",
        {"userId": user_id + 99, "newEmail": "taken@example.com", "brokerCrmName": "X"},
    )
    created = call(limited, "POST", "/ctid/create", {"email": "unlabelled@example.com"})

    assert found is None
    assert limited.error(change, 404) == limited.error(unknown, 404) == "CH_USER_NOT_FOUND"
    assert user(ct, user_id).email == "nolabel@example.com"
    assert limited.error(created, 400) == "INVALID_REQUEST" and "brokerName" in created.text
