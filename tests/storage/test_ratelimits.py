"""Shared rate limits (storage/ratelimits.py): one allowance per name, whichever connection or
process takes from it, on both engines."""

from __future__ import annotations

import threading

from brokerplane.bootstrap import Runtime
from brokerplane.storage.database import Storage


def test_a_name_gets_its_burst_then_is_told_how_long_to_wait(runtime: Runtime) -> None:
    limits = runtime.storage.rate_limits
    now = 1_000_000.0
    assert [limits.take("k1", now, 2, 60.0) for _ in range(2)] == [0, 0]
    assert limits.take("k1", now, 2, 60.0) == 30  # two a minute: one place each 30 s
    assert limits.take("k2", now, 2, 60.0) == 0  # another name has its own allowance
    assert limits.take("k1", now + 29, 2, 60.0) == 1
    assert limits.take("k1", now + 30, 2, 60.0) == 0
    assert limits.take("k1", now + 30, 2, 60.0) == 30


def test_two_engines_over_one_database_share_one_allowance(runtime: Runtime) -> None:
    """Two Storage objects stand for two server processes: 40 concurrent takes of a burst of
    15 give exactly 15 places, whichever process asked."""
    other = Storage(runtime.storage.url, pool_size=8)
    try:
        allowed: list[int] = []
        lock = threading.Lock()
        now = 2_000_000.0

        def take(storage: Storage) -> None:
            wait = storage.rate_limits.take("shared-key", now, 15, 60.0)
            with lock:
                allowed.append(wait == 0)

        threads = [threading.Thread(target=take, args=(s,)) for s in [runtime.storage, other] * 20]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(allowed) == 15
        assert len(allowed) == 40
    finally:
        other.dispose()


def test_names_whose_allowance_is_full_again_are_purged(runtime: Runtime) -> None:
    limits = runtime.storage.rate_limits
    limits.take("old", 100.0, 10, 1.0)  # its place is back 0.1 s later
    limits.take("new", 200.0, 10, 1.0)
    assert limits.purge(150.0) == 1
    assert limits.take("new", 200.0, 1, 1.0) == 1  # still counted
