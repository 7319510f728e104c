"""Writing audit records for commands, and verifying the hash chain end to end."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from brokerplane.core.access.reach import redact_record
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import (
    GENESIS_HASH,
    AuditKeys,
    AuditQuery,
    AuditRecord,
    ChainReport,
    chain_hash,
)
from brokerplane.core.errors import PermissionDenied, ValidationError
from brokerplane.core.events.model import derive
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.validate import require_id

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "MAX_PAGE",
    "ChainReport",
    "diff",
    "query_audit",
    "record",
    "verify_chain",
]

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
            events=derive(action, str(entity_id), before, after),
        )
    )


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The fields that changed, as {field: [old, new]} (for summaries, not for the chain)."""
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


def verify_chain(
    records: Iterable[AuditRecord],
    head: tuple[int, str] | None = None,
    keys: AuditKeys | None = None,
    pin: tuple[int, str] | None = None,
) -> ChainReport:
    """Re-hash every record in id order; any edit, deletion or reordering breaks the chain.

    With `head` (the id and hash the log says are newest, read in the same snapshot as the
    records), a record after it (inserted behind the log's back) and a chain ending short of it
    (newest records deleted) are both reported. A keyed record is checked under the key its
    `seal_key` names; an unkeyed one only where the keyring allows legacy records. With `pin`
    (a checkpoint's record id and hash), the chain must still hold that record with that hash.
    """
    prev = GENESIS_HASH
    count = legacy = 0
    last_id = 0
    keyed_seen = False
    pinned = pin is None

    def broken(rec_id: int, reason: str) -> ChainReport:
        return ChainReport(count, False, rec_id, reason, legacy, (last_id, prev))

    for rec in records:
        count += 1
        if head is not None and rec.id > head[0]:
            return broken(rec.id, "record after the newest sealed one (inserted?)")
        if rec.id <= last_id:
            return broken(rec.id, "records out of order")
        if rec.prev_hash != prev:
            return broken(rec.id, "previous hash does not match (deleted record?)")
        key = None
        if rec.seal_key is None:
            if keys is not None and (
                keyed_seen if keys.legacy_until is None else rec.id > keys.legacy_until
            ):
                return broken(
                    rec.id,
                    "unkeyed record where the chain is keyed (rewritten without the audit key?)",
                )
            legacy += 1
        else:
            keyed_seen = True
            key = keys.find(rec.seal_key) if keys is not None else None
            if key is None:
                return broken(
                    rec.id,
                    f"sealed with audit key {rec.seal_key}, which is not in the keyring "
                    "(restore the key file, or the record was forged)",
                )
        if chain_hash(prev, rec.content(), key) != rec.hash:
            return broken(rec.id, "content does not match its hash (edited?)")
        if pin is not None and rec.id == pin[0]:
            if rec.hash != pin[1]:
                return broken(rec.id, "the record differs from the checkpoint (history rewritten?)")
            pinned = True
        prev = rec.hash
        last_id = rec.id
    if head is not None and (last_id, prev) != head:
        return broken(head[0], "the chain ends before the newest record (deleted record?)")
    if not pinned:
        assert pin is not None
        return broken(
            pin[0],
            f"the chain no longer holds the checkpoint's record {pin[0]} "
            f"(it ends at {last_id}: rolled back, truncated or renumbered?)",
        )
    return ChainReport(count, True, legacy=legacy, head=(last_id, prev))


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
    require_id("manager", query.manager_login)
    require_id("cursor", query.after_id, low=0)
    if query.dialect is not None and (
        not query.dialect or len(query.dialect) > 16 or not query.dialect.isascii()
    ):
        raise ValidationError.field("dialect", "must be a dialect's name (at most 16 letters)")
    return [redact_record(actor, r) for r in uow.audit.query(query)]
