"""The event rules over the fakes: what each change emits, and what a delivery attempt's
outcome does to its subscription (advance; retry with backoff; park after the bounded time;
nothing when the lease was lost)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.errors import InsufficientFunds, MissingScope, PermissionDenied
from brokerplane.core.events.commands import ReadEvents, SaveSubscription
from brokerplane.core.events.delivery import Outcome, backoff
from brokerplane.core.events.model import derive
from brokerplane.core.group.model import Group
from brokerplane.core.ledger.commands import PostLedgerEntry
from tests.unit.fakes import FakeClock

OWNER = "worker-1"
FAIL = Outcome(False, 500, "HTTP 500", 3)
OK = Outcome(True, 200, "", 2)


def test_each_change_emits_its_event_and_a_refused_one_none(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = services.open_account(OpenAccount(group="real\\standard"), admin)
    services.post_ledger_entry(PostLedgerEntry(acc.login, "deposit", "10"), admin)
    with pytest.raises(InsufficientFunds):
        services.post_ledger_entry(PostLedgerEntry(acc.login, "withdrawal", "11"), admin)
    page = services.read_events(ReadEvents(), admin)
    assert [(e.id, e.type) for e in page.events] == [
        (1, "account.opened"),
        (2, "ledger.entry_posted"),
    ]
    assert page.events[1].data["balance_after"] == 1000 and page.head == 2


def test_the_feed_needs_a_reading_scope_and_admin_for_manager_events(
    services: Application, admin: Actor
) -> None:
    with pytest.raises(MissingScope):
        services.read_events(ReadEvents(), Actor(1, frozenset({"users:write"})))
    reader = Actor(1, frozenset({"reports:read"}))
    with pytest.raises(PermissionDenied):
        services.read_events(ReadEvents(types=("manager.",)), reader)


def test_sign_ins_and_settings_are_not_events() -> None:
    assert derive("manager.signed_in", "1", None, {}) == []
    assert derive("group.updated", "demo", {}, {}) == []
    (key,) = derive("api_key.created", "k1", None, {"id": "k1", "secret_digest": "x"})
    assert key.type == "key.created" and "secret_digest" not in key.data


def _subscribed(services: Application, admin: Actor, usd_group: Group) -> tuple[int, int]:
    sub = services.create_webhook(SaveSubscription(url="https://crm.example.com/h"), admin)
    acc = services.open_account(OpenAccount(group="real\\standard"), admin)
    services.post_ledger_entry(PostLedgerEntry(acc.login, "deposit", "1"), admin)
    return sub.id, acc.login


def test_a_delivered_batch_moves_the_cursor_and_a_failure_backs_off_then_parks(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock
) -> None:
    sub_id, login = _subscribed(services, admin, usd_group)
    (claimed,) = services.claim_webhooks(OWNER, timedelta(minutes=5), 8)
    assert claimed.id == sub_id and claimed.cursor == 0
    batch = services.webhook_batch(sub_id, OWNER, 100)
    assert batch is not None and [e.type for e in batch.events] == [
        "account.opened",
        "ledger.entry_posted",
    ]
    # two failures: the attempts count, the next try waits 1 s then 2 s
    first = services.settle_webhook(batch, OWNER, FAIL)
    assert first is not None and first.attempts == 1 and first.cursor == 0
    assert first.next_attempt_at == clock() + timedelta(seconds=1)
    assert services.webhook_batch(sub_id, OWNER, 100) is None  # waiting for its retry
    clock.advance(seconds=1)
    second = services.settle_webhook(services.webhook_batch(sub_id, OWNER, 100), OWNER, FAIL)  # type: ignore[arg-type]
    assert second is not None and second.next_attempt_at == clock() + timedelta(seconds=2)
    # a success resets the count and moves the cursor past the batch
    clock.advance(seconds=2)
    done = services.settle_webhook(services.webhook_batch(sub_id, OWNER, 100), OWNER, OK)  # type: ignore[arg-type]
    assert done is not None and done.cursor == 2 and done.attempts == 0
    log = services.webhook_deliveries(sub_id, 0, 10, admin)
    assert [(d.ok, d.attempt, d.status) for d in log] == [
        (False, 1, 500),
        (False, 2, 500),
        (True, 3, 200),
    ]
    # failing past the retry time parks it with the last error
    services.post_ledger_entry(PostLedgerEntry(login, "deposit", "1"), admin)
    settled = services.settle_webhook(services.webhook_batch(sub_id, OWNER, 100), OWNER, FAIL)  # type: ignore[arg-type]
    assert settled is not None and settled.state == "active"
    clock.advance(hours=25)
    services.claim_webhooks(OWNER, timedelta(minutes=5), 8)
    parked = services.settle_webhook(services.webhook_batch(sub_id, OWNER, 100), OWNER, FAIL)  # type: ignore[arg-type]
    assert parked is not None and parked.state == "failed" and parked.last_error == "HTTP 500"
    assert services.claim_webhooks(OWNER, timedelta(minutes=5), 8) == []


def test_an_outcome_under_a_lost_lease_changes_nothing(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock
) -> None:
    sub_id, _ = _subscribed(services, admin, usd_group)
    services.claim_webhooks(OWNER, timedelta(seconds=30), 8)
    batch = services.webhook_batch(sub_id, OWNER, 100)
    assert batch is not None
    clock.advance(seconds=31)  # the lease ran out; another worker takes it
    assert [s.id for s in services.claim_webhooks("worker-2", timedelta(seconds=30), 8)] == [sub_id]
    assert services.settle_webhook(batch, OWNER, OK) is None
    assert services.get_webhook(sub_id, admin).cursor == 0
    assert services.webhook_batch(sub_id, OWNER, 100) is None


def test_backoff_doubles_up_to_ten_minutes() -> None:
    first = timedelta(seconds=1)
    assert [backoff(n, first).total_seconds() for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(40, first) == timedelta(minutes=10)
