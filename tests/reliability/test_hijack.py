"""MT5 session hijack, on both engines: many managers hold sessions on connections of their own
while an attacker process, on the same host, names each victim's source port in
X-Forwarded-For (with 127.0.0.1 trusted as a proxy, the worst case) and, once the victims have
gone, reconnects from the ports they freed. The attacker never gets a session; the victims keep
theirs while connected, and every session ends when its connection closes."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import uvicorn

from brokerplane.api.app import create_app
from brokerplane.api.mt5.auth import Sessions
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateManager
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.server.listeners import uvicorn_config
from tests.e2e.transport_support import Raw, _free_port, mt5_auth
from tests.reliability.support import engine_of, size, tally, wait_until

VICTIMS = size(8, 64)
FIRST_LOGIN = 7000
# What the attacker asks for with each victim's address: a read, a listing and a deposit.
COMMANDS = (
    "/api/test/access",
    "/api/user/logins?group=*",
    "/api/trade/balance?login=1&type=2&balance=1000000&comment=hijack",
    "/test_access",
)


def password_of(login: int) -> str:
    return f"Victim#{login}pw"


@dataclass
class Server:
    port: int
    sessions: Sessions


@pytest.fixture
def server(runtime: Runtime, admin: Actor) -> Iterator[Server]:
    """The app as `brokerplane serve` configures it, trusting 127.0.0.1's X-Forwarded-For."""
    for n in range(VICTIMS):
        login = FIRST_LOGIN + n
        runtime.app.create_manager(
            CreateManager(login, f"Victim {login}", password_of(login), frozenset(SCOPES)), admin
        )
    app = create_app(runtime)
    port = _free_port()
    settings = runtime.settings.model_copy(
        update={
            "port": port,
            "log_level": "warning",
            "forwarded_allow_ips": "127.0.0.1",
        }
    )
    uv = uvicorn.Server(uvicorn_config(app, settings))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    wait_until(lambda: uv.started or not thread.is_alive(), timeout=30)
    assert uv.started, "the server did not start"
    try:
        yield Server(port, app.state.mt5_sessions)
    finally:
        uv.should_exit = True
        thread.join(timeout=20)


# ---- the attacker, in a process of its own ------------------------------------------------------


def _try(port: int, source_port: int, headers: dict[str, str]) -> list[int]:
    """Every command once on a fresh connection (from `source_port`, 0: any); the statuses."""
    statuses = []
    try:
        conn = Raw(port, source_port=source_port, timeout=30)
    except OSError:
        return [-1]  # the port is taken by another connection: nothing to try from it
    try:
        for target in COMMANDS:
            statuses.append(conn.request("GET", target, headers).status)
    finally:
        conn.abort()  # a reset: no TIME_WAIT keeps the port from the next try
    return statuses


def attack(port: int, victim_ports: list[int], reuse: bool, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Spoof each victim's address in X-Forwarded-For; with `reuse`, connect from its port."""
    answers: Counter[str] = Counter()
    spoofs = ("127.0.0.1:{p}", "127.0.0.1:{p}, 127.0.0.1", "[::1]:{p}", "1.2.3.4, 127.0.0.1:{p}")

    def one(victim_port: int) -> Counter[str]:
        seen: Counter[str] = Counter()
        for spoof in spoofs:
            headers = {"X-Forwarded-For": spoof.format(p=victim_port)}
            for status in _try(port, victim_port if reuse else 0, headers):
                seen["taken port" if status == -1 else str(status)] += 1
        return seen

    with ThreadPoolExecutor(max_workers=8) as pool:
        for seen in pool.map(one, victim_ports):
            answers.update(seen)
    out.put(dict(answers))


def run_attacker(port: int, victim_ports: list[int], *, reuse: bool) -> Counter[str]:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=attack, args=(port, victim_ports, reuse, out))
    process.start()
    try:
        answers: dict[str, int] = out.get(timeout=600)
    finally:
        process.join(timeout=60)
    return Counter(answers)


# ---- the scenario -------------------------------------------------------------------------------


def test_an_attacker_on_the_same_host_never_gets_a_victims_mt5_session(
    server: Server, runtime: Runtime, summary: Callable[[str], None]
) -> None:
    victims: list[Raw] = []
    try:
        for n in range(VICTIMS):
            conn = Raw(server.port, timeout=30)
            victims.append(conn)
            login = FIRST_LOGIN + n
            assert mt5_auth(conn, login, password_of(login)) == 200
        assert server.sessions.count() == VICTIMS
        ports = [v.source_port for v in victims]

        spoofed = run_attacker(server.port, ports, reuse=False)
        assert set(spoofed) == {"403"}, spoofed
        for conn in victims:  # every victim still holds its own session
            assert conn.request("GET", "/api/test/access").status == 200

        for conn in victims:
            conn.abort()  # gone, leaving their ports free at once
        wait_until(lambda: server.sessions.count() == 0, timeout=60)
        left = server.sessions.count()
        assert left == 0

        reused = run_attacker(server.port, ports, reuse=True)
        assert set(reused) <= {"403", "taken port"}, reused
        assert reused["403"] > 0
    finally:
        for conn in victims:
            conn.close()
    engine = engine_of(runtime.settings.effective_database_url)
    summary(
        f"mt5 hijack ({engine}): {VICTIMS} managers on {VICTIMS} connections; "
        f"X-Forwarded-For spoofs {tally(spoofed)}; from freed ports {tally(reused)}; "
        f"0 sessions gained, {left} left after the victims disconnected"
    )
