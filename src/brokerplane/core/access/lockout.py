"""The sign-in lockout every dialect shares: failed password checks counted per login and per
client address, with a lock that grows exponentially and always ends.

An attempt names a subject (`manager:<login>` for every manager login, whichever dialect it
comes through; `user:<login>` for a TraderEvolution user) and the client's address (the
transport's peer; forwarded headers only count where the server was told to trust them).
Three counters move on a failure, each with its own threshold:
- the subject from this address (`LockoutPolicy.failures`, 5 by default): what stops one
  attacker guessing one password, without touching the real user at another address;
- the subject from every address together (`login_failures`, higher): what stops guessing
  spread over many addresses;
- the address over every subject (`address_failures`, higher): what stops one address
  trying many logins.
Once a counter reaches its threshold, the key is locked for `base_delay`, doubled on each
further failure up to `max_delay` (the login-wide counter only up to `login_max_delay`: one
address that keeps failing must not keep the real user, elsewhere, out for long). While any
key of an attempt is locked the attempt is refused without looking at the password (and
without counting: waiting is all it takes). A counter forgets its failures `window` after its
last failure or lock. A success clears the subject's counters (not the address's: an
attacker's own good login must not clear it).
Nobody is locked out for good: at worst a user waits `max_delay`; an operator can clear a
manager's counters at once (`brokerplane manager unlock`), and a new password clears them too.

How many attempts reach the password check at once is bounded too, without counting a
right password against anyone: `admit` reserves a slot on every key of the attempt before its
password is checked (one atomic step per key, holding the key's row to the end of the
transaction), and only while the key's failures plus the slots held by attempts still being
checked are below its threshold (once a lock has ended, while its failures are still
remembered, one attempt at a time). The check's end settles the slot: a wrong password turns it
into a failure (`record_failure`, locking the key at the threshold), a right one gives it back
and clears the subject's counters (`record_success`), an attempt refused before its password
was looked at gives it back (`refund`). So however many attempts arrive at once, at most the
threshold of wrong passwords are checked per lock, and right ones never fill a counter: a
connection pool signing in as one manager from one address at once takes the slots in turns.
An attempt that finds every slot taken by attempts still being checked (not a lock) is not
refused at once: it waits, a bounded time (`admission_wait`), for a slot (`Busy`, retried by
the caller, Application.admit_login), then is refused as a locked one is; a slot whose process
died mid-check is freed after `reservation_ttl` (a check slower than that could let one more
wrong password through: checks take milliseconds, the default is 30 s).

A trading account's password (`account:<login>`) is counted per login from an address and
per login from every address, not per address: the address checking trader passwords is
usually the broker's own portal, shared by every trader.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from brokerplane.core import passwords
from brokerplane.core.access.commands import WRONG_CREDENTIALS as WRONG_CREDENTIALS
from brokerplane.core.access.model import LockoutPolicy
from brokerplane.core.ports import LockoutRepository

MAX_ADDRESS = 64
MAX_SUBJECT = 200


def locked_message(until: datetime, now: datetime) -> str:
    wait = max(1, int((until - now).total_seconds() + 0.999))
    return f"too many failed sign-ins: try again in {wait} s"


class Refused(Exception):
    """An attempt refused because one of its keys is locked until `until`."""

    def __init__(self, until: datetime) -> None:
        super().__init__(until)
        self.until = until


class Busy(Exception):
    """Every slot of a key is held by attempts still being checked: try again shortly."""


@dataclass(frozen=True)
class Attempt:
    """One sign-in attempt (make a new one for each: its token names its slots)."""

    subject: str
    address: str | None
    by_address: bool = True  # also counted on the address over every subject
    token: str = field(default_factory=lambda: secrets.token_hex(16), compare=False, repr=False)

    def keys(self, policy: LockoutPolicy) -> list[tuple[str, int]]:
        """Each counter's key with its threshold (counters turned off left out)."""
        subject = self.subject[:MAX_SUBJECT]
        address = (self.address or "unknown")[:MAX_ADDRESS]
        found = [(f"{subject}@{address}", policy.failures), (subject, policy.login_failures)]
        if self.by_address:
            found.append((f"@{address}", policy.address_failures))
        return [(key, limit) for key, limit in found if limit > 0]


def manager(login: object, address: str | None) -> Attempt:
    """An attempt on a manager login (MT5, cTrader, TE back office, and the console)."""
    return Attempt(f"manager:{login}", address)


def user(login: str, address: str | None) -> Attempt:
    """An attempt on a TraderEvolution user's login (logins are compared ignoring case)."""
    return Attempt(f"user:{login.strip().lower()}", address)


def account(login: object, address: str | None) -> Attempt:
    """An attempt on a trading account's password (any dialect's password check, cID link)."""
    return Attempt(f"account:{login}", address, by_address=False)


def subject_of_manager(login: int) -> str:
    return f"manager:{login}"


def is_login_wide(key: str) -> bool:
    """Whether the key counts a subject from every address (`manager:1000`)."""
    return not key.startswith("@") and "@" not in key


def delay(
    policy: LockoutPolicy, failures: int, threshold: int, login_wide: bool = False
) -> timedelta:
    """How long a key with `failures` is locked: base_delay at the threshold, doubling up to
    max_delay (login_max_delay for a login-wide key)."""
    steps = min(failures - threshold, 30)
    longest = min(policy.max_delay, policy.login_max_delay) if login_wide else policy.max_delay
    scale: float = 2**steps  # a power of two: exact, and below 1 when under the threshold
    return min(policy.base_delay * scale, longest)


def locked_until(
    repo: LockoutRepository, attempt: Attempt, policy: LockoutPolicy, now: datetime
) -> datetime | None:
    """When the attempt may be made again, if one of its keys is locked now."""
    keys = [key for key, _ in attempt.keys(policy)]
    ends = [s.locked_until for s in repo.get(keys) if s.locked_until and s.locked_until > now]
    return max(ends) if ends else None


def admit(repo: LockoutRepository, attempt: Attempt, policy: LockoutPolicy, now: datetime) -> None:
    """Reserve a slot on every key of the attempt before its password is checked; raise
    Refused when a key is locked, Busy when a key's failures and the slots held by attempts
    still being checked reach its threshold (the caller rolls the transaction back either
    way: a refused attempt holds and counts nothing). Each key's row is held from its check
    to the end of the transaction, so concurrent attempts are admitted one by one and no
    more than a threshold's worth of slots and failures exist at once (one slot once the
    failures reach it: the lock has ended, and the next failure locks again)."""
    until = locked_until(repo, attempt, policy, now)  # cheap refusal without writing
    if until is not None:
        raise Refused(until)
    expires = now + policy.reservation_ttl
    for key, threshold in sorted(attempt.keys(policy)):  # one order: no deadlock
        held = repo.hold(key, now, forget_before=now - policy.window)
        if held.locked_until is not None and held.locked_until > now:
            raise Refused(held.locked_until)
        # below the threshold: its remaining failures; at or past it (a lock that ended): one
        # at a time, whose failure locks the key again for longer
        if repo.in_flight(key, now) >= max(threshold - held.failures, 1):
            raise Busy(key)
        repo.reserve(key, attempt.token, expires)


def record_failure(
    repo: LockoutRepository, attempt: Attempt, policy: LockoutPolicy, now: datetime
) -> None:
    """A wrong password: the attempt's slot on every key becomes a failure, locking the keys
    that reach their threshold."""
    for key, threshold in sorted(attempt.keys(policy)):  # admit's order: no deadlock
        strike = repo.strike(key, now, forget_before=now - policy.window)
        repo.release([key], attempt.token)
        if strike.failures >= threshold:
            wait = delay(policy, strike.failures, threshold, is_login_wide(key))
            repo.lock(key, now + wait)


def record_success(repo: LockoutRepository, attempt: Attempt, policy: LockoutPolicy) -> None:
    """A right password: the attempt's slots are given back and the subject's counters start
    again (the address's failures stay: an attacker's own good login must not clear them)."""
    for key in sorted(key for key, _ in attempt.keys(policy)):  # admit's order: no deadlock
        if not key.startswith("@"):
            repo.clear([key])
        repo.release([key], attempt.token)


def refund(repo: LockoutRepository, attempt: Attempt, policy: LockoutPolicy) -> None:
    """The admitted attempt never reached the password (the account or user does not exist,
    the request is invalid): its slots are given back, nothing is counted."""
    repo.release(sorted(key for key, _ in attempt.keys(policy)), attempt.token)


def purge(repo: LockoutRepository, policy: LockoutPolicy, now: datetime) -> int:
    """Forget counters with nothing within the window (neither a failure nor a lock)."""
    return repo.purge(now - policy.window)


@cache
def dummy_verifier() -> str:
    """A verifier no password matches, checked for logins that do not exist (or cannot sign
    in) so that they cost the same work as a wrong password for a real one."""
    return passwords.verifier_from_md5("0" * 32)


def waste_work(md5hex: str) -> None:
    """The password hash work of a real check, on the dummy verifier."""
    passwords.verify_md5(dummy_verifier(), md5hex)
