"""What the MT5 TCP tests share: the managers and limits of the server they start, `_serve`
(a real `brokerplane serve --mt5-tcp-port` process over a demo database), and helpers."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from brokerplane.cli.main import main
from tests.e2e.mt5client import Mt5Client
from tests.e2e.mt5tcpclient import DONE, Mt5TcpClient
from tests.e2e.transport_support import ServeProcess, free_port

MANAGER = 1005
PASSWORD = "Manag3r!pw"
LOCKED_MANAGER = 1006  # spends its sign-in attempts in the lockout tests only
IDLE_S = 4
MAX_MESSAGE = 8192
GROUP = "demo-usd"


def _cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@dataclass
class Server:
    port: int
    tcp_port: int
    cert: Path
    log: Path

    def client(self, **kwargs: object) -> Mt5TcpClient:
        return Mt5TcpClient("127.0.0.1", self.tcp_port, **kwargs)  # type: ignore[arg-type]

    def session(self, crypt: bool = True) -> Mt5TcpClient:
        mt5 = self.client().connect()
        mt5.auth(MANAGER, PASSWORD, crypt=crypt)
        return mt5

    def http(self) -> Mt5Client:
        mt5 = Mt5Client(f"http://127.0.0.1:{self.port}")
        mt5.auth(MANAGER, PASSWORD)
        return mt5


@contextlib.contextmanager
def _serve(tmp: Path, settings: dict[str, str]) -> Iterator[Server]:
    url = f"sqlite:///{(tmp / 'tcp.db').as_posix()}"
    _cli("tls", "self-signed", "--out-dir", str(tmp / "tls"))
    _cli("demo", "--database-url", url, "--json", "--accounts", "30")
    for login in (MANAGER, LOCKED_MANAGER):
        _cli(
            "manager",
            "create",
            "--database-url",
            url,
            "--login",
            str(login),
            "--name",
            "CRM",
            "--password",
            PASSWORD,
            "--rights",
            "admin",
            "--groups",
            "*",
        )
    port, tcp_port = free_port(), free_port()
    log = tmp / "serve.log"
    cert = tmp / "tls" / "cert.pem"
    env = {
        "BROKERPLANE_RATE_LIMIT_PER_MINUTE": "0",
        "BROKERPLANE_MT5_TCP_IDLE_TIMEOUT_S": str(IDLE_S),
        "BROKERPLANE_MT5_TCP_PING_INTERVAL_S": "1",
        "BROKERPLANE_HEADER_TIMEOUT_S": "2",
        "BROKERPLANE_MAX_BODY_BYTES": str(MAX_MESSAGE),
        **settings,
    }
    listen = ["--host", "127.0.0.1", "--port", str(port), "--database-url", url]
    tls = ["--tls-cert", str(cert), "--tls-key", str(tmp / "tls" / "key.pem")]
    server = ServeProcess([*listen, "--mt5-tcp-port", str(tcp_port), *tls], log, env=env)
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", tcp_port), timeout=1).close()
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server did not start:\n{log.read_text(errors='replace')}")
                time.sleep(0.2)
        yield Server(port, tcp_port, cert, log)
    finally:
        server.stop()
    assert "Traceback" not in log.read_text(errors="replace")


def _open_account(mt5: Mt5TcpClient, name: str = "Ann Example") -> int:
    answer = mt5.send(
        "USER_ADD",
        {"LOGIN": 0, "GROUP": GROUP, "NAME": name, "LEVERAGE": 100},
        body={"MainPassword": "Abc123!xyz", "InvestPassword": "Abc123!uvw", "City": "Riga"},
    )
    assert answer.retcode == DONE, answer
    login = int(answer.params["LOGIN"])
    assert answer.json()["Login"] == str(login)
    return login
