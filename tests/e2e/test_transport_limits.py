"""What the listeners of `brokerplane serve` bound on the wire (raw sockets): request heads have a
deadline (slowloris), and bodies over the limit are refused while they are still being sent."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.e2e.transport_support import Raw, Reply, Serving, _database, free_port

# What the command line or the wire answers: SQLite only (tests/storage runs the SQL on both).
pytestmark = pytest.mark.engines("sqlite")


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
                free_port(), url, where / f"serve-{len(started)}.log", *args, **env
            )
        server = started[key]
        assert server.proc.poll() is None, server.log.read_text(errors="replace")
        return server

    yield start
    for server in started.values():
        server.stop()


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
