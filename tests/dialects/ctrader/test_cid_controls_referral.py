"""cID in-app controls (ribbons) and partner attribution (referral), at the paths the spec
gives, stored and audited; unknown paths under the cTrader mounts answer in cTrader's format."""

from __future__ import annotations

from typing import Any

import pytest

from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.group.commands import CreateGroup
from tests.dialects.ctrader.conftest import CID_PREFIXES, JSON, CTrader, as_manager, cid_call, md5

CRM = {"brokerCrmName": "BESTBROKERCRM"}
RIBBON = {
    "color": "#ff33ee",
    "title": "Verify your account",
    "enabled": True,
    "closable": False,
    "action": {"urlExternal": "https://broker.example/kyc"},
}


def _user(ct: CTrader, email: str = "ann@example.com") -> int:
    response = cid_call(ct, "POST", "/oauth2/ctid/create", json={**CRM, "email": email})
    assert response.status_code == 201, response.text
    return int(response.json()["userId"])


def _linked(ct: CTrader, user_id: int) -> int:
    """A trader linked to the user: its ctidTraderAccountId."""
    login = ct.create(hashedPassword=md5("Trader#1"))["login"]
    body = {
        "traderLogin": login,
        "traderPasswordHash": md5("Trader#1"),
        "userId": user_id,
        "brokerName": "BESTBROKER",
        "environmentName": "demo",
        "returnAccountDetails": True,
    }
    response = cid_call(ct, "POST", "/ctid/link", json=body)
    assert response.status_code == 200, response.text
    return int(response.json()["ctidTraderAccountId"])


def _records(ct: CTrader, action: str) -> list[Any]:
    return ct.services.query_audit(AuditQuery(action=action), ct.admin)


@pytest.mark.parametrize("prefix", CID_PREFIXES)
def test_ribbons_are_stored_replaced_cleared_and_audited(ct: CTrader, prefix: str) -> None:
    user_id = _user(ct)
    body = {**CRM, "userId": user_id, "rules": {"ribbons": [RIBBON]}}
    response = cid_call(ct, "PUT", "/oauth2/ctid/inAppControls", json=body, prefix=prefix)
    assert response.status_code == 201, response.text
    assert response.json() == {}
    assert ct.services.get_in_app_controls(user_id, ct.admin) == {"ribbons": [RIBBON]}
    # the 2023 shape: userId inside rules; the account id as a string
    second = {
        **RIBBON,
        "title": "Deposit bonus",
        "ctidTraderAccountId": "42",
        "action": {"urlinApp": "https://broker.example/bonus"},
    }
    older = {**CRM, "rules": {"userId": user_id, "ribbons": [second]}}
    assert cid_call(ct, "PUT", "/oauth2/ctid/inAppControls", json=older).status_code == 201
    stored = ct.services.get_in_app_controls(user_id, ct.admin)
    assert stored == {"ribbons": [{**second, "ctidTraderAccountId": 42}]}  # replaced
    cleared = {**CRM, "userId": user_id, "rules": {}}
    assert cid_call(ct, "PUT", "/oauth2/ctid/inAppControls", json=cleared).status_code == 201
    assert ct.services.get_in_app_controls(user_id, ct.admin) == {}
    records = _records(ct, "user.in_app_controls_set")
    assert [r.after["in_app_controls"] for r in records[-3:]] == [{"ribbons": [RIBBON]}, stored, {}]


BAD_RIBBONS: list[tuple[str, dict[str, Any]]] = [
    ("no rules", {"userId": 1}),
    ("no user", {"rules": {"ribbons": [RIBBON]}}),
    ("bad colour", {"userId": 1, "rules": {"ribbons": [{**RIBBON, "color": "red"}]}}),
    ("no action", {"userId": 1, "rules": {"ribbons": [{**RIBBON, "action": {}}]}}),
    (
        "javascript url",
        {
            "userId": 1,
            "rules": {"ribbons": [{**RIBBON, "action": {"urlExternal": "javascript:alert(1)"}}]},
        },
    ),
    (
        "no flag",
        {"userId": 1, "rules": {"ribbons": [{k: v for k, v in RIBBON.items() if k != "enabled"}]}},
    ),
    ("too many", {"userId": 1, "rules": {"ribbons": [RIBBON] * 21}}),
    ("ribbons not a list", {"userId": 1, "rules": {"ribbons": RIBBON}}),
]


@pytest.mark.parametrize(("name", "body"), BAD_RIBBONS, ids=[n for n, _ in BAD_RIBBONS])
def test_malformed_ribbons_are_invalid_request_and_store_nothing(
    ct: CTrader, name: str, body: dict[str, Any]
) -> None:
    user_id = _user(ct)
    if body.get("userId") == 1:
        body = {**body, "userId": user_id}
    response = cid_call(ct, "PUT", "/oauth2/ctid/inAppControls", json={**CRM, **body})
    assert ct.error(response, 400) == "INVALID_REQUEST"
    assert ct.services.get_in_app_controls(user_id, ct.admin) is None


def test_ribbons_for_an_unknown_or_unreachable_user_are_user_not_found(ct: CTrader) -> None:
    body = {**CRM, "userId": 987654, "rules": {"ribbons": [RIBBON]}}
    response = cid_call(ct, "PUT", "/oauth2/ctid/inAppControls", json=body)
    assert ct.error(response, 404) == "CH_USER_NOT_FOUND"
    ct.services.create_group(CreateGroup("other", "USD", {"broker": "OTHER"}), ct.admin)
    user_id = _user(ct)
    limited = as_manager(ct, 1101, white_labels="NOBODY")
    body["userId"] = user_id
    assert (
        limited.error(cid_call(limited, "PUT", "/oauth2/ctid/inAppControls", json=body), 404)
        == "CH_USER_NOT_FOUND"
    )
    reader = as_manager(ct, 1102, rights=frozenset({"users:read"}))
    refused = cid_call(reader, "PUT", "/oauth2/ctid/inAppControls", json=body)
    assert reader.error(refused, 403) == "NOT_ENOUGH_RIGHTS"
    assert ct.services.get_in_app_controls(user_id, ct.admin) is None


def test_referral_set_read_and_delete_at_user_and_account_level(ct: CTrader) -> None:
    user_id = _user(ct)
    account = _linked(ct, user_id)
    params = {**CRM, "userId": user_id}
    empty = cid_call(ct, "GET", "/oauth2/ctid/referral", params=params)
    assert empty.status_code == 200 and empty.json() == {"userId": user_id}
    put = cid_call(ct, "PUT", "/oauth2/ctid/referral", json={**params, "partnerId": "IB-7"})
    assert put.status_code == 200, put.text
    assert put.json() == {"userId": user_id, "partnerId": "IB-7"}
    on_account = {**CRM, "ctidTraderAccountId": account, "partnerId": "IB-9"}
    assert cid_call(ct, "PUT", "/oauth2/ctid/referral", json=on_account).status_code == 200
    read = cid_call(ct, "GET", "/oauth2/ctid/referral", params=params).json()
    assert read == {"userId": user_id, "partnerId": "IB-7"}
    read = cid_call(
        ct, "GET", "/oauth2/ctid/referral", params={**CRM, "ctidTraderAccountId": account}
    ).json()
    assert read == {"userId": user_id, "ctidTraderAccountId": account, "partnerId": "IB-9"}
    gone = cid_call(ct, "DELETE", "/oauth2/ctid/referral", params=params)
    assert gone.status_code == 200, gone.text
    assert cid_call(ct, "GET", "/oauth2/ctid/referral", params=params).json() == {"userId": user_id}
    still = cid_call(
        ct, "GET", "/oauth2/ctid/referral", params={**CRM, "ctidTraderAccountId": account}
    ).json()
    assert still["partnerId"] == "IB-9"  # only the user-level record went
    actions = [r.action for r in ct.services.query_audit(AuditQuery(entity_type="user"), ct.admin)]
    assert actions.count("user.partner_set") == 2 and actions.count("user.partner_removed") == 1


def test_set_referral_at_the_proxy_path_is_the_same_call(ct: CTrader) -> None:
    user_id = _user(ct)
    body = {**CRM, "userId": user_id, "partnerId": "P-1"}
    for path in ("/v2/oauth2/ctid/setReferral", "/cid/oauth2/ctid/setReferral"):
        response = ct.client.put(path, params={"token": ct.token}, json=body, headers=JSON)
        assert response.status_code == 200, response.text
        assert response.json()["partnerId"] == "P-1"
    bad_token = ct.client.put("/v2/oauth2/ctid/setReferral", params={"token": "x"}, json=body)
    assert ct.error(bad_token, 401) == "CH_CLIENT_AUTH_FAILURE"


def test_referral_refusals(ct: CTrader) -> None:
    user_id = _user(ct)
    other = _linked(ct, _user(ct, "bob@example.com"))
    cases = [
        ({**CRM, "userId": user_id}, 400, "INVALID_REQUEST"),  # no partnerId
        ({"userId": user_id, "partnerId": "X"}, 400, "INVALID_REQUEST"),  # no brokerCrmName
        ({**CRM, "partnerId": "X"}, 400, "INVALID_REQUEST"),  # no id at all
        ({**CRM, "userId": user_id, "partnerId": "X" * 256}, 400, "INVALID_REQUEST"),
        ({**CRM, "userId": 987654, "partnerId": "X"}, 404, "CH_USER_NOT_FOUND"),
        # another user's account
        (
            {**CRM, "userId": user_id, "ctidTraderAccountId": other, "partnerId": "X"},
            404,
            "ENTITY_NOT_FOUND",
        ),
    ]
    for body, status, code in cases:
        response = cid_call(ct, "PUT", "/oauth2/ctid/referral", json=body)
        assert ct.error(response, status) == code, body
    reader = as_manager(ct, 1102, rights=frozenset({"users:read"}))
    refused = cid_call(
        reader, "PUT", "/oauth2/ctid/referral", json={**CRM, "userId": user_id, "partnerId": "X"}
    )
    assert reader.error(refused, 403) == "NOT_ENOUGH_RIGHTS"
    cashier = as_manager(ct, 1103, rights=frozenset({"balances:write"}))
    unread = cid_call(cashier, "GET", "/oauth2/ctid/referral", params={**CRM, "userId": user_id})
    assert cashier.error(unread, 403) == "NOT_ENOUGH_RIGHTS"


@pytest.mark.parametrize(
    "path",
    [
        "/cid/oauth2/ctid/nothing",
        "/v2/cid/nope",
        "/v2/webserv/nothing/here",
        "/webserv/traders/1/nope",
        "/v2/oauth2/ctid/other",
    ],
)
def test_unknown_paths_under_the_ctrader_mounts_are_ctrader_404s(ct: CTrader, path: str) -> None:
    response = ct.client.get(path, params={"token": ct.token}, headers=JSON)
    assert ct.error(response, 404) == "ENTITY_NOT_FOUND"
    assert "problem" not in response.headers["content-type"]
