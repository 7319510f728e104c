"""AuditRecord, the audit keys, and the keyed hash that chains each record to the one before it.

A record sealed under a key carries that key's id (`seal_key`) and an HMAC-SHA256 of the
previous hash and its content; the key lives outside the database, so a database writer cannot
recompute the chain. Records without a key id are legacy ones, sealed before keys existed, with
a plain SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64


@dataclass
class AuditRecord:
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    at: datetime
    manager_login: int | None = None
    key_id: str | None = None
    operator_id: str | None = None
    request_id: str | None = None
    dialect: str = "system"
    ip: str | None = None
    id: int = 0
    prev_hash: str = ""
    hash: str = ""
    # The id of the audit key that sealed the record; None: a legacy, unkeyed record.
    seal_key: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The events the record stands for (core/events), written with it; not part of the hash.
    events: list[Any] = field(default_factory=list, compare=False, repr=False)

    def content(self) -> bytes:
        """Canonical bytes of everything the hash protects (all but the hashes themselves)."""
        body = {
            "id": self.id,
            "action": self.action,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "before": self.before,
            "after": self.after,
            # In UTC, as storage hands it back: a clock in another zone must not break the chain.
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "manager_login": self.manager_login,
            "key_id": self.key_id,
            "operator_id": self.operator_id,
            "request_id": self.request_id,
            "dialect": self.dialect,
            "ip": self.ip,
        }
        if self.seal_key is not None:
            body["seal_key"] = self.seal_key
        return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()

    def seal(self, prev_hash: str, key: AuditKey | None = None) -> None:
        self.prev_hash = prev_hash
        self.seal_key = key.id if key is not None else None
        self.hash = chain_hash(prev_hash, self.content(), key)


def key_id(secret: bytes) -> str:
    """The short public name of an audit key (a fingerprint; it reveals nothing of the key)."""
    return hashlib.sha256(b"brokerplane audit key\n" + secret).hexdigest()[:16]


@dataclass(frozen=True)
class AuditKey:
    """A secret that seals (and verifies) audit records; `id` is stored with each record."""

    secret: bytes = field(repr=False)
    id: str = ""

    def __post_init__(self) -> None:
        if len(self.secret) < 16:
            raise ValueError("an audit key needs at least 16 bytes")
        object.__setattr__(self, "id", key_id(self.secret))
        object.__setattr__(self, "_mac", hmac.new(self.secret, digestmod=hashlib.sha256))

    def mac(self, data: bytes) -> str:
        mac = self._mac.copy()  # type: ignore[attr-defined]
        mac.update(data)
        return str(mac.hexdigest())


@dataclass(frozen=True)
class AuditKeys:
    """The keyring: `current` seals new records, every key in `keys` verifies its own.

    `legacy_until`: the newest record that may be unkeyed (the chain's head when its first key
    was made); None when unknown, when unkeyed records are accepted only before the first keyed
    one."""

    current: AuditKey
    keys: tuple[AuditKey, ...] = ()
    legacy_until: int | None = None

    def find(self, kid: str) -> AuditKey | None:
        if kid == self.current.id:
            return self.current
        return next((k for k in self.keys if k.id == kid), None)


def chain_hash(prev_hash: str, content: bytes, key: AuditKey | None = None) -> str:
    data = prev_hash.encode() + b"\n" + content
    return key.mac(data) if key is not None else hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class AuditQuery:
    """Filters for reading the audit trail; records come oldest first, after `after_id`."""

    entity_type: str | None = None
    entity_id: str | None = None
    action: str | None = None
    manager_login: int | None = None
    operator_id: str | None = None
    request_id: str | None = None
    time_from: datetime | None = None
    time_to: datetime | None = None
    after_id: int | None = None
    limit: int = 100
    # The dialect the change came through: native, mt5, ctrader, console, cli, ...
    dialect: str | None = None


@dataclass(frozen=True)
class ChainReport:
    records: int
    ok: bool
    first_bad_id: int | None = None
    reason: str = ""
    # Of `records`, how many are legacy (unkeyed, plain SHA-256) and how many keyed.
    legacy: int = 0
    head: tuple[int, str] = (0, GENESIS_HASH)
