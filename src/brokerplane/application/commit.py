"""Group commit: concurrent commands share one transaction, one audit seal and one commit.

A money command is a few short statements and one durable commit, and under load the commit
(the WAL flush, or SQLite's fsync) and the audit chain's head row, which every money write
locks until it commits, are what the commands queue for. Here the commands that arrive while
a transaction is being committed wait together; the next one to go runs them all in one
transaction, each in a savepoint of its own, seals their audit records onto the chain at once
and commits once. Nothing is weaker than one transaction per command:

- each command sees the effects of those before it in the batch, exactly as if they had run
  one after the other (which they do, on one connection);
- a command that fails is rolled back to its savepoint, with the audit records it queued, and
  the others go on; its caller gets its own error. Savepoints cost two statements a command,
  so a batch first runs without them; only when one of its commands fails is the transaction
  rolled back and the whole batch run again with them;
- nobody is answered before the shared commit is durable; if the transaction fails before
  the commit (a statement error that escapes a savepoint), every command that was not refused
  on its own runs again in a transaction of its own, so one command's trouble cannot fail
  another; if the database is lost at the commit, nobody can know whether it landed, and every
  caller gets StorageUnavailable, as a single command would (a retry with the same request id
  is safe either way).

One batch runs at a time in a process: the next leader is chosen when a batch ends, so two
batches of one process never wait for each other's row locks.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from brokerplane.core.errors import StorageUnavailable
from brokerplane.core.ports import UnitOfWork, UnitOfWorkFactory

T = TypeVar("T")

DEFAULT_MAX_BATCH = 64


class _Job(Generic[T]):
    __slots__ = ("done", "error", "ready", "result", "work")

    def __init__(self, work: Callable[[UnitOfWork], T]) -> None:
        self.work = work
        self.ready = threading.Event()
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommit:
    """Runs commands (functions of a unit of work) in shared transactions; `run` returns
    the command's result once it is durable, or raises its error."""

    def __init__(self, uow: UnitOfWorkFactory, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._uow = uow
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: deque[_Job[object]] = deque()
        self._running = False
        # batches run and the commands in them, for tests and benchmarks
        self.batches = 0
        self.commands = 0
        # told each batch's size as it starts (the server's metrics); must not raise
        self.on_batch: Callable[[int], None] | None = None

    @property
    def waiting(self) -> int:
        """Commands queued for the next batch."""
        with self._lock:
            return len(self._queue)

    def run(self, work: Callable[[UnitOfWork], T]) -> T:
        job: _Job[T] = _Job(work)
        with self._lock:
            self._queue.append(job)  # type: ignore[arg-type]
            lead = not self._running
            self._running = True
        while not lead:
            job.ready.wait()
            if job.done:
                return job.outcome()
            job.ready.clear()  # chosen to lead: our job is first in the queue
            lead = True
        self._lead()
        if not job.done:  # pragma: no cover - the leader's job is always in its batch
            raise RuntimeError("group commit lost a command")
        return job.outcome()

    def _lead(self) -> None:
        with self._lock:
            batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
        try:
            self._run_batch(batch)
        finally:
            for job in batch:
                if not job.done:  # a BaseException escaped the batch
                    job.error = job.error or StorageUnavailable("the command was interrupted")
                    job.done = True
            with self._lock:
                if self._queue:
                    self._queue[0].ready.set()  # not done: it leads the next batch
                else:
                    self._running = False
            for job in batch:
                job.ready.set()

    def _run_batch(self, batch: list[_Job[object]]) -> None:
        self.batches += 1
        self.commands += len(batch)
        if self.on_batch is not None:
            self.on_batch(len(batch))
        if len(batch) == 1:
            _alone(self._uow, batch[0])
            return
        try:
            # Savepoints cost two statements a command: first without them, and only when a
            # command fails, all again with one each (nothing of the first try is kept).
            if not self._together(batch, isolated=False):
                self._together(batch, isolated=True)
        except Exception:
            # The transaction failed before its commit: nothing of the batch landed. Every
            # command that was not refused on its own runs again, alone.
            for job in batch:
                if job.done:
                    continue
                job.result, job.error = None, None
                _alone(self._uow, job)

    def _together(self, batch: list[_Job[object]], *, isolated: bool) -> bool:
        """The batch in one transaction and one commit. Not `isolated`: the first command
        that fails rolls the whole transaction back and this answers False."""
        with self._uow(write=True) as uow:
            for job in batch:
                if not isolated:
                    try:
                        job.result = job.work(uow)
                    except Exception:
                        for each in batch:
                            each.result = None
                        return False  # leaving the block rolls the transaction back
                    continue
                try:
                    with uow.savepoint():
                        job.result = job.work(uow)
                except StorageUnavailable:
                    raise  # the connection is gone: the whole transaction with it
                except Exception as err:  # the command's own refusal or fault
                    job.result, job.error = None, err
            try:
                uow.commit()
            except StorageUnavailable as err:
                for job in batch:  # unknown whether it landed: nobody may retry it here
                    job.result, job.error = None, _own_copy(err)
            for job in batch:  # from here on nothing of the batch runs again
                job.done = True
        return True


def _own_copy(err: StorageUnavailable) -> StorageUnavailable:
    """The error for one caller: each thread raises an instance of its own."""
    copied = copy.copy(err)
    copied.__traceback__ = None
    return copied


def _alone(uow_factory: UnitOfWorkFactory, job: _Job[object]) -> None:
    """One command in a transaction of its own, as without group commit."""
    try:
        with uow_factory(write=True) as uow:
            job.result = job.work(uow)
            uow.commit()
    except Exception as err:
        job.error = err
    job.done = True
