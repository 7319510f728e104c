"""Loopback HTTP/1.1 pieces for the client's tests: a proxy in front of the live server that can
drop an answer after the server has acted on the request, and a scripted (hostile) server."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Self

import httpx

MAX_HEAD = 64 * 1024


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answer_status: int | None = None
    answer_headers: dict[str, str] = field(default_factory=dict)
    dropped: bool = False


def read_request(stream: socket.socket, buffer: bytearray) -> Seen | None:
    """One request off a keep-alive connection; None when the client closed it."""
    while b"\r\n\r\n" not in buffer:
        chunk = stream.recv(65536)
        if not chunk:
            return None
        buffer += chunk
        if len(buffer) > MAX_HEAD:
            raise ValueError("request head too large")
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = bytearray(rest)
    while len(body) < length:
        chunk = stream.recv(65536)
        if not chunk:
            return None
        body += chunk
    buffer[:] = body[length:]
    return Seen(method, target, headers, bytes(body[:length]))


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Loopback:
    """A threaded TCP server on 127.0.0.1; `serve(conn)` handles each connection."""

    def __init__(self) -> None:
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with contextlib.suppress(ConnectionError, OSError):
                    owner.serve(self.request)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def serve(self, conn: socket.socket) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _answer(status: int, headers: Iterable[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status} X"]
    skip = {"content-length", "transfer-encoding", "connection"}
    lines += [f"{k}: {v}" for k, v in headers if k.lower() not in skip]
    lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class DroppingProxy(_Loopback):
    """Forwards every request to `upstream`; for those `drop(seen)` picks, the server's answer
    is read and then thrown away: the connection closes with nothing sent back, as when a
    network drops an answer after the server acted on the request."""

    def __init__(self, upstream: str, drop: Callable[[Seen], bool]) -> None:
        super().__init__()
        self.upstream = httpx.Client(base_url=upstream, timeout=60)
        self.drop = drop
        self.seen: list[Seen] = []
        self._lock = threading.Lock()

    def serve(self, conn: socket.socket) -> None:
        buffer = bytearray()
        while (seen := read_request(conn, buffer)) is not None:
            headers = {
                k: v
                for k, v in seen.headers.items()
                if k not in ("host", "content-length", "connection")
            }
            answer = self.upstream.request(
                seen.method, seen.path, content=seen.body, headers=headers
            )
            seen.answer_status = answer.status_code
            seen.answer_headers = {k.lower(): v for k, v in answer.headers.items()}
            with self._lock:
                self.seen.append(seen)
                seen.dropped = self.drop(seen)
            if seen.dropped:
                conn.close()
                return
            conn.sendall(_answer(answer.status_code, answer.headers.items(), answer.content))

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.upstream.close()


Script = Callable[[Seen], Iterator[bytes]]


class ScriptedServer(_Loopback):
    """Answers each request with the bytes `script(request)` yields, then closes: a server that
    may lie, stall or never stop talking. `script` may yield forever; writing stops when the
    client hangs up."""

    def __init__(self, script: Script) -> None:
        super().__init__()
        self.script = script
        self.seen: list[Seen] = []
        self.sent = 0

    def serve(self, conn: socket.socket) -> None:
        buffer = bytearray()
        seen = read_request(conn, buffer)
        if seen is None:
            return
        self.seen.append(seen)
        for piece in self.script(seen):
            conn.sendall(piece)
            self.sent += len(piece)
        conn.close()


def head(status: int, *headers: str) -> bytes:
    """A response head; `headers` as "name: value"."""
    return (
        "\r\n".join([f"HTTP/1.1 {status} X", *headers, "connection: close"]) + "\r\n\r\n"
    ).encode()


def whole(status: int, body: bytes, content_type: str = "application/json", *extra: str) -> bytes:
    return (
        head(status, f"content-type: {content_type}", f"content-length: {len(body)}", *extra) + body
    )
