"""`/metrics` for events and webhooks, scraped from a real `brokerplane serve` after real
changes, a Server-Sent Events client and webhook deliveries to receivers on loopback: the
numbers move as an operator reading the dashboard would expect. And a database error the
server meets is counted by its kind."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError

from brokerplane.api.observe import ServerMetrics
from brokerplane.bootstrap import Runtime
from brokerplane.core.actor import Actor
from tests.e2e.test_events_server import SECRET, Receiver
from tests.e2e.test_operations import Seeded, _seed, scrape, value
from tests.e2e.transport_support import ServerProcess

WAIT_S = 60  # a bound for the worker to catch up; nothing is timed
DEPOSITS = 3


def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {WAIT_S} s for {what}")
        time.sleep(0.05)


@pytest.fixture
def server(
    runtime: Runtime, admin: Actor, database_url: str, tmp_path: Path
) -> Iterator[tuple[ServerProcess, Seeded]]:
    seeded = _seed(runtime, admin)
    env = {
        "BROKERPLANE_RATE_LIMIT_PER_MINUTE": "0",
        "BROKERPLANE_WEBHOOK_ALLOW_PRIVATE": "true",
        "BROKERPLANE_WEBHOOK_BACKOFF_S": "0.05",
        # a receiver failing for ~4 s is parked (so a test can see it); one that recovers after
        # two failures (0.05 s, then 0.1 s later) is not
        "BROKERPLANE_WEBHOOK_RETRY_HOURS": "0.001",
    }
    process = ServerProcess(database_url, tmp_path / "server.log", extra_env=env)
    try:
        process.wait_ready()
        yield process, seeded
    finally:
        process.stop()


def test_event_and_webhook_metrics_move_with_events_streams_and_deliveries(
    server: tuple[ServerProcess, Seeded],
) -> None:
    process, seeded = server
    base = process.base
    http = httpx.Client(
        base_url=base, timeout=30, headers={"Authorization": f"Bearer {seeded.key}"}
    )
    recovering, dead = Receiver(fail=2), Receiver(fail=-1)
    try:
        before = scrape(base, seeded.metrics_key)
        assert value(before, "brokerplane_event_streams_open") == 0
        assert value(before, "brokerplane_outbox_undelivered_events") == 0
        assert value(before, "brokerplane_outbox_oldest_undelivered_age_seconds") == 0

        subs: dict[str, Any] = {}
        for name, receiver in (("recovering", recovering), ("dead", dead)):
            made = http.post("/v1/webhooks", json={"url": receiver.url, "secret": SECRET})
            assert made.status_code == 201, made.text
            subs[name] = made.json()

        # one account opened and three deposits: four events, each delivered to both
        opened = http.post(
            "/v1/users", json={"group": "demo-usd", "name": "Metrics", "leverage": 100}
        )
        assert opened.status_code == 201, opened.text
        login = opened.json()["login"]
        for n in range(DEPOSITS):
            deposit = http.post(
                "/v1/balances/deposit",
                json={"login": login, "amount": "10.00", "reference": f"m-{n}"},
            )
            assert deposit.status_code == 200, deposit.text

        # an SSE client following the feed is counted while it is connected
        with http.stream(
            "GET", "/v1/events", params={"after": 0}, headers={"Accept": "text/event-stream"}
        ) as stream:
            assert stream.status_code == 200
            lines = stream.iter_lines()  # kept: a dropped line iterator closes the connection
            assert next(lines).startswith(": ")  # the stream's opening comment: it is served
            following = scrape(base, seeded.metrics_key)
            assert value(following, "brokerplane_event_streams_open") == 1

        _until(lambda: len(recovering.events()) == 1 + DEPOSITS, "the recovering receiver")

        def parked() -> bool:
            state: str = http.get(f"/v1/webhooks/{subs['dead']['id']}").json()["state"]
            return state == "failed"

        _until(parked, "the dead receiver's subscription to be parked")
        _until(
            lambda: value(scrape(base, seeded.metrics_key), "brokerplane_event_streams_open") == 0,
            "the closed stream to be let go",
        )
        after = scrape(base, seeded.metrics_key)

        def moved(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        written = "brokerplane_events_written_total"
        assert moved(written, type="account.opened") == 1
        assert moved(written, type="ledger.entry_posted") == DEPOSITS

        outcomes = "brokerplane_webhook_deliveries_total"
        delivered, retrying = (
            moved(outcomes, outcome="delivered"),
            moved(outcomes, outcome="retrying"),
        )
        failed = moved(outcomes, outcome="failed")
        # the recovering receiver: two failures, then every event (in one batch or more)
        assert 1 <= delivered <= 1 + DEPOSITS
        assert failed == 1  # the dead one's last failure parked it
        assert retrying >= 2 + 1  # the recovering one's two, and the dead one's before parking
        assert recovering.seen == 2 + delivered
        assert dead.seen == retrying - 2 + failed
        latency = "brokerplane_webhook_delivery_duration_seconds"
        for outcome, count in (
            ("delivered", delivered),
            ("retrying", retrying),
            ("failed", failed),
        ):
            assert moved(f"{latency}_count", outcome=outcome) == count
            assert moved(f"{latency}_bucket", outcome=outcome, le="+Inf") == count

        subscriptions = "brokerplane_webhook_subscriptions"
        assert value(after, subscriptions, state="active") == 1
        assert value(after, subscriptions, state="failed") == 1
        assert value(after, subscriptions, state="paused") == 0
        # the parked subscription still owes all four events, and the oldest is not new
        assert value(after, "brokerplane_outbox_undelivered_events") == 1 + DEPOSITS
        assert value(after, "brokerplane_outbox_oldest_undelivered_age_seconds") > 0

        # pausing it takes it out of the backlog: nothing is owed any more
        paused = http.patch(f"/v1/webhooks/{subs['dead']['id']}", json={"state": "paused"})
        assert paused.status_code == 200, paused.text
        settled = scrape(base, seeded.metrics_key)
        assert value(settled, subscriptions, state="paused") == 1
        assert value(settled, subscriptions, state="failed") == 0
        assert value(settled, "brokerplane_outbox_undelivered_events") == 0
        assert value(settled, "brokerplane_outbox_oldest_undelivered_age_seconds") == 0
    finally:
        http.close()
        recovering.close()
        dead.close()


def test_database_errors_are_counted_by_kind(runtime: Runtime, admin: Actor) -> None:
    """A statement the database refuses is counted once, by its kind, in what /metrics shows."""
    metrics = ServerMetrics(runtime, object())
    with (
        pytest.raises((OperationalError, ProgrammingError)),
        runtime.storage.engine.connect() as conn,
    ):
        conn.execute(text("SELECT * FROM no_such_table"))
    shown = metrics.render()
    lines = [line for line in shown.splitlines() if line.startswith("brokerplane_db_errors_total")]
    assert lines in (
        ['brokerplane_db_errors_total{kind="operational"} 1'],
        ['brokerplane_db_errors_total{kind="programming"} 1'],
    )


def test_a_scrape_while_the_database_is_gone_leaves_its_gauges_out(tmp_path: Path) -> None:
    """The webhook gauges share one read of the database: gone, they are left out of the
    scrape (each counted as a scrape error) and the rest of the scrape is served."""
    from brokerplane import bootstrap
    from brokerplane.settings import Settings

    db = tmp_path / "gone.db"
    runtime = bootstrap.build(
        Settings(database_url=f"sqlite:///{db.as_posix()}", data_dir=tmp_path), migrate_schema=True
    )
    try:
        metrics = ServerMetrics(runtime, object())
        assert "brokerplane_outbox_undelivered_events 0" in metrics.render()
        runtime.storage.engine.dispose()
        for path in tmp_path.glob("gone.db*"):
            path.unlink()  # a new, empty file is opened in its place: no tables
        shown = metrics.render()
        # the database errors of that scrape show in the next one (their counter comes first)
        errors = [
            line
            for line in metrics.render().splitlines()
            if line.startswith("brokerplane_db_errors_total")
        ]
    finally:
        runtime.close()
    # asked once for the three webhook gauges, once for the pending approvals
    assert sum(float(line.rsplit(" ", 1)[1]) for line in errors) == 2, errors
    samples = [line for line in shown.splitlines() if not line.startswith("#")]
    for gone in (
        "brokerplane_webhook_subscriptions",
        "brokerplane_outbox_undelivered_events",
        "brokerplane_outbox_oldest_undelivered_age_seconds",
        "brokerplane_approvals_pending",
    ):
        assert not any(line.startswith(gone) for line in samples), gone
        assert f'brokerplane_metrics_scrape_errors_total{{metric="{gone}"}} 1' in samples
    assert any(line.startswith("brokerplane_build_info") for line in samples)
