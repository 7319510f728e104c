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

    from brokerplane.core.access.service import CreateApiKey
    from brokerplane.core.actor import system_actor

    headers = {"Accept": "text/event-stream"}
    with _world(database_url, tmp_path, events_max_streams=4) as w:
        other_key = w.runtime.services.create_api_key(
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
