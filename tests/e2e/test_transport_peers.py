"""Who a request comes from, as the listeners of `brokerplane serve` see it on the wire (raw
sockets): MT5 sessions belong to their connection (no X-Forwarded-For or reused source port
claims one). Forwarded headers counting only from trusted proxies: test_forwarded_for.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from brokerplane.api.app import create_app
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateManager
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.server.listeners import uvicorn_config
from tests.e2e.transport_support import (
    MANAGER,
    PASSWORD,
    VICTIM,
    VICTIM_PASSWORD,
    Raw,
    Serving,
    _database,
    free_port,
    mt5_auth,
)

# What the command line or the wire answers: SQLite only (tests/storage runs the SQL on both).
pytestmark = pytest.mark.engines("sqlite")


@pytest.fixture
def database(tmp_path: Path) -> str:
    """A migrated SQLite database with two MT5 managers, made with the CLI."""
    return _database(tmp_path)


@pytest.fixture
def serve(tmp_path: Path, database: str) -> Iterator[Callable[..., Serving]]:
    started: list[Serving] = []

    def start(*args: str, **env: str) -> Serving:
        server = Serving(
            free_port(), database, tmp_path / f"serve-{len(started)}.log", *args, **env
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# ---- MT5 sessions belong to their connection ------------------------------------------------


@pytest.mark.parametrize(
    "args", [(), ("--forwarded-allow-ips", "127.0.0.1")], ids=["default", "trusted-proxy"]
)
def test_an_mt5_session_cannot_be_claimed_with_x_forwarded_for_even_through_a_trusted_proxy(
    serve: Callable[..., Serving], args: tuple[str, ...]
) -> None:
    # With 127.0.0.1 trusted as a proxy (uvicorn's own default) the spoofed header is believed
    # as the client's address, and still names no session.
    server = serve(*args)
    victim = Raw(server.port)
    attacker = Raw(server.port)
    try:
        assert mt5_auth(victim, VICTIM, VICTIM_PASSWORD) == 200
        assert victim.request("GET", "/api/test/access").status == 200
        spoof = {"X-Forwarded-For": f"127.0.0.1:{victim.source_port}"}
        for target in ("/api/test/access", "/api/user/logins?group=*", "/test_access"):
            refused = attacker.request("GET", target, spoof)
            assert refused.status == 403, (target, refused.body)
            assert refused.json()["retcode"] == "8 Not enough permissions"
        # the victim's session is untouched
        assert victim.request("GET", "/api/test/access").status == 200
    finally:
        victim.close()
        attacker.close()


def test_an_app_set_up_for_the_listeners_keeps_no_mt5_session_for_a_request_without_one(
    runtime: Runtime, admin: Actor
) -> None:
    from fastapi.testclient import TestClient

    runtime.app.create_manager(CreateManager(MANAGER, "CRM", PASSWORD, frozenset(SCOPES)), admin)
    app = create_app(runtime)
    uvicorn_config(app, runtime.settings)  # as `brokerplane serve` sets it up
    with TestClient(app) as client:  # in-process: no connection, only an address
        query = {"version": "3470", "agent": "pytest", "login": str(MANAGER), "type": "manager"}
        start = client.get("/api/auth/start", params=query)
        assert start.status_code == 403
        assert client.get("/api/test/access").status_code == 403


def test_a_reconnect_from_the_same_source_port_does_not_inherit_the_session(
    serve: Callable[..., Serving],
) -> None:
    server = serve()
    victim = Raw(server.port)
    assert mt5_auth(victim, VICTIM, VICTIM_PASSWORD) == 200
    assert victim.request("GET", "/api/test/access").status == 200
    port = victim.source_port
    victim.abort()
    attacker = Raw(server.port, source_port=port)
    try:
        assert attacker.source_port == port
        refused = attacker.request("GET", "/api/test/access")
        assert refused.status == 403, refused.body
        # the attacker's own handshake with the wrong password gets nothing either
        assert mt5_auth(attacker, VICTIM, "not-the-password") == 403
    finally:
        attacker.close()
