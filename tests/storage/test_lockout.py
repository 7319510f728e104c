"""The sign-in lockout's counters on both engines: concurrent attempts are admitted one by one
and no more than the threshold before the lock, a lock ends, a success clears the login's
counters, an operator's unlock or a new password clears them, a login-wide lock stays short,
and old counters are forgotten and purged."""

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


def test_forty_concurrent_attempts_admit_only_five(runtime: Runtime, services: Services) -> None:
    attempt = lockout.manager(1000, "192.0.2.1")
    start = threading.Barrier(40)

    def attempt_once(_: int) -> bool:
        start.wait(timeout=30)
        return services.admit_login(attempt) is None

    with ThreadPoolExecutor(40) as pool:
        admitted = sum(pool.map(attempt_once, range(40)))

    assert admitted == 5
    assert _failures(runtime, "manager:1000@192.0.2.1") == 5
    assert _failures(runtime, "manager:1000") == 5
    assert _failures(runtime, "@192.0.2.1") == 5
    assert services.login_locked_until(attempt) is not None


def test_sign_ins_succeeding_while_others_are_counted_never_deadlock(
    runtime: Runtime, services: Services
) -> None:
    """A success clears and uncounts the keys an attempt is counted on; both take the rows in
    one order, so managers signing in at once from one address all get an answer (a deadlock
    was a server error on PostgreSQL)."""
    attempts = [lockout.manager(1000 + n % 4, "192.0.2.7") for n in range(24)]
    start = threading.Barrier(24)

    def sign_in(n: int) -> str:
        start.wait(timeout=30)
        for _ in range(5):
            if services.admit_login(attempts[n]) is None:
                services.login_succeeded(attempts[n])
        return "ok"

    with ThreadPoolExecutor(24) as pool:
        assert list(pool.map(sign_in, range(24))) == ["ok"] * 24
    for login in range(1000, 1004):
        assert services.login_locked_until(lockout.manager(login, "192.0.2.7")) is None


def test_a_lock_grows_ends_and_a_success_clears_the_login_only(
    runtime: Runtime, services: Services, clock: FakeClock
) -> None:
    attempt = lockout.manager(1000, "192.0.2.1")
    for _ in range(5):
        services.admit_login(attempt)
    assert services.login_locked_until(attempt) == clock.now + timedelta(seconds=1)
    clock.advance(seconds=1)
    assert services.login_locked_until(attempt) is None
    services.admit_login(attempt)
    assert services.login_locked_until(attempt) == clock.now + timedelta(seconds=2)
    clock.advance(seconds=2)

    assert services.admit_login(attempt) is None  # the right password, this time
    services.login_succeeded(attempt)

    assert _failures(runtime, "manager:1000@192.0.2.1") == 0
    assert _failures(runtime, "manager:1000") == 0
    assert (
        _failures(runtime, "@192.0.2.1") == 6
    )  # the address's count stays (less the good attempt)


def test_failures_are_forgotten_after_the_window_and_purged(
    runtime: Runtime, services: Services, clock: FakeClock
) -> None:
    attempt = lockout.user("Alice", "192.0.2.1")
    for _ in range(4):
        services.admit_login(attempt)
    clock.advance(minutes=16)
    services.admit_login(attempt)
    assert _failures(runtime, "user:alice@192.0.2.1") == 1
    assert services.login_locked_until(attempt) is None

    clock.advance(minutes=16)
    services.run_maintenance()
    assert _failures(runtime, "user:alice@192.0.2.1") == 0


def test_one_address_failing_on_keeps_the_login_wide_lock_short(
    runtime: Runtime, services: Services, clock: FakeClock
) -> None:
    """An attacker at one address, failing once each time its lock ends, holds the real user
    (elsewhere) back for at most the login-wide cap (a minute) after each failure; its own
    address's lock grows to the full max_delay."""
    attacker = lockout.manager(1000, "203.0.113.66")
    for _ in range(60):
        clock.advance(seconds=900)
        services.admit_login(attacker)
    user = lockout.manager(1000, "192.0.2.1")
    until = services.login_locked_until(user)
    assert until is not None and until - clock.now == timedelta(seconds=60)
    assert services.login_locked_until(attacker) == clock.now + timedelta(seconds=900)
    clock.advance(seconds=60)
    assert services.admit_login(user) is None


def test_unlock_forgets_the_managers_counters_from_every_address_only(
    runtime: Runtime, services: Services
) -> None:
    for address in ("192.0.2.1", "192.0.2.2"):
        for _ in range(5):
            services.admit_login(lockout.manager(1000, address))
    services.admit_login(lockout.manager(10001, "192.0.2.1"))  # another login, alike prefix

    with runtime.storage.uow(write=True) as uow:
        cleared = uow.lockouts.clear_subject("manager:1000")
        uow.commit()

    assert cleared == 3
    assert services.login_locked_until(lockout.manager(1000, "192.0.2.1")) is None
    assert _failures(runtime, "manager:10001@192.0.2.1") == 1
    assert _failures(runtime, "@192.0.2.1") == 6  # the address's own count stays


def test_an_accounts_password_checks_are_not_counted_on_the_address(
    runtime: Runtime, services: Services
) -> None:
    """The address checking trader passwords is usually the broker's portal, shared by every
    trader: an account's attempts count per account only."""
    for login in range(2000, 2060):
        services.admit_login(lockout.account(login, "192.0.2.1"))
    assert _failures(runtime, "@192.0.2.1") == 0
    assert _failures(runtime, "account:2000@192.0.2.1") == 1
    assert services.admit_login(lockout.manager(1000, "192.0.2.1")) is None
