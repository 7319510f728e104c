"""Per-key rate limits for the native API (api/kit/ratelimit.py): in this process, or shared
by every process over the database."""

from __future__ import annotations

import time
from collections.abc import Callable

from brokerplane.api.kit.ratelimit import Allowance, SharedTake


class RateLimiter(Allowance):
    """Allows `per_minute` requests a minute per key, in bursts of up to `per_minute`; 0 turns
    the limit off. With `shared` (PostgreSQL, or several workers) every process over the
    database counts against one allowance per key; otherwise this process keeps its own."""

    def __init__(
        self, per_minute: int, clock: Callable[[], float] = time.monotonic,
        shared: SharedTake | None = None,
    ) -> None:  # fmt: skip
        super().__init__(per_minute, 60.0, clock=clock, shared=shared, namespace="native")
        self.per_minute = per_minute
