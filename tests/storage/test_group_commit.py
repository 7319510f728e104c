"""Group commit on SQLite and PostgreSQL: money commands that queue behind a running one share
the next transaction, each in its own savepoint. Refusals and storage errors stay with their
command, the others land, and the ledger, the balances and the audit chain stay whole."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from sqlalchemy import event

from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.errors import AccountNotFound, Conflict, InsufficientFunds
from brokerplane.core.group.model import Group
from brokerplane.core.ledger.commands import Posting, PostLedgerEntry
from brokerplane.core.ledger.model import LedgerQuery
from brokerplane.core.ports import UnitOfWork
from brokerplane.storage.uow import SqlUnitOfWork


class Gate:
    """A command that keeps the leader's turn until opened, so others queue behind it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.open = threading.Event()

    def __call__(self, uow: UnitOfWork) -> None:
        self.entered.set()
        assert self.open.wait(20)


def _behind_gate(services: Application, calls: list[Callable[[], Any]]) -> list[Future[Any]]:
    """Run `calls` on threads while a gate holds the current batch; they form the next one."""
    gc = services.group_commit
    assert gc is not None
    gate = Gate()
    with ThreadPoolExecutor(len(calls) + 1) as pool:
        first = pool.submit(gc.run, gate)
        assert gate.entered.wait(20)
        futures = [pool.submit(call) for call in calls]
        deadline = time.monotonic() + 20
        while gc.waiting < len(calls):
            assert time.monotonic() < deadline, "the commands never queued"
            time.sleep(0.005)
        gate.open.set()
        first.result(20)
        for f in futures:
            f.exception(20)  # wait for every outcome
    return futures


def _open(services: Application, admin: Actor, group: Group, deposit: str) -> int:
    login = services.open_account(OpenAccount(group=group.name), admin).login
    services.post_ledger_entry(PostLedgerEntry(login, "deposit", deposit), admin)
    return login


def test_queued_money_commands_share_one_commit_and_keep_their_own_outcomes(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    a, b = (_open(services, admin, usd_group, "100.00") for _ in range(2))
    gc = services.group_commit
    assert gc is not None
    before = (gc.batches, gc.commands)

    def post(login: int, operation: str, amount: str) -> Callable[[], Posting]:
        return lambda: services.post_ledger_entry(PostLedgerEntry(login, operation, amount), admin)  # type: ignore[arg-type]  # text the core reads

    calls = [post(a, "deposit", "10.00") for _ in range(4)]
    calls += [post(b, "withdrawal", "60.00"), post(b, "withdrawal", "60.00")]  # one must fail
    calls += [post(99_999_999, "deposit", "1.00"), post(b, "deposit", "5.00")]
    futures = _behind_gate(services, calls)

    assert (gc.batches - before[0], gc.commands - before[1]) == (2, len(calls) + 1)
    for f in futures[:4]:
        assert f.result().status == "applied"
    withdrawals = [f.exception() for f in futures[4:6]]
    assert sum(isinstance(e, InsufficientFunds) for e in withdrawals) == 1
    assert withdrawals.count(None) == 1
    assert isinstance(futures[6].exception(), AccountNotFound)
    assert futures[7].result().balance in (4500, 10500)  # before or after the withdrawal

    assert services.get_account(a, admin).balance == 14000
    assert services.get_account(b, admin).balance == 4500
    # Balances follow the entries one by one, and every applied command has its record.
    for login, expected in ((a, 5), (b, 3)):
        entries = list(services.iter_ledger(LedgerQuery(login=login), admin))
        assert len(entries) == expected
        running = 0
        for e in entries:
            running += e.amount
            assert e.balance_after == running
    assert services.verify_ledger() == []
    report = services.verify_audit()
    assert report.ok, report
    posted = services.query_audit(AuditQuery(action="ledger.entry_posted", limit=1000), admin)
    assert len(posted) == 2 + 4 + 1 + 1  # two opening deposits, and the applied ones


def test_a_storage_error_in_one_command_rolls_back_only_that_command(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    a = _open(services, admin, usd_group, "1.00")
    gc = services.group_commit
    assert gc is not None

    def duplicate_head(uow: UnitOfWork) -> None:
        # A unique-key violation after a write of its own: both go, the batch stays.
        uow.accounts.set_figures(a, 0, 0, 0, services.clock())
        assert isinstance(uow, SqlUnitOfWork)
        uow.connection.exec_driver_sql(
            "INSERT INTO audit_head (id, last_id, last_hash) VALUES (1, 0, 'x')"
        )

    deposit = PostLedgerEntry(a, "deposit", "2.00")
    futures = _behind_gate(
        services,
        [
            lambda: services.post_ledger_entry(deposit, admin),
            lambda: gc.run(duplicate_head),
            lambda: services.post_ledger_entry(deposit, admin),
        ],
    )
    assert isinstance(futures[1].exception(), Conflict)
    assert [f.result().balance for f in (futures[0], futures[2])] in ([300, 500], [500, 300])
    assert services.get_account(a, admin).balance == 500
    assert services.verify_ledger() == []
    assert services.verify_audit().ok
    assert services.audit_ledger().ok


def test_group_commit_can_be_turned_off(
    runtime: Runtime, services: Application, admin: Actor, usd_group: Group
) -> None:
    plain = Application(runtime.storage.uow, replace(services.config, group_commit_max=1))
    assert plain.group_commit is None
    login = _open(plain, admin, usd_group, "3.00")
    assert plain.get_account(login, admin).balance == 300


def test_a_group_without_failures_runs_without_savepoints_and_one_with_them_after_one(
    runtime: Runtime, services: Application, admin: Actor, usd_group: Group
) -> None:
    login = _open(services, admin, usd_group, "1.00")
    sent: list[str] = []

    def seen(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        sent.append(statement.upper())

    def post(operation: str, amount: str) -> Callable[[], Posting]:
        return lambda: services.post_ledger_entry(PostLedgerEntry(login, operation, amount), admin)  # type: ignore[arg-type]  # text the core reads

    event.listen(runtime.storage.engine, "before_cursor_execute", seen)
    try:
        _behind_gate(services, [post("deposit", "1.00") for _ in range(3)])
        clean = [s for s in sent if "SAVEPOINT" in s]
        sent.clear()
        futures = _behind_gate(services, [post("deposit", "1.00"), post("withdrawal", "99.00")])
    finally:
        event.remove(runtime.storage.engine, "before_cursor_execute", seen)
    assert clean == []
    assert any(s.startswith("SAVEPOINT") for s in sent)  # run again, one savepoint each
    assert futures[0].result().balance == 500
    assert isinstance(futures[1].exception(), InsufficientFunds)
    assert services.get_account(login, admin).balance == 500
    assert services.verify_ledger() == []
    assert services.verify_audit().ok
    assert services.audit_ledger().ok


def test_only_committed_ledger_entries_are_reported_and_every_batch_size_is_told(
    runtime: Runtime, admin: Actor, usd_group: Group
) -> None:
    services = runtime.app
    a, b = (_open(services, admin, usd_group, "100.00") for _ in range(2))
    reported: list[str] = []
    sizes: list[int] = []
    runtime.storage.on_ledger_commit = reported.extend
    gc = services.group_commit
    assert gc is not None
    gc.on_batch = sizes.append

    def post(login: int, operation: str, amount: str) -> Callable[[], Posting]:
        return lambda: services.post_ledger_entry(PostLedgerEntry(login, operation, amount), admin)  # type: ignore[arg-type]  # text the core reads

    calls = [post(a, "deposit", "10.00"), post(a, "deposit", "10.00")]
    calls += [post(b, "withdrawal", "60.00"), post(b, "withdrawal", "60.00")]  # one must fail
    calls += [post(99_999_999, "deposit", "1.00")]  # no such account
    futures = _behind_gate(services, calls)
    refused = [f for f in futures if f.exception() is not None]
    assert len(refused) == 2
    # the failed commands' entries were rolled back with their savepoints: never reported
    assert sorted(reported) == ["deposit", "deposit", "withdrawal"]
    assert sizes[0] == 1  # the gate's own batch
    assert sum(sizes[1:]) == len(calls)
    assert services.count_pending_approvals() == 0
