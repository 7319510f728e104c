"""Webhook delivery by several server processes over one database, on both engines: two
runtimes (as two `brokerplane serve` processes), two delivery threads each, one subscription.
Deposits commit while they run, and one process stops half-way (its leases released, the
other takes over). The receiver gets every event exactly once (nothing crashed), in event
order, never two requests of the subscription at once, every signature good."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from brokerplane import bootstrap
from brokerplane.api.native.delivery import Worker
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.events.commands import SaveSubscription
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.settings import Settings
from tests.e2e.test_events_server import SECRET, verify

DEPOSITS = 60


class Receiver:
    """Accepts every signed batch after a short pause; counts requests in flight."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.batches: list[dict[str, Any]] = []
        self.in_flight = self.most_in_flight = self.bad = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with outer.lock:
                    outer.in_flight += 1
                    outer.most_in_flight = max(outer.most_in_flight, outer.in_flight)
                time.sleep(0.01)  # widen the window two deliveries at once would need
                headers = {k.lower(): v for k, v in self.headers.items()}
                with outer.lock:
                    outer.in_flight -= 1
                    if verify(SECRET, headers, body):
                        outer.batches.append(json.loads(body))
                    else:
                        outer.bad += 1
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ids(self) -> list[int]:
        with self.lock:
            return [e["id"] for b in self.batches for e in b["events"]]


def _workers(runtime: bootstrap.Runtime, stop: threading.Event, n: int) -> list[threading.Thread]:
    threads = []
    for i in range(n):
        worker = Worker(runtime.app, runtime.settings, f"w{i}")
        thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def test_two_processes_deliver_every_event_once_in_order(
    database_url: str, tmp_path: Path, admin: Actor
) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path, webhook_allow_private=True)
    first, second = bootstrap.build(settings), bootstrap.build(settings)
    receiver = Receiver()
    stops = [threading.Event(), threading.Event()]
    threads: list[threading.Thread] = []
    try:
        services = first.app
        services.create_group(CreateGroup("demo-usd", "USD"), admin)
        logins = [
            services.open_account(OpenAccount(group="demo-usd"), admin).login for _ in range(3)
        ]
        services.create_webhook(
            SaveSubscription(url=receiver.url, secret=SECRET, types=("ledger.",)), admin
        )
        threads += _workers(first, stops[0], 2)  # the first process holds it first
        first.app.post_ledger_entry(PostLedgerEntry(logins[0], "deposit", "1"), admin)
        deadline = time.monotonic() + 60
        while not receiver.ids() and time.monotonic() < deadline:
            time.sleep(0.05)
        threads += _workers(second, stops[1], 2)
        for n in range(1, DEPOSITS):
            runtime = (first, second)[n % 2]  # both processes commit changes
            runtime.app.post_ledger_entry(PostLedgerEntry(logins[n % 3], "deposit", "1"), admin)
            if n == DEPOSITS // 2:
                stops[0].set()  # the first process stops: its leases are given back
        deadline = time.monotonic() + 60
        while len(receiver.ids()) < DEPOSITS and time.monotonic() < deadline:
            time.sleep(0.05)
        ids = receiver.ids()
        assert len(ids) == DEPOSITS, f"{len(ids)} of {DEPOSITS} delivered"
        assert ids == sorted(set(ids))  # once each, in event order
        assert receiver.most_in_flight == 1 and receiver.bad == 0
        owners = {b["subscription"] for b in receiver.batches}
        assert len(owners) == 1
        assert not any(t.is_alive() for t in threads[:2])  # the rest came from the second
    finally:
        for stop in stops:
            stop.set()
        for thread in threads:
            thread.join(timeout=15)
        receiver.server.shutdown()
        receiver.server.server_close()
        first.close()
        second.close()
