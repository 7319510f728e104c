"""Managers (back-office principals) and ApiKeys (bearer secrets for the native API)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass
class Manager:
    login: int
    name: str = ""
    enabled: bool = True
    rights: frozenset[str] = field(default_factory=frozenset)
    group_mask: str = "*"
    white_labels: str = "*"
    # Per-dialect password verifiers (never the plain password); filled by the access service.
    verifiers: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # Counts the ends of the manager's sessions (a new password, a disable): a connection-bound
    # session (MT5's) keeps the count it was opened under and ends once it moves on.
    session_epoch: int = 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "login": self.login,
            "name": self.name,
            "enabled": self.enabled,
            "rights": sorted(self.rights),
            "group_mask": self.group_mask,
            "white_labels": self.white_labels,
            "password": "set" if self.verifiers else None,
            "verifiers_digest": verifiers_digest(self.verifiers),
        }


def verifiers_digest(verifiers: dict[str, str]) -> str:
    """A fingerprint of a manager's password verifiers for the audit trail (which ties the
    stored verifiers to it; it reveals nothing a verifier does not)."""
    text = json.dumps(verifiers, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(b"brokerplane verifiers\n" + text.encode()).hexdigest()[:32]


def secret_digest(secret_hash: str) -> str:
    """A fingerprint of an API key's stored secret hash, for the audit trail."""
    return hashlib.sha256(b"brokerplane api key\n" + secret_hash.encode()).hexdigest()[:32]


@dataclass
class ApiKey:
    id: str
    manager_login: int
    prefix: str
    secret_hash: str
    scopes: frozenset[str]
    name: str = ""
    created_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    # The key that minted this one (None: made by an operator or a manager's session); a key's
    # descendants are revoked with it.
    parent_key_id: str | None = None
    # Set on the old key by a rotation: the key that replaced it (its secret is then in its
    # overlap, and it may mint nothing).
    replaced_by: str | None = None
    # The manager whose credential minted (created or rotated) this key; None: an operator.
    # Four eyes count this manager among the people behind a request made with the key.
    created_by: int | None = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "manager_login": self.manager_login,
            "prefix": self.prefix,
            "scopes": sorted(self.scopes),
            "name": self.name,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "parent_key_id": self.parent_key_id,
            "created_by": self.created_by,
            "secret_digest": secret_digest(self.secret_hash),
        }


@dataclass(frozen=True)
class Strike:
    """One sign-in lockout counter (core.access.lockout) as stored: failures within the
    window, the last one, and the end of its lock."""

    key: str
    failures: int
    last_failure_at: datetime
    locked_until: datetime | None = None


@dataclass(frozen=True)
class LockoutPolicy:
    """The sign-in lockout's thresholds (0 turns a counter off) and delays
    (core.access.lockout)."""

    failures: int = 5
    login_failures: int = 50
    address_failures: int = 50
    window: timedelta = timedelta(minutes=15)
    base_delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(minutes=15)
    # the longest lock of a login from every address together: short, as one attacker can
    # push it and it also holds the real user out
    login_max_delay: timedelta = timedelta(minutes=1)
    # how long an attempt waits for a slot held by attempts still being checked before it is
    # refused, and how long an admitted attempt's slot outlives a process that died mid-check
    admission_wait: timedelta = timedelta(seconds=10)
    reservation_ttl: timedelta = timedelta(seconds=30)


@dataclass
class SecondFactor:
    """A manager's TOTP as stored: the sealed secret, whether it is on (off while the first
    code is awaited), and the newest step a code was accepted for."""

    manager_login: int
    sealed_secret: str
    enabled: bool = False
    last_step: int | None = None
    created_at: datetime | None = None
    enabled_at: datetime | None = None


@dataclass(frozen=True)
class Challenge:
    """A sign-in waiting for its second step."""

    token_hash: str
    manager_login: int
    verifier_fingerprint: str
    attempts: int
    expires_at: datetime


@dataclass(frozen=True)
class ManagerToken:
    """A stored token: its hash, whose it is, for which dialect, under which verifier."""

    token_hash: str
    manager_login: int
    dialect: str
    verifier_fingerprint: str
    issued_at: datetime
