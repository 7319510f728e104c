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
further failure up to `max_delay`. While any key of an attempt is locked the attempt is
refused without looking at the password (and without counting: waiting is all it takes). A
counter forgets its failures `window` after its last failure or lock. A success clears the
subject's counters (not the address's: an attacker's own good login must not clear it).
Nobody is locked out for good: at worst a user waits `max_delay`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from brokerplane.core import passwords
from brokerplane.core.access.model import LockoutPolicy
from brokerplane.core.ports import LockoutRepository

MAX_ADDRESS = 64
MAX_SUBJECT = 200
WRONG_CREDENTIALS = "wrong login or password"


def locked_message(until: datetime, now: datetime) -> str:
    wait = max(1, int((until - now).total_seconds() + 0.999))
    return f"too many failed sign-ins: try again in {wait} s"


@dataclass(frozen=True)
class Attempt:
    subject: str
    address: str | None

    def keys(self, policy: LockoutPolicy) -> list[tuple[str, int]]:
        """Each counter's key with its threshold (counters turned off left out)."""
        subject = self.subject[:MAX_SUBJECT]
        address = (self.address or "unknown")[:MAX_ADDRESS]
        found = [(f"{subject}@{address}", policy.failures), (subject, policy.login_failures),
                 (f"@{address}", policy.address_failures)]  # fmt: skip
        return [(key, limit) for key, limit in found if limit > 0]


def manager(login: object, address: str | None) -> Attempt:
    """An attempt on a manager login (MT5, cTrader, TE back office, and the console)."""
    return Attempt(f"manager:{login}", address)


def user(login: str, address: str | None) -> Attempt:
    """An attempt on a TraderEvolution user's login (logins are compared ignoring case)."""
    return Attempt(f"user:{login.strip().lower()}", address)


def delay(policy: LockoutPolicy, failures: int, threshold: int) -> timedelta:
    """How long a key with `failures` is locked: base_delay at the threshold, doubling."""
    steps = min(failures - threshold, 30)
    return min(policy.base_delay * (2**steps), policy.max_delay)


def locked_until(
    repo: LockoutRepository, attempt: Attempt, policy: LockoutPolicy, now: datetime
) -> datetime | None:
    """When the attempt may be made again, if one of its keys is locked now."""
    keys = [key for key, _ in attempt.keys(policy)]
    ends = [s.locked_until for s in repo.get(keys) if s.locked_until and s.locked_until > now]
    return max(ends) if ends else None


def record_failure(
    repo: LockoutRepository, attempt: Attempt, policy: LockoutPolicy, now: datetime
) -> None:
    """Count a failed password check on every key of the attempt, locking those at their
    threshold."""
    for key, threshold in attempt.keys(policy):
        failures = repo.strike(key, now, forget_before=now - policy.window)
        if failures >= threshold:
            repo.lock(key, now + delay(policy, failures, threshold))


def record_success(repo: LockoutRepository, attempt: Attempt, policy: LockoutPolicy) -> None:
    """A right password: the subject's counters start again (the address's stays)."""
    repo.clear([key for key, _ in attempt.keys(policy) if not key.startswith("@")])


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
