"""The credential watch on PostgreSQL counts every change committed before `token()` was
called, even when the listening session has not yet sent its notice: a key revoked through one
process must not be trusted by another on the caller's next request, however busy the machine.
The listening backend is paused (SIGSTOP) to stand for a busy one that has not run yet."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import pytest
from sqlalchemy import text

from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.actor import Actor
from brokerplane.storage.credentials import PgCredentialWatch

pytestmark = pytest.mark.engines("postgres")


def _backend_pid(watch: PgCredentialWatch) -> int:
    return int(watch._conn.info.backend_pid)


def test_a_change_committed_before_the_call_is_counted_though_its_notice_is_late(
    runtime: Runtime, admin: Actor
) -> None:
    services = runtime.app
    services.create_manager(CreateManager(1000, "Watched", "Watch3d!pw"), admin)
    key = services.create_api_key(CreateApiKey(1000, frozenset({"users:read"})), admin).key
    watch = PgCredentialWatch(runtime.storage.engine)
    try:
        before = watch.token(connect=True)
        assert before is not None
        assert watch.token(connect=False) == before  # nothing changed: the same token
        pid = _backend_pid(watch)
        try:
            os.kill(pid, signal.SIGSTOP)  # the listening session cannot send anything now
        except PermissionError:
            pytest.skip("the test cannot pause the database's processes")
        try:
            with runtime.storage.engine.begin() as conn:  # committed, and answered
                conn.execute(
                    text("UPDATE api_keys SET name = 'revoked' WHERE id = :id"), {"id": key.id}
                )
            seen: list[object | None] = []
            asking = threading.Thread(target=lambda: seen.append(watch.token(connect=False)))
            asking.start()
            time.sleep(0.5)
        finally:
            os.kill(pid, signal.SIGCONT)
        asking.join(timeout=30)
        assert seen and seen[0] is not None
        assert seen[0] != before  # the change made before the call is counted
        assert watch.token(connect=False) == seen[0]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
        watch.close()


def test_callers_arriving_together_share_round_trips(runtime: Runtime) -> None:
    watch = PgCredentialWatch(runtime.storage.engine)
    try:
        first = watch.token(connect=True)
        tokens: list[object | None] = []
        threads = [
            threading.Thread(target=lambda: tokens.append(watch.token(connect=False)))
            for _ in range(16)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert tokens == [first] * 16
    finally:
        watch.close()


def test_a_change_in_another_schema_of_the_database_is_not_counted(runtime: Runtime) -> None:
    """The triggers of every brokerplane schema in a database notify on one channel with their
    schema as the payload; a process counts only its own, so another installation's (or test
    worker's) key changes do not make it forget the keys it verified."""
    watch = PgCredentialWatch(runtime.storage.engine)
    try:
        before = watch.token(connect=True)
        assert before is not None
        with runtime.storage.engine.begin() as conn:
            own = conn.execute(text("SELECT current_schema()")).scalar_one()
            conn.execute(
                text("SELECT pg_notify('brokerplane_credentials', :schema)"),
                {"schema": f"{own}_elsewhere"},
            )
        assert watch.token(connect=False) == before
        with runtime.storage.engine.begin() as conn:
            conn.execute(text("SELECT pg_notify('brokerplane_credentials', :s)"), {"s": own})
        assert watch.token(connect=False) != before
    finally:
        watch.close()
