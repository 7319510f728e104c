"""Sign-in, refresh and bearer tokens (stored hashed, ended by a new password), the error body
with dotted codes on every failure, unknown paths and methods, 406 and the 429 rate limit."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from brokerplane import bootstrap
from brokerplane.api.app import create_app
from brokerplane.api.traderevolution.errors import ERROR_TABLE
from brokerplane.cli.main import main
from brokerplane.core.access.commands import CreateManager, UpdateManager
from brokerplane.core.actor import SCOPES, system_actor
from brokerplane.core.backoffice.model import BackofficeToken
from brokerplane.core.errors import all_error_classes
from brokerplane.settings import Settings
from brokerplane.storage import tables
from brokerplane.storage.repositories.backoffice import SqlBackoffice
from tests.dialects.traderevolution.conftest import BASE, MANAGER, PASSWORD, TE, sign_in
from tests.e2e.test_money_server import _serving as serving

DOTTED = re.compile(r"^\d+(\.\d+){3}$")


def test_every_core_error_class_has_a_status_and_a_dotted_code() -> None:
    missing = [cls.__name__ for cls in all_error_classes() if cls not in ERROR_TABLE]
    assert missing == []
    for status, code in ERROR_TABLE.values():
        assert 400 <= status < 600 and DOTTED.match(code), code


def test_sign_in_answers_both_tokens_and_their_lifetimes(te: TE) -> None:
    body = sign_in(te.client, str(MANAGER), PASSWORD).json()

    assert set(body) == {
        "accessToken",
        "refreshToken",
        "accessTokenLifeTime",
        "refreshTokenLifeTime",
    }
    assert (body["accessTokenLifeTime"], body["refreshTokenLifeTime"]) == (3600, 86400)
    assert body["accessToken"] != te.token  # every sign-in is a new session
    assert te.get("/userGroups", token=body["accessToken"]).status_code == 200
    assert te.get("/userGroups").status_code == 200  # the first session still works


def test_the_database_keeps_only_hashes_of_the_tokens(te: TE) -> None:
    with te.runtime.storage.engine.connect() as conn:
        rows = conn.execute(select(tables.backoffice_tokens)).all()

    assert {(r.kind, r.principal, r.principal_id) for r in rows} == {
        ("access", "manager", MANAGER),
        ("refresh", "manager", MANAGER),
    }
    assert all(te.token not in str(tuple(r)) and te.refresh not in str(tuple(r)) for r in rows)


@pytest.mark.parametrize(
    ("login", "password"),
    [
        (MANAGER, "not the password"),
        (999, PASSWORD),
        ("nobody", PASSWORD),
        (None, PASSWORD),
        (MANAGER, None),
        (True, PASSWORD),
        ([MANAGER], PASSWORD),
        (MANAGER, 12345678),
    ],
)
def test_wrong_or_malformed_credentials_are_1_2_0_11(
    te: TE, login: object, password: object
) -> None:
    response = te.client.post(BASE + "/auth/token", json={"login": login, "password": password})
    assert te.error(response, 401) == "1.2.0.11"


def test_a_body_that_is_not_a_json_object_is_400(te: TE) -> None:
    for content in (b"", b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"):
        response = te.client.post(BASE + "/auth/token", content=content)
        assert te.error(response, 400) == "1.0.0.1", content


def test_calls_need_a_live_bearer_token(te: TE) -> None:
    plain = te.client.get(BASE + "/users")
    assert te.error(plain, 401) == "1.2.0.1"
    for header in ("Basic abc", "Bearer", "Bearer    ", te.token):
        response = te.client.get(BASE + "/users", headers={"Authorization": header})
        assert te.error(response, 401) == "1.2.0.1", header
    assert te.error(te.get("/users", token="0" * 43), 401) == "1.2.0.1"
    assert te.error(te.get("/users", token=te.refresh), 401) == "1.2.0.1"  # not an access token


def test_an_expired_access_token_is_refused_and_refresh_gives_a_new_pair(te: TE) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    with te.runtime.storage.engine.begin() as conn:
        tokens = tables.backoffice_tokens
        conn.execute(update(tokens).where(tokens.c.kind == "access").values(expires_at=past))
    assert te.error(te.get("/users"), 401) == "1.2.0.1"

    fresh = te.client.get(BASE + "/auth/token/refresh", headers={"token": te.refresh})

    pair = te.ok(fresh)
    assert te.get("/users", token=pair["accessToken"]).status_code == 200
    again = te.client.get(BASE + "/auth/token/refresh", headers={"token": te.refresh})
    assert te.error(again, 401) == "1.2.0.1"  # a refresh token works once


# A race between connections: on PostgreSQL each refresh got a session once (b19d1ae).
@pytest.mark.engines("sqlite", "postgres")
def test_one_refresh_token_sent_15_times_at_once_gives_exactly_one_session(
    te: TE, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = threading.Barrier(15)
    read_token = SqlBackoffice.get_token

    def slow_read(self: SqlBackoffice, token_hash: str) -> BackofficeToken | None:
        found = read_token(self, token_hash)
        time.sleep(0.2)  # a slow database: every refresh has read the token before one commits
        return found

    monkeypatch.setattr(SqlBackoffice, "get_token", slow_read)

    def refresh(base: str) -> int:
        with httpx.Client(base_url=base, timeout=30) as http:  # a connection of its own
            start.wait(timeout=30)
            answer = http.get(BASE + "/auth/token/refresh", headers={"token": te.refresh})
            return answer.status_code

    with serving(te.runtime) as base, ThreadPoolExecutor(15) as pool:
        statuses = sorted(pool.map(refresh, [base] * 15))
    assert statuses == [200] + [401] * 14
    with te.runtime.storage.engine.connect() as conn:
        tokens = tables.backoffice_tokens
        sessions = conn.execute(select(tokens.c.session_id).distinct()).all()
    assert len(sessions) == 1  # the sign-in's session was replaced by the one refresh


def test_the_refresh_token_may_come_as_bearer_or_in_the_body(te: TE) -> None:
    by_bearer = te.client.get(
        BASE + "/auth/token/refresh", headers={"Authorization": f"Bearer {te.refresh}"}
    )
    pair = te.ok(by_bearer)
    assert te.error(te.get("/users"), 401) == "1.2.0.1"  # the old pair ended
    by_body = te.client.request(
        "GET", BASE + "/auth/token/refresh", json={"refreshToken": pair["refreshToken"]}
    )
    assert set(te.ok(by_body)) == {
        "accessToken",
        "refreshToken",
        "accessTokenLifeTime",
        "refreshTokenLifeTime",
    }
    missing = te.client.get(BASE + "/auth/token/refresh")
    assert te.error(missing, 401) == "1.2.0.1"
    access = te.client.get(BASE + "/auth/token/refresh", headers={"token": pair["accessToken"]})
    assert te.error(access, 401) == "1.2.0.1"


def test_a_new_password_or_a_disabled_manager_ends_the_sessions(te: TE) -> None:
    te.services.update_manager(UpdateManager(MANAGER, password="Changed#2024"), te.admin)
    assert te.error(te.get("/users"), 401) == "1.2.0.1"
    refreshed = te.client.get(BASE + "/auth/token/refresh", headers={"token": te.refresh})
    assert te.error(refreshed, 401) == "1.2.0.1"
    assert te.error(sign_in(te.client, MANAGER, PASSWORD), 401) == "1.2.0.11"
    token = te.ok(sign_in(te.client, MANAGER, "Changed#2024"))["accessToken"]
    assert te.get("/users", token=token).status_code == 200

    te.services.update_manager(UpdateManager(MANAGER, enabled=False), te.admin)

    assert te.error(te.get("/users", token=token), 401) == "1.2.0.1"
    assert te.error(sign_in(te.client, MANAGER, "Changed#2024"), 401) == "1.2.0.11"


@pytest.mark.parametrize("change", [("set-password", "--password", "N3w#Passw0rd"), ("disable",)])
def test_a_password_set_or_a_disable_with_the_cli_deletes_the_managers_tokens(
    te: TE, database_url: str, change: tuple[str, ...]
) -> None:
    args = ["manager", change[0], "--database-url", database_url, str(MANAGER), *change[1:]]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output

    assert te.error(te.get("/users"), 401) == "1.2.0.1"
    refreshed = te.client.get(BASE + "/auth/token/refresh", headers={"token": te.refresh})
    assert te.error(refreshed, 401) == "1.2.0.1"
    with te.runtime.storage.engine.connect() as conn:
        tokens = tables.backoffice_tokens
        left = conn.execute(select(tokens).where(tokens.c.principal == "manager")).all()
    assert left == []


def test_the_managers_rights_apply(te: TE) -> None:
    te.services.create_manager(
        CreateManager(1011, "reader", "Reader#10110", frozenset({"users:read"})), te.admin
    )
    token = te.ok(sign_in(te.client, 1011, "Reader#10110"))["accessToken"]

    assert te.get("/userGroups", token=token).status_code == 200
    body = {
        "login": "x1",
        "password": "Trader#2024x",
        "email": "x1@example.com",
        "userGroup": te.ids["retail"],
        "accounts": {"accountName": "main"},
    }
    created = te.post("/users", body, token=token)
    assert te.error(created, 403) == "2.0.2.4"
    money = te.post(
        "/accountOperations", {"accountId": 1, "amount": 1, "operationTypeId": 2}, token=token
    )
    assert te.error(money, 403) == "2.0.2.4"
    assert te.error(te.post("/brandings", {"name": "B2"}, token=token), 403) == "2.0.2.4"


def test_unknown_paths_and_methods_answer_in_te_words(te: TE) -> None:
    assert te.error(te.get("/nothing/here"), 404) == "1.4.0.404"
    assert te.error(te.call("PUT", "/users"), 405) == "1.4.0.405"
    assert te.error(te.call("DELETE", "/userGroups"), 405) == "1.4.0.405"
    unauthenticated = te.client.get(BASE + "/nothing")
    assert te.error(unauthenticated, 404) == "1.4.0.404"


def test_a_client_that_does_not_accept_json_gets_406(te: TE) -> None:
    response = te.get("/userGroups", headers={"Accept": "application/xml"})
    assert te.error(response, 406) == "1.6.2.2"
    for accept in ("application/json", "*/*", "application/json;charset=utf-8, text/plain"):
        assert te.get("/userGroups", headers={"Accept": accept}).status_code == 200, accept


def test_bad_ids_in_paths_and_queries_are_400_never_500(te: TE) -> None:
    for path in (
        "/users/abc",
        "/users/0",
        "/users/-1",
        "/users/1e3x",
        "/accounts/%00",
        "/users/99999999999999999999999",
        "/userGroups/x",
    ):
        assert te.error(te.get(path), 400) == "1.0.0.1", path
    for params in (
        {"limit": "0"},
        {"limit": "1001"},
        {"offset": "-1"},
        {"limit": "ten"},
        {"userGroupId": "x"},
        {"login": "a\x00"},
        {"limit": ["1", "2"]},
    ):
        assert te.error(te.get("/users", params=params), 400) == "1.0.0.1", params
    assert te.error(te.get("/users/424242"), 404) == "1.4.0.1"
    assert te.error(te.get("/accounts/424242"), 404) == "1.4.0.2"


def test_too_many_requests_is_429_with_2_147_1_27(database_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path, te_rate_limit_per_second=3)
    runtime = bootstrap.build(settings)
    try:
        runtime.app.create_manager(
            CreateManager(MANAGER, "TE", PASSWORD, frozenset(SCOPES)), system_actor()
        )
        with TestClient(create_app(runtime)) as client:
            token = sign_in(client, MANAGER, PASSWORD).json()["accessToken"]
            headers = {"Authorization": f"Bearer {token}"}
            answers = [client.get(BASE + "/userGroups", headers=headers) for _ in range(6)]
            limited = [r for r in answers if r.status_code == 429]
            assert limited, [r.status_code for r in answers]
            body = limited[0].json()
            assert body["errorCode"] == "2.147.1.27"
            assert int(limited[0].headers["Retry-After"]) >= 1
            # the limit is per collection: another one still answers
            assert client.get(BASE + "/accountPresets", headers=headers).status_code == 200
    finally:
        runtime.close()


def test_ids_too_large_to_exist_are_not_found_on_every_engine(te: TE) -> None:
    big = 2**63 - 1
    uid = te.create_user()["id"]
    not_found = [
        te.get(f"/userGroups/{big}"),
        te.patch(f"/users/{uid}", {"userGroup": big}),
        te.get(f"/brandings/{big}"),
        te.post("/userGroups", {"name": "q", "brandingId": big}),
        te.post("/userGroups", {"name": "q", "planId": big}),
        te.delete(f"/webhooksKeys/{big}"),
        te.get(f"/users/{big}"),
        te.get(f"/accounts/{big}"),
        te.post("/accountOperations", {"accountId": big, "amount": 1, "operationTypeId": 2}),
        te.get("/accountOperations", params={"accountId": big}),
        te.get("/webhooksKeys", params={"userId": big}),
        te.post(
            "/users",
            {
                "login": "a1",
                "password": "Trader#2024x",
                "email": "a1@example.com",
                "userGroup": big,
                "accounts": {"accountName": "x"},
            },
        ),
    ]
    for response in not_found:
        assert response.status_code == 404, response.text
    for params in ({"brandingId": big}, {"planId": big}, {"userGroupId": big}, {"offset": 10**9}):
        assert te.ok(te.get("/users", params=params)) == [], params
    assert te.ok(te.get("/userGroups", params={"brandingId": big})) == []
    assert te.ok(te.get("/accountOperations", params={"offset": 10**9})) == []


def test_json_nested_past_the_recursion_limit_is_a_malformed_body(te: TE) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    for path in ("/auth/token", "/users", "/accountOperations"):
        response = te.client.post(
            BASE + path,
            content=deep,
            headers={"Authorization": f"Bearer {te.token}", "Content-Type": "application/json"},
        )
        assert te.error(response, 400) == "1.0.0.1", path


def test_a_stored_reach_mask_past_the_limits_is_a_bad_input_error_not_a_server_error(
    te: TE,
) -> None:
    # a reach written before masks had limits (or by hand): refused in TraderEvolution's words
    with te.runtime.storage.engine.begin() as conn:
        conn.execute(
            update(tables.managers)
            .where(tables.managers.c.login == MANAGER)
            .values(white_labels="brand*" + "*a" * 17)
        )

    response = te.get("/users")

    assert te.error(response, 400) == "1.0.5.1"
    assert "at most 16" in response.json()["errorMessage"]


def test_a_body_over_the_limit_is_413_with_the_error_body_before_sign_in(te: TE) -> None:
    big = b'{"login": "a", "password": "' + b"x" * (1 << 20) + b'"}'
    for path in ("/auth/token", "/accounts", "/accountOperations"):
        response = te.client.post(
            BASE + path, content=big, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413, (path, response.text)
        assert response.json() == {
            "errorCode": "1.0.0.1",
            "errorMessage": "the request body is larger than 1 MiB",
        }
    chunked = te.client.post(BASE + "/auth/token", content=(b" " * 65536 for _ in range(32)))
    assert chunked.status_code == 413
    assert chunked.json()["errorCode"] == "1.0.0.1"


def test_a_sign_in_body_that_is_not_strict_json_is_refused_clearly_and_never_counts(
    te: TE,
) -> None:
    url = BASE + "/auth/token"
    json_type = {"Content-Type": "application/json"}
    hostile = [
        b"{login:1010,password:Backoffice#1010}",  # the non-strict form some clients send
        b"{'login': '1010', 'password': 'Backoffice#1010'}",
        b'{"login": 1010, "password": "Backoffice#1010",}',
        b"[" * 200_000,
        b'{"login": "' + b"1" * 100_000 + b'"',
        b"\xff\xfe{}",
        b'{"login": "1010", "password": "\\ud800"}',
        b"",
        b"null",
        b'"login"',
    ]
    for raw in hostile:
        response = te.client.post(url, content=raw, headers=json_type)
        assert response.status_code == 400, (raw[:40], response.text)
        body = response.json()
        assert body["errorCode"] == "1.0.0.1"
        assert "quoted keys" in body["errorMessage"]
    # none of the refused bodies counted as a failed sign-in (ten of them, more than the
    # lockout allows): the right password still works
    assert sign_in(te.client, MANAGER, PASSWORD).status_code == 200
    # odd but well-formed values are a wrong password (401), never a server error
    for value in ({"x": 1}, "p" * 100_000, "\x00"):
        answer = te.client.post(url, json={"login": "1010", "password": value})
        assert answer.status_code == 401, answer.text
        assert answer.json()["errorCode"] == "1.2.0.11"
