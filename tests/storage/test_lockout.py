"""The sign-in lockout's counters on both engines: concurrent wrong passwords are checked one
by one and no more than the threshold before the lock, concurrent right ones all get in and
leave nothing behind (also over two processes' worth of services sharing the database), a
slot left by a process that died mid-check expires, a lock ends, a success clears the login's
counters, an operator's unlock or a new password clears them, a login-wide lock stays short,
and old counters are forgotten and purged."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.core.access import lockout
from brokerplane.storage import tables
from tests.unit.fakes import FakeClock

ADDRESS = "192.0.2.1"


def _failures(runtime: Runtime, key: str) -> int:
    with runtime.storage.uow(write=False) as uow:
        found = uow.lockouts.get([key])
    return found[0].failures if found else 0


def _slots(runtime: Runtime) -> int:
    """Reservations of attempts still being checked, on every key."""
    with runtime.storage.engine.connect() as conn:
        query = select(func.count()).select_from(tables.auth_reservations)
        return int(conn.execute(query).scalar_one())


def _wrong(services: Application, attempt: lockout.Attempt) -> bool:
    """A sign-in with a wrong password: whether its password was checked (admitted)."""
    if services.admit_login(attempt) is not None:
        return False
    services.login_failed(attempt)
    return True


def _right(services: Application, attempt: lockout.Attempt) -> bool:
    """A sign-in with the right password, its check taking a moment: whether it got in."""
    if services.admit_login(attempt) is not None:
        return False
    time.sleep(0.005)  # the check's own work, while the slot is held
    services.login_succeeded(attempt)
    return True


def _with_policy(services: Application, **changes: Any) -> Application:
    policy = replace(services.config.lockout, **changes)
    config = replace(services.config, lockout=policy)
    return Application(services._uow, config, services.clock)


def _all_at_once(count: int, job: Callable[[int], bool]) -> list[bool]:
    start = threading.Barrier(count)

    def run(n: int) -> bool:
        start.wait(timeout=30)
        return job(n)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_forty_concurrent_wrong_passwords_check_only_five(
    runtime: Runtime, services: Application
) -> None:
    checked = _all_at_once(40, lambda _: _wrong(services, lockout.manager(1000, ADDRESS)))

    assert sum(checked) == 5
    assert _failures(runtime, f"manager:1000@{ADDRESS}") == 5
    assert _failures(runtime, "manager:1000") == 5
    assert _failures(runtime, f"@{ADDRESS}") == 5
    assert services.login_locked_until(lockout.manager(1000, ADDRESS)) is not None
    assert _slots(runtime) == 0


def test_forty_concurrent_attempts_hold_at_most_five_slots(
    runtime: Runtime, services: Application
) -> None:
    """However long the checks take, no more than the threshold of attempts are being checked
    at once: the others wait (here briefly) and are refused."""
    waiting = _with_policy(services, admission_wait=timedelta(seconds=0.3))
    admitted = _all_at_once(
        40, lambda _: waiting.admit_login(lockout.manager(1000, ADDRESS)) is None
    )
    assert sum(admitted) == 5
    assert _slots(runtime) == 5 * 3
    assert _failures(runtime, f"manager:1000@{ADDRESS}") == 0  # a slot is not a failure


def test_sixty_four_concurrent_right_passwords_all_get_in(
    runtime: Runtime, services: Application
) -> None:
    """A CRM's connection pool signing in as one manager from one address at once, served by
    two processes sharing the database: every connection gets in (taking the five slots in
    turns), and no counter, lock or slot is left behind."""
    other_process = Application(services._uow, services.config, services.clock)
    both = (services, other_process)
    signed_in = _all_at_once(64, lambda n: _right(both[n % 2], lockout.manager(1000, ADDRESS)))

    assert signed_in == [True] * 64
    assert services.login_locked_until(lockout.manager(1000, ADDRESS)) is None
    assert _failures(runtime, f"manager:1000@{ADDRESS}") == 0
    assert _failures(runtime, f"@{ADDRESS}") == 0
    assert _slots(runtime) == 0


def test_a_pool_gets_in_while_an_attacker_elsewhere_is_held_to_five(
    runtime: Runtime, services: Application
) -> None:
    pool, attacker = "192.0.2.10", "203.0.113.66"

    def sign_in(n: int) -> bool:
        if n % 2:
            return _right(services, lockout.manager(1000, pool))
        return _wrong(services, lockout.manager(1000, attacker))

    outcomes = _all_at_once(64, sign_in)

    assert outcomes[1::2] == [True] * 32  # every right password got in
    assert sum(outcomes[0::2]) == 5  # five wrong ones were checked, then the lock
    assert services.login_locked_until(lockout.manager(1000, attacker)) is not None
    assert services.login_locked_until(lockout.manager(1000, pool)) is None
    assert _slots(runtime) == 0


def test_once_a_lock_ends_twenty_concurrent_wrong_passwords_check_only_one(
    runtime: Runtime, services: Application, clock: FakeClock
) -> None:
    for _ in range(5):
        assert _wrong(services, lockout.manager(1000, ADDRESS))
    clock.advance(seconds=1)  # the first lock ends; its failures are remembered

    checked = _all_at_once(20, lambda _: _wrong(services, lockout.manager(1000, ADDRESS)))

    assert sum(checked) == 1
    until = services.login_locked_until(lockout.manager(1000, ADDRESS))
    assert until == clock.now + timedelta(seconds=2)


def test_a_right_password_while_locked_is_refused(runtime: Runtime, services: Application) -> None:
    for _ in range(5):
        assert _wrong(services, lockout.manager(1000, ADDRESS))
    assert not _right(services, lockout.manager(1000, ADDRESS))
    assert _failures(runtime, f"manager:1000@{ADDRESS}") == 5


def test_a_slot_left_by_a_process_that_died_mid_check_expires(
    runtime: Runtime, services: Application, clock: FakeClock
) -> None:
    waiting = _with_policy(services, admission_wait=timedelta(seconds=0.2))
    for _ in range(5):  # admitted, then their process died: never settled
        assert waiting.admit_login(lockout.manager(1000, ADDRESS)) is None

    refused_until = waiting.admit_login(lockout.manager(1000, ADDRESS))
    assert refused_until is not None
    assert lockout.locked_message(refused_until, clock.now).startswith("too many failed")

    clock.advance(seconds=30)  # the slots' reservation_ttl
    assert _right(waiting, lockout.manager(1000, ADDRESS))
    assert _failures(runtime, f"manager:1000@{ADDRESS}") == 0
    services.run_maintenance()
    assert _slots(runtime) == 0


def test_sign_ins_succeeding_while_others_are_counted_never_deadlock(
    runtime: Runtime, services: Application
) -> None:
    """A success clears the login's keys and gives back the attempt's slots; admission and a
    success take the rows in one order, so managers signing in at once from one address all
    get an answer (a deadlock was a server error on PostgreSQL)."""
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
    runtime: Runtime, services: Application, clock: FakeClock
) -> None:
    attempt = lockout.manager(1000, "192.0.2.1")
    for _ in range(5):
        _wrong(services, attempt)
    assert services.login_locked_until(attempt) == clock.now + timedelta(seconds=1)
    clock.advance(seconds=1)
    assert services.login_locked_until(attempt) is None
    _wrong(services, attempt)
    assert services.login_locked_until(attempt) == clock.now + timedelta(seconds=2)
    clock.advance(seconds=2)

    assert _right(services, attempt)  # the right password, this time

    assert _failures(runtime, "manager:1000@192.0.2.1") == 0
    assert _failures(runtime, "manager:1000") == 0
    assert _failures(runtime, "@192.0.2.1") == 6  # the address's count stays


def test_failures_are_forgotten_after_the_window_and_purged(
    runtime: Runtime, services: Application, clock: FakeClock
) -> None:
    attempt = lockout.user("Alice", "192.0.2.1")
    for _ in range(4):
        _wrong(services, attempt)
    clock.advance(minutes=16)
    _wrong(services, attempt)
    assert _failures(runtime, "user:alice@192.0.2.1") == 1
    assert services.login_locked_until(attempt) is None

    clock.advance(minutes=16)
    services.run_maintenance()
    assert _failures(runtime, "user:alice@192.0.2.1") == 0


def test_one_address_failing_on_keeps_the_login_wide_lock_short(
    runtime: Runtime, services: Application, clock: FakeClock
) -> None:
    """An attacker at one address, failing once each time its lock ends, holds the real user
    (elsewhere) back for at most the login-wide cap (a minute) after each failure; its own
    address's lock grows to the full max_delay."""
    attacker = lockout.manager(1000, "203.0.113.66")
    for _ in range(60):
        clock.advance(seconds=900)
        _wrong(services, attacker)
    user = lockout.manager(1000, "192.0.2.1")
    until = services.login_locked_until(user)
    assert until is not None and until - clock.now == timedelta(seconds=60)
    assert services.login_locked_until(attacker) == clock.now + timedelta(seconds=900)
    clock.advance(seconds=60)
    assert services.admit_login(user) is None


def test_unlock_forgets_the_managers_counters_from_every_address_only(
    runtime: Runtime, services: Application
) -> None:
    for address in ("192.0.2.1", "192.0.2.2"):
        for _ in range(5):
            _wrong(services, lockout.manager(1000, address))
    _wrong(services, lockout.manager(10001, "192.0.2.1"))  # another login, alike prefix

    with runtime.storage.uow(write=True) as uow:
        cleared = uow.lockouts.clear_subject("manager:1000")
        uow.commit()

    assert cleared == 3
    assert services.login_locked_until(lockout.manager(1000, "192.0.2.1")) is None
    assert _failures(runtime, "manager:10001@192.0.2.1") == 1
    assert _failures(runtime, "@192.0.2.1") == 6  # the address's own count stays


def test_an_accounts_password_checks_are_not_counted_on_the_address(
    runtime: Runtime, services: Application
) -> None:
    """The address checking trader passwords is usually the broker's portal, shared by every
    trader: an account's attempts count per account only."""
    for login in range(2000, 2060):
        _wrong(services, lockout.account(login, "192.0.2.1"))
    assert _failures(runtime, "@192.0.2.1") == 0
    assert _failures(runtime, "account:2000@192.0.2.1") == 1
    assert services.admit_login(lockout.manager(1000, "192.0.2.1")) is None
