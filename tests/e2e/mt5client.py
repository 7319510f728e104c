"""A small MT5 Web API (REST) client written from the protocol notes alone
(shared/specs/mt5-webapi.md), the way CRM integrations talk to an MT5 access server.

It imports nothing from brokerplane, on purpose: it is the outside view. One httpx.Client with a
single keep-alive connection carries the session (§1); the handshake follows §2.2-2.4 and checks
the server's `cli_rand_answer` as strict clients do (exact, case-sensitive string); every answer
must be HTTP 200 with a `retcode`, and every scalar in it a JSON string (§3.1), as typed clients
that declare every field a string require.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import ssl
from typing import Any

import httpx

DONE = "0 Done"


class Mt5HttpError(Exception):
    """A non-200 answer: clients treat 403 as "session lost, authenticate again"."""

    def __init__(self, status: int, path: str, text: str) -> None:
        super().__init__(f"HTTP {status} from {path}: {text[:200]}")
        self.status = status


class Mt5RetcodeError(Exception):
    """HTTP 200 with a retcode other than `0 Done`."""

    def __init__(self, path: str, retcode: str) -> None:
        super().__init__(f"{path}: {retcode}")
        self.retcode = retcode
        self.code = int(retcode.split(" ", 1)[0])


class Mt5ProtocolError(Exception):
    """The server broke the protocol: a number where a string belongs, a bad mutual proof, ..."""


def password_hash(password: str) -> bytes:
    """§2.2 steps 1-2: MD5(MD5(UTF-16LE(password)) || "WebAPI"), raw bytes throughout."""
    b1 = hashlib.md5(password.encode("utf-16-le")).digest()
    return hashlib.md5(b1 + b"WebAPI").digest()


def rand_answer(password: str, rand_hex: str) -> str:
    """§2.2 step 4: hex(MD5(b2 || hex_decode(rand))), lower case."""
    return hashlib.md5(password_hash(password) + bytes.fromhex(rand_hex)).hexdigest()


def only_strings(value: Any, where: str = "answer") -> None:
    """Every scalar of an MT5 answer is a JSON string (§3.1); objects and arrays nest them."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise Mt5ProtocolError(f"{where}: key {key!r} is not a string")
            only_strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            only_strings(item, f"{where}[{n}]")
    elif not isinstance(value, str):
        raise Mt5ProtocolError(f"{where} is {value!r} ({type(value).__name__}), not a string")


class Mt5Client:
    """One MT5 Web API session over one keep-alive connection."""

    def __init__(
        self,
        base_url: str,
        *,
        verify: bool | ssl.SSLContext = True,
        timeout: float = 15,
        agent: str = "WebManager",
        version: int = 484,
        legacy: bool = False,
    ) -> None:
        self.legacy = legacy  # the outdated REST paths of §0: /auth_start, /user_get, ...
        self.agent = agent
        self.version = version
        self.http = httpx.Client(
            base_url=base_url,
            verify=verify,
            timeout=timeout,
            # One socket: the session lives on the connection (§1, §6 "maxSockets=1").
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            headers={
                "User-Agent": "MetaTrader 5 Web API/5.2005",
                "Accept": "*/*",
                "Connection": "keep-alive",
            },
        )
        self.version_access: str | None = None
        self.version_trade: str | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Mt5Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- transport --------------------------------------------------------------------------

    def send(
        self, command: str, params: dict[str, Any] | None = None, body: Any = None
    ) -> dict[str, Any]:
        """One command: GET without a body, POST with a JSON body (sent with the documented
        form content type, as the official samples do). Returns the whole JSON answer after the
        transport checks: HTTP 200, a JSON object, a string `retcode`, strings only."""
        path = self.path(command)
        query = {k: str(v) for k, v in (params or {}).items()}
        if body is None:
            response = self.http.get(path, params=query)
        else:
            response = self.http.post(
                path,
                params=query,
                content=json.dumps(body).encode("utf-8"),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        if response.status_code != 200:
            raise Mt5HttpError(response.status_code, path, response.text)
        try:
            payload = response.json()
        except ValueError:
            raise Mt5ProtocolError(
                f"{path}: the answer is not JSON: {response.text[:200]}"
            ) from None
        if not isinstance(payload, dict) or not isinstance(payload.get("retcode"), str):
            raise Mt5ProtocolError(f"{path}: no retcode string in {payload!r}")
        only_strings(payload, path)
        return payload

    def path(self, command: str) -> str:
        command = command.strip("/")
        return "/" + command.replace("/", "_") if self.legacy else "/api/" + command

    def call(self, command: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """A command that must succeed: its `answer` (None when it has none)."""
        payload = self.send(command, params, body)
        if payload["retcode"] != DONE:
            raise Mt5RetcodeError(self.path(command), payload["retcode"])
        return payload.get("answer")

    def retcode(self, command: str, params: dict[str, Any] | None = None, body: Any = None) -> str:
        """A command's retcode string, whatever it is."""
        return str(self.send(command, params, body)["retcode"])

    # ---- §2 the handshake -------------------------------------------------------------------

    def auth(self, login: int, password: str) -> None:
        """/api/auth/start then /api/auth/answer, verifying the server's proof (§2.4)."""
        started = self.send(
            "auth/start",
            {"version": self.version, "agent": self.agent, "login": login, "type": "manager"},
        )
        if started["retcode"] != DONE:
            raise Mt5RetcodeError(self.path("auth/start"), started["retcode"])
        srv_rand = started["srv_rand"]
        if len(srv_rand) != 32:
            raise Mt5ProtocolError(f"srv_rand {srv_rand!r} is not 16 bytes of hex")
        cli_rand = secrets.token_bytes(16).hex()
        answered = self.send(
            "auth/answer",
            {"srv_rand_answer": rand_answer(password, srv_rand), "cli_rand": cli_rand},
        )
        if answered["retcode"] != DONE:
            raise Mt5RetcodeError(self.path("auth/answer"), answered["retcode"])
        if answered.get("cli_rand_answer") != rand_answer(password, cli_rand):
            raise Mt5ProtocolError("the server failed mutual authentication (cli_rand_answer)")
        self.version_access = started.get("version_access")
        self.version_trade = answered.get("version_trade")

    def ping(self) -> None:
        self.call("test/access")

    def quit(self) -> None:
        self.call("quit")

    # ---- §4.2 users, §4.3 balance -------------------------------------------------------------

    def user_add(self, params: dict[str, Any], body: dict[str, Any] | None = None) -> Any:
        return self.call("user/add", params, body if body is not None else {})

    def user_get(self, login: int | str) -> Any:
        return self.call("user/get", {"login": login})

    def user_update(
        self, login: int | str, params: dict[str, Any] | None = None, body: Any = None
    ) -> Any:
        return self.call("user/update", {"login": login, **(params or {})}, body)

    def user_delete(self, login: int | str) -> None:
        self.call("user/delete", {"login": login})

    def check_password(self, login: int | str, password: str, kind: str = "main") -> str:
        """The retcode: `0 Done` or `3006 Invalid account password`."""
        return self.retcode(
            "user/check_password", body={"Login": str(login), "Type": kind, "Password": password}
        )

    def balance(
        self, login: int | str, amount: str, kind: int = 2, comment: str = "", **extra: Any
    ) -> dict[str, Any]:
        """trade/balance: the whole answer (retcode and, on success, the ticket)."""
        params = {"login": login, "type": kind, "balance": amount, "comment": comment, **extra}
        return self.send("trade/balance", params)
