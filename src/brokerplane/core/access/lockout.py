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
last failure or lock. A success clears the subject's counters (the address's only takes its
own attempt back: an attacker's own good login must not clear it).
Nobody is locked out for good: at worst a user waits `max_delay`; an operator can clear a
manager's counters at once (`brokerplane manager unlock`), and a new password clears them too.

The attempt is counted BEFORE the password is checked (`admit`): one atomic upsert per key
counts it unless the key is locked, and locks the key when the count reaches its threshold,
so however many attempts arrive at once, at most the threshold of them reach the password
check per lock. The check's success takes the count back (`record_success`).

A trading account's password (`account:<login>`) is counted per login from an address and
per login from every address, not per address: the address checking trader passwords is
usually the broker's own portal, shared by every trader.
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


class Refused(Exception):
    """An attempt refused because one of its keys is locked until `until`."""

    def __init__(self, until: datetime) -> None:
        super().__init__(until)
        self.until = until


@dataclass(frozen=True)
class Attempt:
    subject: str
    address: str | None
    by_address: bool = True  # also counted on the address over every subject

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
    """Count the attempt as a failure on every key before its password is checked, locking
    the keys that reach their threshold; raise Refused when a key is already locked (the
    caller rolls the transaction back: a refused attempt counts nowhere). Each key's count
    and lock are one atomic step that holds the key's row to the end of the transaction, so
    concurrent attempts are admitted one by one and at most a threshold of them get
    through before the lock."""
    until = locked_until(repo, attempt, policy, now)  # cheap refusal without writing
    if until is not None:
        raise Refused(until)
    for key, threshold in sorted(attempt.keys(policy)):  # one order: no deadlock
        strike = repo.strike(key, now, forget_before=now - policy.window)
        if strike.locked_until is not None and strike.locked_until > now:
            raise Refused(strike.locked_until)
        if strike.failures >= threshold:
            wait = delay(policy, strike.failures, threshold, is_login_wide(key))
            repo.lock(key, now + wait)


def record_success(repo: LockoutRepository, attempt: Attempt, policy: LockoutPolicy) -> None:
    """A right password: the subject's counters start again; the address's takes back the
    attempt `admit` counted (its other failures stay)."""
    keys = sorted(key for key, _ in attempt.keys(policy))
    # the rows in `admit`'s order (sorted: the address's "@..." key first), so a success and
    # a concurrent attempt never wait for each other's rows in opposite orders (a deadlock)
    repo.uncount([key for key in keys if key.startswith("@")])
    repo.clear([key for key in keys if not key.startswith("@")])


def refund(repo: LockoutRepository, attempt: Attempt, policy: LockoutPolicy) -> None:
    """The admitted attempt never reached the password (the account or user does not exist,
    the request is invalid): take it back from every key it was counted on. A lock it set
    stays, so alternating bad requests with wrong passwords gains nothing."""
    repo.uncount(sorted(key for key, _ in attempt.keys(policy)))


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
