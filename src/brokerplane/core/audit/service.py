"""Writing audit records for commands, and verifying the hash chain end to end."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from brokerplane.core.access.reach import redact_record
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import GENESIS_HASH, AuditQuery, AuditRecord, chain_hash
from brokerplane.core.errors import PermissionDenied, ValidationError
from brokerplane.core.ports import UnitOfWork

MAX_PAGE = 1000


def record(
    uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    action: str,
    entity_type: str,
    entity_id: str | int,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    uow.audit.append(
        AuditRecord(
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id),
            before=before,
            after=after,
            at=now,
            manager_login=actor.manager_login,
            key_id=actor.key_id,
            operator_id=actor.operator_id,
            request_id=actor.request_id,
            dialect=actor.dialect,
            ip=actor.ip,
        )
    )


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The fields that changed, as {field: [old, new]} (for summaries, not for the chain)."""
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


@dataclass(frozen=True)
class ChainReport:
    records: int
    ok: bool
    first_bad_id: int | None = None
    reason: str = ""


def verify_chain(
    records: Iterable[AuditRecord], head: tuple[int, str] | None = None
) -> ChainReport:
    """Re-hash every record in id order; any edit, deletion or reordering breaks the chain.

    With `head` (the id and hash the log says are newest, read in the same snapshot as the
    records), a record after it (inserted behind the log's back) and a chain ending short of it
    (newest records deleted) are both reported.
    """
    prev = GENESIS_HASH
    count = 0
    last_id = 0
    for rec in records:
        count += 1
        if head is not None and rec.id > head[0]:
            return ChainReport(
                count, False, rec.id, "record after the newest sealed one (inserted?)"
            )
        if rec.id <= last_id:
            return ChainReport(count, False, rec.id, "records out of order")
        if rec.prev_hash != prev:
            return ChainReport(
                count, False, rec.id, "previous hash does not match (deleted record?)"
            )
        if chain_hash(prev, rec.content()) != rec.hash:
            return ChainReport(count, False, rec.id, "content does not match its hash (edited?)")
        prev = rec.hash
        last_id = rec.id
    if head is not None and (last_id, prev) != head:
        return ChainReport(
            count, False, head[0], "the chain ends before the newest record (deleted record?)"
        )
    return ChainReport(count, True)


def query_audit(uow: UnitOfWork, query: AuditQuery, actor: Actor) -> list[AuditRecord]:
    """One page of the audit trail, oldest first; `action` ending in `.` matches a prefix."""
    actor.require_any("reports:read", "admin")
    if not actor.unlimited_reach:
        raise PermissionDenied(
            "the audit trail spans every group; a manager of limited reach reads an account's "
            "trail at /users/{login}/history"
        )
    if not 1 <= query.limit <= MAX_PAGE:
        raise ValidationError.field("limit", f"must be between 1 and {MAX_PAGE}")
    return [redact_record(actor, r) for r in uow.audit.query(query)]
