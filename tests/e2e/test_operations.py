"""What an operator sees of a running `brokerplane serve`: `/metrics` scraped after real traffic
(HTTP dialects and the MT5 TCP protocol), and the log it writes, as text and as JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.approval.commands import SetApprovalThreshold
from brokerplane.core.group.commands import CreateGroup
from tests.e2e.mt5client import Mt5Client
from tests.e2e.mt5tcpclient import Mt5TcpClient
from tests.e2e.transport_support import ServerProcess, free_port

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana" / "brokerplane.json"
MANAGER = 1000
PASSWORD = "Manag3r!pw-ops"
DEPOSITS = 8

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


@dataclass
class Seeded:
    key: str  # every scope
    metrics_key: str  # metrics:read only
    reader_key: str  # users:read only
    login: int


def _seed(runtime: Runtime, admin: Actor) -> Seeded:
    services = runtime.app
    services.create_manager(CreateManager(MANAGER, "Ops", PASSWORD, frozenset(SCOPES)), admin)

    def key(*scopes: str) -> str:
        return services.create_api_key(CreateApiKey(MANAGER, frozenset(scopes)), admin).secret

    services.create_group(CreateGroup("demo-usd", "USD"), admin)
    services.set_approval_threshold(SetApprovalThreshold(currency="USD", amount="1000"), admin)
    login = services.open_account(OpenAccount(group="demo-usd", name="Ops Test"), admin).login
    return Seeded(key(*SCOPES), key("metrics:read"), key("users:read"), login)


@dataclass
class Served:
    server: ServerProcess
    seeded: Seeded
    tcp_port: int


@pytest.fixture
def served(
    request: pytest.FixtureRequest,
    runtime: Runtime,
    admin: Actor,
    database_url: str,
    tmp_path: Path,
) -> Iterator[Served]:
    seeded = _seed(runtime, admin)
    tcp_port = free_port()
    log_format = getattr(request, "param", "text")
    env = {
        "BROKERPLANE_LOG_LEVEL": "info",
        "BROKERPLANE_LOG_FORMAT": log_format,
        "BROKERPLANE_MT5_TCP_PORT": str(tcp_port),
        "BROKERPLANE_RATE_LIMIT_PER_MINUTE": "0",
    }
    server = ServerProcess(database_url, tmp_path / "server.log", extra_env=env)
    try:
        server.wait_ready()
        yield Served(server, seeded, tcp_port)
    finally:
        server.stop()


def scrape(base: str, key: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx.get(base + "/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in response.text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        labels = frozenset(_LABEL.findall(match[2] or ""))
        samples[(match[1], labels)] = float(match[3])
    return samples


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_need_the_metrics_scope(served: Served) -> None:
    base, seeded = served.server.base, served.seeded
    bare = httpx.get(base + "/metrics", timeout=30)
    assert bare.status_code == 401
    assert bare.json()["title"] == "Unauthorized"
    assert "brokerplane_" not in bare.text
    refused = httpx.get(
        base + "/metrics", timeout=30, headers={"Authorization": f"Bearer {seeded.reader_key}"}
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "auth.missing_scope"
    assert "metrics:read" in refused.json()["detail"]
    assert "brokerplane_" not in refused.text
    assert scrape(base, seeded.metrics_key)  # metrics:read alone opens it ...
    assert scrape(base, seeded.key)  # ... and so does admin


def test_the_grafana_dashboard_queries_only_metrics_the_server_has(served: Served) -> None:
    headers = {"Authorization": f"Bearer {served.seeded.metrics_key}"}
    text = httpx.get(served.server.base + "/metrics", timeout=30, headers=headers).text
    families = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    used = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            used |= set(re.findall(r"\bbrokerplane_\w+", target["expr"]))
    assert len(used) >= 10
    for name in sorted(used):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        known = families.get(name) or (families.get(base) == "histogram")
        assert known, f"the dashboard queries {name}, which /metrics does not have"


def test_metrics_move_with_traffic_on_every_transport(served: Served) -> None:
    base, seeded = served.server.base, served.seeded
    headers = {"Authorization": f"Bearer {seeded.key}"}
    before = scrape(base, seeded.metrics_key)
    login = seeded.login

    def deposit(n: int) -> int:
        body = {"login": login, "amount": "10.00", "reference": f"ops-{n}"}
        return httpx.post(
            base + "/v1/balances/deposit", json=body, headers=headers, timeout=30
        ).status_code

    with ThreadPoolExecutor(DEPOSITS) as pool:
        assert list(pool.map(deposit, range(DEPOSITS))) == [200] * DEPOSITS
    withdrawn = httpx.post(
        base + "/v1/balances/withdraw",
        headers=headers,
        timeout=30,
        json={"login": login, "amount": "5.00"},
    )
    assert withdrawn.status_code == 200, withdrawn.text
    held = httpx.post(
        base + "/v1/balances/deposit",
        headers=headers,
        timeout=30,
        json={"login": login, "amount": "5000.00"},
    )
    assert held.status_code == 202, held.text
    for _ in range(3):
        assert httpx.get(f"{base}/v1/users/{login}", headers=headers, timeout=30).status_code == 200
    assert httpx.get(f"{base}/v1/users/424242", headers=headers, timeout=30).status_code == 404
    assert httpx.get(f"{base}/no/such/{login}", timeout=30).status_code == 404
    for odd in ("PROPFIND", "MKCOL"):  # methods the HTTP parser passes but no route takes
        assert httpx.request(odd, f"{base}/v1/users", timeout=30).status_code in (401, 405)

    with Mt5Client(base) as http_mt5, Mt5TcpClient("127.0.0.1", served.tcp_port) as tcp_mt5:
        http_mt5.auth(MANAGER, PASSWORD)
        assert str(http_mt5.user_get(login)["Login"]) == str(login)
        tcp_mt5.auth(MANAGER, PASSWORD)
        assert str(tcp_mt5.call("USER_GET", {"LOGIN": login})["Login"]) == str(login)
        during = scrape(base, seeded.metrics_key)
    after = scrape(base, seeded.metrics_key)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "brokerplane_http_requests_total"
    native = {"dialect": "native", "method": "POST"}
    assert moved(requests, route="/v1/balances/deposit", status="200", **native) == DEPOSITS
    assert moved(requests, route="/v1/balances/deposit", status="202", **native) == 1
    assert moved(requests, route="/v1/balances/withdraw", status="200", **native) == 1
    read = {"dialect": "native", "route": "/v1/users/{login}", "method": "GET"}
    assert moved(requests, status="200", **read) == 3
    assert moved(requests, status="404", **read) == 1
    assert moved(requests, dialect="none", route="unmatched", method="GET", status="404") == 1
    assert moved("brokerplane_http_request_duration_seconds_count", **read) == 4
    assert moved("brokerplane_http_request_duration_seconds_bucket", le="+Inf", **read) == 4
    assert moved("brokerplane_http_request_duration_seconds_sum", **read) > 0
    mt5_get = {"dialect": "mt5", "route": "/api/user/get", "method": "GET", "status": "200"}
    assert moved(requests, **mt5_get) == 1
    # a template, never the raw path: no account number in any label; no invented method
    assert all(str(login) not in v for (_, labels) in after for _, v in labels)
    assert not any(v in ("PROPFIND", "MKCOL") for (_, labels) in after for _, v in labels)
    others = [
        v
        for (name, labels), v in after.items()
        if name == requests and ("method", "OTHER") in labels
    ]
    assert sum(others) == 2

    ledger = "brokerplane_ledger_operations_total"
    assert moved(ledger, kind="deposit") == DEPOSITS
    assert moved(ledger, kind="withdrawal") == 1
    # every money command went through group commit, in batches of one or more
    batched = moved("brokerplane_group_commit_batch_size_sum")
    assert batched == DEPOSITS + 2
    assert 1 <= moved("brokerplane_group_commit_batch_size_count") <= batched
    assert value(after, "brokerplane_approvals_pending") == 1
    assert value(during, "brokerplane_mt5_sessions_open", transport="http") == 1
    assert value(during, "brokerplane_mt5_sessions_open", transport="tcp") == 1
    assert value(during, "brokerplane_mt5_tcp_connections_open") == 1
    assert moved("brokerplane_mt5_tcp_commands_total", command="USER_GET") == 1
    assert moved("brokerplane_mt5_tcp_commands_total", command="AUTH_ANSWER") == 1
    assert value(after, "brokerplane_db_pool_connections", state="size") >= 1
    assert ("brokerplane_db_pool_connections", frozenset({("state", "checked_out")})) in after


def _log(served: Served) -> str:
    served.server.stop()
    return served.server.log.read_text(errors="replace")


def test_the_log_has_one_line_per_request_with_its_fields_and_no_secrets(served: Served) -> None:
    base, seeded = served.server.base, served.seeded
    headers = {"Authorization": f"Bearer {seeded.key}", "x-request-id": "ops-req-1"}
    answered = httpx.get(
        f"{base}/v1/users/{seeded.login}",
        params={"token": "tok-s3cret-1"},
        headers=headers,
        timeout=30,
    )
    assert answered.status_code == 200
    unknown = httpx.get(
        base + "/v1/users",
        timeout=30,
        headers={"Authorization": "Bearer bpk_0123456789ab_s3cretpart-not-logged"},
    )
    assert unknown.status_code == 401
    pasted = httpx.get(
        base + "/health",
        timeout=30,  # a key pasted where an id goes
        headers={"x-request-id": "bpk_0123456789ab_pasted-s3cret"},
    )
    assert pasted.status_code == 200
    # a path and a request id that try to start log lines of their own
    forged = "%0A2026-01-01T00:00:00.000Z INFO brokerplane.access: GET /forged 200"
    assert httpx.get(
        base + "/v1/users/x" + forged.replace(" ", "%20"),
        timeout=30,
        headers={"Authorization": f"Bearer {seeded.key}"},
    ).status_code in (400, 404)
    nel = httpx.get(
        base + "/health", timeout=30, headers=[(b"x-request-id", b"evil\x85INFO forged\tline")]
    )
    assert nel.status_code == 200
    with Mt5TcpClient("127.0.0.1", served.tcp_port) as tcp_mt5:
        tcp_mt5.auth(MANAGER, PASSWORD)
        tcp_mt5.call("USER_GET", {"LOGIN": seeded.login})
    log = _log(served)

    lines = log.splitlines()
    first = next(i for i, line in enumerate(lines) if _STAMP.match(line))
    lines = lines[first:]  # what came before is the banner `serve` prints, not the log
    for line in lines:  # every line is a record of its own, or a traceback's indented line
        assert _STAMP.match(line) or line.startswith("    "), repr(line)
    access = [line for line in lines if " INFO brokerplane.access: " in line]
    assert not any(line.startswith("2026-01-01T00:00:00.000Z") for line in lines)
    assert any("GET /v1/users/x%0A2026-01-01T00:00:00.000Z%20INFO" in line for line in access)
    mine = [line for line in access if "request_id=ops-req-1" in line]
    assert len(mine) == 1, access
    line = mine[0]
    assert f"GET /v1/users/{seeded.login}?token=*** 200 " in line
    assert "dialect=native" in line and f"manager={MANAGER}" in line
    assert re.search(r" latency_ms=\d+(\.\d+)? ", line)
    assert "client=127.0.0.1" in line
    refused = [line for line in access if "GET /v1/users 401" in line]
    assert len(refused) == 1 and "manager=" not in refused[0]
    assert any('request_id="evil\\x85INFO forged\\tline"' in line for line in access), access
    tcp = [line for line in access if "MT5 TCP USER_GET" in line]
    assert len(tcp) == 1 and "transport=tcp" in tcp[0] and f"manager={MANAGER}" in tcp[0]
    # uvicorn's own lines are in the same format; its access log is not written twice
    assert any(" INFO uvicorn.error: " in line for line in lines)
    assert not any('HTTP/1.1" 200' in line for line in lines)
    for secret in ("tok-s3cret-1", "s3cretpart-not-logged", "pasted-s3cret", PASSWORD):
        assert secret not in log


@pytest.mark.parametrize("served", ["json"], indirect=True)
def test_the_json_log_is_one_object_per_line(served: Served) -> None:
    base, seeded = served.server.base, served.seeded
    headers = {"Authorization": f"Bearer {seeded.key}", "x-request-id": "json-req"}
    assert (
        httpx.get(
            f"{base}/v1/users/{seeded.login}",
            headers=headers,
            params={"password": "pw-s3cret"},
            timeout=30,
        ).status_code
        == 200
    )
    forged = httpx.get(base + "/v1/users/%0Aforged", headers=headers, timeout=30)
    assert forged.status_code == 400  # not an account number
    log = _log(served)
    records = []
    for line in log.splitlines():
        if not line.startswith("{"):
            continue  # the banner printed before logging starts
        records.append(json.loads(line))
    assert records
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"])
    mine = [
        r
        for r in records
        if r["logger"] == "brokerplane.access"
        and r.get("request_id") == "json-req"
        and r["status"] == 200
    ]
    assert len(mine) == 1, records
    entry = mine[0]
    assert entry["level"] == "info"
    assert entry["dialect"] == "native" and entry["manager"] == MANAGER
    assert entry["method"] == "GET" and entry["path"] == f"/v1/users/{seeded.login}?password=***"
    assert isinstance(entry["latency_ms"], float | int)
    assert "pw-s3cret" not in log
    assert not any(line.startswith("forged") for line in log.splitlines())


def test_the_access_log_can_be_turned_off(
    runtime: Runtime, admin: Actor, database_url: str, tmp_path: Path
) -> None:
    seeded = _seed(runtime, admin)
    env = {"BROKERPLANE_LOG_LEVEL": "info", "BROKERPLANE_ACCESS_LOG": "false"}
    server = ServerProcess(database_url, tmp_path / "quiet.log", extra_env=env)
    try:
        server.wait_ready()
        headers = {"Authorization": f"Bearer {seeded.key}"}
        assert (
            httpx.get(
                f"{server.base}/v1/users/{seeded.login}", headers=headers, timeout=30
            ).status_code
            == 200
        )
    finally:
        server.stop()
    log = server.log.read_text(errors="replace")
    assert " INFO uvicorn.error: " in log  # still logging ...
    assert "brokerplane.access" not in log  # ... but not each request
