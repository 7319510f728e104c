"""The MT5 Web API's native TCP face (the "text protocol" of MetaQuotes' PHP and .NET libraries,
shared/specs/mt5-webapi-tcp.md; the wire's pieces are in api/mt5/tcpwire.py): the `MT5WEBAPI`
prefix, 9-byte hex headers, UTF-16LE `COMMAND|NAME=VALUE|...|\\r\\n` lines with an optional body,
the AUTH_START/AUTH_ANSWER handshake, the optional AES-256-OFB channel, pings and the idle
timeout; one session per connection.

Commands run through the same layer as `/api/...` (api/mt5/auth.py): the same handshake
checks, lockout, manager rights, answers and retcodes. Only the wire differs: `TOTAL=`,
`TICKET=`, `TIME=` and the answer's top-level extras (`LOGIN=`, `TRANS_ID=`, ...) go in the
answer line, any other answer is the JSON body after it, every scalar a string.

Hostile input is bounded: a message (all packets of one number) may not exceed
`max_body_bytes`, nor `HANDSHAKE_MESSAGE_BYTES` before the sign-in; each message must arrive
whole within `header_timeout_s` of its first byte and the handshake within `header_timeout_s`
+ 10 s of the connection; a connection silent for `mt5_tcp_idle_timeout_s` is dropped. A
header that is not 9 hex digits, a body that is not UTF-16LE or a message over the limit is
answered (when a packet number is known, else as number 0) with
`|RETCODE=3 Invalid parameters|REASON=...|` and the connection is closed; nothing of a message
that did not arrive whole is run. A connection over a cap (`max_connections` in all,
`mt5_tcp_max_per_address` from one address, `mt5_tcp_max_unauthenticated` not yet signed in)
gets one `|RETCODE=12 Too frequent requests|REASON=...|` packet and is closed at once."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from brokerplane.api.mt5.auth import Sessions
from brokerplane.api.mt5.errors import (
    ERR_PARAMS,
    retcode,
)
from brokerplane.api.mt5.tcpconnection import Closed, CommandHook, Conversation, Limits, log
from brokerplane.api.mt5.tcpwire import (
    TOO_MANY,
    ProtocolViolation,
    header,
    render,
)
from brokerplane.application.app import Application

# How long a stopping server waits for connections answering a command to finish that answer.
SHUTDOWN_GRACE_S = 10.0

# ---- the listener -----------------------------------------------------------------------------


async def _first_byte(sock: socket.socket) -> bytes:
    """The connection's first byte, left unread (to tell TLS from the plain protocol)."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), readable)
    try:
        await ready
    finally:
        loop.remove_reader(sock.fileno())
    return sock.recv(1, socket.MSG_PEEK)


@dataclass
class _Slot:
    """A connection's share of the caps: its address, and whether it is yet to sign in."""

    host: str | None
    pending: bool = True


def _turn_away(conn: socket.socket, reason: str) -> None:
    """Close a connection over a cap at once, after one best-effort protocol error packet."""
    log.debug("MT5 TCP connection refused: %s", reason)  # a flood must not flood the log
    text = render("", {"retcode": retcode(TOO_MANY), "reason": reason}).encode("utf-16-le")
    with contextlib.suppress(OSError):
        conn.setblocking(False)
        conn.send(header(len(text), 0) + text)
    conn.close()


class Mt5TcpServer:
    """The TCP listener, shaped like the uvicorn servers `brokerplane serve` runs beside it:
    `serve(sockets=...)` until `should_exit`. With a TLS context, a connection whose first byte
    opens a TLS handshake (0x16) is served over TLS, any other in plain text."""

    def __init__(
        self,
        services: Application,
        sessions: Sessions,
        limits: Limits,
        *,
        tls: ssl.SSLContext | None = None,
        max_connections: int = 4096,
        max_per_address: int = 64,
        max_unauthenticated: int = 256,
        on_command: CommandHook | None = None,
    ) -> None:
        self.services, self.sessions, self.limits = services, sessions, limits
        self.on_command = on_command
        self.tls = tls
        self.max_connections = max_connections
        self.max_per_address = max_per_address
        self.max_unauthenticated = max_unauthenticated
        self._per_address: dict[str | None, int] = {}
        self._unauthenticated = 0
        self.should_exit = False
        self.force_exit = False
        self.started = False
        self._connections: set[asyncio.Task[None]] = set()
        self._talks: dict[asyncio.Task[Any], Conversation] = {}
        self._ids = 0

    async def serve(self, sockets: Iterable[socket.socket]) -> None:
        accepting = []
        for sock in sockets:
            sock.setblocking(False)
            sock.listen(1024)
            accepting.append(asyncio.create_task(self._accept(sock)))
        self.started = True
        try:
            # should_exit is set from a signal handler, as uvicorn's is: polled, not an Event.
            while not self.should_exit:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        finally:
            for task in accepting:
                task.cancel()
            await self._close_connections()
            await asyncio.gather(*accepting, return_exceptions=True)

    async def _close_connections(self) -> None:
        """End every connection: one waiting for its next message at once; one answering a
        command after its answer (the command may be running on a worker thread, in a
        transaction, which cancelling the task would not stop), for at most SHUTDOWN_GRACE_S
        unless the exit is forced."""
        answering = []
        for task in list(self._connections):
            talk = self._talks.get(task)
            if talk is not None and talk.busy and not self.force_exit:
                talk.closing = True
                answering.append(task)
            else:
                task.cancel()
        if answering:
            _done, late = await asyncio.wait(answering, timeout=SHUTDOWN_GRACE_S)
            for task in late:
                log.warning(
                    "MT5 TCP connection still answering after %ss: cancelled", SHUTDOWN_GRACE_S
                )
                task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, address = await loop.sock_accept(sock)
            except OSError as exc:  # out of descriptors, say: wait, do not spin
                log.warning("MT5 TCP listener cannot accept: %s", exc)
                await asyncio.sleep(0.5)
                continue
            host = address[0] if isinstance(address, tuple) and address else None
            over = self._over_cap(host)
            if over is not None:
                _turn_away(conn, over)
                continue
            self._ids += 1
            slot = _Slot(host)
            self._per_address[host] = self._per_address.get(host, 0) + 1
            self._unauthenticated += 1
            task = asyncio.create_task(self._connection(conn, address, self._ids, slot))
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)
            task.add_done_callback(functools.partial(self._release, slot))

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def _over_cap(self, host: str | None) -> str | None:
        """Why a new connection from `host` is refused, or None when it is not."""
        if len(self._connections) >= self.max_connections:
            return "too many connections"
        if self._per_address.get(host, 0) >= self.max_per_address:
            return "too many connections from this address"
        if self._unauthenticated >= self.max_unauthenticated:
            return "too many connections waiting to sign in"
        return None

    def _signed_in(self, slot: _Slot) -> None:
        if slot.pending:
            slot.pending = False
            self._unauthenticated -= 1

    def _release(self, slot: _Slot, _task: object = None) -> None:
        self._signed_in(slot)
        left = self._per_address.get(slot.host, 0) - 1
        if left > 0:
            self._per_address[slot.host] = left
        else:
            self._per_address.pop(slot.host, None)

    async def _connection(
        self, conn: socket.socket, address: Any, number: int, slot: _Slot | None = None
    ) -> None:
        loop = asyncio.get_running_loop()
        host = address[0] if isinstance(address, tuple) and address else None
        writer: asyncio.StreamWriter | None = None
        peer = ("mt5tcp", number)
        try:
            conn.setblocking(False)
            use_tls = None
            if self.tls is not None:
                first = await asyncio.wait_for(_first_byte(conn), self.limits.message_timeout_s)
                if not first:
                    conn.close()
                    return
                use_tls = self.tls if first == b"\x16" else None
            reader = asyncio.StreamReader(limit=1 << 16)
            protocol = asyncio.StreamReaderProtocol(reader)
            transport, _ = await loop.connect_accepted_socket(
                lambda: protocol,
                conn,
                ssl=use_tls,
                ssl_handshake_timeout=self.limits.message_timeout_s if use_tls else None,
            )
            writer = asyncio.StreamWriter(transport, protocol, reader, loop)
            signed = None if slot is None else functools.partial(self._signed_in, slot)
            talk = Conversation(
                reader,
                writer,
                self.services,
                self.sessions,
                self.limits,
                number,
                host,
                signed,
                self.on_command,
            )
            task = asyncio.current_task()
            if task is not None:
                self._talks[task] = talk
            try:
                await talk.run()
            except ProtocolViolation as bad:
                log.warning("MT5 TCP protocol error from %s: %s", host, bad)
                with contextlib.suppress(Exception):
                    await talk.send(
                        bad.number, render("", {"retcode": retcode(ERR_PARAMS), "reason": str(bad)})
                    )
        except (Closed, asyncio.IncompleteReadError, ConnectionError, TimeoutError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("MT5 TCP connection from %s failed", host)
        finally:
            current = asyncio.current_task()
            if current is not None:
                self._talks.pop(current, None)
            self.sessions.end(peer)
            if writer is not None:
                writer.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.wait_closed(), 1)
            else:
                conn.close()
