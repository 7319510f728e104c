"""Rate limits every dialect uses: an allowance of requests per name (a key, a caller), counted
in this process or, shared, in the database every server process uses.

A lone process on SQLite counts in memory (a token bucket); on PostgreSQL, or with several
workers, the count lives in the database (storage/ratelimits.py, GCRA in one statement), so a
key gets its limit once, however many processes and hosts serve it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

from fastapi.concurrency import run_in_threadpool

from brokerplane.core.errors import RateLimited


class SharedTake(Protocol):
    """Take one request of `name`'s allowance at unix time `now`: 0 when allowed, else the
    whole seconds to wait."""

    def __call__(self, name: str, now: float, per_period: int, period_s: float) -> int: ...


class Allowance:
    """`per_period` requests a `period_s` per name, in bursts of up to `per_period`; 0 turns
    the limit off. `shared`: counted there (the database) rather than in this process."""

    def __init__(
        self,
        per_period: int,
        period_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedTake | None = None,
        wall: Callable[[], float] = time.time,
        namespace: str = "",
    ) -> None:
        self._per_period = per_period
        self.period_s = period_s
        self.shared = shared
        self._clock = clock
        self._wall = wall
        self._namespace = namespace
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, last refill)

    def check(self, name: str) -> None:
        """Take one request for `name`, or raise RateLimited with the seconds to wait. Shared,
        this is a database statement: call it from a worker thread (`admit`)."""
        per = self._per_period
        if per <= 0:
            return
        if self.shared is not None:
            wait = self.shared(f"{self._namespace}|{name}", self._wall(), per, self.period_s)
            if wait:
                raise RateLimited(wait)
            return
        rate = per / self.period_s
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(name, (float(per), now))
            tokens = min(float(per), tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[name] = (tokens, now)
                raise RateLimited(max(1, math.ceil((1.0 - tokens) / rate)))
            self._buckets[name] = (tokens - 1.0, now)
            if len(self._buckets) > 100_000:  # forget idle names: a full bucket is the default
                self._buckets = {
                    k: (t, at)
                    for k, (t, at) in self._buckets.items()
                    if t + (now - at) * rate < per
                }

    async def admit(self, name: str) -> None:
        """`check` from the event loop: off it when the count is shared."""
        if self.shared is not None and self._per_period > 0:
            await run_in_threadpool(self.check, name)
        else:
            self.check(name)
