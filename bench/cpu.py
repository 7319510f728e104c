"""Server CPU per money request, measured in process: the ASGI app without uvicorn or a network.

    PYTHONPATH=src python -m bench.cpu [--engine sqlite|postgres]
        [--route native|open|mt5|ctrader|none]
        [--requests 400] [--concurrency 8] [--rounds 3] [--profile FILE]

A fresh database (a migrated SQLite file, or a new database on BROKERPLANE_TEST_DATABASE_URL's
server),
one manager with a key, a group and 32 accounts opened through the services; then `--requests`
requests, `--concurrency` at a time, each with its own request id, through httpx's ASGI
transport. The figure is `time.process_time()` over the requests divided by their number: the
process's CPU in every thread (the event loop, the worker threads, the group commit's leader),
and on SQLite the database's own work, which runs in the process; PostgreSQL's is not counted.
`--route mt5` sends MT5 Web API deposits (`/api/trade/balance?type=2`) on one session,
`--route ctrader` cTrader's (`changebalance`, DEPOSIT, an Idempotency-Key each), as
bench/bench.py's dialect rows send them. The client's own work (httpx building requests
and reading answers) is in the figure too, the same for every tree; `--route none`
measures it alone (an app that answers 200 at once).
`--profile FILE` writes a cProfile of every thread over the last round (pstats format).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import os
import pstats
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from httpx._transports import asgi
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from brokerplane import bootstrap
from brokerplane.api.app import create_app
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.actor import SCOPES, system_actor
from brokerplane.core.group.commands import CreateGroup
from brokerplane.settings import Settings

os.environ.setdefault("BROKERPLANE_AUDIT_KEY", "7e57" * 16)
ACCOUNTS = 32
MANAGER, PASSWORD = 1000, "Bench!pw9"


class Profiles:
    """A cProfile per thread, for every thread started after `__init__` and the current one;
    `start` forgets what they measured so far."""

    def __init__(self) -> None:
        self.all: list[cProfile.Profile] = []
        self.calls = 0
        threading.setprofile(self._hook)
        self._enable()

    def _enable(self) -> None:
        profile = cProfile.Profile(time.thread_time)
        self.all.append(profile)
        profile.enable()

    def _hook(self, *_: Any) -> None:
        sys.setprofile(None)
        self._enable()

    def start(self) -> None:
        for profile in list(self.all):
            profile.clear()

    def save(self, path: str) -> None:
        threading.setprofile(None)
        stats: pstats.Stats | None = None
        for n, profile in enumerate(list(self.all)):
            profile.disable()  # the other threads' go on counting until they end: dumped now
            profile.dump_stats(f"{path}.{n}")
            try:
                part = pstats.Stats(f"{path}.{n}")
            except (TypeError, EOFError):
                continue
            finally:
                os.unlink(f"{path}.{n}")
            if stats is None:
                stats = part
            else:
                stats.add(part)
        if stats is not None:
            stats.dump_stats(path)
            self.calls = stats.total_calls  # type: ignore[attr-defined]


def _server() -> URL:
    url = make_url(os.environ["BROKERPLANE_TEST_DATABASE_URL"])
    return url.set(drivername="postgresql+psycopg")


def _postgres_url(name: str) -> URL:
    """A new database of its own: the credential watch's NOTIFY channel is per database, so a
    schema in a database other processes write keys in would see its kept keys forgotten."""
    engine = create_engine(_server(), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return _server().set(database=name)


def _drop(name: str) -> None:
    engine = create_engine(_server(), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def _callgrind(switch: str) -> None:
    """Under `valgrind --tool=callgrind --instr-atstart=no`: count instructions only over the
    requests (BENCH_CALLGRIND=1), a figure the machine's load does not move."""
    if os.environ.get("BENCH_CALLGRIND"):
        subprocess.run(
            ["callgrind_control", switch, str(os.getpid())], check=True, capture_output=True
        )


async def _bare(scope: Any, receive: Any, send: Any) -> None:
    """An app that answers at once: the client's own CPU per request (`--route none`)."""
    if scope["type"] != "http":
        return
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


Send = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


def _native(key: str, logins: list[int]) -> Send:
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}

    async def send(client: httpx.AsyncClient, n: int) -> httpx.Response:
        body = b'{"login": %d, "amount": "1.00", "comment": "bench"}' % logins[n % len(logins)]
        rid = {"x-request-id": uuid.uuid4().hex}
        return await client.post("/v1/balances/deposit", content=body, headers=headers | rid)

    return send


def _open(key: str, _: list[int]) -> Send:
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}

    async def send(client: httpx.AsyncClient, n: int) -> httpx.Response:
        body = b'{"name": "Bench User", "group": "bench-usd", "leverage": 100}'
        rid = {"x-request-id": uuid.uuid4().hex}
        return await client.post("/v1/users", content=body, headers=headers | rid)

    return send


def _mt5_hash(password: str, rand_hex: str) -> str:
    inner = hashlib.md5(password.encode("utf-16-le")).digest()
    b2 = hashlib.md5(inner + b"WebAPI").digest()
    return hashlib.md5(b2 + bytes.fromhex(rand_hex)).hexdigest()


async def _mt5(client: httpx.AsyncClient, logins: list[int]) -> Send:
    """MT5 Web API deposits (`/api/trade/balance`, type=2) on one session, handshaken here
    (an in-process client's session is keyed by its address: every worker shares it)."""
    start = await client.get(
        "/api/auth/start",
        params={"version": "484", "agent": "bench", "login": str(MANAGER), "type": "manager"},
    )
    proof = _mt5_hash(PASSWORD, start.json()["srv_rand"])
    answer = await client.get(
        "/api/auth/answer", params={"srv_rand_answer": proof, "cli_rand": secrets.token_hex(16)}
    )
    assert answer.json()["retcode"].startswith("0 "), answer.text

    async def send(client: httpx.AsyncClient, n: int) -> httpx.Response:
        login = logins[n % len(logins)]
        path = f"/api/trade/balance?login={login}&type=2&balance=1.00&comment=bench"
        answer = await client.get(path)
        if not answer.json().get("retcode", "").startswith("0 "):
            return httpx.Response(500, text=answer.text)
        return answer

    return send


async def _ctrader(client: httpx.AsyncClient, logins: list[int]) -> Send:
    """cTrader deposits (`changebalance`), each with its own Idempotency-Key, on a manager
    token taken here."""
    hashed = hashlib.md5(PASSWORD.encode()).hexdigest()
    answer = await client.post(
        "/v2/webserv/managers/token",
        json={"login": MANAGER, "hashedPassword": hashed},
        headers={"accept": "application/json"},
    )
    token = answer.json()["webservToken"]
    headers = {"content-type": "application/json", "accept": "application/json"}

    async def send(client: httpx.AsyncClient, n: int) -> httpx.Response:
        login = logins[n % len(logins)]
        body = (
            b'{"login": %d, "type": "DEPOSIT", "preciseAmount": 1.0, "comment": "bench", '
            b'"externalId": "bench"}' % login
        )
        key = {"Idempotency-Key": uuid.uuid4().hex}
        path = f"/v2/webserv/traders/{login}/changebalance?token={token}"
        return await client.post(path, content=body, headers=headers | key)

    return send


async def _load(send: Send, client: httpx.AsyncClient, requests: int, concurrency: int) -> None:
    queue = iter(range(requests))
    failures: list[str] = []

    async def worker() -> None:
        for n in queue:
            answer = await send(client, n)
            if answer.status_code >= 300:
                failures.append(f"{answer.status_code} {answer.text[:200]}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if failures:
        raise SystemExit(f"{len(failures)} failed, e.g. {failures[0]}")


async def _main(args: argparse.Namespace) -> None:
    profiles = Profiles() if args.profile else None
    tmp = Path(tempfile.mkdtemp(prefix="bp-cpu-"))
    schema = f"bp_cpu_{secrets.token_hex(4)}"
    if args.engine == "sqlite":
        url: str | URL = f"sqlite:///{tmp / 'brokerplane.db'}"
    else:
        url = _postgres_url(schema)
    runtime = bootstrap.build(
        Settings(
            database_url=str(url) if isinstance(url, str) else url.render_as_string(False),
            data_dir=tmp,
            rate_limit_per_minute=0,
        ),
        migrate_schema=True,
    )
    try:
        admin = system_actor()
        services = runtime.app
        services.create_manager(CreateManager(MANAGER, "Bench", PASSWORD, frozenset(SCOPES)), admin)
        key = services.create_api_key(CreateApiKey(MANAGER, frozenset(SCOPES)), admin).secret
        services.create_group(CreateGroup("bench-usd", "USD"), admin)
        app = create_app(runtime)
        # httpx asks whether trio runs by trying to import sniffio on every request: not
        # installed, that is a search of sys.path each time, counted here as the server's.
        asgi.is_running_trio = lambda: False
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            headers = {"Authorization": f"Bearer {key}"}
            logins = []
            for _ in range(ACCOUNTS):
                answer = await client.post(
                    "/v1/users",
                    json={"name": "Bench", "group": "bench-usd", "leverage": 100},
                    headers=headers,
                )
                logins.append(answer.json()["login"])
            if args.route == "mt5":
                send = await _mt5(client, logins)
            elif args.route == "ctrader":
                send = await _ctrader(client, logins)
            else:
                send = (_open if args.route == "open" else _native)(key, logins)
            await _load(send, client, 100, args.concurrency)  # warm-up
            if args.route == "none":
                transport.app = _bare
            figures = []
            for round_ in range(args.rounds):
                if profiles is not None and round_ == args.rounds - 1:
                    profiles.start()
                cpu = time.process_time()
                _callgrind("--instr=on")
                await _load(send, client, args.requests, args.concurrency)
                _callgrind("--instr=off")
                figures.append((time.process_time() - cpu) / args.requests * 1000)
            if profiles is not None:
                profiles.save(args.profile)
                print(f"Python function calls per request: {profiles.calls / args.requests:.0f}")
        load = os.getloadavg()[0]
        shown = ", ".join(f"{f:.2f}" for f in figures)
        least, middle = min(figures), statistics.median(figures)
        print(
            f"{args.engine} {args.route}: ms CPU per request: least {least:.3f}, "
            f"median {middle:.3f} ({shown}; load {load:.1f})"
        )
    finally:
        runtime.close()
        if args.engine == "postgres":
            _drop(schema)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", default="sqlite", choices=("sqlite", "postgres"))
    routes = ("native", "open", "mt5", "ctrader", "none")
    parser.add_argument("--route", default="native", choices=routes)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
