"""Limits and secrets: per-key rate limits, failed logins counted and logged without the secret,
no secret or password anywhere after a realistic session, request and operator ids. Both engines.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from brokerplane.api.app import create_app
from brokerplane.api.native.auth import RateLimiter
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import (
    CreateApiKey,
    CreateManager,
    RevokeApiKey,
    UpdateManager,
)
from brokerplane.core.errors import RateLimited
from brokerplane.storage import tables
from tests.dialects.native.conftest import Api

LOGIN = 910024
OPS = 3000  # the manager of the realistic session


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextmanager
def _app_with(api: Api, **settings: Any) -> Iterator[TestClient]:
    """A second app over the same database and core, with some settings changed."""
    rt = api.runtime
    changed = Runtime(rt.settings.model_copy(update=settings), rt.storage, rt.app)
    with TestClient(create_app(changed)) as client:
        yield client


def _tail(secret: str) -> str:
    """The secret part of a key, after bpk_<prefix>_."""
    return secret.split("_", 2)[2]


# ---- rate limits -------------------------------------------------------------------------------


def test_the_request_past_a_keys_limit_is_429_with_retry_after(api: Api) -> None:
    api.open(login=LOGIN)
    busy, calm = api.key("users:read", "balances:write"), api.key("users:read")
    with _app_with(api, rate_limit_per_minute=3) as client:
        assert client.app.state.rate_limiter.per_minute == 3  # type: ignore[attr-defined]
        for _ in range(3):
            assert client.get("/v1/groups", headers=_auth(busy)).status_code == 200
        limited = client.post(
            "/v1/balances/deposit",
            json={"login": LOGIN, "amount": "5"},
            headers={**_auth(busy), "x-request-id": "over-1"},
        )
        assert limited.status_code == 429, limited.text
        problem = limited.json()
        assert (problem["title"], problem["code"]) == ("TooManyRequests", "auth.rate_limited")
        assert problem["request_id"] == limited.headers["x-request-id"] == "over-1"
        assert 1 <= int(limited.headers["retry-after"]) <= 20  # a token every 20 s at 3/min
        for _ in range(3):  # other keys keep their own allowance
            assert client.get("/v1/groups", headers=_auth(calm)).status_code == 200
        assert client.get("/v1/groups", headers=_auth(busy)).status_code == 429
    assert api.get(f"/v1/users/{LOGIN}").json()["balance"] == "0.00"  # the 429 changed nothing
    assert api.get("/v1/balances/history").json()["items"] == []


def test_a_limit_of_zero_turns_the_rate_limit_off(api: Api) -> None:
    key = api.key("users:read")
    with _app_with(api, rate_limit_per_minute=1) as client:
        assert client.get("/v1/groups", headers=_auth(key)).status_code == 200
        assert client.get("/v1/groups", headers=_auth(key)).status_code == 429
    with _app_with(api, rate_limit_per_minute=0) as client:
        statuses = {client.get("/v1/groups", headers=_auth(key)).status_code for _ in range(30)}
        assert statuses == {200}


def test_the_default_limit_comes_from_the_settings(api: Api) -> None:
    limiter = api.client.app.state.rate_limiter  # type: ignore[attr-defined]
    assert limiter.per_minute == api.runtime.settings.rate_limit_per_minute == 600


class _Seconds:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_limited_key_is_told_how_long_to_wait_and_may_go_on_after_it() -> None:
    seconds = _Seconds()
    limiter = RateLimiter(2, clock=seconds)
    limiter.check("k1")
    limiter.check("k1")
    with pytest.raises(RateLimited) as refused:
        limiter.check("k1")
    assert refused.value.context["retry_after"] == 30  # 2 a minute: one token each 30 s
    limiter.check("k2")  # another key has its own bucket
    seconds.now += 29
    with pytest.raises(RateLimited):
        limiter.check("k1")
    seconds.now += 1
    limiter.check("k1")


# ---- failed authentications -----------------------------------------------------------------


def test_failed_authentications_are_counted_by_reason_and_logged_with_the_prefix_only(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="brokerplane.auth")
    services = api.runtime.app
    services.create_manager(CreateManager(OPS, "Ops", rights=frozenset({"users:read"})), api.admin)
    real = api.key("users:read")
    revoked = services.create_api_key(CreateApiKey(1000, frozenset({"users:read"})), api.admin)
    services.revoke_api_key(RevokeApiKey(revoked.key.id), api.admin)
    disabled = services.create_api_key(CreateApiKey(OPS, frozenset({"users:read"})), api.admin)
    services.update_manager(UpdateManager(OPS, enabled=False), api.admin)
    prefix = real.split("_")[1]
    wrong_tail = "WrongSecretPart" + "x" * 30
    attempts = [  # (Authorization header or None, reason, prefix logged, secret never logged)
        (None, "no credential", "-", None),
        ("Basic dXNlcjpzM2NyZXQ=", "not a bearer credential", "-", "dXNlcjpzM2NyZXQ="),
        (
            "Bearer garbage-token-never-logged",
            "the bearer key is malformed",
            "-",
            "garbage-token-never-logged",
        ),
        (
            "Bearer bpk_00ff00ff00ff_UnknownKeySecret",
            "the bearer key is not valid",
            "00ff00ff00ff",
            "UnknownKeySecret",
        ),
        (f"Bearer bpk_{prefix}_{wrong_tail}", "the bearer key is not valid", prefix, wrong_tail),
        (
            f"Bearer {revoked.secret}",
            "the bearer key has been revoked",
            revoked.key.prefix,
            _tail(revoked.secret),
        ),
        (
            f"Bearer {disabled.secret}",
            "the key's manager is disabled",
            disabled.key.prefix,
            _tail(disabled.secret),
        ),
    ]
    assert api.get("/v1/groups", key=real).status_code == 200  # success is neither
    for header, *_ in attempts:
        headers = {"Authorization": header} if header else {}
        response = api.client.get("/v1/groups", headers=headers)
        assert response.status_code == 401, (header, response.text)
    counts = api.client.app.state.auth_failures.counts  # type: ignore[attr-defined]
    assert counts == Counter(reason for _, reason, _, _ in attempts)
    logged = [r for r in caplog.records if r.name == "brokerplane.auth"]
    assert len(logged) == len(attempts)
    for record, (_, reason, shown, secret) in zip(logged, attempts, strict=True):
        message = record.getMessage()
        assert record.levelno == logging.WARNING
        assert reason in message and f"key prefix {shown}," in message, message
        if secret is not None:
            assert secret not in message and secret not in caplog.text
    assert _tail(real) not in caplog.text


# ---- no secret anywhere ---------------------------------------------------------------------

MANAGER_PASSWORD = "Mgr-Plain#Pw-0417"
MANAGER_NEW_PASSWORD = "Mgr-Changed#Pw-0923"
FIXTURE_MANAGER_PASSWORD = "Manag3r!pw"  # tests/dialects/native/conftest.py
MAIN_PASSWORD = "MainPw#7731x"
INVESTOR_PASSWORD = "InvPw#5521y"
PHONE_PASSWORD = "PhonePw#1905z"
REFUSED_PASSWORD = "NoDigits#Here"  # fails the policy: must not be echoed or logged either
BAD_BODY_PASSWORD = "BadBody#Pw4410"  # sent with a malformed body


def _all_audit(api: Api) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = api.get("/v1/audit", params=params).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def _table_text(api: Api) -> dict[str, str]:
    """Every row of every table, as text, by table name."""
    with api.runtime.storage.engine.connect() as conn:
        return {
            name: "\n".join(repr(dict(r)) for r in conn.execute(select(table)).mappings())
            for name, table in tables.metadata.tables.items()
        }


def test_a_realistic_session_leaves_no_secret_or_password_in_logs_audit_or_tables(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, and SQL with its parameters:
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # SQLAlchemy holds its own at WARN
    services = api.runtime.app
    rights = frozenset({"users:read", "users:write", "balances:write", "reports:read"})
    services.create_manager(CreateManager(OPS, "Ops", MANAGER_PASSWORD, rights), api.admin)
    services.update_manager(UpdateManager(OPS, password=MANAGER_NEW_PASSWORD), api.admin)

    # keys: an admin provisions the ops manager, which makes its own worker key and rotates it
    body = {"scopes": sorted(rights), "manager_login": OPS, "name": "ops"}
    made = api.post("/v1/keys", body, headers={"Idempotency-Key": "ops-key"})
    assert made.status_code == 201, made.text
    ops = made.json()["key"]
    assert api.post("/v1/keys", body, headers={"Idempotency-Key": "ops-key"}).json()["key"] is None
    worker = api.post("/v1/keys", {"scopes": ["balances:write"]}, key=ops).json()
    rotated = api.post(
        f"/v1/keys/{worker['id']}/rotate", key=ops, headers={"x-request-id": "rotate-worker"}
    )
    assert rotated.status_code == 201, rotated.text
    new_worker = rotated.json()["key"]

    # an account with passwords, money, reads and exports
    user = {
        "name": "Ada Client",
        "group": "demo-usd",
        "leverage": 100,
        "email": "ada@example.com",
        "main_password": MAIN_PASSWORD,
        "investor_password": INVESTOR_PASSWORD,
        "phone_password": PHONE_PASSWORD,
    }
    traced = {"Idempotency-Key": "open-ada", "x-operator-id": "crm-1"}
    opened = api.post("/v1/users", user, key=ops, headers=traced)
    assert opened.status_code == 201, opened.text
    login = opened.json()["login"]
    policy = api.post("/v1/users", {**user, "main_password": REFUSED_PASSWORD}, key=ops)
    malformed = api.post(
        "/v1/users", {**user, "leverage": "lots", "main_password": BAD_BODY_PASSWORD}, key=ops
    )
    assert policy.status_code == 400 and malformed.status_code == 400
    for amount, key in (("250", worker["key"]), ("100", new_worker)):
        deposit = api.post("/v1/balances/deposit", {"login": login, "amount": amount}, key=key)
        assert deposit.status_code == 200, deposit.text
    reads = [
        opened,
        policy,
        malformed,
        api.get(f"/v1/users/{login}", key=ops),
        api.get(f"/v1/users/{login}/history", key=ops),
        api.get("/v1/reports/users?format=csv", key=ops),
        api.get("/v1/balances/history", key=ops),
        api.get("/v1/keys", key=ops),
        api.get("/v1/keys"),
    ]

    # the old worker key is revoked and tried; a wrong secret with a real prefix is tried
    assert api.client.delete(f"/v1/keys/{worker['id']}", headers=_auth(ops)).status_code == 200
    assert api.get("/v1/groups", key=worker["key"]).status_code == 401
    forged = f"bpk_{ops.split('_')[1]}_ForgedSecretTail0123456789"
    assert api.get("/v1/groups", key=forged).status_code == 401

    secrets = {
        "admin key": api.admin_key,
        "ops key": ops,
        "worker key": worker["key"],
        "rotated worker key": new_worker,
        "forged secret": forged,
        "manager password": MANAGER_PASSWORD,
        "new manager password": MANAGER_NEW_PASSWORD,
        "fixture manager password": FIXTURE_MANAGER_PASSWORD,
        "main password": MAIN_PASSWORD,
        "investor password": INVESTOR_PASSWORD,
        "phone password": PHONE_PASSWORD,
        "refused password": REFUSED_PASSWORD,
        "malformed-body password": BAD_BODY_PASSWORD,
    }
    needles = {
        name: [s] + ([_tail(s)] if s.startswith("bpk_") else []) for name, s in secrets.items()
    }
    audit = _all_audit(api)
    rows = _table_text(api)
    haystacks = {
        "logs": caplog.text
        + "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records),
        "GET /v1/audit": repr(audit),
        "responses other than the key answers": "\n".join(r.text for r in reads),
        **{f"table {name}": text for name, text in rows.items()},
    }
    found = [
        f"{name} in {where}"
        for name, values in needles.items()
        for where, hay in haystacks.items()
        for value in values
        if value in hay
    ]
    assert found == []
    # the haystacks hold what they should: the session is there, just not its secrets
    actions = {r["action"] for r in audit}
    assert {
        "manager.created",
        "manager.updated",
        "api_key.created",
        "api_key.rotated",
        "api_key.revoked",
        "account.opened",
        "ledger.entry_posted",
    } <= actions
    assert "native authentication failed" in haystacks["logs"]
    assert "INSERT INTO api_keys" in haystacks["logs"]  # SQL and its parameters were logged
    assert ops.split("_")[1] in haystacks["logs"]  # the failed forgery names the prefix
    assert "rotate-worker" in rows["idempotency_records"]  # replays were stored, keyless
    assert "ops-key" in rows["idempotency_records"]
    assert "'password': 'changed'" in repr(audit)
    assert '"mt5"' in rows["managers"] or "'mt5'" in rows["managers"]


# ---- request and operator ids ---------------------------------------------------------------


def test_the_request_id_is_echoed_on_every_kind_of_response(api: Api) -> None:
    api.open(login=LOGIN)
    reader = api.key("users:read")
    user = {"name": "B", "group": "demo-usd", "leverage": 100}
    calls: list[tuple[str, str, dict[str, Any], Any, int]] = [
        ("GET", "/v1/groups", {}, None, 200),
        ("GET", "/mt4/manager/groups", {}, None, 200),
        ("POST", "/v1/users", {}, user, 201),
        ("GET", "/v1/reports/users?format=csv", {}, None, 200),
        ("POST", "/v1/users", {}, {"name": "B"}, 400),
        ("GET", "/v1/users", {"Authorization": "Bearer nope"}, None, 401),
        ("POST", "/v1/groups", _auth(reader), {"name": "g", "currency": "USD"}, 403),
        ("GET", "/v1/users/999999", {}, None, 404),
        ("GET", "/v1/nothing-here", {}, None, 404),
        ("GET", "/nothing-at-all", {}, None, 404),
        ("DELETE", "/v1/groups", {}, None, 405),
        ("POST", "/v1/users", {}, {**user, "login": LOGIN}, 409),
        ("GET", "/health", {}, None, 200),
        ("GET", "/ready", {}, None, 200),
        ("GET", "/openapi.json", {}, None, 200),
    ]
    for n, (method, path, headers, body, status) in enumerate(calls):
        rid = f"req-echo-{n}"
        sent = {**api.headers(), **headers, "x-request-id": rid}
        response = api.client.request(method, path, json=body, headers=sent)
        assert response.status_code == status, (path, response.text)
        assert response.headers["x-request-id"] == rid, path
        if status >= 400:
            assert response.json()["request_id"] == rid, path
    with _app_with(api, rate_limit_per_minute=1) as client:
        client.get("/v1/groups", headers=_auth(reader))
        limited = client.get("/v1/groups", headers={**_auth(reader), "x-request-id": "req-429"})
        assert limited.status_code == 429 and limited.headers["x-request-id"] == "req-429"
    long_id = "r" * 200
    echoed = api.get("/v1/groups", headers={"x-request-id": long_id})
    assert echoed.headers["x-request-id"] == long_id[:127]
    generated = api.client.get("/v1/users/1")  # no key, no id: a generated id, in body too
    assert generated.headers["x-request-id"] == generated.json()["request_id"] != ""


def test_the_request_id_is_echoed_on_an_unexpected_errors_500_too(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("an unexpected failure")

    monkeypatch.setattr(api.runtime.app, "list_groups", broken)
    client = TestClient(api.client.app, raise_server_exceptions=False)
    response = client.get("/v1/groups", headers={**api.headers(), "x-request-id": "req-500"})
    assert response.status_code == 500 and response.json()["request_id"] == "req-500"
    assert response.headers.get("x-request-id") == "req-500"


def test_the_operator_id_is_recorded_in_the_audit_of_every_write(api: Api) -> None:
    api.open(login=LOGIN)
    spare = api.runtime.app.create_api_key(
        CreateApiKey(1000, frozenset({"users:read"})), api.admin
    ).key.id
    doomed = api.runtime.app.create_api_key(
        CreateApiKey(1000, frozenset({"users:read"})), api.admin
    ).key.id
    writes: list[tuple[str, str, Any]] = [
        ("POST", "/v1/users", {"name": "C", "group": "demo-usd", "leverage": 100}),
        ("PATCH", f"/v1/users/{LOGIN}", {"leverage": 200}),
        ("POST", f"/v1/users/{LOGIN}/disable", {"reason": "kyc"}),
        ("POST", f"/v1/users/{LOGIN}/enable", None),
        ("POST", "/v1/balances/deposit", {"login": LOGIN, "amount": "10"}),
        ("POST", "/v1/groups", {"name": "ops-made", "currency": "USD"}),
        ("PATCH", "/v1/groups/demo-usd", {"max_leverage": 300}),
        ("POST", "/v1/symbols", {"name": "GBPUSD"}),
        ("PUT", "/v1/approval-thresholds", {"currency": "USD", "amount": "5000"}),
        ("POST", "/v1/keys", {"scopes": ["users:read"]}),
        ("POST", f"/v1/keys/{spare}/rotate", None),
        ("DELETE", f"/v1/keys/{doomed}", None),
    ]
    for n, (method, path, body) in enumerate(writes):
        headers = {**api.headers(), "x-operator-id": f"operator-{n}", "x-request-id": f"w-{n}"}
        response = api.client.request(method, path, json=body, headers=headers)
        assert response.status_code in (200, 201), (path, response.text)
    for n, (method, path, _) in enumerate(writes):
        records = api.get("/v1/audit", params={"request_id": f"w-{n}"}).json()["items"]
        assert records, f"{method} {path} left no audit record"
        assert {r["operator_id"] for r in records} == {f"operator-{n}"}, (method, path)
        assert {r["manager_login"] for r in records} == {1000}
        by_operator = api.get("/v1/audit", params={"operator_id": f"operator-{n}"}).json()
        assert [r["id"] for r in by_operator["items"]] == [r["id"] for r in records]
    with api.runtime.storage.engine.connect() as conn:
        stored = conn.execute(
            select(tables.audit_records.c.operator_id).where(
                tables.audit_records.c.request_id == "w-0"
            )
        ).scalars()
        assert list(stored) == ["operator-0"]
    unnamed = api.post(
        "/v1/balances/deposit", {"login": LOGIN, "amount": "1"}, headers={"x-request-id": "w-none"}
    )
    assert unnamed.status_code == 200
    records = api.get("/v1/audit", params={"request_id": "w-none"}).json()["items"]
    assert [r["operator_id"] for r in records] == [None]


# ---- the body limit ---------------------------------------------------------------------------

OVER_A_MIB = b'{"login": 1, "name": "' + b"x" * (1 << 20) + b'"}'


def _chunks(total: int, size: int = 65536) -> Iterator[bytes]:
    """A body sent chunked: no Content-Length for the server to refuse on sight."""
    for _ in range(total // size):
        yield b" " * size


def test_a_body_over_the_limit_is_413_problem_json_before_any_authentication(api: Api) -> None:
    for path in ("/v1/users", "/mt4/manager/users", "/v1/balances/deposit"):
        response = api.client.post(
            path, content=OVER_A_MIB, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["connection"] == "close"
        body = response.json()
        assert (body["title"], body["code"]) == ("PayloadTooLarge", "http.body_too_large")
        assert body["detail"] == "the request body is larger than 1 MiB"
        assert body["request_id"] == response.headers["x-request-id"]
    chunked = api.client.post("/v1/users", content=_chunks(2 << 20))
    assert chunked.status_code == 413, chunked.text
    assert chunked.json()["code"] == "http.body_too_large"


def test_the_body_limit_comes_from_the_settings(api: Api) -> None:
    with _app_with(api, max_body_bytes=4 << 20) as client:
        # past the default 1 MiB but within 4 MiB: read, then refused for what it is (no key)
        response = client.post(
            "/v1/users", content=OVER_A_MIB, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 401, response.text
    with _app_with(api, max_body_bytes=1024) as client:
        key = api.key("users:write")
        response = client.post("/v1/users", json={"name": "x" * 1024}, headers=_auth(key))
        assert response.status_code == 413
        assert response.json()["detail"] == "the request body is larger than 1 KiB"
