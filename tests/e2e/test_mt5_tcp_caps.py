"""MT5's native TCP protocol against a real `brokerplane serve --mt5-tcp-port` process with
connection caps: an address over its cap is turned away, connections not signed in are capped,
and signed-in managers keep working."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import pytest

from tests.e2e.mt5_tcp_support import Server, _serve
from tests.e2e.mt5tcpclient import DONE

# ---- connection caps -------------------------------------------------------------------------

PER_ADDRESS = 4
UNAUTHENTICATED = 6


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    caps = {
        "BROKERPLANE_MT5_TCP_MAX_PER_ADDRESS": str(PER_ADDRESS),
        "BROKERPLANE_MT5_TCP_MAX_UNAUTHENTICATED": str(UNAUTHENTICATED),
        "BROKERPLANE_HEADER_TIMEOUT_S": "30",  # idle connections stay for the whole test
        "BROKERPLANE_MT5_TCP_IDLE_TIMEOUT_S": "60",
    }
    with _serve(tmp_path_factory.mktemp("mt5tcpcaps"), caps) as running:
        yield running


def _idle(server: Server, source: str) -> socket.socket:
    """A connection from `source` (any 127.x address) that sends nothing."""
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(10)
    sock.connect(("127.0.0.1", server.tcp_port))
    return sock


def _turned_away(sock: socket.socket) -> str:
    """The one packet a connection over a cap gets (its text), checking the close after it."""
    head = b""
    while len(head) < 9:
        chunk = sock.recv(9 - len(head))
        assert chunk, "closed without a protocol error"
        head += chunk
    body = b""
    while len(body) < int(head[:4], 16):
        body += sock.recv(int(head[:4], 16) - len(body))
    with contextlib.suppress(ConnectionError):
        assert sock.recv(1) == b""
    return body.decode("utf-16-le")


def _close(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()
    time.sleep(1)  # the server notices the closes and frees their slots


def test_an_address_over_its_connection_cap_is_turned_away_and_managers_still_sign_in(
    capped: Server,
) -> None:
    with capped.session() as manager:
        fillers = [_idle(capped, "127.0.0.2") for _ in range(PER_ADDRESS)]
        try:
            with _idle(capped, "127.0.0.2") as extra:
                text = _turned_away(extra)
            assert text.startswith("|RETCODE=12 Too frequent requests|REASON=too many conn")
            assert "from this address" in text
            assert manager.send("TEST_ACCESS").retcode == DONE
            with capped.session() as another:
                assert another.send("TEST_ACCESS").retcode == DONE
        finally:
            _close(fillers)


def test_connections_not_signed_in_are_capped_and_signed_in_managers_keep_working(
    capped: Server,
) -> None:
    with capped.session() as manager:
        fillers = [_idle(capped, f"127.0.0.{3 + n % 2}") for n in range(UNAUTHENTICATED)]
        try:
            with _idle(capped, "127.0.0.5") as extra:
                assert "waiting to sign in" in _turned_away(extra)
            assert manager.send("TEST_ACCESS").retcode == DONE
        finally:
            _close(fillers)
        with capped.session() as again:  # the slots come back once the idle ones go
            assert again.send("TEST_ACCESS").retcode == DONE
