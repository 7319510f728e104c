"""What the cID tests share: seed 001's SSO create body, the classic record's keys, and calls
under /cid and /v2/cid."""

from __future__ import annotations

from typing import Any

import httpx

from brokerplane.core.user.model import User
from tests.dialects.ctrader.conftest import SEED_HASH, CTrader, cid_call

# Seed 001's SSO create body, `nickname` spelled as its example spells it.
SEED_001_CREATE = {
    "brokerCrmName": "BESTBROKERCRM",
    "email": "president@bestbroker.com",
    "firstName": "Trader",
    "nickname": "letstrade",
    "preferredLanguage": "en",
}
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


def get_user_id(ct: CTrader, email: str, prefix: str = "/cid") -> Any:
    response = call(
        ct,
        "GET",
        "/oauth2/ctid/getUserId",
        prefix=prefix,
        params={"email": email, "brokerCrmName": "BESTBROKERCRM"},
    )
    assert response.status_code == 200, response.text
    return response.json() if response.content else None
