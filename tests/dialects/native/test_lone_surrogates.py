"""A JSON string holding half a UTF-16 pair (`"\\ud800"`), which no UTF-8 text or store can
hold, is a 400 like any malformed body, never a 500."""

from __future__ import annotations

import json

import pytest

from tests.dialects.native.conftest import Api

# Translation: the body or query is refused while it is decoded, before any SQL (and neither
# engine's driver can encode a lone surrogate), so SQLite only (tests/conftest.py).


def test_a_lone_surrogate_in_a_new_users_name_is_a_malformed_body(api: Api) -> None:
    raw = json.dumps({"name": "@@", "group": "demo-usd", "leverage": 100})
    raw = raw.replace('"@@"', '"a\\ud800b"')

    answer = api.post(
        "/v1/users", content=raw.encode(), headers={"Content-Type": "application/json"}
    )

    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["errors"] == [{"field": "body", "message": "the body is not valid JSON"}]
    assert api.get("/v1/users").json()["items"] == []


# Stores and reads back a character outside the BMP (4 bytes in UTF-8): both engines.
@pytest.mark.engines("sqlite", "postgres")
def test_a_surrogate_pair_in_a_name_is_one_character(api: Api) -> None:
    raw = json.dumps({"name": "@@", "group": "demo-usd", "leverage": 100})
    raw = raw.replace('"@@"', '"Ann \\ud83d\\ude00"')

    answer = api.post(
        "/v1/users", content=raw.encode(), headers={"Content-Type": "application/json"}
    )

    assert answer.status_code == 201, answer.text
    assert answer.json()["name"] == "Ann \U0001f600"


# `json.loads` reads bytes with "surrogatepass" and in UTF-16 and UTF-32 too: a surrogate written
# out in the bytes (ED A0 80), or an escape in a UTF-16 body, holds no `\ud8` to search for.
_HIDDEN = {
    "utf-8 bytes": lambda text: (
        text.replace("@@", "a\\ud800b").encode().replace(b"a\\ud800b", b"a\xed\xa0\x80b")
    ),
    "utf-16 escape": lambda text: text.replace("@@", "a\\ud800b").encode("utf-16-le"),
    "utf-16 unit": lambda text: text.replace("@@", "a\ud800b").encode("utf-16-le", "surrogatepass"),
}


@pytest.mark.parametrize("spelling", sorted(_HIDDEN))
@pytest.mark.parametrize(
    "path", ["/v1/users", "/v1/balances/deposit", "/mt4/manager/balances/bonus"]
)
def test_a_lone_surrogate_not_spelt_as_an_escape_is_a_malformed_body_too(
    api: Api, path: str, spelling: str
) -> None:
    if path == "/v1/users":
        text = json.dumps({"name": "@@", "group": "demo-usd", "leverage": 100})
    else:
        api.open(login=910050)
        text = json.dumps({"login": 910050, "amount": "1.00", "comment": "@@"})

    answer = api.post(
        path, content=_HIDDEN[spelling](text), headers={"Content-Type": "application/json"}
    )

    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"] == [{"field": "body", "message": "the body is not valid JSON"}]
