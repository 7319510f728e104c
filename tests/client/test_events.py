"""The client's events and webhooks against a live `brokerplane serve`: the feed read a page at
a time and resumed from a cursor, the Server-Sent Events stream followed (sync and async) and
resumed with Last-Event-ID, webhook subscriptions managed, test-sent, delivered to a receiver on
loopback that checks the signature with `verify_signature`, replayed and their deliveries
listed. Then, against scripted servers: a stream that drops is reconnected without a gap or a
repeat, and a hostile one is refused."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from brokerplane.api.native.delivery import sign as server_sign
from brokerplane.client import (
    AsyncClient,
    Client,
    Event,
    InvalidResponse,
    NotFound,
    ResponseTooLarge,
    TransportError,
    ValidationError,
    Webhook,
    WebhookBatch,
    parse_webhook,
    verify_signature,
)
from brokerplane.client import webhooks as signing
from tests.client.conftest import FAST, Live
from tests.client.wire import ScriptedServer, Seen, head

WAIT_S = 60  # a bound for the server's webhook worker; nothing is timed


@pytest.fixture
def bp(live: Live) -> Iterator[Client]:
    with Client(live.base, live.admin_key, operator_id="crm-events", retry=FAST) as client:
        yield client


def _head(bp: Client) -> int:
    return bp.events.page(limit=1).head


def _account_with_deposits(bp: Client, live: Live, amounts: list[str]) -> int:
    login = bp.accounts.open(group=live.group, leverage=100, name="Events Test").login
    for n, amount in enumerate(amounts):
        bp.money.deposit(login, amount, reference=f"ev-{uuid.uuid4().hex[:8]}-{n}")
    return login


def _mine(events: list[Event], login: int) -> list[tuple[str, Any]]:
    return [(e.type, e.data.get("amount")) for e in events if e.login == login]


# ---- the feed -------------------------------------------------------------------------------


def test_the_feed_is_read_page_by_page_and_resumed_from_a_cursor(bp: Client, live: Live) -> None:
    start = _head(bp)
    login = _account_with_deposits(bp, live, ["10.00", "20.00", "30.00"])
    everything = list(bp.events.iter(after=start, page_size=1))  # one event a page
    assert _mine(everything, login) == [
        ("account.opened", None),
        ("ledger.entry_posted", "10.00"),
        ("ledger.entry_posted", "20.00"),
        ("ledger.entry_posted", "30.00"),
    ]
    ids = [e.id for e in everything]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    first = everything[0]
    assert first.type == "account.opened" and first.data["login"] == login
    assert first.actor["operator_id"] == "crm-events" and first.dialect == "native"
    assert first.time.tzinfo is not None

    # a CRM that stopped after the second event resumes from its id: the rest, no repeat
    rest = list(bp.events.iter(after=everything[1].id))
    assert [e.id for e in rest][: len(everything) - 2] == ids[2:]
    # filters: only ledger entries of this account's group
    ledger = list(bp.events.iter(after=start, types=["ledger."], group=live.group))
    assert _mine(ledger, login) == _mine(everything, login)[1:]
    assert all(e.type == "ledger.entry_posted" for e in ledger)
    page = bp.events.page(after=start, limit=2)
    assert len(page.items) == 2 and page.more and page.next == page.items[-1].id
    assert "ledger.entry_posted" in bp.events.types()
    with pytest.raises(ValidationError) as bad:
        bp.events.page(types=["no.such"])
    assert bad.value.code.startswith("validation")
    with pytest.raises(ValueError):
        bp.events.iter(after=-1)


def test_following_the_stream_gets_new_events_as_they_commit_and_resumes(
    bp: Client, live: Live
) -> None:
    start = _head(bp)
    login = _account_with_deposits(bp, live, ["1.00"])
    stream = bp.events.follow(after=start, types=["ledger.", "account."])
    seen = [next(e for e in stream if e.login == login) for _ in range(2)]
    assert [e.type for e in seen] == ["account.opened", "ledger.entry_posted"]
    bp.money.deposit(login, "2.00")  # committed while the stream is open ...
    arrived = next(e for e in stream if e.login == login)
    assert (arrived.type, arrived.data["amount"]) == ("ledger.entry_posted", "2.00")  # ... sent
    stream.close()

    # following again from the last event handled (sent as Last-Event-ID) repeats nothing
    bp.money.deposit(login, "3.00")
    again = bp.events.follow(after=arrived.id)
    resumed = next(e for e in again if e.login == login)
    assert (resumed.data["amount"], resumed.id > arrived.id) == ("3.00", True)
    again.close()


def test_the_async_client_reads_and_follows_the_feed(live: Live) -> None:
    async def scenario() -> None:
        async with AsyncClient(live.base, live.admin_key, retry=FAST) as bp:
            start = (await bp.events.page(limit=1)).head
            login = (await bp.accounts.open(group=live.group, leverage=100, name="Async Ev")).login
            await bp.money.deposit(login, "5.00")
            read = [e async for e in bp.events.iter(after=start, page_size=1)]
            assert _mine(read, login) == [("account.opened", None), ("ledger.entry_posted", "5.00")]
            stream = bp.events.follow(after=read[-1].id)
            await bp.money.deposit(login, "6.00")
            async for event in stream:
                if event.login == login:
                    assert event.data["amount"] == "6.00" and event.id > read[-1].id
                    break
            await stream.aclose()
            assert "account.opened" in await bp.events.types()

    asyncio.run(scenario())


# ---- webhooks -------------------------------------------------------------------------------


class Receiver:
    """A webhook receiver on loopback that checks each delivery with the client's helper."""

    def __init__(self, secret: Callable[[], str]) -> None:
        self.secret = secret
        self.batches: list[WebhookBatch] = []
        self.refused = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                ok = verify_signature(outer.secret(), dict(self.headers.items()), body)
                with outer.lock:
                    if ok:
                        outer.batches.append(parse_webhook(body))
                    else:
                        outer.refused += 1
                self.send_response(204 if ok else 401)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/brokerplane"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[Event]:
        with self.lock:
            return [e for batch in self.batches for e in batch.events]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {WAIT_S} s for {what}")
        time.sleep(0.05)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, dict[str, Webhook]]]:
    made: dict[str, Webhook] = {}
    found = Receiver(lambda: made["sub"].secret or "")
    try:
        yield found, made
    finally:
        found.close()


def test_a_webhook_is_created_test_sent_delivered_verified_replayed_and_deleted(
    bp: Client, live: Live, receiver: tuple[Receiver, dict[str, Webhook]]
) -> None:
    hooks, made = receiver
    sub = made["sub"] = bp.webhooks.create(
        hooks.url, types=["ledger."], group_mask=live.group, description="crm mirror"
    )
    assert sub.secret is not None and len(sub.secret) >= 16  # made by the client, kept
    assert (sub.state, sub.types, sub.group_mask) == ("active", ["ledger."], live.group)
    assert bp.webhooks.get(sub.id).secret is None  # never shown again
    assert sub.id in [s.id for s in bp.webhooks.list()]

    tested = bp.webhooks.test(sub.id)
    if not tested.ok and "ALLOW_PRIVATE" in tested.error:
        bp.webhooks.delete(sub.id)
        pytest.skip("this server may not deliver to loopback (BROKERPLANE_WEBHOOK_ALLOW_PRIVATE)")
    assert (tested.ok, tested.status) == (True, 204)
    assert hooks.events()[0].type == "webhook.test" and hooks.refused == 0

    login = _account_with_deposits(bp, live, ["11.00", "12.00"])
    _until(lambda: len(_mine(hooks.events(), login)) == 2, "both deposits delivered")
    delivered = [e for e in hooks.events() if e.login == login]
    assert [e.data["amount"] for e in delivered] == ["11.00", "12.00"]
    assert [Decimal(e.data["balance"]) for e in delivered] == [Decimal("11.00"), Decimal("23.00")]

    log = list(bp.webhooks.deliveries(sub.id, page_size=1))
    assert log[0].events == 0 and log[0].ok  # the test-send
    assert sum(d.events for d in log if d.ok) >= 2 and all(d.status == 204 for d in log)

    paused = bp.webhooks.update(sub.id, state="paused")
    assert paused.state == "paused"
    replayed = bp.webhooks.replay(sub.id, delivered[0].id)  # resumes it too
    assert replayed.state == "active" and replayed.cursor == delivered[0].id - 1
    _until(lambda: len(_mine(hooks.events(), login)) == 4, "the replay")
    assert [e.id for e in hooks.events() if e.login == login][2:] == [e.id for e in delivered]

    bp.webhooks.delete(sub.id)
    with pytest.raises(NotFound):
        bp.webhooks.get(sub.id)
    assert hooks.refused == 0


def test_the_async_client_manages_webhooks(live: Live) -> None:
    URL = "http://127.0.0.1:9/hook"  # nothing listens there (the discard port)

    async def scenario() -> None:
        async with AsyncClient(live.base, live.admin_key, retry=FAST) as bp:
            secret = "a-shared-secret-" + uuid.uuid4().hex
            sub = await bp.webhooks.create(URL, secret=secret, types=["account."])
            assert sub.secret == secret
            changed = await bp.webhooks.update(sub.id, description="renamed", types=["ledger."])
            assert (changed.description, changed.types) == ("renamed", ["ledger."])
            assert sub.id in [s.id for s in await bp.webhooks.list()]
            assert (await bp.webhooks.get(sub.id)).url == URL
            assert [d async for d in bp.webhooks.deliveries(sub.id)] == []
            assert (await bp.webhooks.replay(sub.id, 1)).cursor == 0
            await bp.webhooks.delete(sub.id)
            with pytest.raises(NotFound):
                await bp.webhooks.get(sub.id)
            with pytest.raises(ValidationError):
                await bp.webhooks.create("ftp://crm.example.com/hook")

    asyncio.run(scenario())


# ---- the signature --------------------------------------------------------------------------


def test_verify_signature_accepts_the_servers_signature_and_nothing_else() -> None:
    secret, body, now = "s3cret-0123456789abcdef", b'{"subscription":1,"events":[]}', 1_800_000_000
    signed = server_sign(secret, now, body)
    assert signing.sign(secret, now, body) == signed  # the same scheme as the server's
    headers = {"X-Brokerplane-Timestamp": str(now), "X-Brokerplane-Signature": signed}
    assert verify_signature(secret, headers, body, now=now + 10)
    lower = {k.lower(): v for k, v in headers.items()}
    assert verify_signature(secret, lower, body, now=now)  # any case
    several = {**headers, "X-Brokerplane-Signature": f"v1={'0' * 64}, {signed}"}
    assert verify_signature(secret, several, body, now=now)
    assert not verify_signature(secret, headers, body + b" ", now=now)  # a changed body
    assert not verify_signature("another-secret-0123456", headers, body, now=now)
    assert not verify_signature(secret, headers, body, now=now + 301)  # a replay, too late
    assert verify_signature(secret, headers, body, now=now + 301, tolerance=600)
    assert not verify_signature(secret, {**headers, "X-Brokerplane-Timestamp": "-5"}, body, now=now)
    assert not verify_signature(secret, {"X-Brokerplane-Timestamp": str(now)}, body, now=now)
    with pytest.raises(TypeError):
        verify_signature(secret, headers, body.decode(), now=now)  # type: ignore[arg-type]
    assert parse_webhook(body).subscription == 1


# ---- a stream that drops, and a hostile one -------------------------------------------------


def _sse(event_id: int) -> bytes:
    event = {
        "id": event_id,
        "type": "ledger.entry_posted",
        "time": "2026-12-07T06:00:00Z",
        "login": 100000,
        "group": "demo-usd",
        "white_label": None,
        "actor": {"manager_login": 1000},
        "dialect": "native",
        "request_id": None,
        "data": {"amount": f"{event_id}.00"},
    }
    return f"id: {event_id}\nevent: ledger.entry_posted\ndata: {json.dumps(event)}\n\n".encode()


def test_a_dropped_stream_is_reconnected_with_last_event_id_without_gap_or_repeat() -> None:
    sse = head(200, "content-type: text/event-stream")

    def script(seen: Seen) -> Iterator[bytes]:
        resume = seen.headers.get("last-event-id")
        if resume is None:  # the first connection: two events, then the connection drops
            yield sse + b": brokerplane event stream\nretry: 0\n\n" + _sse(1) + _sse(2)
        elif resume == "2":  # a 503 first, then the rest
            if sum(1 for s in server.seen if s.headers.get("last-event-id") == "2") == 1:
                yield head(503, "content-type: application/problem+json", "retry-after: 0")
                return
            yield sse + _sse(3) + b": keep-alive\n\n" + _sse(4)

    with ScriptedServer(script) as server, Client(server.base, "k", retry=FAST) as bp:
        got = []
        for event in bp.events.follow():
            got.append(event.id)
            if event.id == 4:
                break
        assert got == [1, 2, 3, 4]
        assert [s.headers.get("last-event-id") for s in server.seen] == [None, "2", "2"]
        assert all(s.headers["accept"] == "text/event-stream" for s in server.seen)


def test_a_stream_that_never_ends_a_line_or_is_not_a_stream_is_refused() -> None:
    def endless(_: Seen) -> Iterator[bytes]:
        yield head(200, "content-type: text/event-stream")
        while True:
            yield b"data: " + b"x" * 65536

    with (
        ScriptedServer(endless) as server,
        Client(server.base, "k", retry=FAST) as bp,
        pytest.raises(ResponseTooLarge),
    ):
        next(bp.events.follow())

    def html(_: Seen) -> Iterator[bytes]:
        yield head(200, "content-type: text/html") + b"<html>"

    with (
        ScriptedServer(html) as server,
        Client(server.base, "k", retry=FAST) as bp,
        pytest.raises(InvalidResponse, match="event stream was asked for"),
    ):
        next(bp.events.follow())

    def gone(_: Seen) -> Iterator[bytes]:
        return iter(())  # closes at once, every time

    with (
        ScriptedServer(gone) as server,
        Client(server.base, "k", retry=FAST) as bp,
        pytest.raises(TransportError),
    ):
        next(bp.events.follow())
