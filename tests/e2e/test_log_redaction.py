"""What a running `brokerplane serve` writes to its log: every request's path, never the
credentials that MT5 and cTrader clients send in query strings."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from brokerplane.api.mt5.auth import password_hash, rand_answer
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateManager
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.redact import redact, sensitive
from tests.e2e.transport_support import ServerProcess

# What the command line or the wire answers: SQLite only (tests/storage runs the SQL on both).
pytestmark = pytest.mark.engines("sqlite")

MANAGER = 1000
PASSWORD = "Manag3r!pw-secret"
ACCOUNT_MAIN = "Main#Pass-8812"
ACCOUNT_INVESTOR = "Invest#Pass-8813"


@pytest.fixture
def server(
    runtime: Runtime, admin: Actor, database_url: str, tmp_path: Path
) -> Iterator[ServerProcess]:
    runtime.app.create_manager(
        CreateManager(MANAGER, "Manager", PASSWORD, frozenset(SCOPES)), admin
    )
    process = ServerProcess(
        database_url, tmp_path / "server.log", extra_env={"BROKERPLANE_LOG_LEVEL": "info"}
    )
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def test_the_server_log_shows_paths_but_not_tokens_or_passwords_from_query_strings(
    server: ServerProcess,
) -> None:
    secrets_sent: list[str] = []
    with httpx.Client(base_url=server.base, timeout=30) as mt5:  # one connection: one session
        hello: dict[str, str | int] = {
            "version": "3470",
            "agent": "pytest",
            "login": MANAGER,
            "type": "manager",
        }
        start = mt5.get("/api/auth/start", params=hello)
        srv_rand = bytes.fromhex(start.json()["srv_rand"])
        answer = rand_answer(password_hash(PASSWORD), srv_rand)
        cli_rand = secrets.token_hex(16)
        done = mt5.get("/api/auth/answer", params={"srv_rand_answer": answer, "cli_rand": cli_rand})
        assert done.json()["retcode"] == "0 Done", done.text
        secrets_sent += [answer, cli_rand]
        checked = mt5.get(
            "/api/user/check_password",
            params={"login": 424242, "type": "main", "password": PASSWORD},
        )
        assert checked.status_code == 200
        added = mt5.post(
            "/api/user/add",
            params={
                "group": "demo\\nowhere",
                "name": "Log Test",
                "pass_main": ACCOUNT_MAIN,
                "pass_investor": ACCOUNT_INVESTOR,
            },
        )
        assert added.status_code == 200
        secrets_sent += [PASSWORD, ACCOUNT_MAIN, ACCOUNT_INVESTOR]
        for spelling in ("pa_ssword", "P-A-S-S-W-O-R-D"):  # names as MT5 reads them
            odd = mt5.get(
                "/api/user/check_password",
                params={"login": 424242, "type": "main", spelling: "Odd#Spelled1"},
            )
            assert odd.status_code == 200
        secrets_sent.append("Odd#Spelled1")
    key = "bpk_0123456789ab_" + secrets.token_urlsafe(32)
    sent_key = httpx.get(server.base + "/v1/users", params={"bearer": key}, timeout=30)
    assert sent_key.status_code == 401
    secrets_sent.append(key)

    md5 = hashlib.md5(PASSWORD.encode()).hexdigest()
    json = {"Accept": "application/json"}
    issued = httpx.post(
        server.base + "/v2/webserv/managers/token",
        headers=json,
        json={"login": MANAGER, "hashedPassword": md5},
        timeout=30,
    )
    token = issued.json()["webservToken"]
    bearer = {**json, "Authorization": f"Bearer {token}"}
    groups = httpx.get(
        server.base + "/v2/webserv/tradergroups",
        params={"token": token},
        headers=bearer,
        timeout=30,
    )
    assert groups.status_code == 200, groups.text
    unknown = httpx.get(server.base + "/cid/nothing/here", params={"token": token}, timeout=30)
    assert unknown.status_code == 404
    secrets_sent += [md5, token]
    server.stop()

    log = server.log.read_text(errors="replace")
    for path in (
        "/api/auth/answer?srv_rand_answer=***&cli_rand=***",
        "/api/user/check_password?login=424242&type=main&password=***",
        "pass_main=***&pass_investor=***",
        "/v2/webserv/tradergroups?token=***",
        "/cid/nothing/here?token=***",
    ):
        assert path in log, log
    assert f"MT5 manager {MANAGER} authenticated" in log  # brokerplane's own lines pass too
    for secret in secrets_sent:
        assert secret not in log, secret


def test_sensitive_parameter_names_are_recognised_in_any_case() -> None:
    for name in (
        "token",
        "TOKEN",
        "password",
        "Pass_Main",
        "pass_investor",
        "PASS_API",
        "srv_rand_answer",
        "cli_rand",
        "refresh_token",
        "accessToken",
        "api_key",
        "key",
        "client_secret",
        "newPassword",
        "crmApiToken",
        "webhook%5Fkey",
    ):
        assert sensitive(name), name
    for name in ("login", "group", "type", "name", "symbol", "from", "to", "offset", "total"):
        assert not sensitive(name), name
    assert redact("GET /api/x?a=1&Password=p%40ss&b=2 HTTP/1.1") == (
        "GET /api/x?a=1&Password=***&b=2 HTTP/1.1"
    )


def test_parameter_names_are_read_as_mt5_reads_them() -> None:
    for name in (
        "pa_ssword",
        "P-A-S-S-W-O-R-D",
        "pa_ss_main",
        "s_rv_rand_answer",
        "C-L-I_rand",
        "bearer",
        "Authorization",
        "apikey",
        "API-KEY",
        "x_api_key",
    ):
        assert sensitive(name), name
    for name in ("login", "lo_gin", "G-R-O-U-P", "monkey", "sortkey", "type"):
        assert not sensitive(name), name


def test_a_native_key_is_hidden_whatever_carries_it() -> None:
    key = "bpk_0123456789ab_" + secrets.token_urlsafe(32)

    for line in (
        f"GET /v1/users?bearer={key} HTTP/1.1",
        f"GET /v1/users?q={key}&x=1",
        f"refused {key}",
    ):
        assert key not in redact(line) and "bpk_" not in redact(line), redact(line)
    assert redact(f"GET /v1/users?q={key}&x=1") == "GET /v1/users?q=***&x=1"
