"""The lean route of the native money endpoints answers exactly as the FastAPI route does.

The same requests go to the app (lean handlers in place) and to an app built without them, on
two accounts opened alike; their answers must agree, and ordinary requests must really take the
lean handler.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from brokerplane.api.app import create_app
from brokerplane.api.kit import lean as kit_lean
from brokerplane.api.native import lean
from brokerplane.api.native.auth import RateLimiter, current_actor
from brokerplane.api.native.money import BalanceIn
from brokerplane.core.access.commands import CreateApiKey, CreateManager, RevokeApiKey
from brokerplane.core.approval.commands import SetApprovalThreshold
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


def _send(
    client: TestClient, api: Api, login: int, op: str, headers: dict[str, str], body: Any, salt: str
) -> Any:
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
    assert api.runtime.app.verify_ledger() == []
    assert api.runtime.app.verify_audit().ok


# ---- hostile requests: the same answer, headers included, from both routes ------------------

_BODY = b'{"login": LOGIN, "amount": "1.00"}'
_HOSTILE: list[tuple[str, dict[str, str | None], bytes]] = [
    ("/v1/balances/deposit", {}, b'{"login": LOGIN, "amount": "1.00", "amount": "2.00"}'),
    ("/v1/balances/deposit", {}, b'{"login": LOGIN, "login": 1, "amount": "1.00"}'),
    ("/v1/balances/deposit", {}, b'{"login": LOGIN, "amount": NaN}'),
    ("/v1/balances/deposit", {}, b'{"login": LOGIN, "amount": -Infinity}'),
    ("/v1/balances/deposit", {}, b'{"login": LOGIN, "amount": 1e400}'),
    ("/v1/balances/deposit", {}, b'{"login": LOGIN, "amount": ' + b"1" * 5000 + b"}"),
    ("/v1/balances/deposit", {}, b'{"login": 1' + b"0" * 40 + b', "amount": "1"}'),
    ("/v1/balances/deposit", {}, b'{"login": LOGIN, "amount": "\\u0661"}'),
    ("/v1/balances/deposit", {}, b'{"login": LOGIN, "amount": true}'),
    ("/v1/balances/deposit", {}, b'{"login": "LOGIN", "amount": "1"}'),
    ("/v1/balances/deposit", {}, b'{"login": LOGIN, "amount": "1", "comment": "a\\u0000b"}'),
    ("/v1/balances/deposit", {}, b'{"login": LOGIN, "amount": "1", "comment": "\xe9"}'),
    ("/v1/balances/deposit", {}, b'{"login": LOGIN, "amount": "1", "comment": "\xed\xa0\x80"}'),
    ("/v1/balances/deposit", {}, '{"login": LOGIN, "amount": "1"}'.encode("utf-16")),
    ("/v1/balances/deposit", {}, b"\xef\xbb\xbf" + _BODY),
    ("/v1/balances/deposit", {}, b'{"login": LOGIN, "amount": "1", "x": ' + b"[" * 100_000 + b"}"),
    ("/v1/balances/deposit", {}, b"  \n" + _BODY + b"\n "),
    ("/v1/balances/deposit", {}, _BODY + b" trailing"),
    ("/v1/balances/deposit", {}, b"null"),
    ("/v1/balances/deposit", {"content-type": "APPLICATION/JSON"}, _BODY),
    ("/v1/balances/deposit", {"content-type": "application/json; charset=latin-1"}, _BODY),
    ("/v1/balances/deposit", {"content-type": "application/json-patch+json"}, _BODY),
    ("/v1/balances/deposit", {"content-type": "application/vnd.api+json"}, _BODY),
    ("/v1/balances/deposit", {"content-type": "application/json, text/plain"}, _BODY),
    ("/v1/balances/deposit", {"content-type": "text/json"}, _BODY),
    ("/v1/balances/deposit", {"content-type": ""}, _BODY),
    ("/v1/balances/deposit", {"content-type": None}, _BODY),
    ("/v1/balances/deposit", {"authorization": None}, _BODY),
    ("/v1/balances/deposit", {"authorization": "Bearer "}, _BODY),
    ("/v1/balances/deposit", {"authorization": "bearer KEY"}, _BODY),
    ("/v1/balances/deposit", {"authorization": "Bearer KEYx"}, _BODY),
    ("/v1/balances/deposit", {"authorization": "Bearer READONLY"}, _BODY),
    ("/v1/balances/deposit", {"authorization": "Bearer NARROW"}, _BODY),
    ("/v1/balances/deposit", {"authorization": "Bearer REVOKED"}, _BODY),
    ("/v1/balances/deposit", {"x-operator-id": "o" * 127}, _BODY),
    ("/v1/balances/deposit", {"x-request-id": "r" * 200}, _BODY),
    ("/v1/balances/deposit", {"idempotency-key": ""}, _BODY),
    ("/v1/balances/deposit", {"idempotency-key": "k" * 300}, _BODY),
    ("/v1/balances/deposit", {"idempotency-key": "k1"}, _BODY),
    ("/v1/balances/deposit", {"idempotency-key": "k1"}, _BODY),  # a replay
    ("/v1/balances/deposit", {"idempotency-key": "k1"}, b'{"amount": "1.00", "login": LOGIN}'),
    ("/v1/balances/withdraw", {"idempotency-key": "k1"}, _BODY),  # another path: a conflict
    ("/v1/balances/deposit?x=1", {"idempotency-key": "k1"}, _BODY),  # another query
    ("/mt4/manager/balances/deposit", {"idempotency-key": "k1"}, _BODY),  # the same request
    (
        "/v1/balances/deposit",
        {"idempotency-key": "k1", "authorization": "Bearer READONLY"},
        _BODY,
    ),
    ("/v1/balances/deposit/", {}, _BODY),
    ("//v1/balances/deposit", {}, _BODY),
    ("/v1/balances/%64eposit", {}, _BODY),
    ("/v1/balances/deposit?login=1", {}, _BODY),
    ("/v1/balances/deposit", {}, b'{"login": 999999, "amount": "1.00"}'),
    ("/v1/balances/deposit", {}, b'{"login": LOGIN, "amount": "600.00"}'),  # held: four eyes
    ("/mt4/manager/balances/charge", {}, b'{"login": LOGIN, "amount": "0.01"}'),
]


def _answer(response: Any) -> tuple[int, str, dict[str, str]]:
    text = response.text
    for login in (LEAN_LOGIN, PLAIN_LOGIN):
        text = text.replace(str(login), "LOGIN")
    text = re.sub(r'"(operation_id|approval_id)":"?\d+"?', r'"\1":N', text)
    text = re.sub(r"(operation|approval) \d+", r"\1 N", text)
    text = re.sub(r"req_[0-9a-f]+", "REQ", text)
    text = re.sub(r"(k1|r+)-[ab]\b", r"\1", text)
    skip = ("date", "content-length", "x-request-id")
    return response.status_code, text, {k: v for k, v in response.headers.items() if k not in skip}


def test_hostile_requests_are_answered_alike_headers_included(
    api: Api, plain: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = api.runtime.app
    for login in (LEAN_LOGIN, PLAIN_LOGIN):
        api.open(login=login)
        api.post("/v1/balances/deposit", {"login": login, "amount": "100.00"})
    services.set_approval_threshold(SetApprovalThreshold("USD", "500.00"), api.admin)
    services.create_manager(CreateManager(1001, "EUR desk", group_mask="demo-eur"), api.admin)
    narrow = services.create_api_key(CreateApiKey(1001, frozenset({"balances:write"})), api.admin)
    revoked = services.create_api_key(CreateApiKey(1000, frozenset({"balances:write"})), api.admin)
    services.revoke_api_key(RevokeApiKey(revoked.key.id), api.admin)
    names = {
        "KEY": api.admin_key,
        "READONLY": api.key("users:read"),
        "NARROW": narrow.secret,
        "REVOKED": revoked.secret,
    }
    taken = 0

    async def counted(request: Any) -> Any:
        nonlocal taken
        taken += 1
        return await current_actor(request)

    monkeypatch.setattr(lean, "current_actor", counted)
    lean_client = TestClient(api.client.app, raise_server_exceptions=False)
    plain_client = TestClient(plain.app, raise_server_exceptions=False)
    for n, (path, headers, body) in enumerate(_HOSTILE):
        answers = []
        sides = ((lean_client, LEAN_LOGIN, "-a"), (plain_client, PLAIN_LOGIN, "-b"))
        for client, login, salt in sides:
            sent = {"content-type": "application/json", "authorization": "Bearer KEY"}
            for name, value in headers.items():
                if value is None:
                    del sent[name]
                    continue
                keyed = name in ("x-request-id", "idempotency-key") and value
                sent[name] = value + salt if keyed else value
            for word, key in names.items():
                sent["authorization"] = sent.get("authorization", "").replace(word, key)
            raw = body.replace(b"LOGIN", str(login).encode())
            if body.startswith(b"\xff\xfe"):  # UTF-16: the login spelt in it
                raw = body.decode("utf-16").replace("LOGIN", str(login)).encode("utf-16")
            answers.append(_answer(client.post(path, content=raw, headers=sent)))
        assert answers[0] == answers[1], (n, path, headers, body[:80])
    # The plainly well-formed ones took the lean handler; 16 went to FastAPI's route (a number
    # beyond int's digits, a string login, a true amount, bytes not UTF-8, a surrogate, UTF-16,
    # too deep, trailing text, null, and seven content types that are not exactly JSON's).
    assert taken == len(_HOSTILE) - 16
    a = api.get(f"/v1/users/{LEAN_LOGIN}").json()
    b = api.get(f"/v1/users/{PLAIN_LOGIN}").json()
    assert (a["balance"], a["credit"], a["bonus"]) == (b["balance"], b["credit"], b["bonus"])
    assert services.verify_ledger() == []
    assert services.verify_audit().ok


def test_the_lean_route_counts_the_rate_limit_once_and_refuses_alike(
    api: Api, plain: TestClient
) -> None:
    api.open(login=LEAN_LOGIN)
    api.open(login=PLAIN_LOGIN)
    answers: list[list[tuple[int, str, dict[str, str]]]] = []
    for client, login in ((api.client, LEAN_LOGIN), (plain, PLAIN_LOGIN)):
        client.app.state.rate_limiter = RateLimiter(3)  # type: ignore[attr-defined]
        scopes = frozenset({"balances:write"})
        key = api.runtime.app.create_api_key(CreateApiKey(1000, scopes), api.admin).secret
        sent = {"content-type": "application/json", **api.headers(key)}
        body = json.dumps({"login": login, "amount": "1.00"}).encode()
        answers.append(
            [
                _answer(client.post("/v1/balances/deposit", content=body, headers=sent))
                for _ in range(4)
            ]
        )
    assert [a[0] for a in answers[0]] == [200, 200, 200, 429]
    assert answers[0] == answers[1]


def test_a_large_body_or_an_unknown_field_is_left_to_fastapi_unread(
    api: Api, plain: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body the lean handler would refuse anyway is not parsed (nor validated) twice: a
    large one (up to the body limit, before authentication) costs FastAPI's parse only."""
    api.open(login=LEAN_LOGIN)
    api.open(login=PLAIN_LOGIN)
    looked: list[str] = []
    parse, validate = json.loads, BalanceIn.model_validate

    def loads(raw: Any) -> Any:
        looked.append("parsed")
        return parse(raw)

    def model_validate(value: Any) -> Any:
        looked.append("validated")
        return validate(value)

    monkeypatch.setattr(kit_lean, "json", SimpleNamespace(loads=loads))
    monkeypatch.setattr(BalanceIn, "model_validate", model_validate)
    junk = {f"k{n}": n for n in range(20_000)}
    bodies: list[dict[str, Any]] = [
        {"amount": "1.00", "comment": "x" * 10_000},  # refused by the core
        {"amount": "1.00", **junk},
        {"amount": "1.00", "extra": 1},
    ]
    for body in bodies:
        answers = []
        for client, login in ((api.client, LEAN_LOGIN), (plain, PLAIN_LOGIN)):
            raw = json.dumps({"login": login, **body}).encode()
            sent = {"content-type": "application/json", **api.headers()}
            answers.append(_answer(client.post("/v1/balances/deposit", content=raw, headers=sent)))
        assert answers[0] == answers[1]
        assert answers[0][0] == 400
    assert looked.count("validated") == 0
    assert looked.count("parsed") == 1  # the short body with an unknown field


def test_the_lean_routes_endpoints_check_nothing_the_lean_handler_does_not_run(api: Api) -> None:
    """The lean handler runs current_actor, validates BalanceIn and calls post_balance: a
    dependency, header, query or cookie parameter added to one of these endpoints (or to the
    router or the inclusion) would be checked by FastAPI's route only, and skipped on the lean
    one. Such a change must teach the lean handler too (or drop the lean route)."""
    from fastapi.routing import iter_route_contexts

    app: Any = api.client.app
    seen = set()
    for context in iter_route_contexts(app.router.routes):
        methods = context.methods or set()
        for method in methods:
            if (method, context.path) not in lean.HANDLERS:
                continue
            seen.add((method, context.path))
            dependant = context.dependant
            assert [d.call for d in dependant.dependencies] == [current_actor], context.path
            assert [p.name for p in dependant.body_params] == ["body"], context.path
            params = (
                dependant.query_params,
                dependant.header_params,
                dependant.cookie_params,
                dependant.path_params,
            )
            assert params == ([], [], [], []), context.path
            assert dependant.body_params[0].field_info.annotation is BalanceIn
    assert seen == set(lean.HANDLERS)
