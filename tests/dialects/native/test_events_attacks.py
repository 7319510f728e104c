"""The events surface attacked from outside, over HTTP: forged Last-Event-ID values on the
stream, a types list stretched by repetition, replays of ranges past the outbox, and the
webhook URL's resolution (a DNS answer that changes between lookups, one that mixes a public
and a private address, IPv6 forms that carry a private IPv4 address)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from brokerplane.api.native import delivery
from tests.dialects.native.conftest import Api

STREAM = {"Accept": "text/event-stream"}


@pytest.mark.parametrize(
    "resume", ["abc", "-1", "1e3", b"1\xb2", "9" * 30, str(2**63), "99999999", "0x10", " 1 2"]
)
def test_a_forged_last_event_id_is_refused_before_a_stream_opens(
    api: Api, resume: str | bytes
) -> None:
    response = api.get("/v1/events", headers={**STREAM, "Last-Event-ID": resume})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "Last-Event-ID" in response.text or "after" in response.text
    streams = getattr(api.client.app.state, "event_streams", None)  # type: ignore[attr-defined]
    assert streams is None or streams.open == 0  # no slot kept by a refused stream


def test_a_types_list_stretched_by_repetition_is_refused(api: Api) -> None:
    many = [("types", "") for _ in range(3000)]  # empty values cost nothing to parse ...
    response = api.get("/v1/events", params=many)  # ... but are counted all the same
    assert response.status_code == 400, response.text
    dup = [("types", "ledger.") for _ in range(40)]
    assert api.get("/v1/events", params=dup).status_code == 400
    assert api.get("/v1/events", params=dup[:32]).status_code == 200


def test_a_replay_past_the_outbox_or_of_a_huge_id_is_refused(api: Api) -> None:
    made = api.post("/v1/webhooks", {"url": "https://crm.example.com/hook"})
    assert made.status_code == 201, made.text
    sub = made.json()["id"]
    head = api.get("/v1/events").json()["head"]
    for start in (head + 2, 2**62, 2**63, -1, 0, "abc", 1.5):
        refused = api.post(f"/v1/webhooks/{sub}/replay", {"from": start})
        assert refused.status_code in (400, 422), (start, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    # the whole outbox again is allowed: a cursor moved, nothing read at once
    again = api.post(f"/v1/webhooks/{sub}/replay", {"from": 1})
    assert again.status_code == 200 and again.json()["cursor"] == 0


def _answers(*ips: str) -> list[Any]:
    return [
        (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, 443))
        for ip in ips
    ]


def test_a_rebinding_resolver_gets_one_lookup_and_the_connection_goes_to_its_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A DNS server answering a public address first and the metadata address next: the name
    is looked up once per request, and the connection goes to that lookup's address."""
    asked: list[str] = []
    answers = iter(["93.184.215.14", "169.254.169.254", "169.254.169.254"])

    def resolver(host: str, port: int, **kw: Any) -> list[Any]:
        asked.append(host)
        return _answers(next(answers))

    connected: list[str] = []

    def connect(ips: list[str], port: int, timeout: float | None) -> socket.socket:
        connected.extend(ips)
        raise ConnectionRefusedError("not here")

    monkeypatch.setattr(delivery, "getaddrinfo", resolver)
    monkeypatch.setattr(delivery, "_connect", connect)
    outcome = delivery.post("https://rebind.example.com/hook", b"{}", {}, 2.0)
    assert outcome.ok is False and "ConnectionRefusedError" in outcome.error
    assert asked == ["rebind.example.com"] and connected == ["93.184.215.14"]
    # the next request looks up again, gets the private answer, and connects nowhere
    outcome = delivery.post("https://rebind.example.com/hook", b"{}", {}, 2.0)
    assert "not a public address" in outcome.error and connected == ["93.184.215.14"]


@pytest.mark.parametrize(
    "ips",
    [
        ("93.184.215.14", "10.0.0.5"),  # one public, one private: refused whole
        ("2606:4700::1111", "fd00::1"),
        ("64:ff9b::a9fe:a9fe",),  # NAT64 of the metadata address
        ("::a9fe:a9fe",),  # IPv4-compatible form of it
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2",),  # Teredo
    ],
)
def test_an_answer_with_any_non_public_address_connects_nowhere(
    monkeypatch: pytest.MonkeyPatch, ips: tuple[str, ...]
) -> None:
    connected: list[str] = []

    def connect(found: list[str], port: int, timeout: float | None) -> socket.socket:
        connected.extend(found)
        raise ConnectionRefusedError("not here")

    monkeypatch.setattr(delivery, "getaddrinfo", lambda host, port, **kw: _answers(*ips))
    monkeypatch.setattr(delivery, "_connect", connect)
    outcome = delivery.post("https://mixed.example.com/hook", b"{}", {}, 2.0)
    assert "not a public address" in outcome.error, outcome
    assert connected == []
