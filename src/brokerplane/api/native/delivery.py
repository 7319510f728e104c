"""The webhook worker: threads inside `brokerplane serve` that deliver events to subscribers.

Each pass claims due subscriptions (a lease in the database, row locks skipped on PostgreSQL,
so several server processes share the work and never deliver one subscription at once), and
sends each its next batch of events, one batch at a time, in event order: delivery is
at-least-once (a batch sent but not recorded, say the process died, is sent again) and in
order per subscription, hence per account. A failure is retried with exponential backoff for
BROKERPLANE_WEBHOOK_RETRY_HOURS, then the subscription is parked (`failed`) with the last
error; replay or `state: active` resumes it.

Signing: `X-Brokerplane-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` with
`X-Brokerplane-Timestamp: <unix seconds>` (docs/events.md has the verification code)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import os
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import brokerplane
from brokerplane.api.native.events import render_event
from brokerplane.application.app import Application
from brokerplane.core.errors import CoreError
from brokerplane.core.events.commands import check_url
from brokerplane.core.events.model import Event, Outcome, Subscription
from brokerplane.core.events.secrets import SealError
from brokerplane.settings import Settings

log = logging.getLogger("brokerplane.webhooks")

BATCH = 100
MAX_RESPONSE = 64 * 1024
LEASE = timedelta(seconds=60)
IDLE_S = 0.2  # between passes while holding subscriptions
IDLE_EMPTY_S = 1.0  # between looks for due subscriptions while holding none
RENEW_S = 10.0  # claim again (new due subscriptions; this worker's leases renewed)
CLAIM = 8

# Told each delivery attempt's outcome (delivered, retrying, failed: parked) and its time.
OnDelivery = Callable[[str, float], None]


def outcome_label(outcome: Outcome, settled: Subscription | None) -> str:
    """delivered; failed when this failure parked the subscription; retrying otherwise."""
    if outcome.ok:
        return "delivered"
    return "failed" if settled is not None and settled.state == "failed" else "retrying"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def body_of(sub: Subscription, events: list[Event]) -> bytes:
    items = [render_event(ev) for ev in events]  # as the core read them: redacted for `sub`
    return json.dumps({"subscription": sub.id, "events": items}, separators=(",", ":")).encode()


class AddressRefused(OSError):
    """The URL's host resolves to an address webhooks may not reach."""


def _allowed(ip: str) -> bool:
    """A public unicast address: globally routable (which leaves out the shared address space
    100.64/10, where some clouds keep their metadata service, and the deprecated site-local
    fec0::/10 too), and, for IPv6 forms that carry an IPv4 address (mapped, 6to4, Teredo),
    that address public as well."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    inner: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [addr]
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            inner = [addr.ipv4_mapped]
        elif addr.sixtofour is not None:
            inner.append(addr.sixtofour)
        elif addr.teredo is not None:
            inner.extend(addr.teredo)
        if addr.is_site_local:
            return False
    return all(
        a.is_global
        and not (
            a.is_private
            or a.is_loopback
            or a.is_link_local
            or a.is_reserved
            or a.is_multicast
            or a.is_unspecified
        )
        for a in inner
    )


class LookupTimedOut(OSError):
    """The host's name was not resolved within the request's deadline."""


# The resolver lookups call (the system's; a test points it at one it controls).
getaddrinfo = socket.getaddrinfo
# Name lookups under way at once in this process: a resolver that never answers holds at most
# this many threads; lookups past them wait for a slot within their own deadline.
LOOKUP_SLOTS = 4
_lookup_slots = threading.BoundedSemaphore(LOOKUP_SLOTS)


class _Pending:
    """One name's lookup under way, which later lookups of that name wait for."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.found: list[Any] = []
        self.failed: list[BaseException] = []


# At most one lookup per name is under way (keyed by the lower-cased name): a name whose DNS
# never answers holds one slot, however many deliveries and test-sends ask for it, and
# cannot take the slots other names need.
_pending: dict[str, _Pending] = {}
_pending_lock = threading.Lock()


def _with_port(infos: list[Any], port: int) -> list[Any]:
    """A joined lookup's answer, for this caller's port (the addresses are the same)."""
    return [(*info[:4], (info[4][0], port, *info[4][2:])) for info in infos]


def lookup(host: str, port: int, timeout: float) -> list[Any]:
    """getaddrinfo bounded by `timeout`: the system resolver has no deadline of its own (a
    dead DNS server holds it for as long as its retries take), so the lookup runs on a daemon
    thread of a bounded few and is given up at the deadline (the thread ends when the resolver
    does). A name already being looked up is not looked up again: this call waits, within its
    own deadline, for the lookup under way. An address literal needs no lookup."""
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host.split("%", 1)[0])
        return list(getaddrinfo(host, port, type=socket.SOCK_STREAM))
    deadline = time.monotonic() + max(timeout, 0.0)
    key = host.lower()
    with _pending_lock:
        pending = _pending.get(key)
    if pending is None:
        if not _lookup_slots.acquire(timeout=max(timeout, 0.0)):
            raise LookupTimedOut(f"resolving {host}: {LOOKUP_SLOTS} lookups are already stuck")
        with _pending_lock:
            pending = _pending.get(key)
            started = pending is None
            if pending is None:
                pending = _pending[key] = _Pending()
        if not started:  # the name's lookup began while this one waited for a slot
            _lookup_slots.release()
        else:
            _start(key, host, port, pending)
    if not pending.done.wait(max(deadline - time.monotonic(), 0.0)):
        raise LookupTimedOut(f"resolving {host} took longer than {timeout:g} s")
    if pending.failed:
        raise pending.failed[0]
    return _with_port(pending.found, port)


def _start(key: str, host: str, port: int, pending: _Pending) -> None:
    """Run the lookup on a daemon thread holding a slot; the slot and the name come free when
    the resolver answers."""

    def run() -> None:
        try:
            pending.found.extend(getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except BaseException as err:  # handed to the callers
            pending.failed.append(err)
        finally:
            with _pending_lock:
                if _pending.get(key) is pending:
                    del _pending[key]
            _lookup_slots.release()
            pending.done.set()

    try:
        threading.Thread(target=run, name="webhook-dns", daemon=True).start()
    except BaseException as err:  # no thread: this lookup and those waiting for it fail
        with _pending_lock:
            del _pending[key]
        _lookup_slots.release()
        pending.failed.append(err)
        pending.done.set()
        raise


def resolve(host: str, port: int, allow_private: bool, timeout: float = 10.0) -> list[str]:
    """The addresses to connect to: the host's, with loopback, private, link-local (cloud
    metadata) and other non-public ones refused unless `allow_private`. The connection goes to
    these very addresses (a second lookup could answer otherwise). The lookup is bounded by
    `timeout`."""
    infos = lookup(host, port, timeout)
    ips = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not ips:
        raise AddressRefused(f"{host} has no address")
    if not allow_private:
        refused = [ip for ip in ips if not _allowed(ip)]
        if refused:
            raise AddressRefused(
                f"{host} resolves to {refused[0]}, not a public address "
                "(BROKERPLANE_WEBHOOK_ALLOW_PRIVATE allows it)"
            )
    return ips


def _connect(ips: list[str], port: int, timeout: float | None) -> socket.socket:
    error: OSError = OSError("no address")
    for ip in ips:
        try:
            return socket.create_connection((ip, port), timeout)
        except OSError as err:
            error = err
    raise error


class _Http(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, ips: list[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ips = ips

    def connect(self) -> None:
        self.sock = _connect(self._ips, self.port, self.timeout)


class _Https(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, ips: list[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._ips = ips

    def connect(self) -> None:
        sock = _connect(self._ips, self.port, self.timeout)
        context: ssl.SSLContext = self._context  # type: ignore[attr-defined]
        self.sock = context.wrap_socket(sock, server_hostname=self.host)


def post(
    url: str, body: bytes, headers: dict[str, str], timeout: float, allow_private: bool = False
) -> Outcome:
    """POST `body` to `url` within `timeout` seconds in all (resolve, connect, send, read at
    most MAX_RESPONSE bytes of the answer: a receiver trickling bytes is cut off at the
    deadline); redirects are not followed (a 3xx is a failure)."""
    started = time.monotonic()
    deadline = started + timeout

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    https = parts.scheme == "https"
    conn: http.client.HTTPConnection | None = None

    def cut() -> None:  # the deadline: wake a read blocked on a trickling receiver
        sock = conn.sock if conn is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(timeout, cut)
    timer.daemon = True
    try:
        host = parts.hostname or ""
        port = parts.port or (443 if https else 80)
        ips = resolve(host, port, allow_private, max(deadline - time.monotonic(), 0.0))
        conn = (_Https if https else _Http)(host, port, ips, timeout)
        timer.start()
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
        late = " (past the deadline)" if time.monotonic() >= deadline else ""
        return Outcome(False, None, f"{type(err).__name__}: {err}{late}"[:500], took())
    finally:
        timer.cancel()
    if 200 <= status < 300:
        return Outcome(True, status, "", took())
    return Outcome(False, status, f"HTTP {status}", took())


def _headers(
    sub: Subscription, body: bytes, now: datetime, delivery: str, secret: str
) -> dict[str, str]:
    stamp = int(now.timestamp())
    return {
        "Content-Type": "application/json",
        "User-Agent": f"brokerplane/{brokerplane.__version__} webhooks",
        "X-Brokerplane-Subscription": str(sub.id),
        "X-Brokerplane-Delivery": delivery,
        "X-Brokerplane-Timestamp": str(stamp),
        "X-Brokerplane-Signature": sign(secret, stamp, body),
    }


def send_test(
    sub: Subscription, now: datetime, settings: Settings, opened: Callable[[Subscription], str]
) -> Outcome:
    """One signed `webhook.test` event to the subscription's URL; `opened` gives its secret in
    clear from what is stored (a secret that does not open is the test's error)."""
    test = Event(
        "webhook.test", None, {"message": "a test from brokerplane"}, at=now, dialect="native"
    )
    body = json.dumps(
        {"subscription": sub.id, "events": [render_event(test)]}, separators=(",", ":")
    ).encode()
    try:
        check_url(sub.url, settings.webhook_hosts)
        secret = opened(sub)
    except CoreError as err:
        return Outcome(False, None, err.detail, 0)
    except SealError as err:
        return Outcome(False, None, f"SealError: {err}", 0)
    return post(
        sub.url,
        body,
        _headers(sub, body, now, f"{sub.id}-test", secret),
        settings.webhook_timeout_s,
        settings.webhook_allow_private,
    )


class Worker:
    """One delivery thread; `owner` names its leases."""

    def __init__(
        self,
        services: Application,
        settings: Settings,
        name: str,
        on_delivery: OnDelivery | None = None,
    ) -> None:
        self.services = services
        self.on_delivery = on_delivery
        self.timeout = settings.webhook_timeout_s
        self.hosts = settings.webhook_hosts
        self.allow_private = settings.webhook_allow_private
        self.owner = f"{socket.gethostname()[:20]}:{os.getpid()}:{name}:{uuid.uuid4().hex[:8]}"

    def run(self, stop: threading.Event) -> None:
        held: list[int] = []
        claimed_at = 0.0
        try:
            while not stop.is_set():
                busy = False
                try:
                    if not held or time.monotonic() - claimed_at >= RENEW_S:
                        # Claims due subscriptions and renews this worker's own leases.
                        held = [
                            s.id for s in self.services.claim_webhooks(self.owner, LEASE, CLAIM)
                        ]
                        claimed_at = time.monotonic()
                    for sub_id in held:
                        busy |= self.deliver(sub_id, stop)
                except Exception:
                    log.exception("webhook delivery pass failed; retrying")
                    held = []
                if not busy:
                    stop.wait(IDLE_S if held else IDLE_EMPTY_S)
        finally:
            for sub_id in held:
                with contextlib.suppress(Exception):
                    self.services.release_webhook(sub_id, self.owner)

    def deliver(self, sub_id: int, stop: threading.Event | None = None) -> bool:
        """Send the subscription's next batches while it has full ones; whether the last was
        full (more may be waiting). Under a steady stream of changes a batch gathers what
        committed since the last pass instead of one event each."""
        until = time.monotonic() + LEASE.total_seconds() / 4
        while time.monotonic() < until and not (stop is not None and stop.is_set()):
            batch = self.services.webhook_batch(sub_id, self.owner, BATCH)
            if batch is None:  # not ours now, paused, parked, or waiting for a retry
                return False
            sub = batch.sub
            if not batch.events:
                if batch.next_cursor == sub.cursor:
                    return False
                # past events the filters skip: move the cursor on
                if self.services.settle_webhook(batch, self.owner, Outcome(True, None, "", 0)):
                    continue
                return False
            now = self.services.clock()
            try:
                check_url(sub.url, self.hosts)
                secret = self.services.webhook_secret(sub)
                body = body_of(sub, batch.events)
                delivery = f"{sub.id}-{batch.events[0].id}-{batch.events[-1].id}"
                headers = _headers(sub, body, now, delivery, secret)
                outcome = post(sub.url, body, headers, self.timeout, self.allow_private)
            except Exception as err:  # a URL no longer allowed, a secret that does not open,
                # a body that cannot render
                outcome = Outcome(False, None, f"{type(err).__name__}: {err}"[:500], 0)
            settled = self.services.settle_webhook(batch, self.owner, outcome)
            if self.on_delivery is not None:
                with contextlib.suppress(Exception):  # counting never stops a delivery
                    self.on_delivery(outcome_label(outcome, settled), outcome.duration_ms / 1000)
            if settled is None or not outcome.ok or len(batch.events) < BATCH:
                return False
        return True


def start(
    services: Application, settings: Settings, on_delivery: OnDelivery | None = None
) -> tuple[threading.Event, list[Any]]:
    """The server's delivery threads (BROKERPLANE_WEBHOOK_WORKERS of them); `on_delivery` is
    told each attempt's outcome (the server's metrics)."""
    stop = threading.Event()
    threads = []
    for i in range(settings.webhook_workers):
        worker = Worker(services, settings, f"w{i}", on_delivery)
        thread = threading.Thread(
            target=worker.run, args=(stop,), name=f"webhooks-{i}", daemon=True
        )
        thread.start()
        threads.append(thread)
    return stop, threads
