"""A small HTTP/1.1 client (keep-alive, Content-Length or chunked) and the loop that drives
it from many connections at once; the CSV report read as it streams."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from harness import Load, percentile

# ---- a small HTTP/1.1 client (keep-alive, Content-Length or chunked) -----------------------


class Http:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.mt5_authenticated = False  # an MT5 session lives on its connection
        self.tcp_number = 0  # the MT5 TCP protocol's packet number
        self.tcp_prefixed = False  # MT5WEBAPI goes before the connection's first packet
        self.last_headers: dict[str, str] = {}  # of the last answer, names in lower case

    @classmethod
    async def open(cls, host: str, port: int) -> Http:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        return cls(reader, writer)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        sink: Callable[[bytes], None] | None = None,
    ) -> tuple[int, bytes]:
        """One exchange; with `sink`, the body is handed over in pieces and not kept."""
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        fields = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        self.last_headers = fields
        parts: list[bytes] = []
        keep = sink or parts.append
        if fields.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                keep(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
        else:
            keep(await self.reader.readexactly(int(fields.get("content-length", "0"))))
        return status, b"".join(parts)


async def one_request(
    host: str,
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> tuple[int, bytes]:
    conn = await Http.open(host, port)
    try:
        return await conn.request(method, path, headers, body)
    finally:
        await conn.close()


async def drive(
    port: int,
    connections: int,
    seconds: float,
    worker: Callable[[Http, Callable[[float], None]], Any],
    fresh_connections: bool = False,
) -> Load:
    """Run `worker(conn, done)` in a loop on each connection for `seconds`; `done(started)`
    counts one operation. With fresh_connections, each loop opens its own connection."""
    latencies: list[float] = []
    errors = 0
    first_error = ""
    stop = time.monotonic() + seconds

    def done(started: float) -> None:
        latencies.append(time.monotonic() - started)

    async def one() -> None:
        nonlocal errors, first_error
        conn = None if fresh_connections else await Http.open("127.0.0.1", port)
        while time.monotonic() < stop:
            c = await Http.open("127.0.0.1", port) if fresh_connections else conn
            assert c is not None
            try:
                await worker(c, done)
            except (AssertionError, OSError, asyncio.IncompleteReadError, ValueError) as err:
                errors += 1
                first_error = first_error or f"{type(err).__name__}: {err}"[:200]
                if not fresh_connections:
                    await c.close()
                    conn = c = await Http.open("127.0.0.1", port)
            if fresh_connections:
                await c.close()
        if conn is not None:
            await conn.close()

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(connections)))
    elapsed = time.monotonic() - started
    latencies.sort()
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    return Load(
        len(latencies),
        elapsed,
        p50 and p50 * 1000,
        p99 and p99 * 1000,
        errors,
        first_error=first_error,
    )


async def fetch_report(port: int, key: str) -> tuple[int, float]:
    """GET the CSV report, counting lines as they stream; (data rows, seconds)."""
    conn = await Http.open("127.0.0.1", port)
    lines = 0

    def count(piece: bytes) -> None:
        nonlocal lines
        lines += piece.count(b"\n")

    started = time.monotonic()
    try:
        status, _ = await conn.request(
            "GET", "/v1/reports/users?format=csv", {"Authorization": f"Bearer {key}"}, sink=count
        )
    finally:
        await conn.close()
    if status != 200:
        raise RuntimeError(f"report answered {status}")
    return lines - 1, time.monotonic() - started
