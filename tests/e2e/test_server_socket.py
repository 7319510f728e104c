"""The native API through a real uvicorn server socket, as curl would call it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from brokerplane.api.app import create_app
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.group.commands import CreateGroup


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def served(runtime: Runtime, admin: Actor) -> Iterator[tuple[str, str]]:
    runtime.app.create_manager(CreateManager(1000, "Manager", "Manag3r!pw"), admin)
    key = runtime.app.create_api_key(CreateApiKey(1000, frozenset(SCOPES)), admin).secret
    runtime.app.create_group(CreateGroup("demo-usd", "USD"), admin)
    port = _free_port()
    config = uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", key
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_seed_000_example_then_read_update_disable_enable_and_export_over_a_socket(
    served: tuple[str, str],
) -> None:
    base, key = served
    headers = {"Authorization": f"Bearer {key}", "x-operator-id": "crm-sync-worker"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
        created = http.post(
            "/mt4/manager/users",
            json={"login": 910024, "name": "Demo User", "group": "demo-usd", "leverage": 100},
        )
        assert created.status_code == 201, created.text
        assert http.get("/v1/users/910024").json()["name"] == "Demo User"
        assert http.patch("/v1/users/910024", json={"leverage": 200}).json()["leverage"] == 200
        assert (
            http.post("/v1/users/910024/disable", json={"reason": "KYC"}).json()["enabled"] is False
        )
        assert http.post("/v1/users/910024/enable").json()["enabled"] is True
        export = http.get("/v1/reports/users", params={"format": "csv"})
        assert export.status_code == 200
        assert export.text.splitlines()[1].startswith("910024,demo-usd,Demo User")
        assert http.get("/ready").json()["status"] == "ready"
