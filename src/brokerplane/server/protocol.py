"""The HTTP protocol of brokerplane's listeners: uvicorn's, plus a connection identity handed
to the app and a deadline for reading each request head.

Every accepted connection gets a `Connection` (api/connection.py) that each of its requests
carries in the ASGI scope; when the connection closes, what was bound to it ends (an MT5
session). A client must send a complete request head within `header_timeout` seconds: counted
from the connection's opening for the first request, and from the first byte of each later one
on a keep-alive connection (an idle keep-alive connection waits for uvicorn's keep-alive
timeout instead). A late head is answered 408 and the connection closed, so slowly trickled
headers (slowloris) cannot hold connections open.
"""

from __future__ import annotations

import asyncio
from typing import Any

from brokerplane.api.connection import Connection, attach

_TIMEOUT_408 = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 37\r\nconnection: close\r\n\r\nthe request head was not sent in time"
)


def base_protocol() -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol: httptools when installed (uvicorn[standard]), else h11."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard]
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol
    return HttpToolsProtocol


class _ConnectionApp:
    """The app as one connection calls it: every request's scope carries the connection, and
    reaching the app means the request head is complete."""

    __slots__ = ("app", "protocol")

    def __init__(self, app: Any, protocol: Any) -> None:
        self.app = app
        self.protocol = protocol

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.protocol.head_read()
        attach(scope, self.protocol.brokerplane_connection)
        await self.app(scope, receive, send)


def protocol_class(header_timeout: float, base: type[Any] | None = None) -> type[asyncio.Protocol]:
    """A uvicorn HTTP protocol class (for `uvicorn.Config(http=...)`) with connection identity
    and the request-head deadline."""
    parent: type[Any] = base if base is not None else base_protocol()

    class BrokerplaneHttpProtocol(parent):  # type: ignore[misc]  # uvicorn's class, chosen at run time
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.brokerplane_connection = Connection()
            self.app: Any = _ConnectionApp(self.config.loaded_app, self)
            self._head_timer: asyncio.TimerHandle | None = None
            self._awaiting_head = False  # idle between requests: the next byte starts a head
            self._head_bytes = 0

        # -- the request-head deadline

        def _arm_head_timer(self) -> None:
            self._cancel_head_timer()
            self._head_bytes = 0
            self._head_timer = self.loop.call_later(header_timeout, self._head_timed_out)

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.transport is None or self.transport.is_closing():
                return
            if self._head_bytes:
                self.transport.write(_TIMEOUT_408)
            self.transport.close()

        def head_read(self) -> None:
            """A request head is complete (its app call starts)."""
            self._cancel_head_timer()
            self._awaiting_head = False

        # -- uvicorn's protocol callbacks

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm_head_timer()

        def data_received(self, data: bytes) -> None:
            if self._awaiting_head:
                self._awaiting_head = False
                self._arm_head_timer()
            if self._head_timer is not None:
                self._head_bytes += len(data)
            super().data_received(data)

        def on_response_complete(self) -> None:
            self._cancel_head_timer()
            self._awaiting_head = True
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            try:
                super().connection_lost(exc)
            finally:
                self.brokerplane_connection.close()

    BrokerplaneHttpProtocol.__qualname__ = f"BrokerplaneHttpProtocol[{parent.__name__}]"
    return BrokerplaneHttpProtocol
