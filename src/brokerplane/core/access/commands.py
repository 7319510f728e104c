"""The access commands and what they answer: managers, API keys, a key's identity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from brokerplane.core.access.model import ApiKey, Manager
from brokerplane.core.actor import SCOPES


@dataclass(frozen=True)
class CreateManager:
    login: int
    name: str = ""
    password: str | None = None
    rights: frozenset[str] = frozenset(SCOPES)
    group_mask: str = "*"
    white_labels: str = "*"


@dataclass(frozen=True)
class UpdateManager:
    """Change a manager: any field left None stays as it is."""

    login: int
    name: str | None = None
    enabled: bool | None = None
    password: str | None = None
    grant: frozenset[str] = frozenset()
    revoke: frozenset[str] = frozenset()
    group_mask: str | None = None
    white_labels: str | None = None


@dataclass(frozen=True)
class CreateApiKey:
    manager_login: int
    scopes: frozenset[str]
    name: str = ""
    expires_at: datetime | None = None


@dataclass(frozen=True)
class IssuedKey:
    """A new key: `secret` is shown once and never stored."""

    key: ApiKey
    secret: str


@dataclass(frozen=True)
class KeyIdentity:
    key: ApiKey
    manager: Manager
    scopes: frozenset[str]
    needs_touch: bool
