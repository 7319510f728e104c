"""The webhook worker: threads inside `brokerplane serve` that deliver events to subscribers.

Each pass claims due subscriptions (a lease in the database, row locks skipped on PostgreSQL,
so several server processes share the work and never deliver one subscription at once), and
sends each its next batch of events, one batch at a time, in event order: delivery is
at-least-once (a batch sent but not recorded, say the process died, is sent again) and in
order per subscription, hence per account. A failure is retried with exponential backoff for
BROKERPLANE_WEBHOOK_RETRY_HOURS, then the subscription is parked (`failed`) with the last
error; replay or `state: active` resumes it.

Signing: `X-Brokerplane-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` with
`X-Brokerplane-Timestamp: <unix seconds>` (see notes/events.md for the verification code)."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import os
import socket
import ssl
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import brokerplane
from brokerplane.api.native.events import render_event
from brokerplane.core.events.delivery import Outcome
from brokerplane.core.events.model import Event, Subscription
from brokerplane.core.events.service import check_url, redact_for
from brokerplane.core.services import Services

log = logging.getLogger("brokerplane.webhooks")

BATCH = 100
MAX_RESPONSE = 64 * 1024
LEASE = timedelta(seconds=60)
IDLE_S = 0.2
CLAIM = 8


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def body_of(sub: Subscription, events: list[Event]) -> bytes:
    items = []
    for ev in events:
        ev.data = redact_for(sub, ev.data, ev.type)
        items.append(render_event(ev))
    return json.dumps({"subscription": sub.id, "events": items},
                      separators=(",", ":")).encode()  # fmt: skip


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Outcome:
    """POST `body` to `url` within `timeout` seconds in all (connect, send, read at most
    MAX_RESPONSE bytes of the answer); redirects are not followed (a 3xx is a failure)."""
    started = time.monotonic()
    deadline = started + timeout

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn: http.client.HTTPConnection
    try:
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout,
                                               context=ssl.create_default_context())  # fmt: skip
        else:
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
        try:
            conn.request("POST", path, body, headers)
            resp = conn.getresponse()
            read = 0
            while read < MAX_RESPONSE and time.monotonic() < deadline:
                chunk = resp.read1(min(8192, MAX_RESPONSE - read))
                if not chunk:
                    break
                read += len(chunk)
            status = resp.status
        finally:
            conn.close()
    except (OSError, http.client.HTTPException, ValueError) as err:
        return Outcome(False, None, f"{type(err).__name__}: {err}"[:500], took())
    if 200 <= status < 300:
        return Outcome(True, status, "", took())
    return Outcome(False, status, f"HTTP {status}", took())


def _headers(sub: Subscription, body: bytes, now: datetime, delivery: str) -> dict[str, str]:
    stamp = int(now.timestamp())
    return {
        "Content-Type": "application/json",
        "User-Agent": f"brokerplane/{brokerplane.__version__} webhooks",
        "X-Brokerplane-Subscription": str(sub.id),
        "X-Brokerplane-Delivery": delivery,
        "X-Brokerplane-Timestamp": str(stamp),
        "X-Brokerplane-Signature": sign(sub.secret, stamp, body),
    }


def send_test(sub: Subscription, now: datetime, timeout: float) -> Outcome:
    test = Event("webhook.test", None, {"message": "a test from brokerplane"}, at=now,
                 dialect="native")  # fmt: skip
    body = json.dumps({"subscription": sub.id, "events": [render_event(test)]},
                      separators=(",", ":")).encode()  # fmt: skip
    return post(sub.url, body, _headers(sub, body, now, f"{sub.id}-test"), timeout)


class Worker:
    """One delivery thread; `owner` names its leases."""

    def __init__(self, services: Services, timeout: float, hosts: str, name: str) -> None:
        self.services = services
        self.timeout = timeout
        self.hosts = hosts
        self.owner = f"{socket.gethostname()[:20]}:{os.getpid()}:{name}:{uuid.uuid4().hex[:8]}"

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                busy = self.pass_once(stop)
            except Exception:
                log.exception("webhook delivery pass failed; retrying")
                busy = False
            if not busy:
                stop.wait(IDLE_S)

    def pass_once(self, stop: threading.Event | None = None) -> bool:
        """Claim due subscriptions and deliver to each; whether any event was sent."""
        busy = False
        for sub in self.services.claim_webhooks(self.owner, LEASE, CLAIM):
            try:
                busy |= self._deliver(sub, stop)
            finally:
                self.services.release_webhook(sub.id, self.owner)
        return busy

    def _deliver(self, sub: Subscription, stop: threading.Event | None) -> bool:
        sent = False
        until = time.monotonic() + LEASE.total_seconds() / 2
        while time.monotonic() < until and not (stop is not None and stop.is_set()):
            batch = self.services.webhook_batch(sub, BATCH)
            if not batch.events:
                if batch.next_cursor != sub.cursor:  # past events the filters skip
                    settled = self.services.settle_webhook(batch, self.owner,
                                                           Outcome(True, None, "", 0))  # fmt: skip
                    if settled is not None:
                        sub = settled
                        continue
                return sent
            now = self.services.clock()
            try:
                check_url(sub.url, self.hosts)
                body = body_of(sub, batch.events)
                delivery = f"{sub.id}-{batch.events[0].id}-{batch.events[-1].id}"
                outcome = post(sub.url, body, _headers(sub, body, now, delivery), self.timeout)
            except Exception as err:  # a URL no longer allowed, a body that cannot render
                outcome = Outcome(False, None, f"{type(err).__name__}: {err}"[:500], 0)
            settled = self.services.settle_webhook(batch, self.owner, outcome)
            sent = True
            if settled is None or not outcome.ok:
                return sent
            sub = settled
        return sent


def start(
    services: Services, count: int, timeout: float, hosts: str
) -> tuple[threading.Event, list[Any]]:
    stop = threading.Event()
    threads = []
    for i in range(count):
        worker = Worker(services, timeout, hosts, f"w{i}")
        thread = threading.Thread(target=worker.run, args=(stop,), name=f"webhooks-{i}",
                                  daemon=True)  # fmt: skip
        thread.start()
        threads.append(thread)
    return stop, threads
