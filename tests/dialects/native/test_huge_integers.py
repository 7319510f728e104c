"""Logins, tickets, ids and cursors past a signed 64-bit number (and 0 or -1 where an id is
named) are a 400 problem naming the field, in every native endpoint: never a 500."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.dialects.native.conftest import Api

# Translation: each dialect refuses an integer past 64 bits while parsing it, before any SQL
# (SQLite's driver cannot bind one either: a missed check fails here as loudly as on
# PostgreSQL), so SQLite only (tests/conftest.py).

HUGE = 2**70
MANAGER = 1000


def _cursor(kind: str, value: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


# (method, path, query, body, the field the problem names)
CASES: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None, str]] = [
    ("POST", "/v1/keys", None, {"manager_login": HUGE, "scopes": ["users:read"]}, "manager_login"),
    ("POST", "/v1/keys", None, {"manager_login": -1, "scopes": ["users:read"]}, "manager_login"),
    ("POST", "/v1/keys", None, {"manager_login": 0, "scopes": ["users:read"]}, "manager_login"),
    ("GET", "/v1/keys", {"manager": HUGE}, None, "manager"),
    ("GET", "/v1/audit", {"manager": HUGE}, None, "manager"),
    ("GET", "/v1/audit", {"manager": -1}, None, "manager"),
    ("GET", "/v1/audit", {"manager": 0}, None, "manager"),
    ("GET", "/v1/audit", {"cursor": _cursor("audit", HUGE)}, None, "cursor"),
    ("GET", "/v1/balances/history", {"login": HUGE}, None, "login"),
    ("GET", "/v1/balances/history", {"cursor": _cursor("ledger", HUGE)}, None, "cursor"),
    ("GET", "/v1/approvals", {"login": HUGE}, None, "login"),
    ("GET", "/v1/approvals", {"cursor": _cursor("approval", HUGE)}, None, "cursor"),
    ("GET", f"/v1/users/{HUGE}", None, None, "login"),
    ("GET", f"/v1/users/{HUGE}/history", None, None, "login"),
    ("PATCH", f"/v1/users/{HUGE}", None, {"name": "A B"}, "login"),
    (
        "POST",
        "/v1/users",
        None,
        {"name": "A B", "group": "demo-usd", "leverage": 100, "login": HUGE},
        "login",
    ),
    ("POST", "/v1/balances/deposit", None, {"login": HUGE, "amount": "1"}, "login"),
    ("GET", f"/v1/approvals/{HUGE}", None, None, "approval_id"),
    ("GET", f"/v1/deals/{HUGE}", None, None, "deal_id"),
    ("POST", f"/v1/positions/{HUGE}/close", None, {}, "position_id"),
    ("GET", f"/v1/users/{HUGE}/trade-state", None, None, "login"),
    (
        "POST",
        "/v1/positions",
        None,
        {"login": HUGE, "symbol": "EURUSD", "side": "buy", "volume": "0.1"},
        "login",
    ),
]


@pytest.mark.parametrize(("method", "path", "query", "body", "field"), CASES)
def test_an_out_of_range_integer_is_a_400_problem_naming_the_field(
    api: Api,
    method: str,
    path: str,
    query: dict[str, Any] | None,
    body: dict[str, Any] | None,
    field: str,
) -> None:
    response = api.client.request(method, path, params=query, json=body, headers=api.headers())
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "validation.invalid", problem
    assert field in problem["detail"], problem
