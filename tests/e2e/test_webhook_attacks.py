"""Webhook URLs and receivers as an attacker would pick them: addresses that are not public
although Python's `is_private` says so only in part (the shared address space 100.64/10, where
Alibaba Cloud keeps its metadata service at 100.100.100.200; 6to4 wrapping loopback; the old
IPv6 site-local range), and a TLS receiver that trickles its handshake to hold a delivery
thread."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from brokerplane.api.native.delivery import post
from tests.e2e.test_events_server import _world


@pytest.mark.parametrize(
    "url",
    [
        "http://100.100.100.200/latest/meta-data/",  # Alibaba Cloud metadata (100.64/10)
        "http://100.64.0.1/hook",  # carrier-grade NAT, inside many clouds' networks
        "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
        "http://[fec0::1]/hook",  # deprecated IPv6 site-local
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://2130706433/hook",  # 127.0.0.1 as one decimal number
        "http://0177.0.0.1/hook",  # ... in octal
    ],
)
def test_a_delivery_to_a_non_public_address_is_refused_before_connecting(url: str) -> None:
    outcome = post(url, b"{}", {}, 1.0, allow_private=False)
    assert outcome.ok is False
    assert "not a public address" in outcome.error, outcome


def test_the_test_send_refuses_the_shared_address_space_through_the_server(
    database_url: str, tmp_path: Path
) -> None:
    with _world(database_url, tmp_path, webhook_allow_private=False) as w:
        sub = w.subscribe("http://100.100.100.200/latest/meta-data/")
        answer = w.http.post(f"/v1/webhooks/{sub['id']}/test")
        assert answer.status_code == 200, answer.text
        assert answer.json()["ok"] is False
        assert "not a public address" in answer.json()["error"]


def test_a_receiver_trickling_its_tls_handshake_is_cut_off_at_the_deadline() -> None:
    """The request's one deadline covers the TLS handshake too: a receiver answering the
    ClientHello a byte at a time (each byte well within the socket timeout) is cut off, the
    connection closed by the worker long before the receiver is done."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()
    result: dict[str, Any] = {"sent": 0, "cut": False}
    total = 200  # at 0.1 s a byte: 20 s, twenty times the deadline

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)  # the ClientHello
                # a handshake record header announcing a long ServerHello, then a trickle
                conn.sendall(b"\x16\x03\x03\x40\x00")
                for _ in range(total):
                    if stop.is_set():
                        return
                    try:
                        conn.sendall(b"\x02")
                    except OSError:
                        result["cut"] = True
                        return
                    result["sent"] += 1
                    time.sleep(0.1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        outcome = post(f"https://127.0.0.1:{port}/hook", b"{}", {}, 1.0, allow_private=True)
        sent_when_cut = result["sent"]
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=30)
    assert outcome.ok is False and "past the deadline" in outcome.error, outcome
    assert sent_when_cut < total, "the worker waited for the whole trickle"


def test_one_key_cannot_take_every_event_stream_slot(database_url: str, tmp_path: Path) -> None:
    """A reporting key opening streams until the server refuses gets half the slots; another
    key can still follow the feed."""
    import httpx

    from brokerplane.core.access.commands import CreateApiKey
    from brokerplane.core.actor import system_actor

    headers = {"Accept": "text/event-stream"}
    with _world(database_url, tmp_path, events_max_streams=4) as w:
        other_key = w.runtime.app.create_api_key(
            CreateApiKey(1000, frozenset({"reports:read"})), system_actor()
        ).secret
        with contextlib.ExitStack() as open_streams:
            for _ in range(2):
                stream = open_streams.enter_context(
                    w.http.stream("GET", "/v1/events", headers=headers)
                )
                assert stream.status_code == 200
            third = open_streams.enter_context(w.http.stream("GET", "/v1/events", headers=headers))
            assert third.status_code == 429
            bearer = {"Authorization": f"Bearer {other_key}"}
            other = open_streams.enter_context(
                httpx.Client(base_url=w.http.base_url, timeout=30, headers=bearer)
            )
            theirs = open_streams.enter_context(other.stream("GET", "/v1/events", headers=headers))
            assert theirs.status_code == 200


class _DeadResolver:
    """A resolver that never answers for *.never.test (as a DNS server that drops queries);
    other names go to the system's."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.stuck = 0
        self.real = socket.getaddrinfo

    def __call__(self, host: str, *args: Any, **kw: Any) -> Any:
        if host.endswith(".never.test"):
            self.stuck += 1
            self.release.wait()
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return self.real(host, *args, **kw)


def test_a_resolver_that_never_answers_stalls_no_delivery_and_no_request(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name lookup has the request's deadline: a webhook host whose DNS never answers is
    a failed delivery (retried, then parked) and a failed test-send, while the server keeps
    answering and other subscriptions are delivered; stuck lookups hold a bounded few threads."""
    from brokerplane.api.native import delivery
    from tests.e2e.test_events_server import Receiver, _until

    dead = _DeadResolver()
    monkeypatch.setattr(delivery, "getaddrinfo", dead)
    receiver = Receiver()
    try:
        # the bounded lookup itself: more lookups than slots, each given up at its deadline
        for n in range(delivery.LOOKUP_SLOTS + 2):
            with pytest.raises(delivery.LookupTimedOut):
                delivery.lookup(f"h{n}.never.test", 80, 0.2)
        assert dead.stuck == delivery.LOOKUP_SLOTS  # the rest never got a thread
        outcome = post("http://hook.never.test/x", b"{}", {}, 0.3, allow_private=True)
        assert outcome.ok is False and "LookupTimedOut" in outcome.error, outcome

        with _world(database_url, tmp_path, webhook_timeout_s=0.3) as w:
            stuck = w.subscribe("http://crm.never.test/hook")
            good = w.subscribe(receiver.url)
            test = w.http.post(f"/v1/webhooks/{stuck['id']}/test")
            assert test.status_code == 200 and test.json()["ok"] is False
            assert "LookupTimedOut" in test.json()["error"]
            w.deposit(w.logins[0])
            _until(
                lambda: any(e["type"] == "ledger.entry_posted" for e in receiver.events()),
                "the other subscription's delivery",
            )

            def failing() -> bool:
                got = w.http.get(f"/v1/webhooks/{stuck['id']}").json()
                return "LookupTimedOut" in got["last_error"]

            _until(failing, "the stuck host's delivery to fail")
            assert w.http.get("/health").status_code == 200
            assert w.http.get(f"/v1/webhooks/{good['id']}").json()["last_error"] == ""
    finally:
        dead.release.set()  # the stuck lookups end: wait for their slots to come back
        taken = [delivery._lookup_slots.acquire(timeout=10) for _ in range(delivery.LOOKUP_SLOTS)]
        for _ in range(sum(taken)):
            delivery._lookup_slots.release()
        receiver.close()


class _SlowNameResolver:
    """A resolver that answers at once for fast.example and not at all for slow.example until
    released (then it answers with a public address)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.slow_entered = threading.Event()
        self.slow_calls = 0

    def __call__(self, host: str, port: Any, *args: Any, **kw: Any) -> Any:
        if host == "slow.example":
            self.slow_calls += 1
            self.slow_entered.set()
            self.release.wait()
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("198.51.100.7", port))]
        if host == "fast.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.0.113.9", port))]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def test_a_name_whose_dns_never_answers_does_not_starve_other_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Lookups of one name share one lookup: however many deliveries wait on a host whose DNS
    never answers, it holds one lookup thread, and other hosts' names still resolve."""
    from brokerplane.api.native import delivery

    slow = _SlowNameResolver()
    monkeypatch.setattr(delivery, "getaddrinfo", slow)
    answers: dict[int, list[Any]] = {}

    def wait_for_slow(port: int) -> None:
        answers[port] = delivery.lookup("slow.example", port, 30)

    waiters = [
        threading.Thread(target=wait_for_slow, args=(8000 + n,), daemon=True)
        for n in range(3 * delivery.LOOKUP_SLOTS)
    ]
    try:
        for waiter in waiters:
            waiter.start()
        assert slow.slow_entered.wait(10)
        # more lookups of the stuck name than there are slots, each given up at its deadline
        for _ in range(delivery.LOOKUP_SLOTS + 2):
            with pytest.raises(delivery.LookupTimedOut):
                delivery.lookup("SLOW.example", 80, 0.2)
        got = delivery.lookup("fast.example", 443, 5)
        assert [info[4] for info in got] == [("203.0.113.9", 443)]
        assert slow.slow_calls == 1  # every lookup of slow.example joined the first
        dns_threads = [t for t in threading.enumerate() if t.name == "webhook-dns"]
        assert 1 <= len(dns_threads) <= delivery.LOOKUP_SLOTS
    finally:
        slow.release.set()
        for waiter in waiters:
            waiter.join(10)
        taken = [delivery._lookup_slots.acquire(timeout=10) for _ in range(delivery.LOOKUP_SLOTS)]
        for _ in range(sum(taken)):
            delivery._lookup_slots.release()
    # the waiters got the answer when it came, each for its own port
    assert answers == {
        8000 + n: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("198.51.100.7", 8000 + n))]
        for n in range(3 * delivery.LOOKUP_SLOTS)
    }
