"""What the server tests share: a free port, a raw HTTP/1.1 connection, MT5's sign-in over it,
the app under uvicorn in a thread of the test process, and `brokerplane serve` in a process of
its own (waited for until it answers, stopped however it ended)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from click.testing import CliRunner, Result

from brokerplane.api.mt5.auth import password_hash, rand_answer
from brokerplane.cli.main import main

MANAGER, PASSWORD = 1005, "Manag3r!pw"
VICTIM, VICTIM_PASSWORD = 1006, "Vict1m!pw"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


_free_port = free_port  # the name other test directories import


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


# ---- the app under uvicorn in a thread of this process ------------------------------------------


@contextlib.contextmanager
def in_thread(config: uvicorn.Config) -> Iterator[str]:
    """A uvicorn server on a thread of this process; yields its base URL once it listens."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# ---- `brokerplane serve` in a process of its own ------------------------------------------------

SERVE = (sys.executable, "-m", "brokerplane.cli.main")


class ServeProcess:
    """`brokerplane serve ARGS` (or `program serve ARGS`) in a process of its own, its output
    appended to `log`, its log level warning unless `env` says."""

    def __init__(
        self,
        args: Sequence[str],
        log: Path,
        *,
        program: Sequence[str] = SERVE,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.log = log
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*program, "serve", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "BROKERPLANE_LOG_LEVEL": "warning", **(env or {})},
        )

    def wait_ready(self, url: str, *, verify: bool | ssl.SSLContext = True) -> None:
        """Until `url` (a /ready) answers 200; fails the test, with the log, if the process
        ends first. A server answers within seconds on a quiet machine; a busy shared one (load
        20 on 2 CPUs) has taken over a minute to start several at once."""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(url, verify=verify, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=0.1)  # returns at once if the process ends
        self.stop()
        pytest.fail(f"the server did not become ready:\n{self.log.read_text(errors='replace')}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, no goodbye."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._log.close()

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it has not ended in 20 seconds; its exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        self._log.close()
        return self.proc.returncode


class ServerProcess(ServeProcess):
    """`brokerplane serve` (or `program serve`) on 127.0.0.1, a free port or `port`, and the
    given database; `wait_ready()` waits for it."""

    def __init__(
        self,
        url: str,
        log: Path,
        *args: str,
        port: int | None = None,
        program: Sequence[str] = SERVE,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        listen = ["--host", "127.0.0.1", "--port", str(self.port), "--database-url", url]
        super().__init__([*listen, *args], log, program=program, env=extra_env)

    def wait_ready(self, url: str | None = None, *, verify: bool | ssl.SSLContext = True) -> None:
        super().wait_ready(url or self.base + "/ready", verify=verify)


class Serving(ServerProcess):
    """A `ServerProcess` on `port` and `database`, with `args` and settings `env`, ready."""

    def __init__(self, port: int, database: str, log: Path, *args: str, **env: str) -> None:
        super().__init__(database, log, *args, port=port, extra_env=env)
        self.wait_ready()


def _database(where: Path) -> str:
    """A migrated SQLite database with two MT5 managers, made with the CLI."""
    url = f"sqlite:///{(where / 'transport.db').as_posix()}"
    assert run("db", "upgrade", "--database-url", url).exit_code == 0
    for login, password in ((MANAGER, PASSWORD), (VICTIM, VICTIM_PASSWORD)):
        created = run(
            "manager",
            "create",
            "--database-url",
            url,
            "--login",
            str(login),
            "--name",
            f"CRM {login}",
            "--password",
            password,
            "--rights",
            "admin",
            "--groups",
            "*",
        )
        assert created.exit_code == 0, created.output
    return url
