"""What the listeners of `brokerplane serve` guarantee on the wire, checked with raw sockets: MT5
sessions belong to their connection (no X-Forwarded-For or reused source port claims one),
request heads have a deadline (slowloris), and bodies over the limit are refused while they are
still being sent. Forwarded headers counting only from trusted proxies: test_forwarded_for.py."""

from __future__ import annotations

import json
import os
import secrets
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from brokerplane.api.app import create_app
from brokerplane.api.mt5.auth import password_hash, rand_answer
from brokerplane.bootstrap import Runtime
from brokerplane.cli.main import main
from brokerplane.core.access.commands import CreateManager
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.server.listeners import uvicorn_config

# What the command line or the wire answers: SQLite only (tests/storage runs the SQL on both).
pytestmark = pytest.mark.engines("sqlite")

MANAGER, PASSWORD = 1005, "Manag3r!pw"
VICTIM, VICTIM_PASSWORD = 1006, "Vict1m!pw"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ---- a raw HTTP/1.1 connection ----------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        parsed: dict[str, object] = json.loads(self.body)
        return parsed


class Raw:
    """One TCP connection speaking HTTP/1.1 by hand (optionally from a chosen source port)."""

    def __init__(self, port: int, source_port: int = 0, timeout: float = 20) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.settimeout(timeout)
        self.sock.bind(("127.0.0.1", source_port))
        self.sock.connect(("127.0.0.1", port))
        self.source_port: int = self.sock.getsockname()[1]
        self._buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(
        self, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Reply:
        lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        return self.reply()

    def _read_more(self) -> bool:
        chunk = self.sock.recv(65536)
        self._buffer += chunk
        return bool(chunk)

    def reply(self) -> Reply:
        while b"\r\n\r\n" not in self._buffer:
            if not self._read_more():
                raise ConnectionError(f"closed before a response head: {self._buffer!r}")
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self._buffer) < length:
            if not self._read_more():
                raise ConnectionError("closed inside a response body")
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return Reply(int(status_line.split(" ")[1]), headers, body)

    def closed_by_server(self) -> bool:
        """Whether the server closed the connection (EOF or reset) — waits up to the timeout."""
        try:
            return self.sock.recv(65536) == b""
        except ConnectionResetError:
            return True

    def abort(self) -> None:
        """Close with a reset, as a crashed client would: no TIME_WAIT holds the source port."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()


def mt5_auth(conn: Raw, login: int, password: str, headers: dict[str, str] | None = None) -> int:
    """The MT5 handshake on `conn`; the status of /api/auth/answer."""
    start = conn.request(
        "GET", f"/api/auth/start?version=3470&agent=pytest&login={login}&type=manager", headers
    )
    assert start.status == 200, start.body
    srv_rand = bytes.fromhex(str(start.json()["srv_rand"]))
    answer = rand_answer(password_hash(password), srv_rand)
    cli_rand = secrets.token_hex(16)
    reply = conn.request(
        "GET", f"/api/auth/answer?srv_rand_answer={answer}&cli_rand={cli_rand}", headers
    )
    return reply.status


# ---- `brokerplane serve` in a process of its own ------------------------------------------------


class Serving:
    def __init__(self, port: int, database: str, log: Path, *args: str, **env: str) -> None:
        self.port = port
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "brokerplane.cli.main", "serve", "--port", str(port),
             "--database-url", database, *args],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "BROKERPLANE_LOG_LEVEL": "warning", **env},
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"{self.base}/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"the server did not become ready:\n{log.read_text(errors='replace')}")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        self._log.close()


def _database(where: Path) -> str:
    """A migrated SQLite database with two MT5 managers, made with the CLI."""
    url = f"sqlite:///{(where / 'transport.db').as_posix()}"
    assert run("db", "upgrade", "--database-url", url).exit_code == 0
    for login, password in ((MANAGER, PASSWORD), (VICTIM, VICTIM_PASSWORD)):
        created = run("manager", "create", "--database-url", url, "--login", str(login), "--name",
                      f"CRM {login}", "--password", password, "--rights", "admin", "--groups",
                      "*")  # fmt: skip
        assert created.exit_code == 0, created.output
    return url


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


@pytest.fixture(scope="module")
def shared_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Serving]]:
    """Like `serve`, but one server per configuration for the whole module, on a database of
    its own: for the tests that only open connections and change nothing a later test reads
    (the deadlines and the body limits), so a configuration starts once, not once per test."""
    where = tmp_path_factory.mktemp("transport-shared")
    url = _database(where)
    started: dict[tuple[tuple[str, ...], tuple[tuple[str, str], ...]], Serving] = {}

    def start(*args: str, **env: str) -> Serving:
        key = (args, tuple(sorted(env.items())))
        if key not in started:
            started[key] = Serving(
                _free_port(), url, where / f"serve-{len(started)}.log", *args, **env
            )
        server = started[key]
        assert server.proc.poll() is None, server.log.read_text(errors="replace")
        return server

    yield start
    for server in started.values():
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


# ---- request heads have a deadline (slowloris) --------------------------------------------------


def test_a_partial_request_head_is_answered_408_and_closed_while_other_clients_are_served(
    shared_serve: Callable[..., Serving],
) -> None:
    server = shared_serve(BROKERPLANE_HEADER_TIMEOUT_S="1")
    slow = [Raw(server.port) for _ in range(20)]
    try:
        for conn in slow:
            conn.send(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert httpx.get(f"{server.base}/health", timeout=10).status_code == 200
        for conn in slow:
            reply = conn.reply()
            assert reply.status == 408
            assert conn.closed_by_server()
    finally:
        for conn in slow:
            conn.close()


def test_a_header_sent_a_byte_at_a_time_does_not_extend_the_deadline(
    shared_serve: Callable[..., Serving],
) -> None:
    server = shared_serve(BROKERPLANE_HEADER_TIMEOUT_S="1")
    conn = Raw(server.port)
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: a\r\n" * 200 + b"\r\n"
    sent = 0
    try:
        for byte in head:  # 2,200+ bytes at 20 ms each: about 45 s if the server waited
            try:
                conn.send(bytes([byte]))
            except OSError:
                break
            sent += 1
            time.sleep(0.02)
            if sent % 10 == 0 and _readable(conn.sock):
                break
        assert sent < len(head)
        assert conn.reply().status == 408
    finally:
        conn.close()


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    shared_serve: Callable[..., Serving],
) -> None:
    server = shared_serve(BROKERPLANE_HEADER_TIMEOUT_S="1")
    conn = Raw(server.port)
    try:
        assert conn.closed_by_server()
    finally:
        conn.close()


def test_the_next_request_head_on_a_keep_alive_connection_has_the_same_deadline(
    shared_serve: Callable[..., Serving],
) -> None:
    server = shared_serve(BROKERPLANE_HEADER_TIMEOUT_S="1")
    conn = Raw(server.port)
    try:
        assert conn.request("GET", "/health").status == 200
        time.sleep(1.5)  # idle between requests is the keep-alive's business, not the deadline's
        assert conn.request("GET", "/health").status == 200
        conn.send(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert conn.reply().status == 408
        assert conn.closed_by_server()
    finally:
        conn.close()


def test_a_body_that_stops_arriving_is_answered_408_and_closed(
    shared_serve: Callable[..., Serving],
) -> None:
    server = shared_serve(BROKERPLANE_HEADER_TIMEOUT_S="1")
    conn = Raw(server.port)
    try:
        head = b"POST /v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n"
        conn.send(head + b'{"lo')  # and nothing more
        reply = conn.reply()
        assert reply.status == 408, reply.body
        assert reply.json()["code"] == "http.body_timeout"
        assert conn.closed_by_server()
    finally:
        conn.close()


def _readable(sock: socket.socket) -> bool:
    import select

    return bool(select.select([sock], [], [], 0)[0])


# ---- request bodies have a limit, enforced while they are read --------------------------------


# Where each dialect lives, and how its refusal reads.
DIALECT_POSTS = {
    "native": "/v1/users",
    "mt5": "/api/user/add?group=demoforex",
    "mt5 legacy": "/user_add?group=demoforex",
    "ctrader": "/v2/webserv/traders?token=x",
    "cid": "/cid/ctid/create",
    "traderevolution": "/proftrading/rest/auth/token",
}


def _check_refusal(dialect: str, reply: Reply) -> None:
    assert reply.status == 413, (dialect, reply.body)
    body = reply.json()
    if dialect == "native":
        assert reply.headers["content-type"] == "application/problem+json"
        assert body["code"] == "http.body_too_large"
    elif dialect.startswith("mt5"):
        assert body["retcode"] == "3 Invalid parameters"
    elif dialect in ("ctrader", "cid"):
        assert body["error"]["errorCode"] == "INVALID_REQUEST"  # type: ignore[index]
    else:
        assert body["errorCode"] == "1.0.0.1"
    assert "larger than 64 KiB" in json.dumps(body)


def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent_in_each_dialect(
    shared_serve: Callable[..., Serving],
) -> None:
    server = shared_serve(BROKERPLANE_MAX_BODY_BYTES="65536")
    for dialect, target in DIALECT_POSTS.items():
        conn = Raw(server.port)
        try:
            # 300 MB announced, not a byte of it sent: the answer comes anyway, and the
            # connection closes (the rest of the body is never read).
            head = (
                f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\nAccept: application/json\r\n"
                "Content-Length: 300000000\r\nExpect: 100-continue\r\n\r\n"
            )
            conn.send(head.encode())
            reply = conn.reply()
            _check_refusal(dialect, reply)
            assert reply.headers["connection"] == "close"
            assert conn.closed_by_server()
        finally:
            conn.close()


def test_a_chunked_body_over_the_limit_is_refused_while_the_client_is_still_sending(
    shared_serve: Callable[..., Serving],
) -> None:
    server = shared_serve(BROKERPLANE_MAX_BODY_BYTES="65536")
    chunk = b"[" * 16384
    framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    for dialect in ("native", "mt5", "ctrader", "traderevolution"):
        conn = Raw(server.port)
        try:
            conn.send(
                f"POST {DIALECT_POSTS[dialect]} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\nAccept: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n".encode()
            )
            for _ in range(5):  # 80 KiB: past the limit, and the body is far from finished
                conn.send(framed)
            reply = conn.reply()
            _check_refusal(dialect, reply)
            assert conn.closed_by_server()
            # the client still has 300 MB to send: the server takes no more of it
            with pytest.raises(OSError):
                for _ in range(300 * 64):
                    conn.send(framed)
        finally:
            conn.close()


def test_a_body_within_the_limit_is_served_over_a_socket(
    shared_serve: Callable[..., Serving],
) -> None:
    server = shared_serve(BROKERPLANE_MAX_BODY_BYTES="65536")
    conn = Raw(server.port)
    try:
        body = json.dumps({"login": "nobody", "password": "x" * 60000}).encode()
        reply = conn.request(
            "POST", "/proftrading/rest/auth/token", {"Content-Type": "application/json"}, body
        )
        assert reply.status == 401, reply.body  # read, parsed and refused as a wrong password
    finally:
        conn.close()
