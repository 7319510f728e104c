"""The request body limit: bodies larger than the limit, or that stall, are refused while they
are read, before any authentication or parsing, in the dialect of the path they were sent to.

A declared `Content-Length` over the limit is refused without reading a byte of the body (and
before `Expect: 100-continue` lets the client send it); a body without one (chunked) is read
up to the limit and refused as soon as it goes past. The app then gets the body, whole, from
memory of at most the limit. A body of which nothing arrives for `idle_timeout` seconds is
refused 408. A refusal closes the connection: the rest of the body is never read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# How a dialect refuses a body: (request, HTTP status 413 or 408, reason) -> its error response.
Refusal = Callable[[Request, int, str], Response]


@dataclass(frozen=True)
class Route:
    """Where a dialect lives: path prefixes (a prefix matches itself and what is below it) and
    exact paths."""

    refusal: Refusal
    prefixes: tuple[str, ...] = ()
    paths: frozenset[str] = frozenset()

    def matches(self, path: str) -> bool:
        if path in self.paths:
            return True
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.prefixes)


def describe(limit: int) -> str:
    """The limit in words: "1 MiB", "512 KiB", "1500 bytes"."""
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if limit >= size and limit % size == 0:
            return f"{limit // size} {unit}"
    return f"{limit} bytes"


class BodyLimit:
    """Plain ASGI middleware enforcing `limit` on every HTTP request body."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        idle_timeout: float,
        routes: Sequence[Route],
        default: Refusal,
    ) -> None:
        self.app = app
        self.limit = limit
        self.idle_timeout = idle_timeout
        self.routes = tuple(routes)
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        too_large = f"the request body is larger than {describe(self.limit)}"
        if declared is not None and declared > self.limit:
            await self._refuse(scope, receive, send, 413, too_large)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                # asyncio.timeout, not wait_for: the same deadline on the same awaitable,
                # without a task made for each receive
                async with asyncio.timeout(self.idle_timeout):
                    message = await receive()
            except TimeoutError:
                stalled = f"no part of the request body arrived for {self.idle_timeout:g} s"
                await self._refuse(scope, receive, send, 408, stalled)
                return
            if message["type"] == "http.disconnect":
                return  # the client is gone: nothing to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send, 413, too_large)
                return
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        del chunks
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # then the client's disconnect, when it comes

        await self.app(scope, replay, send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status: int, reason: str
    ) -> None:
        request = Request(scope)
        path = scope.get("path", "")
        refusal = next((r.refusal for r in self.routes if r.matches(path)), self.default)
        response = refusal(request, status, reason)
        response.headers["connection"] = "close"
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
