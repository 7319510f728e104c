"""Money through a real server socket: one request id fired from many clients applies once, and
an acknowledged deposit survives the server being killed outright."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from brokerplane import bootstrap
from brokerplane.api.app import create_app
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.ledger.model import LedgerQuery
from brokerplane.settings import Settings
from tests.e2e.transport_support import SERVE, ServerProcess, free_port, in_thread

# Other test directories import these from here.
__all__ = ["SERVE", "ServerProcess", "_free_port", "_serving"]
_free_port = free_port

CLIENTS = 10


@dataclass
class Seeded:
    key: str
    login: int


def _seed(runtime: Runtime, admin: Actor) -> Seeded:
    """Manager 1000 with an all-scopes key and one USD account."""
    services = runtime.app
    services.create_manager(CreateManager(1000, "Manager", "Manag3r!pw"), admin)
    key = services.create_api_key(CreateApiKey(1000, frozenset(SCOPES)), admin).secret
    services.create_group(CreateGroup("demo-usd", "USD"), admin)
    login = services.open_account(OpenAccount(group="demo-usd", name="Money Test"), admin).login
    return Seeded(key, login)


def _serving(runtime: Runtime) -> contextlib.AbstractContextManager[str]:
    """A uvicorn server on a thread of this process, over `runtime`; yields its base URL."""
    app = create_app(runtime)
    return in_thread(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))


@pytest.fixture
def served(runtime: Runtime, admin: Actor) -> Iterator[tuple[str, Seeded]]:
    seeded = _seed(runtime, admin)
    with _serving(runtime) as base:
        yield base, seeded


def _is_replay(response: httpx.Response) -> bool:
    result: bool = response.headers.get("Idempotent-Replay") == "true"
    return result


def test_one_deposit_fired_from_ten_clients_with_one_request_id_applies_once(
    served: tuple[str, Seeded], runtime: Runtime, admin: Actor
) -> None:
    base, seeded = served
    headers = {"Authorization": f"Bearer {seeded.key}", "x-request-id": "dep-2026-0001"}
    body = {"login": seeded.login, "amount": "25.00", "reference": "wire-1"}
    start = threading.Barrier(CLIENTS)

    def fire(_: int) -> httpx.Response:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:  # own connection
            start.wait(timeout=30)
            return http.post("/v1/balances/deposit", json=body)

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(fire, range(CLIENTS)))

    for answer in answers:
        assert answer.status_code in (200, 409), answer.text
        if answer.status_code == 409:
            problem = answer.json()
            assert (problem["code"], problem["status"]) == ("request.in_flight", 409), problem
            assert int(answer.headers["Retry-After"]) >= 1
    firsts = [a for a in answers if a.status_code == 200 and not _is_replay(a)]
    assert len(firsts) == 1
    original = firsts[0]
    assert original.json()["status"] == "applied"
    assert original.json()["balance"] == "25.00"

    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        settled = []
        for answer in answers:
            for _attempt in range(200):  # in-flight ones retried until the replay comes
                if answer.status_code == 200:
                    break
                time.sleep(0.02)
                answer = http.post("/v1/balances/deposit", json=body)
            settled.append(answer)
        history = http.get("/v1/balances/history", params={"login": seeded.login}).json()

    for answer in settled:
        assert answer.status_code == 200, answer.text
        assert answer.content == original.content
        assert answer is original or _is_replay(answer)
    assert [(i["kind"], i["amount"], i["request_id"]) for i in history["items"]] == [
        ("deposit", "25.00", "dep-2026-0001")
    ]
    assert runtime.app.get_account(seeded.login, admin).balance == 2500
    assert runtime.app.verify_ledger() == []


# ---- a server killed outright ---------------------------------------------------------------


@pytest.fixture
def spawn_server(tmp_path: Path) -> Iterator[Callable[[str], ServerProcess]]:
    """Starts `brokerplane serve` processes; whatever is still running is stopped after."""
    started: list[ServerProcess] = []

    def spawn(url: str) -> ServerProcess:
        server = ServerProcess(url, tmp_path / f"server-{len(started)}.log")
        started.append(server)
        return server

    yield spawn
    for server in started:
        server.stop()


def test_an_acknowledged_deposit_survives_the_server_being_killed(
    runtime: Runtime,
    admin: Actor,
    database_url: str,
    spawn_server: Callable[[str], ServerProcess],
    tmp_path: Path,
) -> None:
    seeded = _seed(runtime, admin)
    headers = {"Authorization": f"Bearer {seeded.key}", "x-request-id": "dep-durable-1"}
    body = {"login": seeded.login, "amount": "1234.56", "reference": "durable"}
    first = spawn_server(database_url)
    first.wait_ready()

    acknowledged = httpx.post(
        first.base + "/v1/balances/deposit", json=body, headers=headers, timeout=30
    )
    assert acknowledged.status_code == 200, acknowledged.text
    first.kill()
    assert first.proc.returncode == -signal.SIGKILL

    restarted = bootstrap.build(Settings(database_url=database_url, data_dir=tmp_path))
    try:
        with (
            _serving(restarted) as base,
            httpx.Client(base_url=base, headers=headers, timeout=30) as http,
        ):
            history = http.get("/v1/balances/history", params={"login": seeded.login}).json()
            account = http.get(f"/v1/users/{seeded.login}").json()
            again = http.post("/v1/balances/deposit", json=body)
        mismatches = restarted.app.verify_ledger()
        audit = restarted.app.verify_audit()
        entries = restarted.app.list_ledger(LedgerQuery(login=seeded.login), admin)
    finally:
        restarted.close()

    assert [(i["operation_id"], i["amount"], i["balance"]) for i in history["items"]] == [
        (acknowledged.json()["operation_id"], "1234.56", "1234.56")
    ]
    assert account["balance"] == "1234.56"
    assert again.status_code == 200 and _is_replay(again)  # the request id's memory survived too
    assert again.content == acknowledged.content
    assert mismatches == []
    assert audit.ok, audit
    assert [e.amount for e in entries] == [123456]
