"""ReplicaReads: lag-tolerant reads served by a PostgreSQL streaming replica, never staler than
a bound, and never missing the caller's own writes.

How the bound is kept. Every so often (at most every `probe_interval` seconds, when reads come)
the primary is asked for its WAL flush position; each answer is kept with the time the question
was asked. Everything committed before that time is at or before that position (commits are
synchronous). A read first asks the replica how far it has replayed, then opens its snapshot
there; the newest sample at or before the replayed position says the replica holds every
commit made before the sample's time, so the read is at most `now - sample time` behind. When
that is more than `max_lag`, or no sample qualifies, the read goes to the primary.

Read-your-writes. After a caller's write (a manager, key or operator; Application tells us), that
caller's reads need a sample taken after the write was acknowledged, so they go to the primary
until the replica has replayed past it. That memory is per process; a manager's writes are
also found wherever they were taken: before a manager's read, the primary is asked for the id
of that manager's newest audit record (every change writes one, in the same transaction), and
the replica serves the read only if it holds that record too. So a write through one process
(or host, or the CLI) is in the same manager's next list on any other process.

Trouble. A replica that cannot be reached, is not a standby (promoted), or belongs to another
cluster is left alone for `retry_s` seconds and reads go to the primary; a read the replica
fails (a recovery conflict cancels it, the connection drops) is run again on the primary. When
the primary cannot be asked for its position the lag cannot be bounded, so the read goes to the
primary too (and fails there as any read would).
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine, make_url, text
from sqlalchemy import exc as sa_exc

from brokerplane import freshness
from brokerplane.core.errors import StorageUnavailable
from brokerplane.core.ports import UnitOfWork
from brokerplane.storage.engine import make_engine
from brokerplane.storage.uow import SqlUnitOfWork

T = TypeVar("T")
log = logging.getLogger("brokerplane.storage.replica")

REPLICA_CONNECT_TIMEOUT_S = 2
MAX_SAMPLES = 512
MAX_CALLERS = 100_000
_LSN_PRIMARY = text("SELECT (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::bigint")
_LSN_REPLICA = text(
    "SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint"
)
_SYSTEM_ID = text("SELECT system_identifier FROM pg_control_system()")
# A manager's newest audit record (ix_audit_records_manager_login_id: an index-only lookup).
_NEWEST_OF = text("SELECT coalesce(max(id), 0) FROM audit_records WHERE manager_login = :manager")


class ReplicaUrlError(ValueError):
    """BROKERPLANE_READ_DATABASE_URL cannot be used (the message names it, password masked)."""

    def __init__(self, url: str, why: BaseException) -> None:
        try:
            shown = make_url(url).render_as_string(hide_password=True)
        except sa_exc.ArgumentError:
            shown = "(not a database URL)"
        reason = (str(why).strip().splitlines() or [type(why).__name__])[0]
        super().__init__(f"read replica URL {shown} (BROKERPLANE_READ_DATABASE_URL): {reason}")


class ReplicaRefused(Exception):
    """The replica may not serve reads now (why is the message)."""


class ReplicaReads:
    """Routes lag-tolerant reads (core.ports.LaggingReads) between a replica and the primary."""

    def __init__(
        self,
        primary: Engine,
        primary_uow: Callable[..., SqlUnitOfWork],
        url: str,
        *,
        max_lag_s: float,
        retry_s: float = 5.0,
        pool_size: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self._primary_uow = primary_uow
        self.engine: Engine = make_engine(
            url, pool_size=pool_size, connect_timeout=REPLICA_CONNECT_TIMEOUT_S
        )
        if self.engine.dialect.name != "postgresql":
            self.engine.dispose()
            raise ValueError("the read replica must be PostgreSQL (a streaming standby)")
        self.max_lag = max_lag_s
        self.retry = retry_s
        self.probe_interval = max(0.01, min(0.1, max_lag_s / 10))
        self._clock = clock
        self._lock = threading.Lock()
        self._probing = threading.Lock()
        self._times: deque[float] = deque(maxlen=MAX_SAMPLES)  # when each probe was asked
        self._lsns: deque[int] = deque(maxlen=MAX_SAMPLES)  # the primary's flush position
        self._writes: dict[str, float] = {}  # caller -> when its newest write was answered
        self._down_until = 0.0
        self._checked = False  # the replica was seen to be a standby of this primary
        # what the reads did, for tests, metrics and the bench
        self.served_replica = 0
        self.served_primary = 0
        self.last_lag: float | None = None  # stated by the newest replica-served read
        self.healthy = True  # False from a failure until the replica next serves a read

    # -- the port ---------------------------------------------------------------------------

    def wrote(self, caller: str) -> None:
        now = self._clock()
        with self._lock:
            self._writes[caller] = now
            if len(self._writes) > MAX_CALLERS:
                self._forget_old(now)

    def read(self, caller: str, fn: Callable[[UnitOfWork], T]) -> T:
        try:
            lag = self._replica_lag(caller)
        except ReplicaRefused as why:
            log.debug("read from the primary: %s", why)
            return self._on_primary(fn)
        try:
            with SqlUnitOfWork(self.engine, write=False) as uow:
                result = fn(uow)
        except (StorageUnavailable, sa_exc.DBAPIError) as err:
            # The replica failed this read (a dropped connection, a recovery conflict): the
            # primary answers instead; a connection that failed also keeps the replica out.
            if _is_connection_error(err):
                self._set_down(f"the replica failed a read: {_reason(err)}")
            return self._on_primary(fn)
        with self._lock:
            self.served_replica += 1
            self.last_lag = lag
            self.healthy = True
        freshness.served(lag)
        return result

    # -- routing ----------------------------------------------------------------------------

    def _on_primary(self, fn: Callable[[UnitOfWork], T]) -> T:
        with self._lock:
            self.served_primary += 1
        freshness.served(None)
        with self._primary_uow(write=False) as uow:
            return fn(uow)

    def _replica_lag(self, caller: str) -> float:
        """The lag the replica's next snapshot has at most, or ReplicaRefused."""
        now = self._clock()
        if now < self._down_until:
            raise ReplicaRefused("the replica is resting after a failure")
        with self._lock:
            wrote_at = self._writes.get(caller)
            newest = self._times[-1] if self._times else None
        if newest is None or now - newest >= self.probe_interval:
            self._probe()
        manager = _manager_of(caller)
        # Asked of the primary before the replica: every write the caller was answered before
        # this read began is at or before it.
        needed = self._newest_on_primary(manager) if manager is not None else 0
        replayed, held = self._replayed(manager)
        if held < needed:
            raise ReplicaRefused("the caller's own write (through any process) is not there yet")
        with self._lock:
            # the newest sample the replica has replayed past
            at = bisect.bisect_right(self._lsns, replayed) - 1
            asked = self._times[at] if at >= 0 else None
        if asked is None:
            raise ReplicaRefused("the replica has not replayed a known primary position yet")
        if wrote_at is not None and asked < wrote_at:
            raise ReplicaRefused("the caller's own write has not reached the replica yet")
        lag = max(0.0, self._clock() - asked)
        if lag > self.max_lag:
            raise ReplicaRefused(f"the replica is {lag:.3f}s behind (bound {self.max_lag}s)")
        return lag

    def _probe(self) -> None:
        """Sample the primary's flush position, unless another thread is doing it."""
        if not self._probing.acquire(blocking=False):
            return
        try:
            asked = self._clock()
            try:
                with self.primary.connect().execution_options(bp_write=False) as conn:
                    lsn = int(conn.execute(_LSN_PRIMARY).scalar_one())
                    conn.rollback()
            except (sa_exc.DBAPIError, sa_exc.TimeoutError) as err:
                raise ReplicaRefused(f"the primary's position is unknown: {_reason(err)}") from err
            with self._lock:
                if not self._lsns or lsn >= self._lsns[-1]:
                    self._times.append(asked)
                    self._lsns.append(lsn)
                self._forget_old(asked)
        finally:
            self._probing.release()

    def _newest_on_primary(self, manager: int) -> int:
        """The id of the manager's newest audit record on the primary (0: none)."""
        try:
            with self.primary.connect().execution_options(bp_write=False) as conn:
                newest = int(conn.execute(_NEWEST_OF, {"manager": manager}).scalar_one())
                conn.rollback()
        except (sa_exc.DBAPIError, sa_exc.TimeoutError) as err:
            raise ReplicaRefused(f"the caller's newest write is unknown: {_reason(err)}") from err
        return newest

    def _replayed(self, manager: int | None) -> tuple[int, int]:
        """How far the replica has replayed, and the id of `manager`'s newest audit record
        there (0: none, or no manager), both before the read's snapshot is taken."""
        try:
            with self.engine.connect() as conn:
                if not self._checked:
                    self._check_same_cluster(conn)
                standby, replayed = conn.execute(_LSN_REPLICA).one()
                held = 0
                if manager is not None and standby:
                    held = int(conn.execute(_NEWEST_OF, {"manager": manager}).scalar_one())
                conn.rollback()
        except (sa_exc.DBAPIError, sa_exc.TimeoutError) as err:
            self._set_down(f"the replica is unreachable: {_reason(err)}")
            raise ReplicaRefused("the replica is unreachable") from err
        if not standby or replayed is None:
            self._checked = False
            self._set_down("the read database is not a standby in recovery (promoted?)")
            raise ReplicaRefused("the read database is not a standby")
        return int(replayed), held

    def _check_same_cluster(self, conn: Connection) -> None:
        mine = conn.execute(_SYSTEM_ID).scalar_one()
        conn.rollback()
        with self.primary.connect().execution_options(bp_write=False) as primary:
            theirs = primary.execute(_SYSTEM_ID).scalar_one()
            primary.rollback()
        if mine != theirs:
            self._set_down(
                f"the read database (system {mine}) is not a standby of the primary "
                f"(system {theirs}): check BROKERPLANE_READ_DATABASE_URL"
            )
            raise ReplicaRefused("the read database belongs to another cluster")
        self._checked = True

    def _set_down(self, why: str) -> None:
        with self._lock:
            was_up = self._clock() >= self._down_until
            self._down_until = self._clock() + self.retry
            self.healthy = False
        if was_up:
            log.warning("read replica unused for %ss, reads go to the primary: %s", self.retry, why)

    def _forget_old(self, now: float) -> None:
        """Callers whose writes are older than the bound need nothing more (a sample within
        the bound was taken after them); samples that old cannot serve a read either. The
        newest sample is kept whatever its age. Called with the lock held."""
        horizon = now - self.max_lag
        for caller in [c for c, at in self._writes.items() if at < horizon]:
            del self._writes[caller]
        while len(self._times) > 1 and self._times[0] < horizon:
            self._times.popleft()
            self._lsns.popleft()

    def status(self) -> dict[str, float | int | bool | None]:
        """For metrics and the bench: reads served by each side, whether the replica served
        since its last failure, and the lag the newest replica-served read stated."""
        with self._lock:
            return {
                "replica_reads": self.served_replica,
                "primary_reads": self.served_primary,
                "replica_up": self.healthy,
                "last_lag": self.last_lag,
            }

    def dispose(self) -> None:
        self.engine.dispose()


def _manager_of(caller: str) -> int | None:
    """The manager login of a caller named by application.base.caller_of, else None."""
    kind, _, login = caller.partition(":")
    if kind != "manager" or not login.lstrip("-").isdigit():
        return None
    return int(login)


def _is_connection_error(err: BaseException) -> bool:
    """Whether the replica itself is in trouble, rather than this one read (a recovery
    conflict cancels a long read with SQLSTATE 40001; the replica is fine otherwise)."""
    cause = err.__cause__ if isinstance(err, StorageUnavailable) else err
    orig = getattr(cause, "orig", None)
    return getattr(orig, "sqlstate", None) != "40001"


def _reason(err: BaseException) -> str:
    return str(getattr(err, "orig", None) or err).strip().splitlines()[0][:200]
