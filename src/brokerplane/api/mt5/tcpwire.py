"""The MT5 TCP protocol's wire, without a socket (shared/specs/mt5-webapi-tcp.md): the 9-byte hex
packet headers, `COMMAND|NAME=VALUE|...|\\r\\n` lines and their escaping, how an answer is
written, the raw command names, and the AES-256-OFB channel (a fresh keystream block per
16 bytes, restarted per packet). api/mt5/tcp.py runs connections over it."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from brokerplane.api.mt5.errors import retcode
from brokerplane.api.mt5.wire import COMMANDS

PREFIX = b"MT5WEBAPI"
HEADER_SIZE = 9
CHUNK = 0xFFFE  # answer chunks: even, so each holds whole UTF-16 units
FLAG_MORE = 1
SERVER_NUMBERS = (0x4000, 0x8000)  # the numbers of the server's own (ping) packets
INVALID_ACCOUNT = 1001
UNSUPPORTED = 12002  # "Command doesn't supported"
LINE_KEYS = ("Total", "Ticket", "Time")  # an answer of one of these alone goes in the line
CRYPT_METHODS = ("NONE", "AES256OFB")
IDEMPOTENCY_PARAMETER = "IDEMPOTENCY_KEY"
_HEADER = re.compile(rb"[0-9a-fA-F]{9}")
_ESCAPABLE = "\\|=\n"
_NOT_NAME = re.compile(r"[^A-Za-z0-9_]")
NAME_ECHO_CHARS = 64  # the most of a command name echoed in its answer line
HANDSHAKE_MESSAGE_BYTES = 4096  # the largest message before the sign-in (AUTH_* need ~300)
TOO_MANY = 12  # "Too frequent requests": a connection over a cap

# ---- encryption (spec §5) --------------------------------------------------------------------


def crypt_ivs(pw_hash: bytes, crypt_rand: bytes) -> list[bytes]:
    """CRYPT_IV[0..15]: MD5(CRYPT_RAND chunk || previous), starting from the password hash."""
    out, ivs = pw_hash, []
    for i in range(16):
        out = hashlib.md5(crypt_rand[16 * i : 16 * i + 16] + out).digest()
        ivs.append(out)
    return ivs


class Direction:
    """One direction's keystream: AES-256 OFB, restarted at a block boundary every packet (the
    unused tail of a packet's last block is discarded); one call encrypts and decrypts."""

    def __init__(self, key: bytes, iv: bytes) -> None:
        self._ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        self._state = iv

    def apply(self, body: bytes) -> bytes:
        if not body:
            return body  # an empty body does not advance the state
        blocks = (len(body) + 15) // 16
        stream = bytearray()
        state = self._state
        for _ in range(blocks):
            state = self._ecb.update(state)
            stream += state
        self._state = state
        value = int.from_bytes(body, "big") ^ int.from_bytes(stream[: len(body)], "big")
        return value.to_bytes(len(body), "big")


def channel(pw_hash: bytes, crypt_rand: bytes) -> tuple[Direction, Direction]:
    """The server's (inbound, outbound) directions: client-to-server runs from CRYPT_IV[2],
    server-to-client from CRYPT_IV[3], both keyed by CRYPT_IV[0] || CRYPT_IV[1]."""
    ivs = crypt_ivs(pw_hash, crypt_rand)
    key = ivs[0] + ivs[1]
    return Direction(key, ivs[2]), Direction(key, ivs[3])


# ---- framing and text (spec §2, §3, §6) -------------------------------------------------------


class ProtocolViolation(Exception):
    """The client broke the framing: answered once, then the connection closes."""

    def __init__(self, reason: str, number: int = 0) -> None:
        super().__init__(reason)
        self.number = number


def header(length: int, number: int, flags: int = 0) -> bytes:
    return f"{length:04x}{number:04x}{flags:x}".encode("ascii")


def parse_header(raw: bytes) -> tuple[int, int, int]:
    """(body length, packet number, flags) of a 9-byte header, in either hex case."""
    if not _HEADER.fullmatch(raw):
        raise ProtocolViolation("the packet header is not 9 hexadecimal digits")
    return int(raw[0:4], 16), int(raw[4:8], 16), int(raw[8:9], 16)


def parse_command(text: str) -> tuple[str, list[tuple[str, str]], str]:
    """(command, parameters, body) of a message: the first line up to CR LF, split at unescaped
    `|`, each token's first unescaped `=` between name and value (`\\\\`, `\\|`, `\\=`, `\\`+LF
    unescaped; a backslash before anything else kept); the rest is the body."""
    line, _sep, body = text.partition("\r\n")
    tokens: list[tuple[str, str | None]] = []
    name: list[str] = []
    value: list[str] | None = None
    i = 0
    while i <= len(line):
        ch = line[i] if i < len(line) else "|"
        if ch == "\\" and i + 1 < len(line) and line[i + 1] in _ESCAPABLE:
            (name if value is None else value).append(line[i + 1])
            i += 2
            continue
        if ch == "|":
            if i < len(line) or name or value is not None:
                tokens.append(("".join(name), None if value is None else "".join(value)))
            name, value = [], None
        elif ch == "=" and value is None:
            value = []
        else:
            (name if value is None else value).append(ch)
        i += 1
    if not tokens:
        return "", [], body
    command = tokens[0][0] if tokens[0][1] is None else tokens[0][0] + "=" + (tokens[0][1] or "")
    pairs = [(n.strip(), v or "") for n, v in tokens[1:] if n.strip()]
    return command.strip(), pairs, body


def _clean(value: Any) -> str:
    """An answer-line value: no `|`, CR or LF (clients do not unescape the answer line)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.replace("|", " ").replace("\r", " ").replace("\n", " ")


def render(command: str, envelope: dict[str, Any]) -> str:
    """An HTTP envelope (`{"retcode", ...top, "answer"}`) as the TCP answer: the line, and the
    JSON body when the answer is more than one of `LINE_KEYS`. The command name is echoed as
    letters, digits and `_` only (a client must not be able to forge the answer's fields)."""
    line = [
        _NOT_NAME.sub("", command)[:NAME_ECHO_CHARS],
        f"RETCODE={_clean(envelope.get('retcode', retcode(2)))}",
    ]
    line += [
        f"{k.upper()}={_clean(v)}" for k, v in envelope.items() if k not in ("retcode", "answer")
    ]
    answer = envelope.get("answer")
    body = ""
    if isinstance(answer, dict) and len(answer) == 1 and next(iter(answer)) in LINE_KEYS:
        ((name, value),) = answer.items()
        line.append(f"{name.upper()}={_clean(value)}")
    elif answer is not None:
        body = json.dumps(answer, ensure_ascii=False, separators=(",", ":")) + "\r\n"
    return "|".join(line) + "|\r\n" + body


def raw_names() -> dict[str, str]:
    """Raw command name -> command path: the path upper-cased with `_` for `/` (`USER_GET`,
    `USER_ACCOUNT_GET`, `DEAL_GET_PAGE`), plus QUIT and USER_DEPOSIT_CHANGE (TRADE_BALANCE)."""
    names = {path.replace("/", "_").upper(): path for path in COMMANDS}
    names["QUIT"] = "quit"
    if "trade/balance" in COMMANDS:
        names.setdefault("USER_DEPOSIT_CHANGE", "trade/balance")
    return names
