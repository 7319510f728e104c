"""cID users under /cid and /v2/cid: the classic calls of seed 003 (create, link, white-label
move) and the SSO calls of seed 001 (create, changeEmail, getUserId, logout, acceptAgreement),
their golden shapes, errors, leniency, the nickname rules and reach."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from brokerplane.core.user.model import User, UserQuery
from tests.dialects.ctrader.conftest import (
    CID_PREFIXES,
    JSON,
    SEED_HASH,
    CTrader,
    as_manager,
    cid_call,
    md5,
)
from tests.unit.fakes import FakeClock

# Seed 001's SSO create body, `nickname` spelled as its example spells it.
SEED_001_CREATE = {"brokerCrmName": "BESTBROKERCRM", "email": "president@bestbroker.com",
                   "firstName": "Trader", "nickname": "letstrade",
                   "preferredLanguage": "en"}  # fmt: skip
CLASSIC_KEYS = {"userId", "nickname", "email", "utcCreateTimestamp", "status"}


def call(ct: CTrader, method: str, path: str, json: Any = None, **kw: Any) -> httpx.Response:
    return cid_call(ct, method, path, json=json, **kw)


def classic(ct: CTrader, email: str, prefix: str = "/cid", **fields: Any) -> dict[str, Any]:
    response = call(ct, "POST", "/ctid/create", {"email": email, **fields}, prefix=prefix)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def sso(ct: CTrader, email: str, **fields: Any) -> int:
    body = {"brokerCrmName": "BESTBROKERCRM", "email": email, **fields}
    response = call(ct, "POST", "/oauth2/ctid/create", body)
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"userId"}
    return int(response.json()["userId"])


def user(ct: CTrader, user_id: int) -> User:
    return ct.services.get_user(user_id, ct.admin)


def link(ct: CTrader, login: int | str, user_id: int | str, **fields: Any) -> httpx.Response:
    body = {"traderLogin": login, "traderPasswordHash": SEED_HASH, "userId": user_id, **fields}
    return call(ct, "POST", "/ctid/link", body)


def empty(response: httpx.Response, status: int = 200) -> None:
    assert response.status_code == status, response.text
    assert response.content == b""


# ---- classic create -------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", CID_PREFIXES)
def test_seed_003_classic_create_answers_the_new_user_then_only_its_id(
    ct: CTrader, prefix: str
) -> None:
    before = int(datetime.now(UTC).timestamp() * 1000)
    created = classic(ct, "test@emailone.com", prefix)

    assert set(created) == CLASSIC_KEYS
    user_id = created["userId"]
    assert isinstance(user_id, int) and user_id > 0
    assert created["nickname"] == f"ctid{user_id}"
    assert created["email"] == "test@emailone.com" and created["status"] == "CTID_NEW"
    assert before - 1000 <= created["utcCreateTimestamp"] <= before + 60_000
    # The same email again, in any case and either spelling of the path: only the userId.
    for other in CID_PREFIXES:
        assert classic(ct, " Test@EmailOne.com ", other) == {"userId": user_id}
    assert user(ct, user_id).email == "test@emailone.com"


def test_classic_create_echoes_the_language_and_keeps_the_white_label(ct: CTrader) -> None:
    response = call(ct, "POST", "/ctid/create/",
                    {"email": "lang@example.com", "preferredLanguage": "en",
                     "brokerName": "BESTBROKER", "unknownKey": [1]})  # fmt: skip
    assert response.status_code == 200, response.text
    created = response.json()
    assert set(created) == CLASSIC_KEYS | {"preferredLanguage"}
    assert created["preferredLanguage"] == "en"
    assert user(ct, created["userId"]).broker == "BESTBROKER"


def test_classic_create_errors(ct: CTrader) -> None:
    missing = call(ct, "POST", "/ctid/create", {"brokerName": "BESTBROKER"})
    assert ct.error(missing, 400) == "INVALID_REQUEST"
    assert "email" in missing.json()["error"]["description"]
    for email in ("not-an-email", "a b@example.com", "x@privaterelay.appleid.com"):
        refused = call(ct, "POST", "/ctid/create", {"email": email})
        assert ct.error(refused, 400) == "INVALID_REQUEST"
        assert "email" in refused.json()["error"]["description"]
    language = call(ct, "POST", "/ctid/create", {"email": "l@example.com",
                                                 "preferredLanguage": "english"})  # fmt: skip
    assert ct.error(language, 400) == "INVALID_REQUEST"
    assert "preferredLanguage" in language.json()["error"]["description"]
    assert ct.error(call(ct, "POST", "/ctid/create", {"email": {"a": 1}}), 400) == (
        "INVALID_REQUEST"
    )
    assert ct.services.list_users(UserQuery(), ct.admin) == []  # no user was created
    assert ct.error(call(ct, "POST", "/ctid/create", {"email": "a@example.com"}, token="nope"),
                    401) == "CH_CLIENT_AUTH_FAILURE"  # fmt: skip


# ---- SSO create and the nickname rules -------------------------------------------------------


@pytest.mark.parametrize("prefix", CID_PREFIXES)
def test_seed_001_sso_create_answers_201_with_the_user_id(ct: CTrader, prefix: str) -> None:
    response = call(ct, "POST", "/oauth2/ctid/create", SEED_001_CREATE, prefix=prefix)
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"userId"}
    created = user(ct, response.json()["userId"])
    assert (created.email, created.first_name, created.nickname, created.language) == (
        "president@bestbroker.com",
        "Trader",
        "letstrade",
        "en",
    )
    assert created.broker == "BESTBROKERCRM"


def test_sso_create_of_a_known_email_is_ch_email_already_exists(ct: CTrader) -> None:
    classic_id = classic(ct, "known@example.com")["userId"]
    sso(ct, "sso@example.com")
    for email in ("KNOWN@example.com", "sso@example.com"):
        response = call(ct, "POST", "/oauth2/ctid/create",
                        {"brokerCrmName": "BESTBROKERCRM", "email": email})  # fmt: skip
        assert ct.error(response, 400) == "CH_EMAIL_ALREADY_EXISTS"
        assert email.lower() in response.json()["error"]["description"]
    # The classic create of an SSO user's email stays idempotent.
    assert set(classic(ct, "sso@example.com")) == {"userId"}
    assert classic(ct, "known@example.com") == {"userId": classic_id}


def test_nickname_asked_for_is_used_when_valid_and_free(ct: CTrader) -> None:
    assert user(ct, sso(ct, "a@example.com", nickname="letstrade")).nickname == "letstrade"
    assert user(ct, sso(ct, "b@example.com", nickName="Trader_2.x-y")).nickname == "Trader_2.x-y"


@pytest.mark.parametrize(
    "asked",
    ["letstrade", "LetsTrade", "x" * 33, "no spaces", "émile", "ab", "-dash", "ctid12345", ""],
)
def test_nickname_taken_or_invalid_is_ctid_and_the_user_id(ct: CTrader, asked: str) -> None:
    sso(ct, "first@example.com", nickname="letstrade")
    user_id = sso(ct, "second@example.com", nickname=asked)
    expected = "second" if asked == "" else f"ctid{user_id}"  # "" is none asked: the email's
    assert user(ct, user_id).nickname == expected


def test_nickname_absent_comes_from_the_email_unless_taken(ct: CTrader) -> None:
    first = sso(ct, "john.doe+fx@example.com")
    assert user(ct, first).nickname == "john.doefx"  # the local part without the "+"
    second = sso(ct, "John.Doe+FX@other.com")  # the same nickname from another email
    assert user(ct, second).nickname == f"ctid{second}"
    short = sso(ct, "jo@example.com")  # too short to be a nickname
    assert user(ct, short).nickname == f"ctid{short}"
    reserved = sso(ct, "ctid777@example.com")  # the shape of derived nicknames
    assert user(ct, reserved).nickname == f"ctid{reserved}"


def test_sso_create_errors(ct: CTrader) -> None:
    both = call(ct, "POST", "/oauth2/ctid/create", {"firstName": "X"})
    assert ct.error(both, 400) == "INVALID_REQUEST"
    description = both.json()["error"]["description"]
    assert "brokerCrmName" in description and "email" in description
    relay = call(ct, "POST", "/oauth2/ctid/create",
                 {"brokerCrmName": "B", "email": "abc@privaterelay.appleid.com"})  # fmt: skip
    assert ct.error(relay, 400) == "INVALID_REQUEST"
    assert "private relay" in relay.json()["error"]["description"]
    long_name = call(
        ct,
        "POST",
        "/oauth2/ctid/create",
        {"brokerCrmName": "B", "email": "n@example.com", "firstName": "x" * 200},
    )
    assert ct.error(long_name, 400) == "INVALID_REQUEST"
    assert "firstName" in long_name.json()["error"]["description"]


# ---- link -----------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", CID_PREFIXES)
def test_seed_003_link_answers_the_ctid_trader_account_id(ct: CTrader, prefix: str) -> None:
    user_id = classic(ct, "test@emailone.com")["userId"]
    login = ct.create(brokerName="BESTBROKER_UK", depositCurrency="EUR")["login"]
    body = {"traderLogin": login, "traderPasswordHash": SEED_HASH, "userId": user_id,
            "returnAccountDetails": True}  # fmt: skip

    response = call(ct, "POST", "/ctid/link", body, prefix=prefix)

    assert response.status_code == 200, response.text
    assert set(response.json()) == {"ctidTraderAccountId"}
    link_id = response.json()["ctidTraderAccountId"]
    assert isinstance(link_id, int) and link_id > 0
    assert ct.services.get_account(login, ct.admin).user_id == user_id
    # Linking again to the same user: the same link.
    again = call(ct, "POST", "/ctid/link/", body, prefix=prefix)
    assert again.status_code == 200 and again.json() == {"ctidTraderAccountId": link_id}


def test_seed_001_link_body_and_the_empty_answer_without_account_details(ct: CTrader) -> None:
    user_id = sso(ct, "president@bestbroker.com")
    logins = [ct.create(hashedPassword=md5("Secret#1"))["login"] for _ in range(4)]
    seed_001 = {"environmentName": "demo", "brokerName": "BESTBROKER",
                "traderPasswordHash": md5("Secret#1").upper(), "kycNotPassed": True}  # fmt: skip
    for login, details in zip(logins, (False, "false", None, "0"), strict=True):
        extra = {} if details is None else {"returnAccountDetails": details}
        empty(link(ct, login, user_id, **seed_001, **extra))
        assert ct.services.get_account(login, ct.admin).user_id == user_id
    response = link(ct, logins[0], str(user_id), **seed_001, returnAccountDetails="true")
    assert response.status_code == 200 and set(response.json()) == {"ctidTraderAccountId"}


def test_link_with_numeric_strings(ct: CTrader) -> None:
    user_id = classic(ct, "s@example.com")["userId"]
    login = ct.create()["login"]
    response = link(ct, str(login), f"{user_id}", returnAccountDetails="TRUE")
    assert response.status_code == 200 and "ctidTraderAccountId" in response.json()


def test_link_errors(ct: CTrader) -> None:
    owner = classic(ct, "owner@example.com")["userId"]
    other = classic(ct, "other@example.com")["userId"]
    login = ct.create()["login"]
    assert ct.error(link(ct, 424242, owner), 404) == "TRADER_NOT_FOUND"
    assert ct.error(link(ct, login, 999_999), 404) == "CH_USER_NOT_FOUND"
    # past a signed 64-bit number no id can be: the request is invalid
    assert ct.error(link(ct, login, 10**19), 400) == "INVALID_REQUEST"
    assert ct.error(link(ct, 10**19, owner), 400) == "INVALID_REQUEST"
    wrong = link(ct, login, owner, traderPasswordHash=md5("guess"))
    assert ct.error(wrong, 400) == "WRONG_PASSWORD"
    assert ct.error(link(ct, login, owner, brokerName="OTHERBROKER"), 400) == "INVALID_REQUEST"
    assert ct.services.get_account(login, ct.admin).user_id is None  # nothing was linked

    empty(link(ct, login, owner))
    taken = link(ct, login, other)
    assert ct.error(taken, 400) == "CH_TRADER_ACCOUNT_ALREADY_LINKED"
    assert ct.services.get_account(login, ct.admin).user_id == owner

    for bad in ({"userId": "abc"}, {"traderLogin": 1.5}, {"returnAccountDetails": "maybe"},
                {"traderPasswordHash": ["x"]}):  # fmt: skip
        assert ct.error(link(ct, login, owner, **bad), 400) == "INVALID_REQUEST", bad
    missing = call(ct, "POST", "/ctid/link", {"userId": owner})
    assert ct.error(missing, 400) == "INVALID_REQUEST"
    description = missing.json()["error"]["description"]
    assert "traderLogin" in description and "traderPasswordHash" in description


# ---- white-label move -----------------------------------------------------------------------


@pytest.mark.parametrize("prefix", CID_PREFIXES)
def test_seed_003_change_ctid_trader_account_moves_the_white_label(
    ct: CTrader, prefix: str
) -> None:
    login = ct.create()["login"]
    body = {"environmentName": "live", "brokerName": "BESTBROKER_UK", "traderLogin": login}
    empty(call(ct, "POST", "/ctid/changeCtidTraderAccount", body, prefix=prefix), 204)
    assert ct.trader(login)["brokerName"] == "BESTBROKER_UK"
    # Again (idempotent), with the trailing slash and a numeric string.
    again = {**body, "traderLogin": str(login)}
    empty(call(ct, "POST", "/ctid/changeCtidTraderAccount/", again, prefix=prefix), 204)
    assert ct.trader(login)["brokerName"] == "BESTBROKER_UK"


def test_change_ctid_trader_account_errors(ct: CTrader) -> None:
    login = ct.create()["login"]
    path = "/ctid/changeCtidTraderAccount"
    unknown = call(ct, "POST", path, {"brokerName": "X", "traderLogin": 424242})
    assert ct.error(unknown, 404) == "TRADER_NOT_FOUND"
    missing = call(ct, "POST", path, {"traderLogin": login})
    assert ct.error(missing, 400) == "INVALID_REQUEST"
    assert "brokerName" in missing.json()["error"]["description"]
    long_name = call(ct, "POST", path, {"traderLogin": login, "brokerName": "B" * 300})
    assert ct.error(long_name, 400) == "INVALID_REQUEST"
    assert ct.trader(login)["brokerName"] == "BESTBROKER"


# ---- SSO maintenance ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_seed_001_change_email_answers_204(ct: CTrader, method: str) -> None:
    user_id = sso(ct, "old@example.com")
    body = {"userId": user_id, "newEmail": "user@gmail.com", "brokerCrmName": "BESTBROKERCRM"}
    empty(call(ct, method, "/oauth2/ctid/changeEmail", body), 204)
    assert user(ct, user_id).email == "user@gmail.com"
    assert get_user_id(ct, "user@gmail.com") == {"userId": user_id}
    empty(call(ct, "GET", "/oauth2/ctid/getUserId",
               params={"brokerCrmName": "BESTBROKERCRM", "email": "old@example.com"}))  # fmt: skip
    # The same email again changes nothing and still answers 204.
    empty(call(ct, method, "/oauth2/ctid/changeEmail/", body, prefix="/v2/cid"), 204)


def test_change_email_errors(ct: CTrader) -> None:
    first = sso(ct, "first@example.com")
    sso(ct, "second@example.com")
    path = "/oauth2/ctid/changeEmail"
    base = {"userId": first, "brokerCrmName": "BESTBROKERCRM"}
    taken = call(ct, "PUT", path, {**base, "newEmail": "Second@example.com"})
    assert ct.error(taken, 400) == "CH_EMAIL_ALREADY_EXISTS"
    relay = call(ct, "PUT", path, {**base, "newEmail": "x@privaterelay.appleid.com"})
    assert ct.error(relay, 400) == "INVALID_REQUEST"
    assert "newEmail" in relay.json()["error"]["description"]
    unknown = call(ct, "PUT", path, {**base, "userId": 999_999, "newEmail": "n@example.com"})
    assert ct.error(unknown, 404) == "CH_USER_NOT_FOUND"
    missing = call(ct, "PUT", path, {"userId": first})
    assert ct.error(missing, 400) == "INVALID_REQUEST"
    description = missing.json()["error"]["description"]
    assert "newEmail" in description and "brokerCrmName" in description
    assert user(ct, first).email == "first@example.com"


def get_user_id(ct: CTrader, email: str, prefix: str = "/cid") -> Any:
    response = call(ct, "GET", "/oauth2/ctid/getUserId", prefix=prefix,
                    params={"email": email, "brokerCrmName": "BESTBROKERCRM"})  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json() if response.content else None


@pytest.mark.parametrize("prefix", CID_PREFIXES)
def test_seed_001_get_user_id_answers_the_id_or_an_empty_200(ct: CTrader, prefix: str) -> None:
    user_id = sso(ct, "user@gmail.com")
    assert get_user_id(ct, "user@gmail.com", prefix) == {"userId": user_id}
    assert get_user_id(ct, "USER@gmail.com", prefix) == {"userId": user_id}
    assert get_user_id(ct, "nobody@gmail.com", prefix) is None
    assert get_user_id(ct, "not an email", prefix) is None
    missing = call(ct, "GET", "/oauth2/ctid/getUserId", params={"email": "user@gmail.com"})
    assert ct.error(missing, 400) == "INVALID_REQUEST"
    assert "brokerCrmName" in missing.json()["error"]["description"]


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_seed_001_logout_answers_200_without_a_body(ct: CTrader, method: str) -> None:
    user_id = sso(ct, "out@example.com")
    query = {"userId": user_id, "brokerCrmName": "BESTBROKERCRM"}
    empty(call(ct, method, "/oauth2/ctid/logout", params=query))
    assert user(ct, user_id).logged_out_at is not None
    unknown = call(ct, method, "/oauth2/ctid/logout", params={**query, "userId": 999_999})
    assert ct.error(unknown, 404) == "CH_USER_NOT_FOUND"
    missing = call(ct, method, "/oauth2/ctid/logout", params={"userId": user_id})
    assert ct.error(missing, 400) == "INVALID_REQUEST"
    assert "brokerCrmName" in missing.json()["error"]["description"]


@pytest.mark.parametrize("where", ["query", "body"])
@pytest.mark.parametrize("prefix", CID_PREFIXES)
def test_seed_001_accept_agreement_reads_the_query_or_the_body(
    ct: CTrader, where: str, prefix: str
) -> None:
    user_id = sso(ct, "agree@example.com")
    params = {"brokerCrmName": "BESTBROKERCRM", "userId": str(user_id)}
    if where == "query":
        response = call(ct, "PUT", "/oauth2/ctid/acceptAgreement", params=params, prefix=prefix)
    else:
        response = call(
            ct,
            "PUT",
            "/oauth2/ctid/acceptAgreement",
            {"brokerCrmName": "BESTBROKERCRM", "userId": user_id},
            prefix=prefix,
        )
    empty(response)
    assert user(ct, user_id).agreement_accepted_at is not None
    unknown = call(ct, "POST", "/oauth2/ctid/acceptAgreement",
                   {"brokerCrmName": "BESTBROKERCRM", "userId": 999_999})  # fmt: skip
    assert ct.error(unknown, 404) == "CH_USER_NOT_FOUND"
    bad = call(ct, "PUT", "/oauth2/ctid/acceptAgreement",
               params={"brokerCrmName": "B", "userId": "twelve"})  # fmt: skip
    assert ct.error(bad, 400) == "INVALID_REQUEST"
    assert "userId" in bad.json()["error"]["description"]


# ---- bad input, never a 500 -----------------------------------------------------------------

POSTS = [
    "/ctid/create", "/oauth2/ctid/create", "/ctid/link", "/ctid/changeCtidTraderAccount",
    "/oauth2/ctid/changeEmail", "/oauth2/ctid/logout", "/oauth2/ctid/acceptAgreement",
]  # fmt: skip


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize(
    "raw", [b"{not json", b"[1, 2]", b"\xff\xfe", b'"text"', b'{"a": 1e999999}']
)
def test_garbage_bodies_are_invalid_request_in_json(ct: CTrader, path: str, raw: bytes) -> None:
    response = ct.client.post("/cid" + path, params={"token": ct.token}, content=raw,
                              headers={"Content-Type": "application/json"})  # fmt: skip
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
    refused_sso = call(limited, "POST", "/oauth2/ctid/create",
                       {"brokerCrmName": "OTHERBROKER", "email": "new@example.com"})  # fmt: skip
    assert limited.error(refused_sso, 403) == "NOT_ENOUGH_RIGHTS"
    assert get_user_id(ct, "new@example.com") is None

    for user_id, email in ((foreign, "foreign@example.com"),
                           (foreign_sso, "foreign-sso@example.com")):  # fmt: skip
        assert get_user_id(limited, email) is None
        assert limited.error(link(limited, login, user_id), 404) == "CH_USER_NOT_FOUND"
        query = {"brokerCrmName": "X", "userId": user_id}
        for path in ("/oauth2/ctid/logout", "/oauth2/ctid/acceptAgreement"):
            assert limited.error(call(limited, "PUT", path, params=query), 404) == (
                "CH_USER_NOT_FOUND"
            )
        change = call(limited, "PUT", "/oauth2/ctid/changeEmail",
                      {**query, "newEmail": "stolen@example.com"})  # fmt: skip
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
    move = call(limited, "POST", "/ctid/changeCtidTraderAccount",
                {"traderLogin": login, "brokerName": "OTHERBROKER"})  # fmt: skip
    assert limited.error(move, 403) == "NOT_ENOUGH_RIGHTS"
    assert ct.trader(login)["brokerName"] == "BESTBROKER"


ODD_VALUES: list[Any] = [None, True, 0, -1, 10**19, 10**40, 1.5, "", " ", "\x00", "a\x00b",
                         "x" * 5000, [], {}, "é", "1e3", "ctid1", "a@b.c"]  # fmt: skip
FIELDS = {
    "/ctid/create": ["email", "brokerName", "preferredLanguage"],
    "/oauth2/ctid/create": ["brokerCrmName", "email", "firstName", "nickName", "nickname",
                            "preferredLanguage"],
    "/ctid/link": ["traderLogin", "traderPasswordHash", "userId", "brokerName",
                   "environmentName", "returnAccountDetails"],
    "/ctid/changeCtidTraderAccount": ["traderLogin", "brokerName", "environmentName"],
    "/oauth2/ctid/changeEmail": ["userId", "newEmail", "brokerCrmName"],
    "/oauth2/ctid/logout": ["userId", "brokerCrmName"],
    "/oauth2/ctid/acceptAgreement": ["userId", "brokerCrmName"],
}  # fmt: skip


def test_no_value_in_any_field_gives_a_server_error(ct: CTrader) -> None:
    user_id = classic(ct, "fuzz@example.com")["userId"]
    login = ct.create()["login"]
    valid = {"email": "fuzz2@example.com", "brokerName": "BESTBROKER", "preferredLanguage": "EN",
             "brokerCrmName": "BESTBROKERCRM", "firstName": "F", "nickName": "fuzzy",
             "nickname": "fuzzy", "traderLogin": login, "traderPasswordHash": SEED_HASH,
             "userId": user_id, "environmentName": "demo", "returnAccountDetails": True,
             "newEmail": "fuzz3@example.com"}  # fmt: skip
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

    refused = call(plain, "GET", "/oauth2/ctid/getUserId",
                   params={"email": "private@example.com", "brokerCrmName": "X"})  # fmt: skip
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
        for path, body in (("/ctid/create", {"email": email}),
                           ("/ctid/create", {"email": email, "brokerName": "BESTBROKER"}),
                           ("/oauth2/ctid/create", {"email": email,
                                                    "brokerCrmName": "BESTBROKER"})):  # fmt: skip
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
    unknown = call(limited, "PUT", "/oauth2/ctid/changeEmail",
                   {"userId": user_id + 99, "newEmail": "taken@example.com",
                    "brokerCrmName": "X"})  # fmt: skip
    created = call(limited, "POST", "/ctid/create", {"email": "unlabelled@example.com"})

    assert found is None
    assert limited.error(change, 404) == limited.error(unknown, 404) == "CH_USER_NOT_FOUND"
    assert user(ct, user_id).email == "nolabel@example.com"
    assert limited.error(created, 400) == "INVALID_REQUEST" and "brokerName" in created.text


def test_five_wrong_password_hashes_hold_the_link_back_until_the_lock_ends(
    ct: CTrader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Linking proves the trader's password: the account's lockout counts each proof."""
    clock = FakeClock(datetime.now(UTC))
    monkeypatch.setattr(ct.services, "clock", clock)
    owner = classic(ct, "owner@example.com")["userId"]
    login = ct.create()["login"]
    for n in range(5):
        guess = link(ct, login, owner, traderPasswordHash=md5(f"guess{n}"))
        assert ct.error(guess, 400) == "WRONG_PASSWORD"
    assert ct.error(link(ct, login, owner), 400) == "WRONG_PASSWORD"
    assert ct.services.get_account(login, ct.admin).user_id is None
    clock.advance(seconds=1)
    empty(link(ct, login, owner))
    assert ct.services.get_account(login, ct.admin).user_id == owner
