"""The dialect rows: MT5 (Web API and TCP) sessions and trade/balance, cTrader
changebalance and native deposits, all from one Python client on PostgreSQL; their workers."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from harness import Demo, Load
from httpclient import Http, drive, one_request
from serverproc import Server

if TYPE_CHECKING:
    from bench import Bench


def measure(bench: Bench, server: Server, demo: Demo) -> None:
    c, s = bench.cfg.connections, bench.cfg.seconds
    port, key = server.port, demo.admin_key
    logins = (demo.first_login, demo.last_login)
    measured: dict[str, Load] = {}
    for name, job, target in (
        ("native", native_deposit(key, logins), port),
        ("mt5-sessions", mt5_session(demo, logins), port),
        ("mt5-balance", mt5_balance(demo, logins), port),
        ("mt5-tcp-sessions", mt5_tcp_session(demo, logins), server.tcp_port),
        ("mt5-tcp-balance", mt5_tcp_balance(demo, logins), server.tcp_port),
        ("ctrader", ctrader_balance(port, demo, logins), port),
    ):
        worker, fresh = job
        if bench.cfg.warmup > 0:
            asyncio.run(drive(target, c, bench.cfg.warmup, worker, fresh))
        server.reset_peak_rss()
        cpu = server.cpu_seconds()
        load = asyncio.run(drive(target, c, s, worker, fresh))
        load.peak_rss_mb = server.peak_rss_mb()
        load.server_cpu_ms = (server.cpu_seconds() - cpu) * 1000 / max(1, load.ops)
        measured[name] = load
    native = measured["native"].rate
    client = f"Python asyncio client, {c} connections"
    bench.add(
        "deposit (native API, Python client)",
        measured["native"],
        None,
        "postgresql",
        f"{client}; the baseline of the dialect rows below",
    )
    bench.add(
        "MT5 handshake + user/get (sessions)",
        measured["mt5-sessions"],
        native,
        "postgresql",
        f"{client}, a new connection per session: auth/start, auth/answer, user/get",
    )
    bench.add(
        "MT5 trade/balance",
        measured["mt5-balance"],
        native,
        "postgresql",
        f"{client}, one authenticated session per connection, type=2 deposits",
    )
    bench.add(
        "MT5 TCP handshake + USER_GET (sessions)",
        measured["mt5-tcp-sessions"],
        native,
        "postgresql",
        f"{client}, the native TCP protocol (no AES), a new connection per session: "
        "AUTH_START, AUTH_ANSWER, USER_GET",
    )
    bench.add(
        "MT5 TCP TRADE_BALANCE",
        measured["mt5-tcp-balance"],
        native,
        "postgresql",
        f"{client}, the native TCP protocol (no AES), one authenticated session per "
        "connection, TYPE=2 deposits",
    )
    bench.add(
        "cTrader changebalance",
        measured["ctrader"],
        native,
        "postgresql",
        f"{client}, DEPOSIT with a unique Idempotency-Key (claimed like native x-request-id)",
    )


# ---- the dialect workers -------------------------------------------------------------------

Worker = tuple[Callable[[Http, Callable[[float], None]], Any], bool]
JSON = {"Content-Type": "application/json"}


def _rid() -> str:
    return secrets.token_hex(12)


def _login(logins: tuple[int, int]) -> int:
    return secrets.randbelow(logins[1] - logins[0] + 1) + logins[0]


def native_deposit(key: str, logins: tuple[int, int]) -> Worker:
    auth = {"Authorization": f"Bearer {key}", **JSON}

    async def work(conn: Http, done: Callable[[float], None]) -> None:
        body = json.dumps({"login": _login(logins), "amount": "1.00", "comment": "bench"})
        started = time.monotonic()
        status, _ = await conn.request(
            "POST", "/v1/balances/deposit", {**auth, "x-request-id": _rid()}, body.encode()
        )
        assert status == 200, status
        done(started)

    return work, False


def _mt5_hash(password: str, rand_hex: str) -> str:
    inner = hashlib.md5(password.encode("utf-16-le")).digest()
    b2 = hashlib.md5(inner + b"WebAPI").digest()
    return hashlib.md5(b2 + bytes.fromhex(rand_hex)).hexdigest()


async def _mt5_call(conn: Http, path: str) -> dict[str, Any]:
    status, body = await conn.request("GET", path)
    assert status == 200, status
    answer: dict[str, Any] = json.loads(body)
    assert answer.get("retcode", "").startswith("0 "), answer
    return answer


async def _mt5_auth(conn: Http, demo: Demo) -> None:
    started = await _mt5_call(
        conn, f"/api/auth/start?version=484&agent=bench&login={demo.manager_login}&type=manager"
    )
    cli_rand = secrets.token_hex(16)
    proof = _mt5_hash(demo.manager_password, started["srv_rand"])
    await _mt5_call(conn, f"/api/auth/answer?srv_rand_answer={proof}&cli_rand={cli_rand}")


def mt5_session(demo: Demo, logins: tuple[int, int]) -> Worker:
    async def work(conn: Http, done: Callable[[float], None]) -> None:
        started = time.monotonic()
        await _mt5_auth(conn, demo)
        await _mt5_call(conn, f"/api/user/get?login={_login(logins)}")
        done(started)

    return work, True


async def _tcp_call(conn: Http, command: str, params: dict[str, Any]) -> dict[str, str]:
    """One MT5 TCP protocol command (plain channel): its answer line's parameters."""
    conn.tcp_number = conn.tcp_number % 0x3FFF + 1
    number = conn.tcp_number
    text = command + "|" + "".join(f"{k}={v}|" for k, v in params.items()) + "\r\n"
    body = text.encode("utf-16-le")
    prefix = b"" if conn.tcp_prefixed else b"MT5WEBAPI"
    conn.tcp_prefixed = True
    conn.writer.write(prefix + f"{len(body):04x}{number:04x}0".encode() + body)
    await conn.writer.drain()
    parts: list[bytes] = []
    while True:
        head = await conn.reader.readexactly(9)
        length, got, flags = int(head[:4], 16), int(head[4:8], 16), int(head[8:9], 16)
        data = await conn.reader.readexactly(length) if length else b""
        if got != number:
            continue  # the server's pings
        parts.append(data)
        if not flags & 1:
            break
    line = b"".join(parts).decode("utf-16-le").partition("\r\n")[0]
    fields = dict(p.partition("=")[::2] for p in line.split("|")[1:-1])
    assert fields.get("RETCODE", "").startswith("0 "), line[:200]
    return fields


async def _tcp_auth(conn: Http, demo: Demo) -> None:
    started = await _tcp_call(
        conn,
        "AUTH_START",
        {
            "VERSION": 3211,
            "AGENT": "bench",
            "LOGIN": demo.manager_login,
            "TYPE": "MANAGER",
            "CRYPT_METHOD": "NONE",
        },
    )
    proof = _mt5_hash(demo.manager_password, started["SRV_RAND"])
    await _tcp_call(
        conn, "AUTH_ANSWER", {"SRV_RAND_ANSWER": proof, "CLI_RAND": secrets.token_hex(16)}
    )


def mt5_tcp_session(demo: Demo, logins: tuple[int, int]) -> Worker:
    async def work(conn: Http, done: Callable[[float], None]) -> None:
        started = time.monotonic()
        await _tcp_auth(conn, demo)
        await _tcp_call(conn, "USER_GET", {"LOGIN": _login(logins)})
        done(started)

    return work, True


def _session_balance(
    demo: Demo,
    auth: Callable[[Http, Demo], Awaitable[None]],
    deposit: Callable[[Http], Awaitable[Any]],
) -> Worker:
    """Deposits on one authenticated MT5 session per connection (Web API or TCP)."""

    async def work(conn: Http, done: Callable[[float], None]) -> None:
        if not conn.mt5_authenticated:
            await auth(conn, demo)
            conn.mt5_authenticated = True
        started = time.monotonic()
        await deposit(conn)
        done(started)

    return work, False


def mt5_tcp_balance(demo: Demo, logins: tuple[int, int]) -> Worker:
    def deposit(conn: Http) -> Awaitable[dict[str, str]]:
        fields = {"LOGIN": _login(logins), "TYPE": 2, "BALANCE": "1.00", "COMMENT": "bench"}
        return _tcp_call(conn, "TRADE_BALANCE", fields)

    return _session_balance(demo, _tcp_auth, deposit)


def mt5_balance(demo: Demo, logins: tuple[int, int]) -> Worker:
    def deposit(conn: Http) -> Awaitable[dict[str, Any]]:
        query = f"login={_login(logins)}&type=2&balance=1.00&comment=bench"
        return _mt5_call(conn, f"/api/trade/balance?{query}")

    return _session_balance(demo, _mt5_auth, deposit)


def ctrader_balance(port: int, demo: Demo, logins: tuple[int, int]) -> Worker:
    hashed = hashlib.md5(demo.manager_password.encode()).hexdigest()
    body = json.dumps({"login": demo.manager_login, "hashedPassword": hashed}).encode()
    status, answer = asyncio.run(
        one_request(
            "127.0.0.1",
            port,
            "POST",
            "/v2/webserv/managers/token",
            {**JSON, "Accept": "application/json"},
            body,
        )
    )
    if status != 200:
        raise RuntimeError(f"cTrader token: {status} {answer[:200]!r}")
    token = json.loads(answer)["webservToken"]
    headers = {**JSON, "Accept": "application/json"}

    async def work(conn: Http, done: Callable[[float], None]) -> None:
        login = _login(logins)
        sent = json.dumps(
            {
                "login": login,
                "type": "DEPOSIT",
                "preciseAmount": 1.0,
                "comment": "bench",
                "externalId": "bench",
            }
        )
        started = time.monotonic()
        status, _ = await conn.request(
            "POST",
            f"/v2/webserv/traders/{login}/changebalance?token={token}",
            {**headers, "Idempotency-Key": _rid()},
            sent.encode(),
        )
        assert status == 200, status
        done(started)

    return work, False
