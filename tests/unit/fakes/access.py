"""Fake managers, API keys, manager tokens, sign-in lockouts and second factors."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from brokerplane.core.access.model import (
    ApiKey,
    Challenge,
    Manager,
    ManagerToken,
    SecondFactor,
    Strike,
)
from brokerplane.core.errors import Conflict
from tests.unit.fakes.base import _copy, _Repo


class FakeManagers(_Repo):
    def get(self, login: int) -> Manager | None:
        manager = self._s.managers.get(login)
        return _copy(manager) if manager else None

    def list(self) -> list[Manager]:
        return [_copy(self._s.managers[k]) for k in sorted(self._s.managers)]

    def add(self, manager: Manager) -> None:
        self._writing()
        if manager.login in self._s.managers:
            raise Conflict("unique constraint: managers.login")
        self._s.managers[manager.login] = _copy(manager)

    def update(self, manager: Manager) -> None:
        self._writing()
        if manager.login in self._s.managers:
            self._s.managers[manager.login] = _copy(manager)


class FakeApiKeys(_Repo):
    def get_by_prefix(self, prefix: str) -> ApiKey | None:
        return next((_copy(k) for k in self._s.api_keys.values() if k.prefix == prefix), None)

    def get(self, key_id: str) -> ApiKey | None:
        key = self._s.api_keys.get(key_id)
        return _copy(key) if key else None

    def with_manager(self, prefix: str) -> tuple[ApiKey, Manager | None] | None:
        key = self.get_by_prefix(prefix)
        if key is None:
            return None
        manager = self._s.managers.get(key.manager_login)
        return key, _copy(manager) if manager else None

    def list(self, manager_login: int | None = None) -> list[ApiKey]:
        keys = [
            k
            for k in self._s.api_keys.values()
            if manager_login is None or k.manager_login == manager_login
        ]
        return [
            _copy(k)
            for k in sorted(keys, key=lambda k: k.created_at or datetime.min.replace(tzinfo=UTC))
        ]

    def children(self, key_id: str) -> builtins.list[ApiKey]:  # `list` is a method here
        return [_copy(k) for k in self._s.api_keys.values() if k.parent_key_id == key_id]

    def add(self, key: ApiKey) -> None:
        self._writing()
        if key.manager_login not in self._s.managers:
            raise Conflict("foreign key: api_keys.manager_login")
        if key.id in self._s.api_keys or any(
            k.prefix == key.prefix for k in self._s.api_keys.values()
        ):
            raise Conflict("unique constraint: api_keys")
        self._s.api_keys[key.id] = _copy(key)

    def touch(self, key_id: str, at: datetime) -> None:
        self._writing()
        if key_id in self._s.api_keys:
            self._s.api_keys[key_id].last_used_at = at

    def update(self, key: ApiKey) -> None:
        self._writing()
        if key.id in self._s.api_keys:
            self._s.api_keys[key.id] = _copy(key)


class FakeManagerTokens(_Repo):
    def get(self, token_hash: str) -> ManagerToken | None:
        return self._s.tokens.get(token_hash)  # frozen: no copy needed

    def with_manager(self, token_hash: str) -> tuple[ManagerToken, Manager | None] | None:
        token = self._s.tokens.get(token_hash)
        if token is None:
            return None
        manager = self._s.managers.get(token.manager_login)
        return token, _copy(manager) if manager else None

    def add(self, token: ManagerToken) -> None:
        self._writing()
        if token.manager_login not in self._s.managers:
            raise Conflict("foreign key: manager_tokens.manager_login")
        if token.token_hash in self._s.tokens:
            raise Conflict("unique constraint: manager_tokens")
        self._s.tokens[token.token_hash] = token

    def delete_for_manager(self, manager_login: int, dialect: str | None = None) -> None:
        self._writing()
        for key, tok in list(self._s.tokens.items()):
            if tok.manager_login == manager_login and dialect in (None, tok.dialect):
                del self._s.tokens[key]

    def for_manager(self, manager_login: int, dialect: str) -> list[ManagerToken]:
        found = [
            t
            for t in self._s.tokens.values()
            if t.manager_login == manager_login and t.dialect == dialect
        ]
        return sorted(found, key=lambda t: (-t.issued_at.timestamp(), t.token_hash))


class FakeLockouts(_Repo):
    def get(self, keys: Sequence[str]) -> list[Strike]:
        return [self._s.strikes[k] for k in keys if k in self._s.strikes]

    def strike(self, key: str, now: datetime, forget_before: datetime) -> Strike:
        self._writing()
        old = self._s.strikes.get(key)
        if old is not None and old.locked_until is not None and old.locked_until > now:
            return old
        forgotten = old is None or (
            old.last_failure_at < forget_before
            and (old.locked_until is None or old.locked_until < forget_before)
        )
        if forgotten or old is None:
            new = Strike(key, 1, now, None)
        else:
            new = replace(old, failures=old.failures + 1, last_failure_at=now)
        self._s.strikes[key] = new
        return new

    def hold(self, key: str, now: datetime, forget_before: datetime) -> Strike:
        self._writing()
        old = self._s.strikes.get(key)
        if old is None:
            new = Strike(key, 0, now, None)
        elif old.last_failure_at < forget_before and (
            old.locked_until is None or old.locked_until < forget_before
        ):
            new = replace(old, failures=0, locked_until=None)
        else:
            new = old
        self._s.strikes[key] = new
        return new

    def in_flight(self, key: str, now: datetime) -> int:
        self._writing()
        for slot in [s for s, ends in self._s.reservations.items() if s[0] == key and ends <= now]:
            del self._s.reservations[slot]
        return sum(1 for k, _ in self._s.reservations if k == key)

    def reserve(self, key: str, token: str, expires_at: datetime) -> None:
        self._writing()
        self._s.reservations[(key, token)] = expires_at

    def release(self, keys: Sequence[str], token: str) -> None:
        self._writing()
        for key in keys:
            self._s.reservations.pop((key, token), None)

    def clear_subject(self, subject: str) -> int:
        self._writing()
        gone = [k for k in self._s.strikes if k == subject or k.startswith(f"{subject}@")]
        for key in gone:
            del self._s.strikes[key]
        return len(gone)

    def lock(self, key: str, until: datetime) -> None:
        self._writing()
        old = self._s.strikes.get(key)
        if old is not None and (old.locked_until is None or old.locked_until < until):
            self._s.strikes[key] = replace(old, locked_until=until)

    def clear(self, keys: Sequence[str]) -> None:
        self._writing()
        for key in keys:
            self._s.strikes.pop(key, None)

    def purge(self, before: datetime) -> int:
        self._writing()
        gone = [
            k
            for k, s in self._s.strikes.items()
            if s.last_failure_at < before and (s.locked_until is None or s.locked_until < before)
        ]
        for key in gone:
            del self._s.strikes[key]
        for slot in [s for s, ends in self._s.reservations.items() if ends < before]:
            del self._s.reservations[slot]
        return len(gone)


class FakeSecondFactor(_Repo):
    def get(self, login: int) -> SecondFactor | None:
        found = self._s.second_factors.get(login)
        return replace(found) if found is not None else None

    def put(self, factor: SecondFactor) -> None:
        self._writing()
        if factor.manager_login not in self._s.managers:
            raise Conflict("foreign key: manager_second_factors.manager_login")
        self._s.second_factors[factor.manager_login] = replace(factor)

    def delete(self, login: int) -> bool:
        self._writing()
        return self._s.second_factors.pop(login, None) is not None

    def use_step(self, login: int, step: int) -> bool:
        self._writing()
        found = self._s.second_factors.get(login)
        if found is None or not found.enabled or (found.last_step or -1) >= step:
            return False
        found.last_step = step
        return True

    def set_recovery_codes(self, login: int, hashes: Sequence[str], at: datetime | None) -> None:
        self._writing()
        for key in [k for k in self._s.recovery_codes if k[0] == login]:
            del self._s.recovery_codes[key]
        for code_hash in hashes:
            self._s.recovery_codes[(login, code_hash)] = None

    def use_recovery_code(self, login: int, code_hash: str, at: datetime) -> bool:
        self._writing()
        key = (login, code_hash)
        if key not in self._s.recovery_codes or self._s.recovery_codes[key] is not None:
            return False
        self._s.recovery_codes[key] = at
        return True

    def unused_recovery_hashes(self, login: int) -> list[str]:
        return sorted(
            h for (who, h), used in self._s.recovery_codes.items() if who == login and used is None
        )

    def recovery_codes_left(self, login: int) -> int:
        return sum(
            1 for (who, _), used in self._s.recovery_codes.items() if who == login and used is None
        )

    def add_challenge(self, challenge: Challenge) -> None:
        self._writing()
        self._s.challenges[challenge.token_hash] = challenge

    def get_challenge(self, token_hash: str) -> Challenge | None:
        return self._s.challenges.get(token_hash)

    def count_attempt(self, token_hash: str) -> int:
        self._writing()
        found = self._s.challenges.get(token_hash)
        if found is None:
            return 0
        self._s.challenges[token_hash] = replace(found, attempts=found.attempts + 1)
        return found.attempts + 1

    def delete_challenge(self, token_hash: str) -> bool:
        self._writing()
        return self._s.challenges.pop(token_hash, None) is not None

    def delete_challenges_of(self, login: int) -> None:
        self._writing()
        for key in [k for k, c in self._s.challenges.items() if c.manager_login == login]:
            del self._s.challenges[key]

    def purge_challenges(self, now: datetime) -> int:
        self._writing()
        gone = [k for k, c in self._s.challenges.items() if c.expires_at <= now]
        for key in gone:
            del self._s.challenges[key]
        return len(gone)
