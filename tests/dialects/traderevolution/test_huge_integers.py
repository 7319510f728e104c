"""Ids past a signed 64-bit number (and 0 or -1 where an id is named) are TraderEvolution's 400
with code 1.0.0.1, in paths, queries and bodies: never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dialects.traderevolution.conftest import TE

# Translation: each dialect refuses an integer past 64 bits while parsing it, before any SQL
# (SQLite's driver cannot bind one either: a missed check fails here as loudly as on
# PostgreSQL), so SQLite only (tests/conftest.py).

HUGE = 2**70
INVALID_REQUEST = "1.0.0.1"

# (method, path, query, JSON body)
CASES: list[tuple[str, str, dict[str, Any] | None, Any]] = [
    ("GET", f"/userGroups/{HUGE}", None, None),
    ("GET", f"/brandings/{HUGE}", None, None),
    ("GET", f"/positions/{HUGE}", None, None),
    ("GET", "/positions/0", None, None),
    ("GET", f"/users/{HUGE}", None, None),
    ("GET", "/users/-1", None, None),
    ("GET", f"/users/{HUGE}/accounts", None, None),
    ("PATCH", f"/users/{HUGE}", None, {"email": "a@b.c"}),
    ("GET", f"/accounts/{HUGE}", None, None),
    ("GET", "/positions", {"accountId": str(HUGE)}, None),
    ("GET", "/positions", {"userId": "0"}, None),
    ("GET", "/accountOperations", {"accountId": str(HUGE)}, None),
    ("GET", "/users", {"userGroupId": str(HUGE)}, None),
    ("POST", "/accountOperations", None, {"accountId": HUGE, "amount": 1, "operationTypeId": 1}),
    ("POST", "/accounts", None, {"userId": HUGE, "accountPresetId": 1}),
    ("POST", "/userGroups", None, {"name": "g", "brandingId": HUGE}),
]


@pytest.mark.parametrize(("method", "path", "query", "body"), CASES)
def test_an_out_of_range_id_is_400_invalid_request(
    te: TE, method: str, path: str, query: dict[str, Any] | None, body: Any
) -> None:
    assert te.error(te.call(method, path, params=query, json=body), 400) == INVALID_REQUEST


def test_the_error_says_the_number_is_out_of_range(te: TE) -> None:
    response = te.get("/positions", params={"accountId": str(HUGE)})
    assert response.json()["errorMessage"] == "accountId is out of range"
