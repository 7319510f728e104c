"""The outbox on both engines: an event exists if and only if its change committed, numbered
in commit order (concurrent writers included), with the account's group and white label, and
purged after the retention."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.core.account.commands import DisableAccount, OpenAccount, UpdateAccount
from brokerplane.core.actor import Actor
from brokerplane.core.approval.commands import DecideApproval, SetApprovalThreshold
from brokerplane.core.errors import InsufficientFunds, ValidationError
from brokerplane.core.events.commands import ReadEvents
from brokerplane.core.events.model import Event
from brokerplane.core.group.model import Group
from brokerplane.core.kinds import Dialect
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.storage import tables as t
from tests.unit.fakes import FakeClock

APPROVER = Actor(manager_login=1001, scopes=frozenset({"balances:approve"}), dialect=Dialect.NATIVE)


def _all(services: Application, admin: Actor, **kw: object) -> list[Event]:
    out: list[Event] = []
    after = 0
    while True:
        page = services.read_events(ReadEvents(after_id=after, limit=1000, **kw), admin)  # type: ignore[arg-type]
        out += page.events
        if page.next_after >= page.head:
            return out
        after = page.next_after


def _count(runtime: Runtime, table: object) -> int:
    with runtime.storage.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_each_committed_change_writes_its_event_and_a_refused_one_none(
    runtime: Runtime, services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = services.open_account(
        OpenAccount(group="real\\standard", name="Ev One", profile={"broker": "wl-a"}), admin
    )
    services.post_ledger_entry(PostLedgerEntry(acc.login, "deposit", "100.50"), admin)
    with pytest.raises(InsufficientFunds):
        services.post_ledger_entry(PostLedgerEntry(acc.login, "withdrawal", "500"), admin)
    with pytest.raises(ValidationError):
        services.update_account(UpdateAccount(acc.login, {"leverage": 100_000}), admin)
    services.update_account(UpdateAccount(acc.login, {"comment": "vip"}), admin)
    services.disable_account(DisableAccount(acc.login, "kyc"), admin)

    evs = _all(services, admin)
    assert [e.type for e in evs] == [
        "account.opened",
        "ledger.entry_posted",
        "account.updated",
        "account.disabled",
    ]
    assert [e.id for e in evs] == list(range(evs[0].id, evs[0].id + 4))
    posted = evs[1]
    assert posted.login == acc.login and posted.group == "real\\standard"
    assert posted.broker == "wl-a"
    assert posted.data["kind"] == "deposit" and posted.data["amount"] == 10050
    assert posted.data["balance_after"] == 10050
    assert posted.manager_login is None and posted.dialect == "cli"
    # one event per audit record of a change, the audit record it came from named
    with runtime.storage.engine.connect() as conn:
        audit_ids = conn.execute(select(t.events.c.audit_id).order_by(t.events.c.id)).scalars()
        actions = dict(conn.execute(select(t.audit_records.c.id, t.audit_records.c.action)).all())
    assert [actions[a] for a in audit_ids] == [
        "account.opened",
        "ledger.entry_posted",
        "account.updated",
        "account.disabled",
    ]


def test_approvals_and_group_commit_savepoints(
    runtime: Runtime, services: Application, admin: Actor, usd_group: Group
) -> None:
    acc = services.open_account(OpenAccount(group="real\\standard"), admin)
    services.set_approval_threshold(SetApprovalThreshold("USD", "1000"), admin)
    held = services.post_ledger_entry(PostLedgerEntry(acc.login, "deposit", "5000"), admin)
    assert held.approval is not None
    services.decide_approval(DecideApproval(held.approval.id, True), APPROVER)
    types = [e.type for e in _all(services, admin)]
    assert types == [
        "account.opened",
        "approval.requested",
        "ledger.entry_posted",
        "approval.decided",
    ]

    # concurrent money commands share transactions (group commit), each in a savepoint: the
    # refused ones leave no event, the applied ones exactly one each
    def work(i: int) -> None:
        op = "withdrawal" if i % 3 == 0 else "deposit"
        amount = "999999" if op == "withdrawal" else "1"
        with contextlib.suppress(InsufficientFunds):
            services.post_ledger_entry(PostLedgerEntry(acc.login, op, amount), admin)  # type: ignore[arg-type]  # text the core reads

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(48)))
    posted = [e for e in _all(services, admin) if e.type == "ledger.entry_posted"]
    assert len(posted) == 1 + 32
    assert _count(runtime, t.events) == 4 + 32


def test_ids_follow_commit_order_under_concurrency(
    runtime: Runtime, services: Application, admin: Actor, usd_group: Group
) -> None:
    """Deposits from many threads to a few accounts: every account's balance after rises with
    the event id (a number handed out before an earlier commit would break that), ids are
    dense, and each event's audit id rises with it."""
    logins = [
        services.open_account(OpenAccount(group="real\\standard"), admin).login for _ in range(3)
    ]
    start = threading.Barrier(8)

    def work(i: int) -> None:
        start.wait(timeout=30)
        for n in range(15):
            login = logins[(i + n) % 3]
            services.post_ledger_entry(PostLedgerEntry(login, "deposit", "1"), admin)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    evs = [e for e in _all(services, admin) if e.type == "ledger.entry_posted"]
    assert len(evs) == 120
    for login in logins:
        mine = [e.data["balance_after"] for e in evs if e.login == login]
        assert mine == sorted(mine) and len(set(mine)) == len(mine) == 40
    every = _all(services, admin)
    assert [e.id for e in every] == list(range(1, len(every) + 1))
    assert [e.audit_id for e in every] == sorted(e.audit_id for e in every)


def test_retention_purges_old_events(
    runtime: Runtime, services: Application, admin: Actor, usd_group: Group, clock: FakeClock
) -> None:
    acc = services.open_account(OpenAccount(group="real\\standard"), admin)
    clock.advance(days=31)
    services.post_ledger_entry(PostLedgerEntry(acc.login, "deposit", "1"), admin)
    assert services.purge_events() == 1
    left = _all(services, admin)
    assert [e.type for e in left] == ["ledger.entry_posted"]
    # a reader holding a cursor from before the purge resumes at the oldest kept event
    page = services.read_events(ReadEvents(after_id=0), admin)
    assert [e.id for e in page.events] == [left[0].id]


def test_a_command_rolled_back_at_its_last_statement_leaves_no_event(
    runtime: Runtime, services: Application, admin: Actor, usd_group: Group
) -> None:
    """The change and its event share one transaction: a deposit whose entry and balance were
    written but whose audit-and-event statement fails (the database gone at that instant) is
    rolled back whole, leaving neither the entry nor an event, and the next change's event is
    the next id."""
    from sqlalchemy import event as sa_event

    acc = services.open_account(OpenAccount(group="real\\standard"), admin)
    before = _all(services, admin)
    failed: list[str] = []

    def fail(conn: object, cursor: object, statement: str, *args: object) -> None:
        if not failed and "INSERT INTO events" in statement:
            failed.append(statement)
            raise RuntimeError("the database went away")

    sa_event.listen(runtime.storage.engine, "before_cursor_execute", fail)
    try:
        with pytest.raises(Exception, match="went away"):
            services.post_ledger_entry(PostLedgerEntry(acc.login, "deposit", "7"), admin)
    finally:
        sa_event.remove(runtime.storage.engine, "before_cursor_execute", fail)
    assert failed
    assert _all(services, admin) == before
    assert services.get_account(acc.login, admin).balance == 0
    services.post_ledger_entry(PostLedgerEntry(acc.login, "deposit", "9"), admin)
    after = _all(services, admin)
    assert [e.id for e in after] == [*(e.id for e in before), before[-1].id + 1]
    assert after[-1].data["amount"] == 900 and after[-1].data["balance_after"] == 900
