"""Every kind of native write replays, with one key, exactly the answer it first gave: the
result is stored as data and rendered again, byte for byte, with any secret shown once null."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dialects.native.conftest import Api

LOGIN = 910031
OTHER = 910032


@pytest.fixture
def funded(api: Api) -> Api:
    for login in (LOGIN, OTHER):
        api.open(login=login)
    deposit = {"login": LOGIN, "amount": "5000"}
    assert api.post("/v1/balances/deposit", deposit).status_code == 200
    quote = {"symbol": "EURUSD", "bid": "1.10000", "ask": "1.10020"}
    assert api.put("/v1/quotes", {"quotes": [quote]}, key=api.feed_key()).status_code == 200
    return api


WRITES: list[tuple[str, str, dict[str, Any], tuple[str, ...]]] = [
    ("post", "/v1/groups", {"name": "demo-jpy", "currency": "JPY"}, ()),
    ("post", "/v1/keys", {"scopes": ["users:read"], "name": "crm"}, ("key",)),
    ("post", "/v1/webhooks", {"url": "http://127.0.0.1:9/hook"}, ("secret",)),
    ("post", "/v1/balances/transfer", {"from_login": LOGIN, "to_login": OTHER, "amount": "7"}, ()),
    (
        "post",
        "/v1/positions",
        {"login": LOGIN, "symbol": "EURUSD", "side": "buy", "volume": "1"},
        (),
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "secrets"), WRITES, ids=[w[1] for w in WRITES])
def test_a_keyed_write_replays_its_first_answer(
    funded: Api, method: str, path: str, body: dict[str, Any], secrets: tuple[str, ...]
) -> None:
    headers = {"Idempotency-Key": f"answer-{path}"}
    send = getattr(funded, method)

    first = send(path, body, headers=headers)
    again = send(path, body, headers=headers)

    assert first.status_code in (200, 201), first.text
    assert (again.status_code, again.headers.get("Idempotent-Replay")) == (
        first.status_code,
        "true",
    )
    expected = {k: (None if k in secrets else v) for k, v in first.json().items()}
    assert all(first.json()[k] for k in secrets)  # shown once, to the first answer
    assert again.json() == expected
    if not secrets:
        assert again.content == first.content
