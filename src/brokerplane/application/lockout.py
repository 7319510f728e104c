"""The sign-in lockout around every password check (core.access.lockout): admit, count, wake."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from brokerplane.application.base import LazySlice, ServiceBase
from brokerplane.core.access.model import LockoutPolicy
from brokerplane.core.errors import Unauthorized
from brokerplane.core.ports import UnitOfWork

if TYPE_CHECKING:
    from brokerplane.core.access import lockout
else:
    lockout = LazySlice("brokerplane.core.access.lockout")

T = TypeVar("T")

# an attempt waiting for a lockout slot polls the database this often (doubling, jittered)
_FIRST_PAUSE = 0.02
_LONGEST_PAUSE = 0.25
_BUSY_RETRY = timedelta(seconds=1)  # what a refused waiting attempt is told


def _admit(uow: UnitOfWork, attempt: lockout.Attempt, policy: LockoutPolicy, now: datetime) -> None:
    lockout.admit(uow.lockouts, attempt, policy, now)


class SignInLockout(ServiceBase):
    """Password checks run under the lockout: admitted first, then counted or cleared."""

    def _guarded(
        self,
        attempt: lockout.Attempt,
        check: Callable[[UnitOfWork], T | None],
        clears: Callable[[T], bool] | None = None,
    ) -> T:
        """Run a password check under the lockout: the attempt is admitted first (a locked one
        is refused before the check), then checked; a failed one (`check` answers None, or
        raises) is counted, a good one clears the subject's counters in the check's own
        transaction (unless `clears` says the sign-in is not over: a second factor is due,
        then its slot is only given back)."""
        until = self.admit_login(attempt)
        if until is not None:
            raise Unauthorized(lockout.locked_message(until, self.clock()))
        policy = self.config.lockout

        def run(u: UnitOfWork) -> T | None:
            result = check(u)
            if result is not None and (clears is None or clears(result)):
                lockout.record_success(u.lockouts, attempt, policy)
            elif result is not None:
                lockout.refund(u.lockouts, attempt, policy)
            return result

        try:
            outcome = self._write(run)
        except BaseException:
            self.login_failed(attempt)
            raise
        if outcome is None:
            self.login_failed(attempt)
            raise Unauthorized(lockout.WRONG_CREDENTIALS)
        self._settled()
        return outcome

    def login_locked_until(self, attempt: lockout.Attempt) -> datetime | None:
        """When a locked attempt may be made again (None: it is not locked)."""
        now = self.clock()
        policy = self.config.lockout
        return self._read(lambda u: lockout.locked_until(u.lockouts, attempt, policy, now))

    def admit_login(self, attempt: lockout.Attempt) -> datetime | None:
        """Admit an attempt before its password is checked: None when it may be checked (it
        holds a slot until `login_failed`, `login_succeeded` or `login_not_checked`), else
        when it may be made again (a refused attempt holds and counts nothing). While the
        slots are all held by attempts still being checked it waits for one, up to the
        policy's `admission_wait`, woken at once by a check ending in this process and
        polling for the others' (which share the database)."""
        policy = self.config.lockout
        deadline = time.monotonic() + policy.admission_wait.total_seconds()
        pause = _FIRST_PAUSE
        while True:
            now = self.clock()
            try:
                self._write(partial(_admit, attempt=attempt, policy=policy, now=now))
            except lockout.Refused as refused:
                return refused.until
            except lockout.Busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return now + _BUSY_RETRY
                with self._checks_ended:
                    self._checks_ended.wait(min(left, pause * (0.5 + random.random())))
                pause = min(pause * 2, _LONGEST_PAUSE)
                continue
            return None

    def _settled(self) -> None:
        """A check ended here: wake the attempts waiting for a slot."""
        with self._checks_ended:
            self._checks_ended.notify_all()

    def login_failed(self, attempt: lockout.Attempt) -> None:
        """The admitted attempt's password was wrong: it counts as a failure."""
        policy = self.config.lockout
        now = self.clock()
        try:
            self._write(lambda u: lockout.record_failure(u.lockouts, attempt, policy, now))
        finally:
            self._settled()

    def login_succeeded(self, attempt: lockout.Attempt) -> None:
        """The admitted attempt's password was right: its subject's counters start again."""
        policy = self.config.lockout
        try:
            self._write(lambda u: lockout.record_success(u.lockouts, attempt, policy))
        finally:
            self._settled()

    def login_not_checked(self, attempt: lockout.Attempt) -> None:
        """The admitted attempt was refused before its password was looked at: it counts
        nowhere."""
        policy = self.config.lockout
        try:
            self._write(lambda u: lockout.refund(u.lockouts, attempt, policy))
        finally:
            self._settled()
