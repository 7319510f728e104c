"""Fake request ids (idempotency) and audit trail."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from brokerplane.core.audit.model import AuditQuery, AuditRecord
from brokerplane.core.idempotency import Claim, IdempotencyRecord, StoredResponse
from brokerplane.core.ledger.model import (
    EntryClaim,
)
from tests.unit.fakes.base import _copy, _Repo

if TYPE_CHECKING:
    from tests.unit.fakes.uow import FakeUnitOfWork


class FakeIdempotency(_Repo):
    """The IdempotencyStore port (core/idempotency.py)."""

    def get(self, scope: str, key: str, *, for_update: bool = False) -> IdempotencyRecord | None:
        found = self._s.idempotency.get((scope, key))
        return _copy(found) if found else None

    def insert(self, record: IdempotencyRecord, *, lazy_commit: bool = True) -> bool:
        self._writing()
        if (record.scope, record.key) in self._s.idempotency:
            return False
        self._s.idempotency[(record.scope, record.key)] = _copy(record)
        return True

    def replace(self, record: IdempotencyRecord, *, lazy_commit: bool = True) -> None:
        self._writing()
        if (record.scope, record.key) in self._s.idempotency:
            self._s.idempotency[(record.scope, record.key)] = _copy(record)

    def _held(self, claim: Claim) -> IdempotencyRecord | None:
        found = self._s.idempotency.get((claim.scope, claim.key))
        if found is None or found.token != claim.token or found.state != "pending":
            return None
        return found

    def complete(self, claim: Claim, response: StoredResponse, at: datetime) -> bool:
        self._writing()
        held = self._held(claim)
        if held is None:
            return False
        held.state, held.status, held.body = "done", response.status, response.body
        held.operation_id, held.completed_at = response.operation_id, at
        return True

    def release(self, claim: Claim) -> None:
        self._writing()
        if self._held(claim) is not None:
            del self._s.idempotency[(claim.scope, claim.key)]

    def purge(self, now: datetime) -> int:
        self._writing()
        gone = [k for k, r in self._s.idempotency.items() if r.expires_at <= now]
        for k in gone:
            del self._s.idempotency[k]
        return len(gone)


class FakeAudit(_Repo):
    def __init__(self, uow: FakeUnitOfWork) -> None:
        super().__init__(uow)
        self.pending: list[AuditRecord] = []

    def append(self, record: AuditRecord) -> None:
        self._writing()
        self.pending.append(_copy(record))

    def for_entity(self, entity_type: str, entity_id: str) -> list[AuditRecord]:
        return [
            _copy(r)
            for r in self._s.audit
            if r.entity_type == entity_type and r.entity_id == entity_id
        ]

    def query(self, query: AuditQuery) -> list[AuditRecord]:
        """Committed records only, oldest first; `action` ending in "." matches a prefix."""
        out = []
        for rec in sorted(self._s.audit, key=lambda r: r.id):
            if query.entity_type is not None and rec.entity_type != query.entity_type:
                continue
            if query.entity_id is not None and rec.entity_id != query.entity_id:
                continue
            if query.action is not None and not (
                rec.action.startswith(query.action)
                if query.action.endswith(".")
                else rec.action == query.action
            ):
                continue
            if query.manager_login is not None and rec.manager_login != query.manager_login:
                continue
            if query.operator_id is not None and rec.operator_id != query.operator_id:
                continue
            if query.request_id is not None and rec.request_id != query.request_id:
                continue
            if query.dialect is not None and rec.dialect != query.dialect:
                continue
            if query.time_from is not None and rec.at < query.time_from:
                continue
            if query.time_to is not None and rec.at >= query.time_to:
                continue
            if query.after_id is not None and rec.id <= query.after_id:
                continue
            out.append(_copy(rec))
            if len(out) == query.limit:
                break
        return out

    def iter_all(self) -> Iterator[AuditRecord]:
        for rec in sorted(self._s.audit, key=lambda r: r.id):
            yield _copy(rec)

    def iter_entry_claims(self) -> Iterator[EntryClaim]:
        """As the SQL twin reads them out of each money record's after snapshot."""
        for rec in sorted(self._s.audit, key=lambda r: r.id):
            after = rec.after or {}
            if rec.action == "trade.deal":
                deal = after.get("deal") or {}
                yield EntryClaim(
                    rec.id,
                    deal.get("id"),
                    rec.entity_id,
                    "trade",
                    deal.get("profit"),
                    after.get("balance"),
                    None,
                    None,
                )
            elif rec.action == "ledger.entry_posted":
                x = after.get("entry") or {}
                yield EntryClaim(
                    rec.id,
                    x.get("id"),
                    rec.entity_id,
                    x.get("kind"),
                    x.get("amount"),
                    x.get("balance_after"),
                    x.get("credit_after"),
                    x.get("bonus_after"),
                )

    def iter_snapshots(
        self, entity_types: Sequence[str]
    ) -> Iterator[tuple[int, str, str, str, dict[str, Any] | None, int | None]]:
        for rec in sorted(self._s.audit, key=lambda r: r.id):
            if rec.entity_type in entity_types:
                yield (
                    rec.id,
                    rec.action,
                    rec.entity_type,
                    rec.entity_id,
                    copy.deepcopy(rec.after),
                    rec.manager_login,
                )

    def head(self) -> tuple[int, str]:
        return self._s.head_id, self._s.head_hash

    def seal(self) -> None:
        """Chain the queued records after the head, as SqlAudit.flush does at commit."""
        for rec in self.pending:
            self._s.head_id += 1
            rec.id = self._s.head_id
            rec.seal(self._s.head_hash)
            self._s.head_hash = rec.hash
            self._s.audit.append(rec)
            for event in rec.events:  # numbered with the record, as SqlAudit.flush does
                self._s.last_event_id += 1
                event.id, event.audit_id, event.at = self._s.last_event_id, rec.id, rec.at
                event.manager_login, event.key_id = rec.manager_login, rec.key_id
                event.operator_id, event.request_id = rec.operator_id, rec.request_id
                event.dialect = rec.dialect
                acc = self._s.accounts.get(event.login) if event.login is not None else None
                if acc is not None:
                    event.group = event.group or acc.group
                    event.broker = event.broker if event.broker is not None else acc.broker
                self._s.events.append(_copy(event))
        self.pending = []
