"""Per-key rate limits for the native API: a token bucket per key, in this process."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from brokerplane.core.errors import RateLimited


class RateLimiter:
    """Allows `per_minute` requests a minute per key, in bursts of up to `per_minute`.

    Each brokerplane process keeps its own buckets: behind a load balancer over N processes a
    key may get up to N times the limit. 0 turns the limit off."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, last refill)

    def check(self, key_id: str) -> None:
        """Take one token for `key_id`, or raise RateLimited with the seconds to wait."""
        if self.per_minute <= 0:
            return
        rate = self.per_minute / 60.0
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[key_id] = (tokens, now)
                raise RateLimited(max(1, math.ceil((1.0 - tokens) / rate)))
            self._buckets[key_id] = (tokens - 1.0, now)
            if len(self._buckets) > 100_000:  # forget idle keys: a full bucket is the default
                self._buckets = {
                    k: (t, at)
                    for k, (t, at) in self._buckets.items()
                    if t + (now - at) * rate < self.per_minute
                }
