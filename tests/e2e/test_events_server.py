"""Events through a real server: webhooks delivered by the worker inside the server to a
receiver on loopback (signed, in order per account, retried through failures, parked when the
receiver never recovers while the server stays healthy), and the Server-Sent Events stream."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from brokerplane import bootstrap
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateApiKey, CreateManager, RevokeApiKey
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import SCOPES, Actor, system_actor
from brokerplane.core.group.commands import CreateGroup
from brokerplane.settings import Settings
from brokerplane.storage import tables as t
from tests.e2e.test_money_server import _serving

SECRET = "test-secret-0123456789abcdef"
WAIT_S = 60  # a generous bound for the worker to catch up; nothing is timed


DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def documented(name: str) -> str:
    """The file docs/events.md asks the reader to save as `name` (<!-- file: NAME -->)."""
    text = DOCS_PAGE.read_text(encoding="utf-8")
    found = re.search(rf"<!--\s*file:\s*{re.escape(name)}\s*-->\s*```\w*\n(.*?)\n```", text, re.S)
    assert found is not None, f"docs/events.md has no {name}"
    return found.group(1) + "\n"


def _documented_verify() -> Callable[[str, dict[str, str], bytes], bool]:
    space: dict[str, Any] = {}
    exec(compile(documented("verify.py"), "verify.py", "exec"), space)  # the page's code, as given
    check: Callable[[str, dict[str, str], bytes], bool] = space["verify"]
    return check


# The receiver's check is the one docs/events.md gives readers, run as it is there.
verify = _documented_verify()


class Receiver:
    """An HTTP receiver on loopback: answers 500 to the first `fail` requests (or to all with
    fail=-1), 200 after; keeps what it accepted."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.seen = 0
        self.accepted: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with outer.lock:
                    outer.seen += 1
                    failing = outer.fail < 0 or outer.seen <= outer.fail
                    if not verify(SECRET, headers, body):
                        outer.bad_signatures += 1
                    elif not failing:
                        outer.accepted.append(json.loads(body))
                self.send_response(500 if failing else 200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [e for batch in self.accepted for e in batch["events"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {WAIT_S} s for {what}")
        time.sleep(0.05)


class World:
    def __init__(self, runtime: Runtime, base: str, key: str, logins: list[int]) -> None:
        self.runtime = runtime
        self.http = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        self.logins = logins

    def subscribe(self, url: str, **body: Any) -> dict[str, Any]:
        response = self.http.post("/v1/webhooks", json={"url": url, "secret": SECRET, **body})
        assert response.status_code == 201, response.text
        sub: dict[str, Any] = response.json()
        return sub

    def deposit(self, login: int, amount: str = "1.00") -> None:
        response = self.http.post("/v1/balances/deposit", json={"login": login, "amount": amount})
        assert response.status_code == 200, response.text


@contextlib.contextmanager
def _world(database_url: str, tmp_path: Path, **settings: Any) -> Iterator[World]:
    settings = {"webhook_allow_private": True, "webhook_backoff_s": 0.05, **settings}
    runtime = bootstrap.build(Settings(database_url=database_url, data_dir=tmp_path, **settings))
    admin: Actor = system_actor()
    try:
        services = runtime.app
        services.create_manager(CreateManager(1000, "Manager", "Manag3r!pw"), admin)
        key = services.create_api_key(CreateApiKey(1000, frozenset(SCOPES)), admin).secret
        services.create_group(CreateGroup("demo-usd", "USD"), admin)
        services.create_group(CreateGroup("real-usd", "USD"), admin)
        logins = [
            services.open_account(OpenAccount(group=g, name="Hook"), admin).login
            for g in ("demo-usd", "demo-usd", "real-usd")
        ]
        with _serving(runtime) as base:
            world = World(runtime, base, key, logins)
            try:
                yield world
            finally:
                world.http.close()
    finally:
        runtime.close()


def _per_account_balances(events: list[dict[str, Any]]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for e in events:
        if e["type"] == "ledger.entry_posted":
            out.setdefault(e["login"], []).append(e["data"]["balance"])
    return out


def test_webhooks_are_signed_and_in_order_per_account(database_url: str, tmp_path: Path) -> None:
    receiver = Receiver()
    try:
        with _world(database_url, tmp_path) as w:
            sub = w.subscribe(receiver.url, types=["ledger."])
            assert sub["secret"] == SECRET and sub["state"] == "active"
            # kept sealed under the audit keyring; the signatures below are made with it opened
            with w.runtime.storage.engine.connect() as conn:
                stored = conn.execute(select(t.webhook_subscriptions.c.secret)).scalar_one()
            assert stored.startswith("sealed:v1:") and SECRET not in stored
            for n in range(30):
                w.deposit(w.logins[n % 3])
            _until(lambda: len(receiver.events()) >= 30, "30 events delivered")
            events = receiver.events()
            assert receiver.bad_signatures == 0
            assert [e["id"] for e in events] == sorted({e["id"] for e in events})
            balances = _per_account_balances(events)
            want = [f"{n}.00" for n in range(1, 11)]
            assert balances == dict.fromkeys(w.logins, want)

            # the delivery log names each batch (once the worker has recorded the last one)
            def logged() -> int:
                items = w.http.get(f"/v1/webhooks/{sub['id']}/deliveries").json()["items"]
                return sum(d["events"] for d in items)

            _until(lambda: logged() == 30, "the delivery log")
            log = w.http.get(f"/v1/webhooks/{sub['id']}/deliveries").json()["items"]
            assert log and all(d["ok"] and d["status"] == 200 for d in log)
            assert sum(d["events"] for d in log) == 30
            got = w.http.get(f"/v1/webhooks/{sub['id']}").json()
            assert got["cursor"] >= events[-1]["id"] and got["secret"] is None
            # a test-send reaches the receiver, signed, and is logged
            test = w.http.post(f"/v1/webhooks/{sub['id']}/test").json()
            assert test["ok"] is True and test["status"] == 200
            assert receiver.events()[-1]["type"] == "webhook.test"
            # replay from the first event: everything again, in the same order
            first = events[0]["id"]
            again = w.http.post(f"/v1/webhooks/{sub['id']}/replay", json={"from": first})
            assert again.status_code == 200, again.text
            _until(lambda: len(receiver.events()) >= 61, "the replay")
            replayed = list(receiver.events()[31:])
            assert [e["id"] for e in replayed] == [e["id"] for e in events]
    finally:
        receiver.close()


def test_a_receiver_failing_five_times_then_recovering_gets_every_event_in_order(
    database_url: str, tmp_path: Path
) -> None:
    receiver = Receiver(fail=5)
    try:
        with _world(database_url, tmp_path) as w:
            w.subscribe(receiver.url, group_mask="demo*")
            for n in range(12):
                w.deposit(w.logins[n % 3])
            _until(
                lambda: len(_per_account_balances(receiver.events()).get(w.logins[1], [])) >= 4,
                "the events after recovery",
            )
            assert receiver.seen >= 6 and receiver.bad_signatures == 0
            events = receiver.events()
            assert [e["id"] for e in events] == sorted({e["id"] for e in events})  # no dupes
            balances = _per_account_balances(events)
            assert set(balances) == {w.logins[0], w.logins[1]}  # the group mask: demo only
            assert balances[w.logins[0]] == ["1.00", "2.00", "3.00", "4.00"]
            assert balances[w.logins[1]] == ["1.00", "2.00", "3.00", "4.00"]
    finally:
        receiver.close()


def test_a_receiver_that_never_recovers_parks_the_subscription_and_the_server_stays_up(
    database_url: str, tmp_path: Path
) -> None:
    receiver = Receiver(fail=-1)
    try:
        with _world(database_url, tmp_path, webhook_retry_hours=1 / 3600) as w:
            sub = w.subscribe(receiver.url)
            w.deposit(w.logins[0])

            def parked() -> bool:
                state: str = w.http.get(f"/v1/webhooks/{sub['id']}").json()["state"]
                return state == "failed"

            _until(parked, "the subscription to be parked")
            got = w.http.get(f"/v1/webhooks/{sub['id']}").json()
            assert got["last_error"] == "HTTP 500" and got["attempts"] >= 2
            log = w.http.get(f"/v1/webhooks/{sub['id']}/deliveries").json()["items"]
            assert log and not any(d["ok"] for d in log)
            seen = receiver.seen
            # parked: no more attempts; the server answers and takes money as before
            assert w.http.get("/health").status_code == 200
            w.deposit(w.logins[0])
            feed = w.http.get("/v1/events", params={"types": "ledger."}).json()["items"]
            assert [e["data"]["balance"] for e in feed] == ["1.00", "2.00"]
            assert receiver.seen == seen
            # resuming (the receiver fixed) delivers what was missed, in order
            receiver.fail = 0
            resumed = w.http.patch(f"/v1/webhooks/{sub['id']}", json={"state": "active"})
            assert resumed.status_code == 200, resumed.text
            _until(
                lambda: len(_per_account_balances(receiver.events()).get(w.logins[0], [])) >= 2,
                "the missed events",
            )
            assert _per_account_balances(receiver.events())[w.logins[0]] == ["1.00", "2.00"]
    finally:
        receiver.close()


def _sse_events(lines: Iterator[str], count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    event_id = None
    for line in lines:
        if line.startswith("id: "):
            event_id = int(line[4:])
        elif line.startswith("data: "):
            item = json.loads(line[6:])
            assert item["id"] == event_id
            found.append(item)
            if len(found) == count:
                return found
    raise AssertionError("the stream ended")


def test_the_stream_sends_events_as_they_commit_and_resumes(
    database_url: str, tmp_path: Path
) -> None:
    with _world(database_url, tmp_path, events_max_streams=1) as w:
        head = w.http.get("/v1/events").json()["head"]
        headers = {"Accept": "text/event-stream"}
        with w.http.stream(
            "GET", "/v1/events", params={"after": head, "types": "ledger."}, headers=headers
        ) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            # one stream is the bound: a second is refused, the server still answers
            second = w.http.get("/v1/events", headers=headers)
            assert second.status_code == 429, second.text
            w.deposit(w.logins[0], "7.00")
            w.deposit(w.logins[1], "8.00")
            got = _sse_events(stream.iter_lines(), 2)
        assert [e["data"]["amount"] for e in got] == ["7.00", "8.00"]
        w.deposit(w.logins[2], "9.00")
        resume = {**headers, "Last-Event-ID": str(got[0]["id"])}
        with w.http.stream(
            "GET", "/v1/events", params={"types": "ledger."}, headers=resume
        ) as stream:
            again = _sse_events(stream.iter_lines(), 2)
        assert [e["data"]["amount"] for e in again] == ["8.00", "9.00"]


def test_webhooks_reach_no_private_address_unless_allowed(
    database_url: str, tmp_path: Path
) -> None:
    """The default refuses loopback, private and link-local targets (a receiver inside the
    broker's network, the cloud metadata address) at delivery, after resolving the name; a
    host mask refuses other hosts when the subscription is made."""
    receiver = Receiver()
    try:
        with _world(database_url, tmp_path, webhook_allow_private=False,
                    webhook_hosts="*.example.com,localhost") as w:  # fmt: skip
            refused = w.http.post("/v1/webhooks", json={"url": "http://10.0.0.5/hook"})
            assert refused.status_code == 400 and "BROKERPLANE_WEBHOOK_HOSTS" in refused.text
            for bad in (
                "ftp://example.com/x",
                "http://user:pw@hooks.example.com/",
                "http:///nohost",
                "javascript:alert(1)",
                "http://a b.example.com/",
            ):
                answer = w.http.post("/v1/webhooks", json={"url": bad})
                assert answer.status_code == 400, (bad, answer.text)
            url = receiver.url.replace("127.0.0.1", "localhost")
            sub = w.subscribe(url)
            test = w.http.post(f"/v1/webhooks/{sub['id']}/test").json()
            assert test["ok"] is False and "not a public address" in test["error"]
            w.deposit(w.logins[0])

            def failing() -> bool:
                got = w.http.get(f"/v1/webhooks/{sub['id']}").json()
                return "not a public address" in got["last_error"]

            _until(failing, "the delivery to be refused")
            assert receiver.seen == 0
    finally:
        receiver.close()


def test_a_receiver_trickling_its_answer_is_cut_off_and_a_redirect_is_a_failure() -> None:
    """The worker's request has one deadline in all: a receiver sending its headers a byte at
    a time cannot hold a delivery thread, and a redirect is never followed."""
    import socket

    from brokerplane.api.native.delivery import post

    stop = threading.Event()

    def trickle(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
                if stop.is_set():
                    return
                with contextlib.suppress(OSError):
                    conn.sendall(bytes([byte]))
                time.sleep(0.2)

    def redirect(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\n"
                b"Content-Length: 0\r\n\r\n"
            )

    for answer, want in ((trickle, "past the deadline"), (redirect, "HTTP 302")):
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]

        def accept(listener: socket.socket = listener, answer: Any = answer) -> None:
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                answer(conn)

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            outcome = post(f"http://127.0.0.1:{port}/hook", b"{}", {}, 1.0, allow_private=True)
        finally:
            stop.set()
            listener.close()
            thread.join(timeout=5)  # the trickler stops between bytes: no thread left sending
        assert not thread.is_alive()
        assert outcome.ok is False and want in outcome.error, outcome
        stop.clear()


def _desk_key(w: World, mask: str) -> tuple[str, str]:
    """A reporting key of a manager limited to `mask`: (secret, key id)."""
    services, admin = w.runtime.app, system_actor()
    services.create_manager(CreateManager(3000, "Desk", "Desk!pw-123", rights=frozenset(
        {"reports:read"}), group_mask=mask), admin)  # fmt: skip
    issued = services.create_api_key(CreateApiKey(3000, frozenset({"reports:read"})), admin)
    return issued.secret, issued.key.id


def test_an_open_stream_follows_its_keys_reach_and_ends_when_it_is_revoked(
    database_url: str, tmp_path: Path
) -> None:
    """The stream checks its key again every BROKERPLANE_EVENTS_STREAM_RECHECK_S: a reach
    changed applies to what it sends from then on, a revoked key ends it."""
    from brokerplane.core.access.commands import UpdateManager

    with _world(database_url, tmp_path, events_stream_recheck_s=0.1) as w:
        demo, real = w.logins[0], w.logins[2]
        secret, key_id = _desk_key(w, "demo*")
        headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {secret}"}
        head = w.http.get("/v1/events").json()["head"]
        with w.http.stream(
            "GET", "/v1/events", params={"after": head, "types": "ledger."}, headers=headers
        ) as stream:
            assert stream.status_code == 200
            lines = stream.iter_lines()
            w.deposit(real, "1.00")
            w.deposit(demo, "2.00")
            [first] = _sse_events(lines, 1)
            assert (first["login"], first["data"]["amount"]) == (demo, "2.00")
            # the manager moved to real*: from the next check on, real's events and not demo's
            w.runtime.app.update_manager(UpdateManager(3000, group_mask="real*"), system_actor())
            w.deposit(real, "3.00")
            got = [first]
            while got[-1]["data"]["amount"] != "3.00":
                got += _sse_events(lines, 1)
            w.deposit(demo, "4.00")
            w.deposit(real, "5.00")
            while got[-1]["data"]["amount"] != "5.00":
                got += _sse_events(lines, 1)
            after_move = got[1:]
            assert {e["login"] for e in after_move} == {real}
            assert "4.00" not in [e["data"]["amount"] for e in got]
            # revoked: the stream ends (the server closes it) without another event
            w.runtime.app.revoke_api_key(RevokeApiKey(key_id), system_actor())
            rest = list(lines)
            assert not any(line.startswith("data: ") for line in rest)
        # and the key opens no new stream
        again = w.http.get("/v1/events", headers=headers)
        assert again.status_code == 401


def test_the_server_records_a_margin_call_once_and_delivers_it(
    database_url: str, tmp_path: Path
) -> None:
    """The risk pass runs inside the server: quotes that take an account below its group's
    margin-call level make one `account.margin_call`, delivered to a subscriber too."""
    from brokerplane.core.symbol.commands import CreateSymbol
    from brokerplane.core.trading.commands import QuoteInput

    receiver = Receiver()
    try:
        with _world(database_url, tmp_path, risk_pass_interval_s=0.05) as w:
            fx = {"currency_base": "EUR", "currency_profit": "USD", "currency_margin": "EUR",
                  "digits": 5, "contract_size": "100000"}  # fmt: skip
            w.runtime.app.create_symbol(CreateSymbol("EURUSD", fx), system_actor())
            w.subscribe(receiver.url, types=["account.margin_call", "account.stop_out"])

            def quote(bid: str, ask: str) -> None:  # from the price feed (not the trader)
                w.runtime.app.set_quotes([QuoteInput("EURUSD", bid, ask)], system_actor())

            quote("1.10000", "1.10020")
            login = w.logins[0]
            assert w.http.patch(f"/v1/users/{login}", json={"leverage": 100}).status_code == 200
            w.deposit(login, "2000.00")
            opened = w.http.post(
                "/v1/positions",
                json={"login": login, "symbol": "EURUSD", "side": "buy", "volume": "1"},
            )
            assert opened.status_code == 201, opened.text
            quote("1.09000", "1.09020")  # equity 980 against about 1090 of margin

            def calls() -> list[dict[str, Any]]:
                feed = w.http.get("/v1/events", params={"types": "account.margin_call"})
                items: list[dict[str, Any]] = feed.json()["items"]
                return items

            _until(lambda: bool(calls()), "the margin call")
            _until(lambda: bool(receiver.events()), "its delivery")
            # more passes (the server's and these) find the same state: still the one event
            for _ in range(3):
                assert w.runtime.app.risk_pass().recorded == 0
            [call] = calls()
            assert call["login"] == login and call["data"]["state"] == "margin_call"
            assert call["actor"]["operator_id"] == "risk-pass" and call["dialect"] == "system"
            assert [e["id"] for e in receiver.events()] == [call["id"]]
            types = w.http.get("/v1/events/types").json()["items"]
            assert {"account.margin_call", "account.stop_out", "account.margin_restored"} <= set(
                types
            )
    finally:
        receiver.close()
