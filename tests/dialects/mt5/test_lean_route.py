"""MT5's lean `trade/balance` (api/mt5/lean.py) answers exactly as the `/api/{name}` route
does: the same requests go to an app with the lean handler (counted, so the test knows it was
taken) and to one built without it, each on its own session, on two accounts opened alike."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from brokerplane.api.app import create_app
from brokerplane.api.mt5 import lean
from brokerplane.core.account.commands import OpenAccount
from tests.dialects.mt5.conftest import MANAGER, PASSWORD, Mt5, handshake

Apps = tuple[TestClient, TestClient, list[str]]


@pytest.fixture
def apps(mt5: Mt5, monkeypatch: pytest.MonkeyPatch) -> Iterator[Apps]:
    taken: list[str] = []
    handler = next(iter(lean.HANDLERS.values()))

    async def counted(route: BaseRoute, scope: Scope, receive: Receive, send: Send) -> None:
        taken.append(scope["method"])
        await handler(route, scope, receive, send)

    with monkeypatch.context() as patched:
        patched.setattr(lean, "HANDLERS", dict.fromkeys(lean.HANDLERS, counted))
        leaned = create_app(mt5.runtime)
    with monkeypatch.context() as patched:
        patched.setattr(lean, "HANDLERS", {})
        plain = create_app(mt5.runtime)
    with TestClient(leaned) as a, TestClient(plain) as b:
        yield a, b, taken


def _same(answer: Any, login: int) -> tuple[int, str, str | None, str | None]:
    text = answer.text.replace(str(login), "LOGIN")
    text = re.sub(r'"Ticket":"\d+"', '"Ticket":"N"', text)
    text = re.sub(r"operation \d+", "operation N", text)
    return (
        answer.status_code,
        text,
        answer.headers.get("content-type"),
        answer.headers.get("idempotent-replay"),
    )


def test_the_lean_trade_balance_answers_as_the_route_does(mt5: Mt5, apps: Apps) -> None:
    leaned, plain, taken = apps
    a, b = (
        mt5.services.open_account(OpenAccount(group="demoforex", name="J"), mt5.admin).login
        for _ in range(2)
    )
    # before the handshake: "authenticate again", from the lean handler too
    unauthenticated = [
        _same(c.get("/api/trade/balance", params={"login": n, "type": 2, "balance": "1"}), n)
        for c, n in ((leaned, a), (plain, b))
    ]
    assert unauthenticated[0] == unauthenticated[1]
    for client in (leaned, plain):
        assert handshake(client, MANAGER, PASSWORD).status_code == 200
    cases: list[tuple[str, dict[str, Any], dict[str, str]]] = [
        ("GET", {"type": 2, "balance": "100.00", "comment": "in"}, {}),
        ("GET", {"type": 2, "balance": "5"}, {"x-request-id": "r1"}),
        ("GET", {"type": 2, "balance": "5"}, {"x-request-id": "r1"}),
        ("GET", {"type": 2, "balance": "6"}, {"x-request-id": "r1"}),
        ("GET", {"type": 2, "balance": "-1000"}, {}),
        ("GET", {"type": 99, "balance": "1"}, {}),
        ("GET", {"type": 2, "balance": "abc"}, {}),
        ("GET", {"type": 2}, {}),
        ("GET", {"type": 3, "balance": "10"}, {}),
        ("POST", {"type": 2, "balance": "1"}, {}),
    ]
    for method, params, headers in cases:
        answers = []
        for client, login in ((leaned, a), (plain, b)):
            keyed = {k: f"{v}-{login}" for k, v in headers.items()}
            answer = client.request(
                method, "/api/trade/balance", params={"login": login, **params}, headers=keyed
            )
            answers.append(_same(answer, login))
        assert answers[0] == answers[1], (method, params, headers)
    missing = [
        _same(c.get("/api/trade/balance", params={"type": 2, "balance": "1"}), 0)
        for c in (leaned, plain)
    ]
    assert missing[0] == missing[1]
    assert len(taken) == len(cases) + 2
    assert (
        mt5.services.get_account(a, mt5.admin).balance
        == mt5.services.get_account(b, mt5.admin).balance
    )
    for client in (leaned, plain):
        metrics = client.app.state.metrics.render()  # type: ignore[attr-defined]
        assert 'route="/api/trade/balance"' in metrics
