"""The MT5 Web API's native TCP face (the "text protocol" of MetaQuotes' PHP and .NET libraries,
shared/specs/mt5-webapi-tcp.md; the wire's pieces are in api/mt5/tcpwire.py): the `MT5WEBAPI`
prefix, 9-byte hex headers, UTF-16LE `COMMAND|NAME=VALUE|...|\\r\\n` lines with an optional body,
the AUTH_START/AUTH_ANSWER handshake, the optional AES-256-OFB channel, pings and the idle
timeout; one session per connection.

Commands run through the same layer as `/api/...` (api/mt5/runner.py): the same handshake
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
gets one `|RETCODE=12 Too frequent requests|REASON=...|` packet and is closed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import secrets
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi.concurrency import run_in_threadpool

from brokerplane.api.kit.idempotency import SentKey
from brokerplane.api.mt5 import runner
from brokerplane.api.mt5.protocol import Answer, Params
from brokerplane.api.mt5.retcodes import (
    ERR_NOTIMPLEMENT,
    ERR_PARAMS,
    ERR_PERMISSIONS,
    Mt5Error,
    code_for,
    retcode,
)
from brokerplane.api.mt5.session import AUTH_WINDOW_S, HandshakeFailed, Sessions, rand_answer
from brokerplane.api.mt5.tcpwire import (
    CHUNK,
    CRYPT_METHODS,
    FLAG_MORE,
    HANDSHAKE_MESSAGE_BYTES,
    HEADER_SIZE,
    IDEMPOTENCY_PARAMETER,
    INVALID_ACCOUNT,
    PREFIX,
    SERVER_NUMBERS,
    TOO_MANY,
    UNSUPPORTED,
    Direction,
    ProtocolViolation,
    channel,
    header,
    parse_command,
    parse_header,
    raw_names,
    render,
)
from brokerplane.application.services import Services
from brokerplane.core.errors import CoreError

log = logging.getLogger("brokerplane.mt5")
access_log = logging.getLogger("brokerplane.access")

# Told each command answered: (the command as MT5 names it, or "unknown"; seconds taken).
CommandHook = Callable[[str, float], None]

# ---- one connection ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    idle_timeout_s: float = 180.0
    message_timeout_s: float = 10.0  # a message's packets, from its first byte
    max_message_bytes: int = 1 << 20
    ping_interval_s: float = 20.0  # the server's empty packets (0: none)


class _Closed(Exception):
    """The conversation is over (QUIT, a refused handshake): close quietly."""


class Conversation:
    """The protocol on one connection: read messages, answer them in order, one session."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        services: Services,
        sessions: Sessions,
        limits: Limits,
        connection_id: int,
        address: str | None,
        on_signed_in: Callable[[], None] | None = None,
        on_command: CommandHook | None = None,
    ) -> None:
        self.reader, self.writer = reader, writer
        self.on_command = on_command
        self.services, self.sessions, self.limits = services, sessions, limits
        self.peer = ("mt5tcp", connection_id)
        self.address = address
        self.on_signed_in = on_signed_in
        self.loop = asyncio.get_running_loop()
        self.opened = self.loop.time()
        self.prefixed = False
        self.inbound: Direction | None = None
        self.outbound: Direction | None = None
        self.signed_in: runner.SignedIn | None = None
        self.pending_crypt: str = "NONE"
        self.write_lock = asyncio.Lock()
        self.next_ping = SERVER_NUMBERS[0]

    # -- reading

    async def _within(self, size: int, deadline: float) -> bytes:
        left = deadline - self.loop.time()
        if left <= 0:
            raise TimeoutError
        return await asyncio.wait_for(self.reader.readexactly(size), left)

    def _wait_limit(self) -> float:
        if self.signed_in is not None:
            return self.limits.idle_timeout_s
        handshake_by = self.opened + self.limits.message_timeout_s + AUTH_WINDOW_S
        return min(self.limits.idle_timeout_s, handshake_by - self.loop.time())

    async def read_message(self) -> tuple[int, bytes]:
        """The next whole message: its number and (decrypted) body; b"" for an empty packet."""
        wait = self._wait_limit()
        if wait <= 0:
            raise TimeoutError
        first = await asyncio.wait_for(self.reader.readexactly(1), wait)
        deadline = self.loop.time() + self.limits.message_timeout_s
        if not self.prefixed:
            self.prefixed = True
            if first == PREFIX[:1]:
                rest = await self._within(len(PREFIX) - 1, deadline)
                if first + rest != PREFIX:
                    raise ProtocolViolation("the connection does not start with MT5WEBAPI")
                first = await self._within(1, deadline)
            # else: a client that omits the prefix (spec §9 design: tolerated)
        raw = first + await self._within(HEADER_SIZE - 1, deadline)
        length, number, flags = parse_header(raw)
        limit = self.limits.max_message_bytes
        if self.signed_in is None:  # AUTH_START/AUTH_ANSWER only: a few hundred bytes
            limit = min(limit, HANDSHAKE_MESSAGE_BYTES)
        parts: list[bytes] = []
        total = 0
        while True:
            total += length
            if total > limit:
                raise ProtocolViolation(f"the message is larger than {limit} bytes", number)
            body = await self._within(length, deadline) if length else b""
            if body and self.inbound is not None:
                body = self.inbound.apply(body)
            parts.append(body)
            if not flags & FLAG_MORE:
                return number, b"".join(parts)
            raw = await self._within(HEADER_SIZE, deadline)
            length, next_number, flags = parse_header(raw)
            if next_number != number:
                raise ProtocolViolation("a packet of another number inside a message", number)

    # -- writing

    async def _drain(self) -> None:
        await asyncio.wait_for(self.writer.drain(), self.limits.message_timeout_s)

    async def send(self, number: int, text: str) -> None:
        """One answer: split at CHUNK bytes, encrypted chunk by chunk, nothing in between."""
        data = text.encode("utf-16-le")
        async with self.write_lock:
            for start in range(0, max(len(data), 1), CHUNK):
                chunk = data[start : start + CHUNK]
                more = start + CHUNK < len(data)
                if chunk and self.outbound is not None:
                    chunk = self.outbound.apply(chunk)
                self.writer.write(header(len(chunk), number, FLAG_MORE if more else 0) + chunk)
                await self._drain()

    async def pings(self) -> None:
        """Empty packets numbered 4000-7FFF every ping interval, never inside an answer."""
        interval = self.limits.ping_interval_s
        while True:
            await asyncio.sleep(interval)
            async with self.write_lock:
                self.writer.write(header(0, self.next_ping))
                await self._drain()
            self.next_ping += 1
            if self.next_ping >= SERVER_NUMBERS[1]:
                self.next_ping = SERVER_NUMBERS[0]

    # -- the conversation

    async def run(self) -> None:
        pinging = asyncio.create_task(self.pings()) if self.limits.ping_interval_s > 0 else None
        try:
            while True:
                number, body = await self.read_message()
                if self.signed_in is not None and self.sessions.current(self.peer) is None:
                    raise _Closed  # the session ended under us (swept): a new one is needed
                if not body:
                    continue  # an empty packet: keep-alive, no answer
                await self.answer(number, body)
        finally:
            if pinging is not None:
                pinging.cancel()
                with contextlib.suppress(BaseException):
                    await pinging

    async def answer(self, number: int, body: bytes) -> None:
        """Answer one message, then count it and write its access-log line."""
        started = self.loop.time()
        seen: list[str] = []
        try:
            await self._answer(number, body, seen)
        finally:
            if seen:
                self._observed(seen[0], self.loop.time() - started)

    def _observed(self, upper: str, seconds: float) -> None:
        known = upper in ("AUTH_START", "AUTH_ANSWER") or upper in raw_names()
        command = upper if known else "unknown"
        if self.on_command is not None:
            self.on_command(command, seconds)
        if access_log.isEnabledFor(logging.INFO):
            manager = self.signed_in.login if self.signed_in is not None else None
            access_log.info("MT5 TCP %s", command, extra={
                "dialect": "mt5", "transport": "tcp", "command": command, "manager": manager,
                "latency_ms": round(seconds * 1000, 2), "client": self.address,
            })  # fmt: skip

    async def _answer(self, number: int, body: bytes, seen: list[str]) -> None:
        if len(body) % 2:
            raise ProtocolViolation("the body is not UTF-16LE text", number)
        try:
            text = body.decode("utf-16-le")
        except UnicodeDecodeError:
            raise ProtocolViolation("the body is not UTF-16LE text", number) from None
        name, pairs, rest = parse_command(text)
        if not name:
            return  # the libraries' explicit ping, `|\r\n`: no answer
        upper = name.upper()
        seen.append(upper)
        if upper == "AUTH_START":
            await self.auth_start(number, name, pairs)
        elif upper == "AUTH_ANSWER":
            await self.auth_answer(number, name, pairs)
        elif self.signed_in is None:
            reason = "not authenticated: send AUTH_START first"
            await self.send(number, render(name, {"retcode": retcode(ERR_PERMISSIONS),
                                                  "reason": reason}))  # fmt: skip
            raise _Closed
        else:
            await self.command(number, name, upper, pairs, rest)

    async def refuse(self, number: int, name: str, code: int, reason: str) -> None:
        await self.send(number, render(name, {"retcode": retcode(code), "reason": reason}))
        raise _Closed

    async def auth_start(self, number: int, name: str, pairs: list[tuple[str, str]]) -> None:
        if self.signed_in is not None:
            await self.send(number, render(name, {"retcode": retcode(ERR_PARAMS),
                                                  "reason": "already authenticated"}))  # fmt: skip
            return
        params = Params.decoded(pairs, b"")
        crypt = (params.text("crypt_method") or "NONE").strip().upper()
        if crypt not in CRYPT_METHODS:
            await self.refuse(number, name, ERR_PARAMS, "crypt_method must be NONE or AES256OFB")
        try:
            login = runner.start_login(params)
        except Mt5Error as err:
            await self.refuse(number, name, err.code, str(err))
            return
        self.pending_crypt = crypt
        rand = self.sessions.start(self.peer, login)
        await self.send(number, render(name, {"retcode": retcode(0),
                                              "version_access": runner.VERSION_ACCESS,
                                              "srv_rand": rand.hex()}))  # fmt: skip

    async def auth_answer(self, number: int, name: str, pairs: list[tuple[str, str]]) -> None:
        if self.signed_in is not None:
            await self.send(number, render(name, {"retcode": retcode(ERR_PARAMS),
                                                  "reason": "already authenticated"}))  # fmt: skip
            return
        params = Params.decoded(pairs, b"")
        cli_rand = runner.hex16(params.text("cli_rand"))
        if cli_rand is None:
            self.sessions.end(self.peer)
            await self.refuse(number, name, ERR_PARAMS, "cli_rand must be 32 hex characters")
            return
        answer = params.text("srv_rand_answer") or ""
        try:
            login, pw_hash = await run_in_threadpool(
                runner.check_answer, self.services, self.sessions, self.peer, answer, self.address
            )
        except HandshakeFailed as err:
            log.warning("MT5 TCP authentication failed from %s: %s", self.address, err)
            await self.refuse(number, name, INVALID_ACCOUNT, str(err))
            return
        except CoreError as err:  # the database is unavailable, say
            await self.refuse(number, name, code_for(err), "the sign-in could not be checked")
            return
        log.info("MT5 manager %s authenticated over TCP from %s", login, self.address)
        crypt_rand = secrets.token_bytes(256)
        await self.send(number, render(name, {
            "retcode": retcode(0), "version_access": runner.VERSION_ACCESS,
            "version_trade": runner.VERSION_TRADE,
            "cli_rand_answer": rand_answer(pw_hash, cli_rand), "crypt_rand": crypt_rand.hex(),
        }))  # fmt: skip
        _, epoch = self.sessions.opened_with(self.peer)
        self.signed_in = runner.SignedIn(login, pw_hash, epoch, self.address)
        if self.on_signed_in is not None:
            self.on_signed_in()
        if self.pending_crypt == "AES256OFB":
            self.inbound, self.outbound = channel(pw_hash, crypt_rand)

    async def command(
        self, number: int, name: str, upper: str, pairs: list[tuple[str, str]], rest: str
    ) -> None:
        assert self.signed_in is not None
        path = raw_names().get(upper)
        if path is None:
            await self.send(number, render(name, {"retcode": retcode(UNSUPPORTED)}))
            return
        body = rest.strip()
        try:
            params = Params.decoded(pairs, body.encode("utf-8") if body[:1] in ("{", "[") else b"")
        except Mt5Error as err:
            await self.send(number, render(name, {"retcode": retcode(err.code)}))
            return
        sent = params.text(IDEMPOTENCY_PARAMETER)
        key = SentKey(sent, IDEMPOTENCY_PARAMETER) if sent else None
        result = await run_in_threadpool(
            runner.run, self.services, self.signed_in, path, params, key
        )
        if result is runner.DISABLED:
            self.sessions.end(self.peer)
            await self.refuse(number, name, ERR_PERMISSIONS,
                              "the manager is disabled or its password changed")  # fmt: skip
        if result is runner.QUIT:
            self.sessions.end(self.peer)
            await self.send(number, render(name, {"retcode": retcode(0)}))
            raise _Closed
        if not isinstance(result, Answer):
            await self.send(number, render(name, {"retcode": retcode(ERR_NOTIMPLEMENT)}))
            return
        envelope = (
            json.loads(result.replayed.body) if result.replayed is not None else result.body()
        )
        await self.send(number, render(name, envelope))


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
        services: Services,
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
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*accepting, *self._connections, return_exceptions=True)

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
                lambda: protocol, conn, ssl=use_tls,
                ssl_handshake_timeout=self.limits.message_timeout_s if use_tls else None,
            )  # fmt: skip
            writer = asyncio.StreamWriter(transport, protocol, reader, loop)
            signed = None if slot is None else functools.partial(self._signed_in, slot)
            talk = Conversation(reader, writer, self.services, self.sessions, self.limits,
                                number, host, signed, self.on_command)  # fmt: skip
            try:
                await talk.run()
            except ProtocolViolation as bad:
                log.warning("MT5 TCP protocol error from %s: %s", host, bad)
                with contextlib.suppress(Exception):
                    await talk.send(bad.number, render("", {"retcode": retcode(ERR_PARAMS),
                                                            "reason": str(bad)}))  # fmt: skip
        except (_Closed, asyncio.IncompleteReadError, ConnectionError, TimeoutError,
                ssl.SSLError):  # fmt: skip
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("MT5 TCP connection from %s failed", host)
        finally:
            self.sessions.end(peer)
            if writer is not None:
                writer.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.wait_closed(), 1)
            else:
                conn.close()
