"""Logins and ids past a signed 64-bit number (and 0 or -1 where an id is named) are cTrader's
400 INVALID_REQUEST in the web services and cID calls: never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dialects.ctrader.conftest import CTrader, cid_call

# Translation: each dialect refuses an integer past 64 bits while parsing it, before any SQL
# (SQLite's driver cannot bind one either: a missed check fails here as loudly as on
# PostgreSQL), so SQLite only (tests/conftest.py).

HUGE = 2**70
DAY = {"from": "2020-01-01T00:00:00.000", "to": "2020-01-02T00:00:00.000"}
PASSWORD_HASH = "a" * 32

# (method, path, query, JSON body)
WEBSERV: list[tuple[str, str, dict[str, Any] | None, Any]] = [
    ("GET", f"/traders/{HUGE}", None, None),
    ("GET", "/traders/0", None, None),
    ("PATCH", f"/traders/{HUGE}", None, {"name": "x"}),
    ("DELETE", f"/traders/{HUGE}", None, None),
    ("POST", f"/traders/{HUGE}/changepassword", None, {"hashedPassword": PASSWORD_HASH}),
    ("POST", f"/traders/{HUGE}/checkpassword", None, {"hashedPassword": PASSWORD_HASH}),
    ("GET", f"/traders/{HUGE}/subaccounts", None, None),
    (
        "POST",
        f"/traders/{HUGE}/changebalance",
        None,
        {"login": HUGE, "preciseAmount": 1, "type": "DEPOSIT"},
    ),
    ("GET", "/traders", {**DAY, "groupId": str(HUGE)}, None),
    ("GET", "/openPositions", {"login": str(HUGE)}, None),
    ("GET", "/closedPositions", {**DAY, "login": str(HUGE)}, None),
    ("POST", "/traders/attributes/list", None, {"traderIds": [HUGE]}),
    ("POST", "/traders/attributes/list", None, {"traderIds": [-1]}),
    ("POST", "/traders/attributes/list", None, {"limit": HUGE}),
    ("POST", "/managers/attributes/list", None, {"managerIds": [str(HUGE)]}),
    ("DELETE", "/traders/attributes", None, {"traderIds": [HUGE], "names": ["a"]}),
    ("POST", "/managers/token", None, {"login": HUGE, "hashedPassword": PASSWORD_HASH}),
]

CID: list[tuple[str, str, dict[str, Any] | None, Any]] = [
    (
        "POST",
        "/ctid/link",
        None,
        {"traderLogin": HUGE, "traderPasswordHash": PASSWORD_HASH, "userId": 1, "brokerName": "x"},
    ),
    (
        "POST",
        "/ctid/link",
        None,
        {"traderLogin": 1, "traderPasswordHash": PASSWORD_HASH, "userId": HUGE, "brokerName": "x"},
    ),
    ("POST", "/ctid/changeCtidTraderAccount", None, {"traderLogin": HUGE, "brokerName": "x"}),
]


def _invalid(response: Any) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"]["errorCode"] == "INVALID_REQUEST", response.text


@pytest.mark.parametrize(("method", "path", "query", "body"), WEBSERV)
def test_an_out_of_range_integer_is_400_invalid_request(
    ct: CTrader, method: str, path: str, query: dict[str, Any] | None, body: Any
) -> None:
    _invalid(ct.call(method, path, params=query, json=body))


@pytest.mark.parametrize(("method", "path", "query", "body"), CID)
def test_an_out_of_range_integer_in_a_cid_call_is_400_invalid_request(
    ct: CTrader, method: str, path: str, query: dict[str, Any] | None, body: Any
) -> None:
    _invalid(cid_call(ct, method, path, params=query, json=body))


def test_the_error_says_the_number_is_out_of_range(ct: CTrader) -> None:
    response = ct.get("/openPositions", params={"login": str(HUGE)})
    assert response.json()["error"]["description"] == "login is out of range"
