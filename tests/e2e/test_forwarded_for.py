"""X-Forwarded-For counts only from trusted proxies: the app served as `brokerplane serve`
configures it (in a thread of this process), its audited and rate-limited address the peer's
unless the peer is a trusted proxy."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from brokerplane.api.app import create_app
from brokerplane.api.traderevolution.wire import Throttle
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.server.listeners import uvicorn_config
from tests.e2e.transport_support import MANAGER, PASSWORD, free_port
from tests.e2e.transport_support import in_thread as serving_in_thread

# What the wire answers: SQLite only (tests/storage runs the SQL on both).
pytestmark = pytest.mark.engines("sqlite")


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
    services = runtime.app
    services.create_manager(CreateManager(MANAGER, "CRM", PASSWORD, frozenset(SCOPES)), admin)
    key = services.create_api_key(CreateApiKey(MANAGER, frozenset(SCOPES)), admin).secret
    stack = contextlib.ExitStack()

    def start(forwarded_allow_ips: str) -> InThread:
        app = create_app(runtime)
        # the TraderEvolution limiter, on a clock that stands still
        app.state.te_throttle = Throttle(1, clock=lambda: 1000.0)
        settings = runtime.settings.model_copy(
            update={
                "port": free_port(),
                "log_level": "warning",
                "forwarded_allow_ips": forwarded_allow_ips,
            }
        )
        base = stack.enter_context(serving_in_thread(uvicorn_config(app, settings)))
        return InThread(base, key, runtime, app)

    with stack:  # stops every server started
        yield start


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
