"""The sign-in lockout's counters on both engines: concurrent failures all count, a lock ends,
a success clears the login's counters, and old counters are forgotten and purged."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from brokerplane.bootstrap import Runtime
from brokerplane.core.access import lockout
from brokerplane.core.services import Services
from tests.unit.fakes import FakeClock


def _failures(runtime: Runtime, key: str) -> int:
    with runtime.storage.uow(write=False) as uow:
        found = uow.lockouts.get([key])
    return found[0].failures if found else 0


def test_twenty_concurrent_failures_all_count(runtime: Runtime, services: Services) -> None:
    attempt = lockout.manager(1000, "192.0.2.1")
    start = threading.Barrier(20)

    def fail(_: int) -> None:
        start.wait(timeout=30)
        services.record_login(attempt, False)

    with ThreadPoolExecutor(20) as pool:
        list(pool.map(fail, range(20)))

    assert _failures(runtime, "manager:1000@192.0.2.1") == 20
    assert _failures(runtime, "manager:1000") == 20
    assert _failures(runtime, "@192.0.2.1") == 20
    assert services.login_locked_until(attempt) is not None


def test_a_lock_grows_ends_and_a_success_clears_the_login_only(
    runtime: Runtime, services: Services, clock: FakeClock
) -> None:
    attempt = lockout.manager(1000, "192.0.2.1")
    for _ in range(5):
        services.record_login(attempt, False)
    assert services.login_locked_until(attempt) == clock.now + timedelta(seconds=1)
    clock.advance(seconds=1)
    assert services.login_locked_until(attempt) is None
    services.record_login(attempt, False)
    assert services.login_locked_until(attempt) == clock.now + timedelta(seconds=2)

    services.record_login(attempt, True)

    assert _failures(runtime, "manager:1000@192.0.2.1") == 0
    assert _failures(runtime, "manager:1000") == 0
    assert _failures(runtime, "@192.0.2.1") == 6  # the address's count stays


def test_failures_are_forgotten_after_the_window_and_purged(
    runtime: Runtime, services: Services, clock: FakeClock
) -> None:
    attempt = lockout.user("Alice", "192.0.2.1")
    for _ in range(4):
        services.record_login(attempt, False)
    clock.advance(minutes=16)
    services.record_login(attempt, False)
    assert _failures(runtime, "user:alice@192.0.2.1") == 1
    assert services.login_locked_until(attempt) is None

    clock.advance(minutes=16)
    services.run_maintenance()
    assert _failures(runtime, "user:alice@192.0.2.1") == 0
