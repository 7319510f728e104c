"""The native API through a real uvicorn server socket, as curl would call it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from brokerplane.api.app import create_app
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.group.commands import CreateGroup
from tests.e2e.transport_support import free_port, in_thread


@pytest.fixture
def served(runtime: Runtime, admin: Actor) -> Iterator[tuple[str, str]]:
    runtime.app.create_manager(CreateManager(1000, "Manager", "Manag3r!pw"), admin)
    key = runtime.app.create_api_key(CreateApiKey(1000, frozenset(SCOPES)), admin).secret
    runtime.app.create_group(CreateGroup("demo-usd", "USD"), admin)
    app = create_app(runtime)
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    with in_thread(config) as base:
        yield base, key


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
