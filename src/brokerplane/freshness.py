"""Freshness: how far behind the newest commit the lag-tolerant reads of one request were served.

Storage notes here where each read that may lag (lists, reports, exports, exposure) was served
— the read replica, with an upper bound of its lag, or the primary — and the HTTP layer states
it in the answer (`X-Brokerplane-Replica-Lag`). Neither imports the other: the request opens a
`Reads` tally in a context variable, and the threads its handlers run in share that object.
"""

from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass, field

HEADER = "x-brokerplane-replica-lag"


@dataclass
class Reads:
    """The lag-tolerant reads of one request: the largest lag (seconds, an upper bound) of
    those the replica served, and whether any went to the primary."""

    replica_lag: float | None = None
    primary: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def served(self, lag: float | None) -> None:
        with self._lock:
            if lag is None:
                self.primary = True
            elif self.replica_lag is None or lag > self.replica_lag:
                self.replica_lag = lag

    @property
    def header(self) -> str | None:
        """The header's value: seconds (three decimals) when the replica served any of the
        reads, `primary` when all of them went to the primary, None when there were none."""
        if self.replica_lag is not None:
            return f"{self.replica_lag:.3f}"
        return "primary" if self.primary else None


_current: contextvars.ContextVar[Reads | None] = contextvars.ContextVar(
    "brokerplane_reads", default=None
)


def track() -> Reads:
    """Open a tally for the current request (its context and the threads it hands work to)."""
    reads = Reads()
    _current.set(reads)
    return reads


def served(lag: float | None) -> None:
    """Note a lag-tolerant read: served by the replica `lag` seconds behind at most, or by the
    primary (None). Nothing happens outside a tracked request (CLI, maintenance)."""
    reads = _current.get()
    if reads is not None:
        reads.served(lag)
