"""cID users created under /cid and /v2/cid: seed 003's classic create and seed 001's SSO
create, their golden shapes and errors, and the nickname rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from brokerplane.core.user.model import UserQuery
from tests.dialects.ctrader.cid_support import (
    CLASSIC_KEYS,
    SEED_001_CREATE,
    call,
    classic,
    sso,
    user,
)
from tests.dialects.ctrader.conftest import CID_PREFIXES, CTrader

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
    response = call(
        ct,
        "POST",
        "/ctid/create/",
        {
            "email": "lang@example.com",
            "preferredLanguage": "en",
            "brokerName": "BESTBROKER",
            "unknownKey": [1],
        },
    )
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
    language = call(
        ct, "POST", "/ctid/create", {"email": "l@example.com", "preferredLanguage": "english"}
    )
    assert ct.error(language, 400) == "INVALID_REQUEST"
    assert "preferredLanguage" in language.json()["error"]["description"]
    assert ct.error(call(ct, "POST", "/ctid/create", {"email": {"a": 1}}), 400) == (
        "INVALID_REQUEST"
    )
    assert ct.services.list_users(UserQuery(), ct.admin) == []  # no user was created
    assert (
        ct.error(call(ct, "POST", "/ctid/create", {"email": "a@example.com"}, token="nope"), 401)
        == "CH_CLIENT_AUTH_FAILURE"
    )


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
        response = call(
            ct, "POST", "/oauth2/ctid/create", {"brokerCrmName": "BESTBROKERCRM", "email": email}
        )
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
    relay = call(
        ct,
        "POST",
        "/oauth2/ctid/create",
        {"brokerCrmName": "B", "email": "abc@privaterelay.appleid.com"},
    )
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
