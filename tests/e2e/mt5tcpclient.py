"""A small MT5 Web API client for the native TCP protocol, written from the protocol notes alone
(shared/specs/mt5-webapi-tcp.md), the way MetaQuotes' PHP and .NET libraries talk to an access
server: the `MT5WEBAPI` prefix, 9-byte hex headers, UTF-16LE `COMMAND|NAME=VALUE|\\r\\n` lines,
the AUTH_START/AUTH_ANSWER handshake and the optional AES-256-OFB channel.

It imports nothing from brokerplane, on purpose: it is the outside view. It doubles as the
example of the protocol in the docs:

    with Mt5TcpClient("127.0.0.1", 4430) as mt5:
        mt5.auth(1000, "<manager password>")
        login = mt5.call("USER_ADD", {"GROUP": "demo-usd", "NAME": "Ann", "LEVERAGE": 100},
                         body={"PassMain": "Abc123!x", "PassInvestor": "Abc123!y"})["Login"]
        mt5.call("TRADE_BALANCE", {"LOGIN": login, "TYPE": 2, "BALANCE": "100.00"})
        print(mt5.call("USER_GET", {"LOGIN": login})["Balance"])
"""

from __future__ import annotations

import hashlib
import json
import secrets
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PREFIX = b"MT5WEBAPI"
DONE = "0 Done"
MAX_BODY = 0xFFFF


def pw_hash(password: str) -> bytes:
    """MD5(MD5(UTF-16LE(password)) || "WebAPI"), raw bytes (spec §4.2)."""
    return hashlib.md5(hashlib.md5(password.encode("utf-16-le")).digest() + b"WebAPI").digest()


def rand_answer(password: str, rand_hex: str) -> str:
    return hashlib.md5(pw_hash(password) + bytes.fromhex(rand_hex)).hexdigest()


def crypt_ivs(password: str, crypt_rand_hex: str) -> list[bytes]:
    rnd, out, ivs = bytes.fromhex(crypt_rand_hex), pw_hash(password), []
    for i in range(16):
        out = hashlib.md5(rnd[16 * i : 16 * i + 16] + out).digest()
        ivs.append(out)
    return ivs


class Direction:
    """One direction of the AES channel: a fresh keystream block per 16 bytes, the unused tail
    of a packet's last block discarded (spec §5.2)."""

    def __init__(self, key: bytes, iv: bytes) -> None:
        self._ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        self._state = iv

    def apply(self, body: bytes) -> bytes:
        out = bytearray(body)
        for off in range(0, len(out), 16):
            self._state = self._ecb.update(self._state)
            for j in range(min(16, len(out) - off)):
                out[off + j] ^= self._state[j]
        return bytes(out)


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("=", "\\=").replace("\n", "\\\n")


def command_text(command: str, params: dict[str, Any] | None = None, body: Any = None) -> str:
    text = command + "|" + "".join(f"{k}={escape(str(v))}|" for k, v in (params or {}).items())
    text += "\r\n"
    if body is not None:
        text += body if isinstance(body, str) else json.dumps(body)
    return text


def packet(number: int, body: bytes, flags: int = 0) -> bytes:
    return f"{len(body):04x}{number:04x}{flags:x}".encode() + body


class Mt5TcpError(Exception):
    """A retcode other than `0 Done`."""

    def __init__(self, command: str, retcode: str) -> None:
        super().__init__(f"{command}: {retcode}")
        self.retcode = retcode
        self.code = int(retcode.split(" ", 1)[0])


class Mt5TcpProtocolError(Exception):
    """The server broke the protocol (or closed the connection)."""


@dataclass
class TcpAnswer:
    command: str
    retcode: str
    params: dict[str, str]  # the answer line's NAME=VALUE pairs, RETCODE aside
    body: str
    packets: list[tuple[int, int, int]] = field(default_factory=list)  # (number, flags, length)

    def json(self) -> Any:
        return json.loads(self.body) if self.body.strip() else None

    def envelope(self) -> dict[str, Any]:
        """The answer as the HTTP dialect writes it: retcode, extras in lower case, `answer`."""
        out: dict[str, Any] = {"retcode": self.retcode}
        line = {k.lower(): v for k, v in self.params.items()}
        for key in ("total", "ticket", "time"):
            if key in line and not self.body.strip():
                out["answer"] = {key.capitalize(): line.pop(key)}
        out.update(line)
        if self.body.strip():
            out["answer"] = self.json()
        return out


def parse_answer(text: str) -> tuple[str, str, dict[str, str], str]:
    line, _, body = text.partition("\r\n")
    parts = line.split("|")
    if len(parts) < 2 or parts[-1] != "":
        raise Mt5TcpProtocolError(f"answer line without a trailing |: {line[:200]!r}")
    params: dict[str, str] = {}
    for part in parts[1:-1]:
        name, _, value = part.partition("=")
        params[name] = value
    retcode = params.pop("RETCODE", None)
    if retcode is None:
        raise Mt5TcpProtocolError(f"no RETCODE in {line[:200]!r}")
    return parts[0], retcode, params, body


class Mt5TcpClient:
    """One MT5 Web API session over one TCP connection."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 15,
        tls: ssl.SSLContext | None = None,
        agent: str = "WebAPI",
        version: int = 3211,
    ) -> None:
        self.host, self.port, self.timeout, self.tls = host, port, timeout, tls
        self.agent, self.version = agent, version
        self.sock: socket.socket | None = None
        self.number = 0
        self.prefixed = False
        self.outbound: Direction | None = None
        self.inbound: Direction | None = None
        self.server_pings: list[int] = []

    # ---- transport

    def connect(self) -> Mt5TcpClient:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock
        return self

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self) -> Mt5TcpClient:
        return self.connect() if self.sock is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        assert self.sock is not None
        self.sock.sendall(data)

    def recv_exact(self, size: int) -> bytes:
        assert self.sock is not None
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise Mt5TcpProtocolError("the server closed the connection")
            data += chunk
        return data

    def closed_by_server(self, wait: float = 10) -> bool:
        """Whether the server closes the connection within `wait` s (reading what comes). The
        wait is one deadline for the whole read, however the server trickles bytes meanwhile."""
        assert self.sock is not None
        deadline = time.monotonic() + wait
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.sock.settimeout(left)
                if not self.sock.recv(65536):
                    return True
        except TimeoutError:
            return False
        except OSError:
            return True

    def next_number(self) -> int:
        self.number = self.number % 0x3FFF + 1
        return self.number

    def send_message(self, number: int, text: str) -> None:
        data = text.encode("utf-16-le")
        out = b""
        if not self.prefixed:
            out, self.prefixed = PREFIX, True
        chunks = [data[i : i + MAX_BODY] for i in range(0, len(data), MAX_BODY)] or [b""]
        for n, chunk in enumerate(chunks):
            if chunk and self.outbound is not None:
                chunk = self.outbound.apply(chunk)
            out += packet(number, chunk, 1 if n < len(chunks) - 1 else 0)
        self.send_raw(out)

    def send_ping(self) -> None:
        """The keep-alive: an empty packet (spec §7)."""
        self.send_raw((PREFIX if not self.prefixed else b"") + packet(self.next_number(), b""))
        self.prefixed = True

    def read_packet(self) -> tuple[int, int, bytes]:
        head = self.recv_exact(9)
        length, number, flags = int(head[:4], 16), int(head[4:8], 16), int(head[8:9], 16)
        body = self.recv_exact(length) if length else b""
        if body and self.inbound is not None:
            body = self.inbound.apply(body)
        return number, flags, body

    def read_answer(self, number: int) -> TcpAnswer:
        parts: list[bytes] = []
        seen: list[tuple[int, int, int]] = []
        while True:
            got, flags, body = self.read_packet()
            if got != number:
                if body:
                    raise Mt5TcpProtocolError(f"packet {got:04x} while waiting for {number:04x}")
                self.server_pings.append(got)
                continue
            seen.append((got, flags, len(body)))
            parts.append(body)
            if not flags & 1:
                break
        text = b"".join(parts).decode("utf-16-le")
        command, retcode, params, body_text = parse_answer(text)
        return TcpAnswer(command, retcode, params, body_text, seen)

    # ---- commands

    def send(
        self, command: str, params: dict[str, Any] | None = None, body: Any = None
    ) -> TcpAnswer:
        number = self.next_number()
        self.send_message(number, command_text(command, params, body))
        answer = self.read_answer(number)
        if answer.command != command:
            raise Mt5TcpProtocolError(f"answer to {answer.command!r}, asked {command!r}")
        return answer

    def call(self, command: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """A command that must succeed: its JSON body, else its answer-line parameters."""
        answer = self.send(command, params, body)
        if answer.retcode != DONE:
            raise Mt5TcpError(command, answer.retcode)
        return answer.json() if answer.body.strip() else answer.params

    def auth(self, login: int, password: str, *, crypt: bool = True) -> None:
        started = self.send(
            "AUTH_START",
            {
                "VERSION": self.version,
                "AGENT": self.agent,
                "LOGIN": login,
                "TYPE": "MANAGER",
                "CRYPT_METHOD": "AES256OFB" if crypt else "NONE",
            },
        )
        if started.retcode != DONE:
            raise Mt5TcpError("AUTH_START", started.retcode)
        srv_rand = started.params["SRV_RAND"]
        cli_rand = secrets.token_bytes(16).hex()
        answered = self.send(
            "AUTH_ANSWER",
            {
                "SRV_RAND_ANSWER": rand_answer(password, srv_rand),
                "CLI_RAND": cli_rand,
            },
        )
        if answered.retcode != DONE:
            raise Mt5TcpError("AUTH_ANSWER", answered.retcode)
        if answered.params.get("CLI_RAND_ANSWER") != rand_answer(password, cli_rand):
            raise Mt5TcpProtocolError("the server failed mutual authentication")
        if crypt:
            ivs = crypt_ivs(password, answered.params["CRYPT_RAND"])
            key = ivs[0] + ivs[1]
            self.outbound, self.inbound = Direction(key, ivs[2]), Direction(key, ivs[3])

    def quit(self) -> None:
        self.call("QUIT")
