"""cTrader's lean `changebalance` (api/ctrader/lean.py) answers exactly as the sub-application's
route does: the same requests go to an app with the lean handler (counted, so the test knows
it was taken) and to one built without it, on two traders opened alike."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from brokerplane.api.app import create_app
from brokerplane.api.ctrader import lean
from tests.dialects.ctrader.conftest import JSON, CTrader

_VARYING = ("balanceHistoryId",)


@pytest.fixture
def apps(
    ct: CTrader, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, TestClient, list[str]]]:
    taken: list[str] = []
    handler = next(iter(lean.HANDLERS.values()))

    async def counted(route: BaseRoute, scope: Scope, receive: Receive, send: Send) -> None:
        taken.append(scope["path"])
        await handler(route, scope, receive, send)

    with monkeypatch.context() as patched:
        patched.setattr(lean, "HANDLERS", dict.fromkeys(lean.HANDLERS, counted))
        leaned = create_app(ct.runtime)
    with monkeypatch.context() as patched:
        patched.setattr(lean, "HANDLERS", {})
        plain = create_app(ct.runtime)
    with TestClient(leaned) as a, TestClient(plain) as b:
        yield a, b, taken


def _plain(text: str, login: int) -> str:
    """A text without what differs between the two traders' requests."""
    return re.sub(r"operation \d+", "operation N", text.replace(str(login), "LOGIN"))


def _same(answer: Any, login: int) -> tuple[int, Any, str | None, str | None]:
    text = _plain(answer.text, login)
    try:
        body = answer.json()
    except ValueError:
        body = text
    if isinstance(body, dict):
        body = {k: (v if k not in _VARYING else "ID") for k, v in body.items()}
        body = {k: (_plain(v, login) if isinstance(v, str) else v) for k, v in body.items()}
        if isinstance(body.get("error"), dict):
            error = body["error"]
            body["error"] = {**error, "description": _plain(error["description"], login)}
    else:
        body = text if "balanceHistoryId" not in text else "XML with an id"
    return (
        answer.status_code,
        body,
        answer.headers.get("content-type"),
        answer.headers.get("idempotent-replay"),
    )


def test_the_lean_changebalance_answers_as_the_route_does(
    ct: CTrader, apps: tuple[TestClient, TestClient, list[str]]
) -> None:
    leaned, plain, taken = apps
    a, b = ct.create()["login"], ct.create()["login"]
    cases: list[tuple[str, dict[str, Any], dict[str, str], Any]] = [
        ("v2", {"token": ct.token}, JSON, {"type": "DEPOSIT", "preciseAmount": 100}),
        (
            "v2",
            {"token": ct.token},
            {**JSON, "Idempotency-Key": "k1"},
            {"type": "DEPOSIT", "preciseAmount": 5, "comment": "c", "externalId": "x"},
        ),
        (
            "v2",
            {"token": ct.token},
            {**JSON, "Idempotency-Key": "k1"},
            {"type": "DEPOSIT", "preciseAmount": 5, "comment": "c", "externalId": "x"},
        ),
        (
            "v2",
            {"token": ct.token},
            {**JSON, "Idempotency-Key": "k1"},
            {"type": "DEPOSIT", "preciseAmount": 6},
        ),
        ("v2", {"token": ct.token}, JSON, {"type": "WITHDRAW", "preciseAmount": 1000}),
        ("v2", {"token": ct.token}, JSON, {"type": "NOPE", "preciseAmount": 1}),
        ("v2", {"token": ct.token}, JSON, {"type": "DEPOSIT", "preciseAmount": -1}),
        ("v2", {"token": ct.token}, JSON, {"type": "DEPOSIT"}),
        ("v2", {"token": ct.token}, JSON, {"login": 1, "type": "DEPOSIT", "preciseAmount": 1}),
        ("v2", {}, JSON, {"type": "DEPOSIT", "preciseAmount": 1}),
        ("v2", {"token": "nope"}, JSON, {"type": "DEPOSIT", "preciseAmount": 1}),
        (
            "v2",
            {"token": ct.token},
            {"Accept": "application/xml"},
            {"type": "DEPOSIT", "preciseAmount": 2},
        ),
        ("v2", {"token": ct.token}, JSON, "not json"),
        ("proxy", {"token": ct.token}, JSON, {"type": "WITHDRAW", "preciseAmount": 1}),
        (
            "proxy",
            {"token": ct.token},
            JSON,
            {"type": "DEPOSIT_NONWITHDRAWABLE_BONUS", "amount": 150},
        ),
    ]
    for prefix, query, headers, body in cases:
        prefix_path = "/v2/webserv" if prefix == "v2" else "/webserv"
        answers = []
        for client, login in ((leaned, a), (plain, b)):
            keyed = {
                k: (f"{v}-{login}" if k == "Idempotency-Key" else v) for k, v in headers.items()
            }
            sent = dict(body, login=body.get("login", login)) if isinstance(body, dict) else body
            kw: dict[str, Any] = {"json": sent} if isinstance(sent, dict) else {"content": sent}
            answer = client.post(
                f"{prefix_path}/traders/{login}/changebalance", params=query, headers=keyed, **kw
            )
            answers.append(_same(answer, login))
        assert answers[0] == answers[1], (prefix, query, headers, body)
    assert len(taken) == len(cases)
    assert ct.trader(a)["balance"] == ct.trader(b)["balance"]
    unknown = "/v2/webserv/traders/999999/changebalance"
    sent = {"type": "DEPOSIT", "preciseAmount": 1}
    first = leaned.post(unknown, params={"token": ct.token}, json=sent, headers=JSON)
    second = plain.post(unknown, params={"token": ct.token}, json=sent, headers=JSON)
    assert (first.status_code, first.json()) == (second.status_code, second.json())


def test_metrics_name_the_lean_changebalance_by_its_route(
    ct: CTrader, apps: tuple[TestClient, TestClient, list[str]]
) -> None:
    login = ct.create()["login"]
    sent = {"type": "DEPOSIT", "preciseAmount": 1}
    for client in apps[:2]:
        path = f"/v2/webserv/traders/{login}/changebalance"
        assert client.post(path, params={"token": ct.token}, json=sent).status_code == 200
        metrics = client.app.state.metrics.render()  # type: ignore[attr-defined]
        assert 'route="/v2/webserv/traders/{login}/changebalance"' in metrics
    assert len(apps[2]) == 1
