"""AuditRecord and the hash that chains each record to the one before it."""

from __future__ import annotations

import hashlib
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
    extra: dict[str, Any] = field(default_factory=dict)

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
        return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()

    def seal(self, prev_hash: str) -> None:
        self.prev_hash = prev_hash
        self.hash = chain_hash(prev_hash, self.content())


def chain_hash(prev_hash: str, content: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + content).hexdigest()


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
