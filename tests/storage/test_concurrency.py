"""Many threads writing at once: distinct logins, no failures, and an unbroken audit chain."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from brokerplane.application.app import Application
from brokerplane.core.account.commands import OpenAccount, UpdateAccount
from brokerplane.core.actor import Actor
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.group.model import Group

THREADS = 8
PER_THREAD = 5
T = TypeVar("T")


def _in_threads(work: Callable[[int], T]) -> list[T]:
    """Run work(i) on THREADS threads released together; any exception fails the caller."""
    start = threading.Barrier(THREADS)

    def run(i: int) -> T:
        start.wait(timeout=30)
        return work(i)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


def test_concurrent_openings_all_succeed_with_distinct_logins(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    def open_some(i: int) -> list[int]:
        cmd = OpenAccount(group="real\\standard", name=f"thread {i}")
        return [services.open_account(cmd, admin).login for _ in range(PER_THREAD)]

    logins = [login for batch in _in_threads(open_some) for login in batch]

    assert len(logins) == THREADS * PER_THREAD
    assert sorted(logins) == list(range(100_000, 100_000 + THREADS * PER_THREAD))


def test_concurrent_openings_in_a_small_group_range_fill_it_exactly(
    services: Application, admin: Actor
) -> None:
    settings = {"login_range_from": 7000, "login_range_to": 7000 + THREADS * PER_THREAD - 1}
    services.create_group(CreateGroup("real\\small", "USD", settings), admin)

    def open_some(i: int) -> list[int]:
        cmd = OpenAccount(group="real\\small")
        return [services.open_account(cmd, admin).login for _ in range(PER_THREAD)]

    logins = sorted(login for batch in _in_threads(open_some) for login in batch)

    assert logins == list(range(7000, 7000 + THREADS * PER_THREAD))


def test_concurrent_writes_keep_the_audit_chain_valid(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    def write_some(i: int) -> int:
        acc = services.open_account(OpenAccount(group="real\\standard"), admin)
        for n in range(PER_THREAD):
            services.update_account(UpdateAccount(acc.login, {"comment": f"{i}-{n}"}), admin)
        return acc.login

    logins = _in_threads(write_some)

    report = services.verify_audit()
    assert report.ok, report
    assert report.records == 1 + THREADS * (1 + PER_THREAD)  # the group, then each thread's
    for login in logins:
        assert len(services.account_history(login, admin)) == 1 + PER_THREAD
