"""The `events` rows: deposits with no webhook subscription, then with one delivering
every event to a receiver on loopback, and how fast GET /v1/events pages through them."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness import Demo, Load, PgSchema, percentile
from httpclient import Http, drive, one_request
from serverproc import Server

if TYPE_CHECKING:
    from bench import Bench


def measure(bench: Bench) -> None:
    """Deposits/s (the Python client, on PostgreSQL) with no webhook subscription, then
    with one delivering every event to a receiver on loopback (goal: ratio >= 0.9); then
    how fast GET /v1/events pages through what the run wrote."""
    if "events" not in bench.cfg.only:
        return
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received = [0]

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            received[0] += len(json.loads(body)["events"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    schema = PgSchema(bench.cfg.database_url)
    schema.create()
    env = {"BROKERPLANE_WEBHOOK_ALLOW_PRIVATE": "1"}
    try:
        demo = Demo.load(schema.url, bench.tmp, bench.cfg.accounts)
        auth = {"Authorization": f"Bearer {demo.admin_key}", "Content-Type": "application/json"}
        rng = random.Random(7)

        async def deposit(conn: Http, done: Callable[[float], None]) -> None:
            login = rng.randint(demo.first_login, demo.last_login)
            body = json.dumps({"login": login, "amount": "1.00"}).encode()
            started = time.monotonic()
            status, _ = await conn.request("POST", "/v1/balances/deposit", auth, body)
            assert status == 200, status
            done(started)

        def deposits(server: Server) -> Load:
            if bench.cfg.warmup > 0:
                asyncio.run(drive(server.port, bench.cfg.connections, bench.cfg.warmup, deposit))
            return asyncio.run(
                drive(server.port, bench.cfg.connections, bench.cfg.seconds, deposit)
            )

        with Server(schema.url, bench.tmp, bench.cfg.port, env) as server:
            plain = deposits(server)
        with Server(schema.url, bench.tmp, bench.cfg.port, env) as server:
            url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
            status, answer = asyncio.run(
                one_request(
                    "127.0.0.1",
                    server.port,
                    "POST",
                    "/v1/webhooks",
                    auth,
                    json.dumps({"url": url, "types": ["ledger."]}).encode(),
                )
            )
            assert status == 201, answer
            hooked = deposits(server)
            behind = hooked.ops - received[0]
            feed = _feed(server, demo)
        bench.add(
            "deposit (native API, Python client), no webhook",
            plain,
            None,
            "postgresql",
            f"{bench.cfg.connections} connections",
        )
        bench.add(
            "deposit (native API, Python client), one webhook subscription",
            hooked,
            plain.rate,
            "postgresql",
            f"every deposit's event delivered to a receiver on loopback by the server's "
            f"worker; baseline: the row above; {max(behind, 0)} events not yet delivered "
            "when the load stopped",
        )
        bench.add(
            "event feed read (GET /v1/events, pages of 1000)",
            feed,
            None,
            "postgresql",
            "ops are events; one client reading from the start",
        )
    finally:
        hook.shutdown()
        schema.drop()


def _feed(server: Server, demo: Demo) -> Load:
    auth = {"Authorization": f"Bearer {demo.admin_key}"}

    async def read() -> tuple[int, float, list[float]]:
        conn = await Http.open("127.0.0.1", server.port)
        after, count, pages = 0, 0, []
        began = time.monotonic()
        try:
            while True:
                started = time.monotonic()
                status, body = await conn.request(
                    "GET", f"/v1/events?after={after}&limit=1000", auth
                )
                assert status == 200, body[:200]
                page = json.loads(body)
                pages.append(time.monotonic() - started)
                count += len(page["items"])
                after = page["next"]
                if not page["more"]:
                    return count, time.monotonic() - began, sorted(pages)
        finally:
            await conn.close()

    count, elapsed, pages = asyncio.run(read())
    p50, p99 = percentile(pages, 50), percentile(pages, 99)
    return Load(count, elapsed, p50 and p50 * 1000, p99 and p99 * 1000, 0)


# --------------------------------------------------------------------------------------
