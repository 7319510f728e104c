"""Text no secret or store can hold (a signature in Latin-1, a JSON string holding half a UTF-16
pair) is the caller's mistake, answered as TraderEvolution answers one, never a 500."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from tests.dialects.traderevolution.conftest import BASE, TE, sign_in
from tests.dialects.traderevolution.test_trading import ORDERS, Trader, market  # noqa: F401

# Translation: the body or query is refused while it is decoded, before any SQL (and neither
# engine's driver can encode a lone surrogate), so SQLite only (tests/conftest.py).

LONE = "\\ud800"  # as JSON spells it: half of a UTF-16 pair, with no other half


def _raw(body: dict[str, Any], field: str) -> bytes:
    """The body as JSON with `field`'s value a string holding a lone surrogate."""
    text = json.dumps({**body, field: "@@"})
    return text.replace('"@@"', f'"a{LONE}b"').encode()


def test_a_signature_in_latin_1_is_a_bad_signature(market: TE) -> None:  # noqa: F811
    alice = Trader(market, "alice")
    raw = json.dumps(
        {
            "id": uuid.uuid4().hex,
            "timestamp": int(time.time() * 1000),
            "symbol": "EURUSD",
            "side": "buy",
            "volume": 0.1,
        }
    ).encode()
    headers = {
        "X-Api-Key": alice.api_key,
        "Content-Type": "application/json",
        "X-Signature": "é".encode("latin-1") * 64,
    }

    answer = market.client.post(BASE + ORDERS, content=raw, headers=headers)

    assert market.error(answer, 401) == "1.2.0.1"


@pytest.mark.parametrize("field", ["login", "password"])
def test_a_lone_surrogate_in_a_sign_in_is_a_bad_request(te: TE, field: str) -> None:
    raw = _raw({"login": "jsmith", "password": "x"}, field)

    answer = te.client.post(
        BASE + "/auth/token", content=raw, headers={"Content-Type": "application/json"}
    )

    assert answer.status_code == 400, answer.text
    assert answer.json()["errorCode"] == "1.0.0.1"


def test_a_lone_surrogate_in_a_webhook_secret_is_a_bad_request(market: TE) -> None:  # noqa: F811
    alice = Trader(market, "alice")
    body = {
        "id": uuid.uuid4().hex,
        "timestamp": int(time.time() * 1000),
        "symbol": "EURUSD",
        "side": "buy",
        "volume": 0.1,
        "apiKey": alice.api_key,
    }

    answer = market.client.post(
        BASE + ORDERS, content=_raw(body, "secret"), headers={"Content-Type": "application/json"}
    )

    assert market.error(answer, 400) == "1.0.0.1"


def test_a_lone_surrogate_in_a_new_users_name_is_a_bad_request(te: TE) -> None:
    body = {
        "email": "j@example.com",
        "lastName": "Smith",
        "login": "jsmith",
        "password": "Password1!",
        "userGroup": te.ids["retail"],
    }

    answer = te.call(
        "POST",
        "/users",
        content=_raw(body, "firstName"),
        headers={"Content-Type": "application/json"},
    )

    assert te.error(answer, 400) == "1.0.0.1"
    assert sign_in(te.client, "jsmith", "Password1!").status_code != 200


def test_a_lone_surrogate_in_an_operations_comment_is_a_bad_request(te: TE) -> None:
    account = int(te.create_user("jsmith")["accounts"][0]["id"])
    body = {"accountId": account, "amount": "10", "operationTypeId": 2}

    answer = te.call(
        "POST",
        "/accountOperations",
        content=_raw(body, "comment"),
        headers={"Content-Type": "application/json"},
    )

    assert te.error(answer, 400) == "1.0.0.1"
    assert te.ok(te.get(f"/accounts/{account}"))["balance"] == 0
