"""The audit port: the append-only, hash-chained audit log."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from brokerplane.core.audit.model import AuditQuery, AuditRecord
from brokerplane.core.ledger.model import EntryClaim


class AuditLog(Protocol):
    def append(self, record: AuditRecord) -> None:
        """Queue a record; the unit of work seals it into the hash chain at commit."""
        ...

    def for_entity(self, entity_type: str, entity_id: str) -> list[AuditRecord]: ...
    def query(self, query: AuditQuery) -> list[AuditRecord]: ...
    def iter_all(self) -> Iterator[AuditRecord]: ...
    def iter_entry_claims(self) -> Iterator[EntryClaim]:
        """What each money record (ledger.entry_posted, trade.deal) says of its entry, in
        record id order, streamed."""
        ...

    def iter_snapshots(
        self, entity_types: Sequence[str]
    ) -> Iterator[tuple[int, str, str, str, dict[str, Any] | None, int | None]]:
        """(id, action, entity type, entity id, after, manager) of every record of these
        entity types, in record id order, streamed."""
        ...

    def head(self) -> tuple[int, str]:
        """The id and hash of the newest sealed record: (0, GENESIS_HASH) when there is none."""
        ...
