"""Seed 001's SSO maintenance calls under /cid and /v2/cid: changeEmail, getUserId, logout and
acceptAgreement, their golden answers and errors."""

from __future__ import annotations

import pytest

from tests.dialects.ctrader.cid_support import call, empty, get_user_id, sso, user
from tests.dialects.ctrader.conftest import CID_PREFIXES, CTrader

# ---- SSO maintenance ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_seed_001_change_email_answers_204(ct: CTrader, method: str) -> None:
    user_id = sso(ct, "old@example.com")
    body = {"userId": user_id, "newEmail": "user@gmail.com", "brokerCrmName": "BESTBROKERCRM"}
    empty(call(ct, method, "/oauth2/ctid/changeEmail", body), 204)
    assert user(ct, user_id).email == "user@gmail.com"
    assert get_user_id(ct, "user@gmail.com") == {"userId": user_id}
    empty(
        call(
            ct,
            "GET",
            "/oauth2/ctid/getUserId",
            params={"brokerCrmName": "BESTBROKERCRM", "email": "old@example.com"},
        )
    )
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
    unknown = call(
        ct,
        "POST",
        "/oauth2/ctid/acceptAgreement",
        {"brokerCrmName": "BESTBROKERCRM", "userId": 999_999},
    )
    assert ct.error(unknown, 404) == "CH_USER_NOT_FOUND"
    bad = call(
        ct, "PUT", "/oauth2/ctid/acceptAgreement", params={"brokerCrmName": "B", "userId": "twelve"}
    )
    assert ct.error(bad, 400) == "INVALID_REQUEST"
    assert "userId" in bad.json()["error"]["description"]
