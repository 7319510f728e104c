"""The CRM balance mirror of docs/events.md, run as the page gives it, against a real server:
mirror.py following the pull feed and receiver.py taking signed webhooks (checked with the
page's verify.py) each end up with every account's balance, credit and bonus as the server
has them, and a replay of every event (at-least-once duplicates) changes neither."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_events_server import World, _until, _world, documented
from tests.e2e.transport_support import free_port

# receiver.py on the page holds this secret
PAGE_SECRET = "whsec-3b1f0e9c2d7a4c55b1e2"


def _page_files(into: Path) -> None:
    into.mkdir()
    for name in ("verify.py", "mirror.py", "receiver.py"):
        (into / name).write_text(documented(name), encoding="utf-8")


@contextlib.contextmanager
def _receiver(folder: Path, port: int) -> Iterator[None]:
    log = folder / "receiver.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "receiver.py", str(port)],
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def listening() -> bool:
            assert proc.poll() is None, log.read_text(errors="replace")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return True
            return False

        _until(listening, "receiver.py to listen")
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _rows(folder: Path) -> dict[int, tuple[str, str, str, str]]:
    path = folder / "mirror.db"
    if not path.exists():
        return {}
    with (
        contextlib.closing(sqlite3.connect(path)) as db,
        contextlib.suppress(
            sqlite3.OperationalError  # the table not created yet
        ),
    ):
        query = "SELECT login, currency, balance, credit, bonus FROM balances"
        return {int(r[0]): (r[1], r[2], r[3], r[4]) for r in db.execute(query)}
    return {}


def _server_figures(w: World) -> dict[int, tuple[str, str, str, str]]:
    out = {}
    for login in w.logins:
        acc = w.http.get(f"/v1/users/{login}").json()
        out[login] = (acc["currency"], acc["balance"], acc["credit"], acc["bonus"])
    return out


def _mirror_once(folder: Path, w: World) -> None:
    env = {
        **os.environ,
        "BP_URL": str(w.http.base_url).rstrip("/"),
        "BP_KEY": w.http.headers["Authorization"].split(" ", 1)[1],
    }
    done = subprocess.run(
        [sys.executable, "mirror.py", "--once"],
        cwd=folder,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_the_documented_mirror_follows_the_feed_and_the_webhooks(
    database_url: str, tmp_path: Path
) -> None:
    pytest.importorskip("httpx")  # mirror.py's one dependency
    feed_dir, hook_dir = tmp_path / "feed", tmp_path / "hooks"
    _page_files(feed_dir)
    _page_files(hook_dir)
    port = free_port()
    with _world(database_url, tmp_path / "server") as w, _receiver(hook_dir, port):
        sub = w.subscribe(
            f"http://127.0.0.1:{port}/brokerplane", types=["ledger."], secret=PAGE_SECRET
        )
        # the subscription started at the newest event; send everything from the first one
        again = w.http.post(f"/v1/webhooks/{sub['id']}/replay", json={"from": 1})
        assert again.status_code == 200, again.text
        moves = [
            ("deposit", 0, "250.00"),
            ("deposit", 1, "80.00"),
            ("withdraw", 0, "40.00"),
            ("credit", 0, "100.00"),
            ("deposit", 2, "5.00"),
            ("withdraw", 1, "30.00"),
        ]
        for path, n, amount in moves:
            answer = w.http.post(
                f"/v1/balances/{path}", json={"login": w.logins[n], "amount": amount}
            )
            assert answer.status_code == 200, answer.text
        want = _server_figures(w)
        assert want[w.logins[0]] == ("USD", "210.00", "100.00", "0.00")

        _mirror_once(feed_dir, w)
        assert _rows(feed_dir) == want
        _until(lambda: _rows(hook_dir) == want, "the webhook mirror to catch up")

        # at-least-once: every event delivered again changes neither mirror
        cursor = w.http.get(f"/v1/webhooks/{sub['id']}").json()["cursor"]
        again = w.http.post(f"/v1/webhooks/{sub['id']}/replay", json={"from": 1})
        assert again.status_code == 200, again.text

        def redelivered() -> bool:
            got = w.http.get(f"/v1/webhooks/{sub['id']}").json()
            return bool(got["cursor"] >= cursor and got["attempts"] == 0)

        _until(redelivered, "the replay")
        _mirror_once(feed_dir, w)
        assert _rows(feed_dir) == _rows(hook_dir) == want
        # nothing was refused: each delivery verified with the page's verify.py
        log = w.http.get(f"/v1/webhooks/{sub['id']}/deliveries").json()["items"]
        assert log and all(d["ok"] and d["status"] == 204 for d in log)


def test_the_readme_shows_the_same_signature_check_as_the_events_page() -> None:
    """The README's verify is the page's verify.py, which the tests above run."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "```python\n" + documented("verify.py") + "```" in readme
