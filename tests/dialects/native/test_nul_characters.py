"""A NUL character, which PostgreSQL cannot store or compare, is a 400 like any bad input."""

from __future__ import annotations

import pytest

from tests.dialects.native.conftest import Api

# PostgreSQL cannot store or compare NUL where SQLite can: both engines.
pytestmark = pytest.mark.engines("sqlite", "postgres")


def test_a_nul_character_in_a_path_query_or_body_is_a_validation_error(api: Api) -> None:
    login = api.open()["login"]

    answers = [
        api.get("/v1/groups/demo%00usd"),
        api.get("/v1/users", params={"email": "a\x00@b.c"}),
        api.patch(f"/v1/users/{login}", {"comment": "a\x00b"}),
        api.post("/v1/balances/deposit", {"login": login, "amount": "1", "reference": "r\x00"}),
    ]

    for answer in answers:
        assert answer.status_code in (400, 404), answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert api.get(f"/v1/users/{login}").json()["balance"] == "0.00"
