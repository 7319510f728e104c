"""One connection of the MT5 TCP listener (tcp.py): its messages read whole within their
limits, the handshake, the channel, pings and the idle timeout, and each command run through
the same layer as `/api/...` (api/mt5/auth.py) with its answer written on the wire."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool

from brokerplane.api.kit.idempotency import SentKey
from brokerplane.api.mt5 import auth
from brokerplane.api.mt5.auth import AUTH_WINDOW_S, HandshakeFailed, Sessions, rand_answer
from brokerplane.api.mt5.errors import (
    ERR_NOTIMPLEMENT,
    ERR_PARAMS,
    ERR_PERMISSIONS,
    Mt5Error,
    code_for,
    retcode,
)
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
from brokerplane.api.mt5.wire import Answer, Params
from brokerplane.application.app import Application
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


class Closed(Exception):
    """The conversation is over (QUIT, a refused handshake): close quietly."""


class Conversation:
    """The protocol on one connection: read messages, answer them in order, one session."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        services: Application,
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
        self.signed_in: auth.SignedIn | None = None
        self.pending_crypt: str = "NONE"
        self.write_lock = asyncio.Lock()
        self.next_ping = SERVER_NUMBERS[0]
        # Answering a command (the server lets it finish at shutdown), and told to end after it.
        self.busy = False
        self.closing = False

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
                    raise Closed  # the session ended under us (swept): a new one is needed
                if not body:
                    continue  # an empty packet: keep-alive, no answer
                self.busy = True
                try:
                    await self.answer(number, body)
                finally:
                    self.busy = False
                if self.closing:
                    raise Closed  # the server is stopping: this answer was the last
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
            access_log.info(
                "MT5 TCP %s",
                command,
                extra={
                    "dialect": "mt5",
                    "transport": "tcp",
                    "command": command,
                    "manager": manager,
                    "latency_ms": round(seconds * 1000, 2),
                    "client": self.address,
                },
            )

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
            await self.send(
                number, render(name, {"retcode": retcode(ERR_PERMISSIONS), "reason": reason})
            )
            raise Closed
        else:
            await self.command(number, name, upper, pairs, rest)

    async def refuse(self, number: int, name: str, code: int, reason: str) -> None:
        await self.send(number, render(name, {"retcode": retcode(code), "reason": reason}))
        raise Closed

    async def auth_start(self, number: int, name: str, pairs: list[tuple[str, str]]) -> None:
        if self.signed_in is not None:
            await self.send(
                number,
                render(name, {"retcode": retcode(ERR_PARAMS), "reason": "already authenticated"}),
            )
            return
        params = Params.decoded(pairs, b"")
        crypt = (params.text("crypt_method") or "NONE").strip().upper()
        if crypt not in CRYPT_METHODS:
            await self.refuse(number, name, ERR_PARAMS, "crypt_method must be NONE or AES256OFB")
        try:
            login = auth.start_login(params)
        except Mt5Error as err:
            await self.refuse(number, name, err.code, str(err))
            return
        self.pending_crypt = crypt
        rand = self.sessions.start(self.peer, login)
        await self.send(
            number,
            render(
                name,
                {
                    "retcode": retcode(0),
                    "version_access": auth.VERSION_ACCESS,
                    "srv_rand": rand.hex(),
                },
            ),
        )

    async def auth_answer(self, number: int, name: str, pairs: list[tuple[str, str]]) -> None:
        if self.signed_in is not None:
            await self.send(
                number,
                render(name, {"retcode": retcode(ERR_PARAMS), "reason": "already authenticated"}),
            )
            return
        params = Params.decoded(pairs, b"")
        cli_rand = auth.hex16(params.text("cli_rand"))
        if cli_rand is None:
            self.sessions.end(self.peer)
            await self.refuse(number, name, ERR_PARAMS, "cli_rand must be 32 hex characters")
            return
        answer = params.text("srv_rand_answer") or ""
        try:
            login, pw_hash = await run_in_threadpool(
                auth.check_answer, self.services, self.sessions, self.peer, answer, self.address
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
        await self.send(
            number,
            render(
                name,
                {
                    "retcode": retcode(0),
                    "version_access": auth.VERSION_ACCESS,
                    "version_trade": auth.VERSION_TRADE,
                    "cli_rand_answer": rand_answer(pw_hash, cli_rand),
                    "crypt_rand": crypt_rand.hex(),
                },
            ),
        )
        _, epoch = self.sessions.opened_with(self.peer)
        self.signed_in = auth.SignedIn(login, pw_hash, epoch, self.address)
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
        result = await run_in_threadpool(auth.run, self.services, self.signed_in, path, params, key)
        if result is auth.DISABLED:
            self.sessions.end(self.peer)
            await self.refuse(
                number, name, ERR_PERMISSIONS, "the manager is disabled or its password changed"
            )
        if result is auth.QUIT:
            self.sessions.end(self.peer)
            await self.send(number, render(name, {"retcode": retcode(0)}))
            raise Closed
        if not isinstance(result, Answer):
            await self.send(number, render(name, {"retcode": retcode(ERR_NOTIMPLEMENT)}))
            return
        envelope = (
            json.loads(result.replayed.body) if result.replayed is not None else result.body()
        )
        await self.send(number, render(name, envelope))
