"""The lean route of account openings (`POST /users`) answers exactly as the FastAPI route does.

The same requests go to the app (lean handler in place) and to an app built without it, over
the same database; their answers (status, body, headers), the accounts and audit records they
leave, and the metrics' labels must agree, and ordinary requests must really take the lean
handler.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from brokerplane.api.app import create_app
from brokerplane.api.native import lean_opening
from brokerplane.api.native.accounts import AccountCreate, create_user
from brokerplane.api.native.auth import current_actor
from brokerplane.core.access.commands import CreateApiKey, CreateManager, RevokeApiKey
from brokerplane.core.audit.model import AuditQuery
from tests.dialects.native.conftest import Api

# Explicit logins: the lean app's and the plain app's, below the range logins are allocated
# from (100000 up), so that they do not move the allocations.
LEAN_BASE, PLAIN_BASE = 50000, 60000
_TIMES = re.compile(r'"(registered_at|updated_at|last_pass_change)":"[^"]*"')


@pytest.fixture
def plain(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The same runtime served by an app without the lean opening."""
    with monkeypatch.context() as patched:
        patched.setattr(lean_opening, "HANDLERS", {})
        app = create_app(api.runtime)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


_OK = {"name": "Lean User", "group": "demo-usd", "leverage": 100}
_PROFILE = {
    **_OK,
    "email": "lean@example.com",
    "city": "Limassol",
    "comment": "from the CRM",
    "agent": 0,
    "rights": 0x163,
    "access_rights": "CLOSE_ONLY",
    "account_type": "NETTED",
    "attributes": {"tier": "gold"},
    "first_name": None,
}
# (path, headers, body): a dict body is sent as JSON (LOGIN+n names an explicit login n), a
# str or bytes body as it is (LOGIN in it likewise).
_CASES: list[tuple[str, dict[str, str | None], Any]] = [
    ("/v1/users", {}, _OK),
    ("/v1/users", {}, _PROFILE),
    ("/v1/users", {}, {**_OK, "login": "LOGIN+1"}),
    ("/v1/users", {}, {**_OK, "login": "LOGIN+1"}),  # taken
    ("/v1/users", {}, {**_OK, "login": 0}),
    ("/v1/users", {}, {**_OK, "login": -5}),
    ("/v1/users", {}, {**_OK, "login": 1 << 70}),
    ("/v1/users", {}, {**_OK, "main_password": "Str0ng!pw", "investor_password": "In!v3stor"}),
    ("/v1/users", {}, {**_OK, "main_password": "weak"}),
    ("/v1/users", {}, {**_OK, "phone_password": "x" * 40}),
    ("/v1/users", {}, {**_OK, "leverage": "200"}),
    ("/v1/users", {}, {**_OK, "leverage": 100_000}),
    ("/v1/users", {}, {**_OK, "leverage": "lots"}),
    ("/v1/users", {}, {**_OK, "leverage": True}),
    ("/v1/users", {}, {**_OK, "leverage": 1.5}),
    ("/v1/users", {}, {**_OK, "group": "no-such-group"}),
    ("/v1/users", {}, {**_OK, "group": "demo-eur"}),
    ("/v1/users", {}, {**_OK, "group": "real\\standard"}),
    ("/v1/users", {}, {**_OK, "group": 5}),
    ("/v1/users", {}, {**_OK, "group": "  "}),
    ("/v1/users", {}, {"group": "demo-usd", "leverage": 100}),  # no name
    ("/v1/users", {}, {**_OK, "name": "n" * 300}),
    ("/v1/users", {}, {**_OK, "name": "a\u0000b"}),
    ("/v1/users", {}, {**_OK, "email": "not an email"}),
    ("/v1/users", {}, {**_OK, "access_rights": "EVERYTHING"}),
    ("/v1/users", {}, {**_OK, "attributes": {"tier": 1}}),
    ("/v1/users", {}, {**_OK, "attributes": {"": "x"}}),
    ("/v1/users", {}, {**_OK, "balance": "100.00"}),  # read-only: FastAPI's route
    ("/v1/users", {}, {**_OK, "user_id": 7}),
    ("/v1/users", {}, {**_OK, "extra": 1}),
    ("/v1/users", {}, {**_OK, "comment": "c" * 9000}),  # over the lean bound
    ("/v1/users", {}, '{"name": "a", "name": "b", "group": "demo-usd", "leverage": 100}'),
    ("/v1/users", {}, '{"name": "a", "group": "demo-usd", "leverage": NaN}'),
    ("/v1/users", {}, '{"name": "\\ud800", "group": "demo-usd", "leverage": 100}'),
    ("/v1/users", {}, '{"name": "\\u00e9t\\u00e9", "group": "demo-usd", "leverage": 100}'),
    ("/v1/users", {}, b'{"name": "\xe9", "group": "demo-usd", "leverage": 100}'),
    ("/v1/users", {}, "not json"),
    ("/v1/users", {}, "[1, 2]"),
    ("/v1/users", {}, "null"),
    ("/v1/users", {}, ""),
    ("/v1/users", {}, json.dumps(_OK) + " trailing"),
    ("/v1/users", {"content-type": "text/plain"}, _OK),
    ("/v1/users", {"content-type": "application/json; charset=utf-8"}, _OK),
    ("/v1/users", {"content-type": "application/vnd.api+json"}, _OK),
    ("/v1/users", {"content-type": None}, _OK),
    ("/v1/users", {"authorization": None}, _OK),
    ("/v1/users", {"authorization": "Bearer nope"}, _OK),
    ("/v1/users", {"authorization": "Bearer nope"}, "not json"),
    ("/v1/users", {"authorization": "Basic x"}, _OK),
    ("/v1/users", {"authorization": "Bearer READONLY"}, _OK),
    ("/v1/users", {"authorization": "Bearer NARROW"}, _OK),
    ("/v1/users", {"authorization": "Bearer NARROW"}, {**_OK, "group": "demo-eur"}),
    ("/v1/users", {"authorization": "Bearer REVOKED"}, _OK),
    ("/v1/users", {"x-request-id": "open-1"}, {**_OK, "name": "Keyed"}),
    ("/v1/users", {"x-request-id": "open-1"}, {**_OK, "name": "Keyed"}),  # a replay
    (
        "/v1/users",
        {"x-request-id": "open-1"},
        {"leverage": 100, "group": "demo-usd", "name": "Keyed"},  # reordered: a replay
    ),
    ("/v1/users", {"x-request-id": "open-1"}, {**_OK, "name": "Another"}),  # a conflict
    ("/mt4/manager/users", {"x-request-id": "open-1"}, {**_OK, "name": "Keyed"}),  # the same
    ("/v1/users", {"idempotency-key": "k-open"}, {**_OK, "main_password": "Str0ng!pw"}),
    ("/v1/users", {"idempotency-key": "k-open"}, {**_OK, "main_password": "Str0ng!pw"}),
    ("/v1/users?x=1", {"idempotency-key": "k-open"}, {**_OK, "main_password": "Str0ng!pw"}),
    (
        "/v1/users",
        {"idempotency-key": "k-open", "authorization": "Bearer READONLY"},
        {**_OK, "main_password": "Str0ng!pw"},
    ),
    ("/v1/users", {"idempotency-key": "k" * 300}, _OK),
    ("/v1/users", {"x-operator-id": "o" * 300}, _OK),
    ("/v1/users/", {}, _OK),  # redirected (307), then sent again to /v1/users
    ("/mt4/manager/users", {}, {**_OK, "login": "LOGIN+2"}),
]
# Those the lean handler leaves to FastAPI's route (nothing of them checked or counted there):
# five bodies AccountCreate refuses (a wrong type four times, no name), three fields it does
# not declare, one body over the lean bound, nine bodies that are not plainly JSON (NaN, a
# surrogate, bytes not UTF-8, not JSON twice, a list, null, empty, trailing text) and three
# content types that are not exactly JSON's. (`/v1/users/` is redirected to `/v1/users`,
# which the lean handler takes.)
_TO_FASTAPI = 21


def _raw(body: Any, base: int) -> bytes:
    if isinstance(body, dict):
        sent = {
            k: base + int(v[len("LOGIN+") :])
            if isinstance(v, str) and v.startswith("LOGIN+")
            else v
            for k, v in body.items()
        }
        return json.dumps(sent).encode()
    raw = body.encode() if isinstance(body, str) else body
    return raw.replace(b"LOGIN", str(base).encode())


def _answer(response: Any) -> tuple[int, str, dict[str, str]]:
    text = re.sub(r'"login":\d+', '"login":N', response.text)
    text = re.sub(r"(account|login) \d+", r"\1 N", text)
    text = _TIMES.sub(r'"\1":"T"', text)
    text = re.sub(r"req_[0-9a-f]+", "REQ", text)
    text = re.sub(r"(open-1|k-open|k+)-[ab]\b", r"\1", text)
    skip = ("date", "content-length", "x-request-id")
    return response.status_code, text, {k: v for k, v in response.headers.items() if k not in skip}


def _opened(api: Api) -> dict[str, list[dict[str, Any]]]:
    """The `account.opened` audit records, as a reader compares them (logins, times aside):
    those of the lean app's explicit logins, the plain app's, and the allocated ones."""
    services = api.runtime.app
    records = services.query_audit(AuditQuery(action="account.opened", limit=1000), api.admin)
    out: dict[str, list[dict[str, Any]]] = {"lean": [], "plain": [], "allocated": []}
    for rec in records:
        login = int(rec.entity_id)
        after = dict(rec.after or {})
        for name in ("login", "registered_at", "updated_at", "last_pass_change"):
            after.pop(name, None)
        side = "allocated"
        if LEAN_BASE <= login < LEAN_BASE + 100:
            side = "lean"
        elif PLAIN_BASE <= login < PLAIN_BASE + 100:
            side = "plain"
        out[side].append({"after": after, "request_id": bool(rec.request_id)})
    return out


def test_the_lean_opening_answers_every_request_as_the_fastapi_route(
    api: Api, plain: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = api.runtime.app
    services.create_manager(CreateManager(1001, "EUR desk", group_mask="demo-eur"), api.admin)
    narrow = services.create_api_key(CreateApiKey(1001, frozenset({"users:write"})), api.admin)
    revoked = services.create_api_key(CreateApiKey(1000, frozenset({"users:write"})), api.admin)
    services.revoke_api_key(RevokeApiKey(revoked.key.id), api.admin)
    names = {
        "READONLY": api.key("users:read"),
        "NARROW": narrow.secret,
        "REVOKED": revoked.secret,
    }
    taken = 0

    async def counted(request: Any) -> Any:
        nonlocal taken
        taken += 1
        return await current_actor(request)

    monkeypatch.setattr(lean_opening, "current_actor", counted)
    lean_client = TestClient(api.client.app, raise_server_exceptions=False)
    for n, (path, headers, body) in enumerate(_CASES):
        answers = []
        for client, base, salt in ((lean_client, LEAN_BASE, "-a"), (plain, PLAIN_BASE, "-b")):
            sent: dict[str, str] = {
                "content-type": "application/json",
                "authorization": f"Bearer {api.admin_key}",
            }
            for name, value in headers.items():
                if value is None:
                    del sent[name]
                    continue
                keyed = name in ("x-request-id", "idempotency-key") and len(value) < 100
                sent[name] = value + salt if keyed else value
            for word, key in names.items():
                if "authorization" in sent:
                    sent["authorization"] = sent["authorization"].replace(word, key)
            response = client.post(path, content=_raw(body, base), headers=sent)
            answers.append(_answer(response))
        assert answers[0] == answers[1], (n, path, headers, body)
    assert taken == len(_CASES) - _TO_FASTAPI
    # The accounts and their audit records are alike (allocated logins alternate sides).
    opened = _opened(api)
    assert opened["lean"] == opened["plain"] and len(opened["lean"]) == 2
    allocated = opened["allocated"]
    assert allocated[0::2] == allocated[1::2]  # each case opened once on each side, in turn
    assert len(allocated) >= 16
    for side in (LEAN_BASE, PLAIN_BASE):
        a, b = api.get(f"/v1/users/{side + 1}").json(), api.get(f"/v1/users/{side + 2}").json()
        assert a["name"] == b["name"] == "Lean User"
    assert services.verify_audit().ok


def test_metrics_and_access_name_the_lean_opening_by_its_route(api: Api, plain: TestClient) -> None:
    for client in (api.client, plain):
        for path in ("/v1/users", "/mt4/manager/users"):
            answer = client.post(path, json=_OK, headers=api.headers())
            assert answer.status_code == 201, answer.text
        assert client.post("/v1/users", json={}, headers=api.headers()).status_code == 400
    lines = []
    for client in (api.client, plain):
        metrics = client.app.state.metrics.render()  # type: ignore[attr-defined]
        lines.append(
            sorted(
                line
                for line in metrics.splitlines()
                if line.startswith("brokerplane_http_requests_total{") and "users" in line
            )
        )
    assert lines[0] == lines[1]
    assert any('route="/v1/users"' in line and 'status="201"' in line for line in lines[0])
    assert any('route="/mt4/manager/users"' in line for line in lines[0])


def test_the_opening_endpoint_checks_nothing_the_lean_handler_does_not_run(api: Api) -> None:
    """The lean handler runs current_actor, validates AccountCreate and calls create_user: a
    dependency, header, query or cookie parameter added to that endpoint (or its router)
    would be checked by FastAPI's route only. Such a change must teach the lean handler too
    (or drop the lean route)."""
    from fastapi.routing import iter_route_contexts

    app: Any = api.client.app
    seen = set()
    for context in iter_route_contexts(app.router.routes):
        for method in context.methods or set():
            if (method, context.path) not in lean_opening.HANDLERS:
                continue
            seen.add((method, context.path))
            dependant = context.dependant
            assert dependant.call is create_user
            assert [d.call for d in dependant.dependencies] == [current_actor], context.path
            assert [p.name for p in dependant.body_params] == ["body"], context.path
            params = (
                dependant.query_params,
                dependant.header_params,
                dependant.cookie_params,
                dependant.path_params,
            )
            assert params == ([], [], [], []), context.path
            assert dependant.body_params[0].field_info.annotation is AccountCreate
    assert seen == set(lean_opening.HANDLERS)
