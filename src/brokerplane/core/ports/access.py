"""The access ports: managers, API keys, manager tokens, lockouts, second factors, and the
watch that tells a process when credentials changed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from brokerplane.core.access.model import (
    ApiKey,
    Challenge,
    Manager,
    ManagerToken,
    SecondFactor,
    Strike,
)


class ManagerRepository(Protocol):
    def get(self, login: int) -> Manager | None: ...
    def list(self) -> list[Manager]: ...
    def add(self, manager: Manager) -> None: ...
    def update(self, manager: Manager) -> None: ...


class ApiKeyRepository(Protocol):
    def get_by_prefix(self, prefix: str) -> ApiKey | None: ...
    def with_manager(self, prefix: str) -> tuple[ApiKey, Manager | None] | None:
        """The key with this prefix and its manager, in one read (every request does it)."""
        ...

    def get(self, key_id: str) -> ApiKey | None: ...
    def children(self, key_id: str) -> list[ApiKey]:
        """The keys minted by this key (one generation)."""
        ...

    def list(self, manager_login: int | None = None) -> list[ApiKey]: ...

    def add(self, key: ApiKey) -> None: ...
    def touch(self, key_id: str, at: datetime) -> None: ...
    def update(self, key: ApiKey) -> None: ...


class ManagerTokenRepository(Protocol):
    def get(self, token_hash: str) -> ManagerToken | None: ...
    def with_manager(self, token_hash: str) -> tuple[ManagerToken, Manager | None] | None:
        """The token with this hash and its manager, in one read (every request does it)."""
        ...

    def add(self, token: ManagerToken) -> None: ...
    def delete_for_manager(self, manager_login: int, dialect: str | None = None) -> None:
        """Delete the manager's tokens of one dialect (None: of every dialect)."""
        ...

    def for_manager(self, manager_login: int, dialect: str) -> list[ManagerToken]:
        """The manager's stored tokens of one dialect, newest first."""
        ...


class LockoutRepository(Protocol):
    """The sign-in lockout's counters (core.access.lockout), shared by every process."""

    def get(self, keys: Sequence[str]) -> list[Strike]: ...
    def strike(self, key: str, now: datetime, forget_before: datetime) -> Strike:
        """Count one failure on `key` atomically (concurrent strikes all count, one after the
        other: the key's row stays held to the end of the transaction), first forgetting
        its failures when neither the last one nor its lock is at or after `forget_before`;
        a key locked after `now` is left as it is. The key as it is now."""
        ...

    def hold(self, key: str, now: datetime, forget_before: datetime) -> Strike:
        """The key as it is now, its row made if missing and held to the end of the
        transaction (concurrent holds queue), its failures first forgotten as `strike`
        forgets them; nothing is counted."""
        ...

    def in_flight(self, key: str, now: datetime) -> int:
        """How many reservations the key has that expire after `now` (the others are
        deleted)."""
        ...

    def reserve(self, key: str, token: str, expires_at: datetime) -> None:
        """Hold a reservation on `key` for the attempt `token` until `expires_at`."""
        ...

    def release(self, keys: Sequence[str], token: str) -> None:
        """Drop the attempt's reservations on `keys` (gone ones are no matter)."""
        ...

    def clear_subject(self, subject: str) -> int:
        """Delete the subject's counters: from every address and from each one."""
        ...

    def lock(self, key: str, until: datetime) -> None:
        """Lock `key` until `until` (a later lock already there stays)."""
        ...

    def clear(self, keys: Sequence[str]) -> None: ...
    def purge(self, before: datetime) -> int:
        """Delete counters whose last failure and lock are both before `before`, and
        reservations that expired before it."""
        ...


class SecondFactorRepository(Protocol):
    """Managers' TOTP second factors, their recovery codes (hashes) and the sign-ins waiting
    for their second step (core.access.second_factor)."""

    def get(self, login: int) -> SecondFactor | None: ...
    def put(self, factor: SecondFactor) -> None:
        """Store the manager's second factor, replacing the one it had."""
        ...

    def delete(self, login: int) -> bool: ...
    def use_step(self, login: int, step: int) -> bool:
        """Record a code of `step` as used, atomically, only when no code of this step or a
        later one was used before; whether it was recorded."""
        ...

    def set_recovery_codes(self, login: int, hashes: Sequence[str], at: datetime | None) -> None:
        """Replace the manager's recovery codes (none: delete them)."""
        ...

    def use_recovery_code(self, login: int, code_hash: str, at: datetime) -> bool:
        """Mark an unused recovery code used, atomically; whether there was one."""
        ...

    def unused_recovery_hashes(self, login: int) -> list[str]:
        """The stored hashes of the manager's recovery codes not used yet."""
        ...

    def recovery_codes_left(self, login: int) -> int: ...
    def add_challenge(self, challenge: Challenge) -> None: ...
    def get_challenge(self, token_hash: str) -> Challenge | None: ...
    def count_attempt(self, token_hash: str) -> int:
        """One more wrong code on the challenge, atomically; its attempts now (0: gone)."""
        ...

    def delete_challenge(self, token_hash: str) -> bool:
        """Delete the challenge; whether this call deleted it (single use under races)."""
        ...

    def delete_challenges_of(self, login: int) -> None: ...
    def purge_challenges(self, now: datetime) -> int: ...


class CredentialWatch(Protocol):
    """Tells a process when any process may have changed an API key or a manager."""

    def token(self, *, connect: bool) -> object | None:
        """A value that stays equal while no API key or manager changed anywhere since it was
        taken; None when it cannot be told now (then nothing remembered may be trusted).
        `connect`: may open its connection (blocking); without it, answers from what it has."""
        ...
