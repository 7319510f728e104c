"""Money under concurrency, on SQLite and PostgreSQL: threads (and processes) posting at once
never overdraw, never lose an update, and a request id applies once however many race for it."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from brokerplane import bootstrap
from brokerplane.application import answers
from brokerplane.application.app import Application
from brokerplane.application.idempotency import IdempotentRequest, Replay
from brokerplane.bootstrap import Runtime
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import Actor, system_actor
from brokerplane.core.approval.commands import DecideApproval, Decision, SetApprovalThreshold
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.errors import (
    AlreadyApplied,
    ApprovalNotPending,
    InsufficientFunds,
    RequestInFlight,
)
from brokerplane.core.group.model import Group
from brokerplane.core.idempotency import StoredResponse
from brokerplane.core.kinds import Dialect
from brokerplane.core.ledger.commands import Posting, PostLedgerEntry
from brokerplane.core.ledger.model import KINDS, LedgerEntry, LedgerQuery
from brokerplane.settings import Settings
from tests.unit.fakes import FakeClock

WORKERS = 12
T = TypeVar("T")
MANAGER = Actor(manager_login=1000, scopes=frozenset({"balances:write"}), dialect=Dialect.NATIVE)


def _in_threads(work: Callable[[int], T], workers: int = WORKERS) -> list[T]:
    """Run work(i) on `workers` threads released together; any exception fails the caller."""
    start = threading.Barrier(workers)

    def run(i: int) -> T:
        start.wait(timeout=30)
        return work(i)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(run, range(workers)))


def _funded(services: Application, admin: Actor, amount: str) -> int:
    login = services.open_account(OpenAccount(group="real\\standard"), admin).login
    services.post_ledger_entry(PostLedgerEntry(login, "deposit", amount), admin)
    return login


def _post(services: Application, login: int, operation: str, amount: str) -> Posting | None:
    """The posting, or None when the account could not cover it."""
    try:
        return services.post_ledger_entry(PostLedgerEntry(login, operation, amount), MANAGER)  # type: ignore[arg-type]  # text the core reads
    except InsufficientFunds:
        return None


def _entries(services: Application, admin: Actor, login: int) -> list[LedgerEntry]:
    return list(services.iter_ledger(LedgerQuery(login=login), admin))


def assert_unbroken_chain(entries: list[LedgerEntry]) -> None:
    """In id order every entry's figures are the previous ones plus its amount, never below 0."""
    running = {"balance": 0, "credit": 0, "bonus": 0}
    for e in entries:
        running[KINDS[e.kind][0]] += e.amount
        assert (e.balance_after, e.credit_after, e.bonus_after) == (
            running["balance"],
            running["credit"],
            running["bonus"],
        ), e
        assert min(running.values()) >= 0, e


def test_concurrent_withdrawals_succeed_only_as_far_as_the_balance_goes(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    login = _funded(services, admin, "10.00")

    results = _in_threads(lambda i: _post(services, login, "withdrawal", "3.00"))

    applied = [r for r in results if r is not None]
    assert len(applied) == 1000 // 300
    assert sorted(p.balance for p in applied) == [100, 400, 700]
    assert services.get_account(login, admin).balance == 100
    assert services.verify_ledger() == []
    entries = _entries(services, admin, login)
    assert [e.kind for e in entries] == ["deposit"] + ["withdrawal"] * 3
    assert_unbroken_chain(entries)
    assert services.verify_audit().ok


def test_concurrent_withdrawals_of_exactly_the_balance_leave_zero_not_less(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    login = _funded(services, admin, "0.07")

    results = _in_threads(lambda i: _post(services, login, "withdrawal", "0.01"), workers=16)

    assert sum(r is not None for r in results) == 7
    assert services.get_account(login, admin).balance == 0
    assert_unbroken_chain(_entries(services, admin, login))
    assert services.verify_ledger() == []


def test_concurrent_deposits_and_withdrawals_lose_no_update(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    login = _funded(services, admin, "5.00")
    rounds = 4

    def mixed(i: int) -> list[int]:
        operation, amount = ("deposit", "2.00") if i % 2 == 0 else ("withdrawal", "3.00")
        changes = []
        for _ in range(rounds):
            posted = _post(services, login, operation, amount)
            if posted is not None:
                changes.append(posted.amount)
        return changes

    changes = [c for batch in _in_threads(mixed, workers=16) for c in batch]

    deposits = [c for c in changes if c > 0]
    assert len(deposits) == 8 * rounds  # deposits never fail
    final = services.get_account(login, admin).balance
    assert final == 500 + sum(changes)
    assert final >= 0
    entries = _entries(services, admin, login)
    assert len(entries) == 1 + len(changes)
    assert_unbroken_chain(entries)
    assert services.verify_ledger() == []


def _claim_then_post(
    services: Application,
    scope: str,
    key: str,
    cmd: PostLedgerEntry,
    fingerprint: str = "same-request",
) -> object:
    """What the native layer does for a keyed write: claim, then post storing the result."""
    request = IdempotentRequest(scope, key, fingerprint, claim_first=True)
    try:
        return services.run(cmd, replace(MANAGER, request_id=key), request)
    except (RequestInFlight, AlreadyApplied) as err:
        return err


def _stored(services: Application, key: str, fingerprint: str = "same-request") -> object:
    """The result stored with `key`, as a repeat reads it."""
    stored = services.claim_request("manager:1000", key, fingerprint)
    assert isinstance(stored, StoredResponse)
    return answers.load(stored.body)


def test_one_request_id_raced_from_many_threads_applies_exactly_once(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    login = _funded(services, admin, "1.00")
    cmd = PostLedgerEntry(login, "deposit", "25.00", reference="dup")

    results = _in_threads(
        lambda i: _claim_then_post(services, "manager:1000", "req-42", cmd), workers=16
    )

    postings = [r for r in results if isinstance(r, Posting)]
    assert len(postings) == 1
    winner = Replay(postings[0])
    for other in results:
        if not isinstance(other, Posting):
            assert other == winner or isinstance(other, RequestInFlight), other
    entries = _entries(services, admin, login)
    assert [(e.kind, e.amount, e.request_id) for e in entries[1:]] == [("deposit", 2500, "req-42")]
    assert services.get_account(login, admin).balance == 2600
    assert _stored(services, "req-42") == postings[0]
    with pytest.raises(AlreadyApplied):
        services.claim_request("manager:1000", "req-42", "another-request")
    assert services.verify_ledger() == []


def test_many_request_ids_raced_in_pairs_each_apply_once(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    login = _funded(services, admin, "1.00")

    def twice(i: int) -> object:
        cmd = PostLedgerEntry(login, "deposit", "1.00", reference=f"pair-{i // 2}")
        return _claim_then_post(services, "manager:1000", f"pair-{i // 2}", cmd)

    results = _in_threads(twice, workers=16)

    assert sum(isinstance(r, Posting) for r in results) == 8
    refs = sorted(e.reference for e in _entries(services, admin, login)[1:])
    assert refs == sorted(f"pair-{n}" for n in range(8))
    assert services.get_account(login, admin).balance == 900


def test_a_late_original_whose_lease_was_taken_over_applies_nothing(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock
) -> None:
    login = _funded(services, admin, "1.00")
    cmd = PostLedgerEntry(login, "deposit", "5.00")
    request = IdempotentRequest("manager:1000", "slow-1", "same-request", claim_first=True)
    taken: list[object] = []

    def late(actor: Actor) -> Posting:
        # The original stalls past its lease; another process takes the id over and applies it.
        clock.advance(seconds=services.config.idempotency_lease.total_seconds() + 1)
        taken.append(services.run(cmd, MANAGER, request))
        return services.post_ledger_entry(cmd, actor)

    with pytest.raises(RequestInFlight):
        services.run_call(late, MANAGER, request)
    [posted] = taken

    assert isinstance(posted, Posting)
    assert [e.id for e in _entries(services, admin, login)[1:]] == [posted.operation_id]
    assert services.get_account(login, admin).balance == 600
    assert _stored(services, "slow-1") == posted
    assert services.verify_ledger() == []


def test_concurrent_postings_on_different_accounts_all_succeed(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    logins = [_funded(services, admin, "1.00") for _ in range(16)]
    rounds = 2

    def busy(i: int) -> list[Posting | None]:
        done = []
        for _ in range(rounds):
            done.append(_post(services, logins[i], "deposit", "2.00"))
            done.append(_post(services, logins[i], "withdrawal", "1.50"))
            done.append(_post(services, logins[i], "credit", "0.25"))
        return done

    results = _in_threads(busy, workers=16)

    assert all(p is not None for batch in results for p in batch)
    for login in logins:
        acc = services.get_account(login, admin)
        assert (acc.balance, acc.credit) == (100 + rounds * 50, rounds * 25)
        assert_unbroken_chain(_entries(services, admin, login))
    assert services.verify_ledger() == []
    assert services.verify_audit().ok
    assert services.audit_ledger().ok


def test_checks_run_while_money_moves_never_see_a_half_written_posting(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    logins = [_funded(services, admin, "1.00") for _ in range(4)]
    writing = [len(logins)]
    lock, writers_done = threading.Lock(), threading.Event()

    def check() -> list[object]:
        """Verify the ledger and the audit chain until the writers are done (at least once)."""
        seen: list[object] = []
        while True:
            seen.extend(services.verify_ledger())
            report = services.verify_audit()
            if not report.ok:
                seen.append(report)
            if writers_done.is_set():
                return seen

    def work(i: int) -> list[object]:
        if i >= len(logins):
            return check()
        try:
            for _ in range(6):
                _post(services, logins[i], "deposit", "1.00")
                _post(services, logins[i], "withdrawal", "0.50")
        finally:
            with lock:
                writing[0] -= 1
                if writing[0] == 0:
                    writers_done.set()
        return []

    problems = [p for batch in _in_threads(work, workers=len(logins) + 2) for p in batch]

    assert problems == []
    for login in logins:
        assert services.get_account(login, admin).balance == 100 + 6 * 50
    assert services.verify_ledger() == []
    assert services.verify_audit().ok
    assert services.audit_ledger().ok


def test_one_approval_decided_by_many_managers_at_once_applies_once(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    login = _funded(services, admin, "1.00")
    services.set_approval_threshold(SetApprovalThreshold("USD", "100"), admin)
    held = services.post_ledger_entry(PostLedgerEntry(login, "deposit", "500.00"), MANAGER)
    assert held.approval is not None
    approval_id = held.approval.id

    def decide(i: int) -> object:
        approver = Actor(manager_login=2000 + i, scopes=frozenset({"balances:approve"}))
        try:
            return services.decide_approval(DecideApproval(approval_id, i % 3 != 0), approver)
        except ApprovalNotPending as err:
            return err

    results = _in_threads(decide)

    decisions = [r for r in results if isinstance(r, Decision)]
    assert len(decisions) == 1
    assert all(isinstance(r, ApprovalNotPending) for r in results if r is not decisions[0])
    final = services.get_approval(approval_id, admin)
    assert final == decisions[0].approval
    deposits = _entries(services, admin, login)[1:]
    if final.state == "approved":
        assert [(e.amount, e.approval_id) for e in deposits] == [(50000, final.id)]
        assert services.get_account(login, admin).balance == 50100
    else:
        assert (final.state, deposits) == ("rejected", [])
        assert services.get_account(login, admin).balance == 100
    assert services.verify_ledger() == []
    assert services.verify_audit().ok
    assert services.audit_ledger().ok


def test_maintenance_run_from_many_threads_expires_each_overdue_approval_once(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock
) -> None:
    login = _funded(services, admin, "1.00")
    services.set_approval_threshold(SetApprovalThreshold("USD", "0"), admin)  # hold everything
    held = [
        services.post_ledger_entry(PostLedgerEntry(login, "deposit", "1"), MANAGER)
        for _ in range(10)
    ]
    clock.advance(hours=services.config.approval_ttl.total_seconds() / 3600)

    results = _in_threads(lambda i: services.run_maintenance())

    assert sum(expired for _purged, expired in results) == len(held)
    expiries = services.query_audit(AuditQuery(action="approval.expired", limit=100), admin)
    assert sorted(int(r.entity_id) for r in expiries) == sorted(
        p.approval.id for p in held if p.approval
    )
    assert services.verify_audit().ok


# ---- separate processes, each with its own runtime --------------------------------------------

PROCESSES = 3
PER_PROCESS = 4


def _withdraw_in_process(url: str, login: int, start: Any, results: Any) -> None:
    """A process of its own: build a runtime, wait for the others, withdraw 1.00 repeatedly."""
    runtime = bootstrap.build(Settings(database_url=url, pool_size=2))
    applied, refused = 0, 0
    try:
        start.wait(60)
        for _ in range(PER_PROCESS):
            cmd = PostLedgerEntry(login, "withdrawal", "1.00")
            try:
                runtime.app.post_ledger_entry(cmd, system_actor("process"))
                applied += 1
            except InsufficientFunds:
                refused += 1
    except BaseException as err:  # reported to the parent rather than lost with the process
        results.put(("error", repr(err)))
        raise
    finally:
        runtime.close()
    results.put((applied, refused))


def test_withdrawals_from_separate_processes_never_overdraw(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime, database_url: str
) -> None:
    login = _funded(services, admin, "9.00")
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [
        ctx.Process(target=_withdraw_in_process, args=(database_url, login, start, results))
        for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    try:
        outcomes = [results.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()

    assert all(o[0] != "error" for o in outcomes), outcomes
    assert sum(o[0] for o in outcomes) == 9
    assert sum(o[1] for o in outcomes) == PROCESSES * PER_PROCESS - 9
    assert services.get_account(login, admin).balance == 0
    assert_unbroken_chain(_entries(services, admin, login))
    assert services.verify_ledger() == []
    assert services.verify_audit().ok
    assert services.audit_ledger().ok
