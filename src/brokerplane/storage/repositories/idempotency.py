"""SqlIdempotency: request-id records, claimed, completed, replayed and purged."""

from __future__ import annotations

import operator
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, select, update

from brokerplane.core.idempotency import Claim, IdempotencyRecord, StoredResponse
from brokerplane.storage import driver
from brokerplane.storage import tables as t
from brokerplane.storage.sql.rows import PerDialect
from brokerplane.storage.sql.rows import row_dict as _row

_IDEMPOTENCY_COLUMNS = [c.name for c in t.idempotency_records.columns]
_IDEMPOTENCY_VALUES = operator.attrgetter(*_IDEMPOTENCY_COLUMNS)  # a record's, in one call
_r = t.idempotency_records.c
# One statement, no savepoint: a key already there (or being inserted by a concurrent claim,
# which this waits for) inserts nothing.
_CLAIM_INSERT = PerDialect(
    lambda make: driver.Statement(
        make(t.idempotency_records).on_conflict_do_nothing().returning(_r.key),
        _IDEMPOTENCY_COLUMNS,
    )
)
_CLAIM_COMPLETE = (
    update(t.idempotency_records)
    .where(
        _r.scope == bindparam("b_scope"),
        _r.key == bindparam("b_key"),
        _r.token == bindparam("b_token"),
        _r.state == "pending",
    )
    .values(
        state="done",
        status=bindparam("b_status"),
        body=bindparam("b_body"),
        operation_id=bindparam("b_operation_id"),
        completed_at=bindparam("b_at"),
    )
)
_RUN_CLAIM_COMPLETE = driver.Statement(_CLAIM_COMPLETE)


class SqlIdempotency:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    def get(self, scope: str, key: str, *, for_update: bool = False) -> IdempotencyRecord | None:
        r = t.idempotency_records.c
        q = select(t.idempotency_records).where(r.scope == scope, r.key == key)
        if for_update and self.c.dialect.name == "postgresql":
            q = q.with_for_update()
        row = self.c.execute(q).first()
        return IdempotencyRecord(**_row(row)) if row else None

    def _claim_commits_lazily(self) -> None:
        """A claim's own transaction (the only one that inserts or replaces records) need not
        wait for its WAL flush on PostgreSQL: the command's durable commit comes later in the
        same WAL and flushes it too, so an acknowledged write never loses its claim, and a
        claim lost in a crash belonged to a write nobody was told about (its retry claims
        again). Other sessions see the claim at commit either way."""
        if self.c.dialect.name == "postgresql":
            self.c.exec_driver_sql("SET LOCAL synchronous_commit TO off")

    def insert(self, record: IdempotencyRecord, *, lazy_commit: bool = True) -> bool:
        values = dict(zip(_IDEMPOTENCY_COLUMNS, _IDEMPOTENCY_VALUES(record), strict=True))
        if lazy_commit:
            self._claim_commits_lazily()
        return _CLAIM_INSERT[self.c.dialect.name].execute(self.c, values).first() is not None

    def replace(self, record: IdempotencyRecord, *, lazy_commit: bool = True) -> None:
        r = t.idempotency_records.c
        values = {name: getattr(record, name) for name in _IDEMPOTENCY_COLUMNS}
        if lazy_commit:
            self._claim_commits_lazily()
        self.c.execute(
            update(t.idempotency_records)
            .where(r.scope == record.scope, r.key == record.key)
            .values(**values)
        )

    def complete(self, claim: Claim, response: StoredResponse, at: datetime) -> bool:
        changed = _RUN_CLAIM_COMPLETE.run(
            self.c,
            {
                "b_scope": claim.scope,
                "b_key": claim.key,
                "b_token": claim.token,
                "b_status": response.status,
                "b_body": response.body,
                "b_operation_id": response.operation_id,
                "b_at": at,
            },
        )
        return changed == 1

    def release(self, claim: Claim) -> None:
        r = t.idempotency_records.c
        self.c.execute(
            delete(t.idempotency_records).where(
                r.scope == claim.scope,
                r.key == claim.key,
                r.token == claim.token,
                r.state == "pending",
            )
        )

    def purge(self, now: datetime) -> int:
        r = t.idempotency_records.c
        result = self.c.execute(delete(t.idempotency_records).where(r.expires_at <= now))
        return int(result.rowcount or 0)
