"""Who a request comes from, as the listeners of `brokerplane serve` see it on the wire (raw
sockets): MT5 sessions belong to their connection (no X-Forwarded-For or reused source port
claims one), and forwarded headers count only from trusted proxies."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.routing import Mount

from brokerplane.api.app import create_app
from brokerplane.api.traderevolution.wire import PREFIX as TE_PREFIX
from brokerplane.api.traderevolution.wire import Throttle
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateApiKey, CreateManager
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
    _free_port,
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
            _free_port(), database, tmp_path / f"serve-{len(started)}.log", *args, **env
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

    runtime.services.create_manager(
        CreateManager(MANAGER, "CRM", PASSWORD, frozenset(SCOPES)), admin
    )
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


# ---- X-Forwarded-For counts only from trusted proxies -----------------------------------------


@dataclass
class InThread:
    base: str
    key: str
    runtime: Runtime
    app: object


@pytest.fixture
def in_thread(runtime: Runtime, admin: Actor) -> Iterator[Callable[[str], InThread]]:
    """The app served as `brokerplane serve` configures it, in a thread of this process."""
    services = runtime.services
    services.create_manager(CreateManager(MANAGER, "CRM", PASSWORD, frozenset(SCOPES)), admin)
    key = services.create_api_key(CreateApiKey(MANAGER, frozenset(SCOPES)), admin).secret
    stops: list[Callable[[], None]] = []

    def start(forwarded_allow_ips: str) -> InThread:
        import uvicorn

        app = create_app(runtime)
        for route in app.routes:  # the TraderEvolution limiter, on a clock that stands still
            if isinstance(route, Mount) and route.path == TE_PREFIX:
                route.app.state.throttle = Throttle(1, clock=lambda: 1000.0)  # type: ignore[attr-defined]
        port = _free_port()
        settings = runtime.settings.model_copy(
            update={
                "port": port,
                "log_level": "warning",
                "forwarded_allow_ips": forwarded_allow_ips,
            }
        )
        server = uvicorn.Server(uvicorn_config(app, settings))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                pytest.fail("the server did not start")
            time.sleep(0.05)

        def stop() -> None:
            server.should_exit = True
            thread.join(timeout=10)

        stops.append(stop)
        return InThread(f"http://127.0.0.1:{port}", key, runtime, app)

    yield start
    for stop in stops:
        stop()


def _audited_ip(served: InThread, forwarded_for: str) -> object:
    headers = {"Authorization": f"Bearer {served.key}", "X-Forwarded-For": forwarded_for}
    name = "fwd-" + secrets.token_hex(4)
    with httpx.Client(base_url=served.base, headers=headers, timeout=15) as http:
        created = http.post("/v1/groups", json={"name": name, "currency": "USD"})
        assert created.status_code == 201, created.text
        records = http.get("/v1/audit", params={"entity_type": "group"}).json()["items"]
    return next(r["ip"] for r in records if r["entity_id"] == name)


def test_x_forwarded_for_from_an_untrusted_peer_is_neither_audited_nor_rate_limited_as_given(
    in_thread: Callable[[str], InThread],
) -> None:
    served = in_thread("")  # the default: no proxy trusted
    assert _audited_ip(served, "1.2.3.4") == "127.0.0.1"
    # one sign-in a second per address: rotating the header does not buy a second one
    url = f"{served.base}/proftrading/rest/auth/token"
    body = {"login": "nobody", "password": "wrong"}
    first = httpx.post(url, json=body, headers={"X-Forwarded-For": "10.0.0.1"}, timeout=15)
    second = httpx.post(url, json=body, headers={"X-Forwarded-For": "10.0.0.2"}, timeout=15)
    assert first.status_code == 401, first.text
    assert second.status_code == 429, second.text


def test_x_forwarded_for_from_a_trusted_proxy_is_the_audited_and_rate_limited_address(
    in_thread: Callable[[str], InThread],
) -> None:
    served = in_thread("127.0.0.1")
    assert _audited_ip(served, "1.2.3.4") == "1.2.3.4"
    url = f"{served.base}/proftrading/rest/auth/token"
    body = {"login": "nobody", "password": "wrong"}
    first = httpx.post(url, json=body, headers={"X-Forwarded-For": "10.0.0.1"}, timeout=15)
    second = httpx.post(url, json=body, headers={"X-Forwarded-For": "10.0.0.2"}, timeout=15)
    assert (first.status_code, second.status_code) == (401, 401)
