"""The lean route of the native money endpoints answers exactly as the FastAPI route does.

The same requests go to the app (lean handlers in place) and to an app built without them, on
two accounts opened alike; their answers must agree, and ordinary requests must really take the
lean handler.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from brokerplane.api.app import create_app
from brokerplane.api.native import lean
from brokerplane.api.native.auth import current_actor
from tests.dialects.native.conftest import Api

LEAN_LOGIN, PLAIN_LOGIN = 910031, 910032
_VARYING = ("operation_id", "login", "request_id", "instance")


@pytest.fixture
def plain(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The same runtime served by an app without the lean handlers."""
    with monkeypatch.context() as patched:
        patched.setattr(lean, "HANDLERS", {})
        app = create_app(api.runtime)
    with TestClient(app) as client:
        yield client


def _plain_text(value: Any) -> Any:
    """A text without what differs between the two apps' requests (logins, ids, salts)."""
    if not isinstance(value, str):
        return value
    for login in (LEAN_LOGIN, PLAIN_LOGIN):
        value = value.replace(str(login), "LOGIN")
    value = re.sub(r"operation \d+", "operation N", value)
    return re.sub(r"(lean-\d+)-[ab]\b", r"\1", value)


def _same(answer: Any) -> tuple[int, Any, str | None]:
    try:
        body = answer.json()
    except ValueError:
        body = answer.text
    if isinstance(body, dict):
        body = {k: _plain_text(v) for k, v in body.items() if k not in _VARYING}
    return answer.status_code, body, answer.headers.get("idempotent-replay")


_CASES: list[tuple[str, dict[str, str], Any]] = [
    ("deposit", {}, {"amount": "10.00", "comment": "card"}),
    ("withdraw", {}, {"amount": "3.00"}),
    ("withdraw", {}, {"amount": "1000.00"}),  # more than the balance
    ("credit", {}, {"amount": "-1.00"}),  # more than the credit
    ("bonus", {}, {"amount": 2}),
    ("correction", {}, {"amount": 1.5}),
    ("charge", {}, {"amount": "0.50", "reference": "fee-1"}),
    ("deposit", {}, {"amount": "0"}),
    ("deposit", {}, {"amount": "1.001"}),
    ("deposit", {}, {"amount": "1.00", "extra": 1}),
    ("deposit", {}, {"comment": "no amount"}),
    ("deposit", {}, {"amount": None}),
    ("deposit", {}, {"amount": "1.00", "reference": "transfer:x"}),
    ("deposit", {"content-type": "text/plain"}, {"amount": "1.00"}),
    ("deposit", {"content-type": "application/json; charset=utf-8"}, {"amount": "1.00"}),
    ("deposit", {}, "not json"),
    ("deposit", {}, "[1, 2]"),
    ("deposit", {}, ""),
    ("deposit", {}, '{"login": LOGIN, "amount": "1.00", "comment": "\\ud800"}'),
    ("deposit", {"authorization": "Bearer nope"}, {"amount": "1.00"}),
    ("deposit", {"authorization": "Bearer nope"}, "not json"),
    ("deposit", {"authorization": "Basic x"}, {"amount": "1.00"}),
    ("deposit", {"x-request-id": "lean-1"}, {"amount": "4.00"}),
    ("deposit", {"x-request-id": "lean-1"}, {"amount": "4.00"}),  # a replay
    ("deposit", {"x-request-id": "lean-1"}, {"amount": "5.00"}),  # same id, another request
    ("deposit", {"x-operator-id": "o" * 300}, {"amount": "1.00"}),
]


def _send(client: TestClient, api: Api, login: int, op: str, headers: dict[str, str],
          body: Any, salt: str) -> Any:  # fmt: skip
    sent = {"content-type": "application/json", **api.headers(), **headers}
    if "x-request-id" in sent:
        sent["x-request-id"] += salt
    if isinstance(body, dict):
        raw = json.dumps({"login": login, **body})
    else:
        raw = body.replace("LOGIN", str(login))
    return client.post(f"/v1/balances/{op}", content=raw.encode(), headers=sent)


def test_the_lean_route_answers_every_request_as_the_fastapi_route(
    api: Api, plain: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for login in (LEAN_LOGIN, PLAIN_LOGIN):
        api.open(login=login)
    taken = 0
    actor_of = current_actor

    async def counted(request: Any) -> Any:
        nonlocal taken
        taken += 1
        return await actor_of(request)

    monkeypatch.setattr(lean, "current_actor", counted)
    for n, (op, headers, body) in enumerate(_CASES):
        fast = _send(api.client, api, LEAN_LOGIN, op, headers, body, "-a")
        slow = _send(plain, api, PLAIN_LOGIN, op, headers, body, "-b")
        assert _same(fast) == _same(slow), (n, op, headers, body, fast.text, slow.text)
    # Every well-formed body took the lean handler; the others went to FastAPI's route.
    assert taken == 17
    a = api.get(f"/v1/users/{LEAN_LOGIN}").json()
    b = api.get(f"/v1/users/{PLAIN_LOGIN}").json()
    assert (a["balance"], a["credit"], a["bonus"]) == (b["balance"], b["credit"], b["bonus"])
    assert api.runtime.services.verify_ledger() == []
    assert api.runtime.services.verify_audit().ok
