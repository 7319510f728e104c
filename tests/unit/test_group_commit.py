"""Group commit over the in-memory unit of work: commands queued behind a running batch share
the next transaction; a refusal stays with its command; a failed commit fails every command of
the batch and nothing of it lands; a transaction lost before its commit runs the others alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from brokerplane.application.commit import GroupCommit
from brokerplane.core.audit.model import AuditRecord
from brokerplane.core.errors import InsufficientFunds, StorageUnavailable
from brokerplane.core.ports import UnitOfWork
from tests.unit.fakes import FakeUnitOfWork, FakeUowFactory

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _note(text: str) -> Callable[[UnitOfWork], str]:
    """A command that queues one audit record named `text` and returns the text."""

    def work(uow: UnitOfWork) -> str:
        uow.audit.append(
            AuditRecord(
                at=NOW,
                action=text,
                entity_type="test",
                entity_id=text,
                before=None,
                after={"n": text},
                dialect="native",
            )
        )
        return text

    return work


def _refused(uow: UnitOfWork) -> str:
    _note("refused")(uow)  # queued, then rolled back with the command
    raise InsufficientFunds("no money")


class Gate:
    """A first command that holds the leader's turn until the test opens the gate, so that
    the commands submitted meanwhile queue for the next batch."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.open = threading.Event()

    def __call__(self, uow: UnitOfWork) -> str:
        self.entered.set()
        assert self.open.wait(10)
        return "gate"


def _queue_behind_gate(
    gc: GroupCommit, pool: ThreadPoolExecutor, works: list[Callable[[UnitOfWork], str]]
) -> tuple[Future[str], list[Future[str]]]:
    gate = Gate()
    first = pool.submit(gc.run, gate)
    assert gate.entered.wait(10)
    futures = [pool.submit(gc.run, w) for w in works]
    deadline = time.monotonic() + 10
    while gc.waiting < len(works):
        assert time.monotonic() < deadline, "the commands never queued"
        time.sleep(0.005)
    gate.open.set()
    return first, futures


def _actions(factory: FakeUowFactory) -> list[str]:
    return [r.action for r in factory.state.audit]


def test_commands_queued_behind_a_batch_commit_together_and_in_order() -> None:
    factory = FakeUowFactory()
    gc = GroupCommit(factory)
    with ThreadPoolExecutor(8) as pool:
        first, futures = _queue_behind_gate(gc, pool, [_note(f"c{i}") for i in range(6)])
        assert first.result(10) == "gate"
        assert sorted(f.result(10) for f in futures) == [f"c{i}" for i in range(6)]
    assert (gc.batches, gc.commands) == (2, 7)
    assert factory.commits == 2
    assert sorted(_actions(factory)) == [f"c{i}" for i in range(6)]
    ids = [r.id for r in factory.state.audit]
    assert ids == list(range(1, 7))  # sealed onto the chain once, in one run


def test_a_refused_command_leaves_the_others_and_its_records_out() -> None:
    factory = FakeUowFactory()
    gc = GroupCommit(factory)
    with ThreadPoolExecutor(8) as pool:
        _first, futures = _queue_behind_gate(gc, pool, [_note("a"), _refused, _note("b")])
        assert futures[0].result(10) == "a"
        with pytest.raises(InsufficientFunds):
            futures[1].result(10)
        assert futures[2].result(10) == "b"
    assert (gc.batches, gc.commands) == (2, 4)
    assert sorted(_actions(factory)) == ["a", "b"]
    # The batch ran again with a savepoint per command once the refusal showed.
    assert factory.savepoints == 3
    assert factory.commits == 2


def test_a_batch_without_failures_needs_no_savepoints() -> None:
    factory = FakeUowFactory()
    gc = GroupCommit(factory)
    with ThreadPoolExecutor(8) as pool:
        _first, futures = _queue_behind_gate(gc, pool, [_note(f"c{i}") for i in range(4)])
        assert sorted(f.result(10) for f in futures) == [f"c{i}" for i in range(4)]
    assert factory.savepoints == 0
    assert (factory.commits, gc.batches) == (2, 2)


def test_a_commit_that_fails_answers_every_command_of_the_batch_with_the_error() -> None:
    factory = FakeUowFactory()
    lost = StorageUnavailable("the database could not commit")

    def arming(*, write: bool = True) -> FakeUnitOfWork:
        # The gate commits first; the batch of three opens next, and its commit fails.
        if factory.commits == 1:
            factory.fail_next_commit = lost
        return factory(write=write)

    gc = GroupCommit(arming)
    with ThreadPoolExecutor(8) as pool:
        first, futures = _queue_behind_gate(gc, pool, [_note(x) for x in ("a", "b", "c")])
        assert first.result(10) == "gate"
        for f in futures:
            with pytest.raises(StorageUnavailable):
                f.result(10)
    assert _actions(factory) == []  # nothing of the failed batch landed
    assert (factory.commits, gc.batches, gc.commands) == (1, 2, 4)


def test_a_transaction_lost_before_its_commit_runs_each_command_again_alone() -> None:
    factory = FakeUowFactory()
    gc = GroupCommit(factory)
    tries = {"n": 0}

    def flaky(uow: UnitOfWork) -> str:
        # Fails the batch's first run and its run with savepoints; alone, it goes through.
        tries["n"] += 1
        if tries["n"] <= 2:
            raise StorageUnavailable("the database is unavailable")
        return _note("flaky")(uow)

    with ThreadPoolExecutor(8) as pool:
        _first, futures = _queue_behind_gate(gc, pool, [_note("a"), flaky, _refused, _note("b")])
        assert futures[0].result(10) == "a"
        assert futures[1].result(10) == "flaky"
        with pytest.raises(InsufficientFunds):
            futures[2].result(10)
        assert futures[3].result(10) == "b"
    assert sorted(_actions(factory)) == ["a", "b", "flaky"]
    assert tries["n"] == 3
    # the gate, then a, flaky, b each committed alone (the refused command commits nothing)
    assert factory.commits == 4


def test_batches_hold_at_most_max_batch_commands() -> None:
    factory = FakeUowFactory()
    gc = GroupCommit(factory, max_batch=4)
    with ThreadPoolExecutor(12) as pool:
        _first, futures = _queue_behind_gate(gc, pool, [_note(f"c{i}") for i in range(10)])
        assert sorted(f.result(10) for f in futures) == sorted(f"c{i}" for i in range(10))
    assert (gc.batches, gc.commands) == (4, 11)  # the gate, then 4 + 4 + 2
    assert factory.commits == 4


def test_a_lone_command_runs_in_its_own_transaction_and_raises_its_error() -> None:
    factory = FakeUowFactory()
    gc = GroupCommit(factory)
    assert gc.run(_note("alone")) == "alone"
    with pytest.raises(InsufficientFunds):
        gc.run(_refused)
    assert _actions(factory) == ["alone"]
    assert (gc.batches, gc.commands) == (2, 2)
    with pytest.raises(ValueError):
        GroupCommit(factory, max_batch=0)
