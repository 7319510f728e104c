"""Held money operations and the thresholds that hold them (SqlApprovals,
SqlThresholds)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from brokerplane.core.approval.model import Approval, ApprovalQuery, ApprovalThreshold
from brokerplane.storage import driver
from brokerplane.storage import tables as t
from brokerplane.storage.sql.conditions import reach as _reach
from brokerplane.storage.sql.rows import row_dict as _row

_APPROVAL_COLUMNS = [c.name for c in t.approvals.columns if c.name != "id"]


class SqlApprovals:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    def add(self, approval: Approval) -> Approval:
        values = {name: getattr(approval, name) for name in _APPROVAL_COLUMNS}
        q = insert(t.approvals).values(**values).returning(t.approvals.c.id)
        approval.id = int(self.c.execute(q).scalar_one())
        return approval

    def get(self, approval_id: int, *, for_update: bool = False) -> Approval | None:
        q = select(t.approvals).where(t.approvals.c.id == approval_id)
        if for_update and self.c.dialect.name == "postgresql":
            q = q.with_for_update()
        row = self.c.execute(q).first()
        return Approval(**_row(row)) if row else None

    def update(self, approval: Approval) -> None:
        values = {name: getattr(approval, name) for name in _APPROVAL_COLUMNS}
        self.c.execute(update(t.approvals).where(t.approvals.c.id == approval.id).values(**values))

    def due(self, now: datetime) -> list[Approval]:
        p = t.approvals.c
        q = select(t.approvals).where(p.state == "pending", p.expires_at <= now).order_by(p.id)
        if self.c.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        return [Approval(**_row(r)) for r in self.c.execute(q)]

    def list(self, query: ApprovalQuery) -> list[Approval]:
        p = t.approvals.c
        conds: list[ColumnElement[bool]] = []
        if query.state is not None:
            conds.append(p.state == query.state)
        if query.login is not None:
            conds.append(p.login == query.login)
        if query.after_id is not None:
            conds.append(p.id > query.after_id)
        if query.group_ids is not None or query.broker_mask is not None:
            if query.group_ids is not None and not query.group_ids:
                return []
            conds.append(_reach(p.login, query.group_ids, query.broker_mask, self.c.dialect.name))
        q = select(t.approvals).where(and_(True, *conds)).order_by(p.id).limit(query.limit)
        return [Approval(**_row(r)) for r in self.c.execute(q)]

    def count_pending(self) -> int:
        q = select(func.count()).select_from(t.approvals).where(t.approvals.c.state == "pending")
        return int(self.c.execute(q).scalar_one())


class SqlThresholds:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    _SELECT = select(t.approval_thresholds, t.groups.c.name.label("group")).outerjoin(
        t.groups, t.groups.c.id == t.approval_thresholds.c.group_id
    )

    def find(self, currency: str, group_id: int) -> ApprovalThreshold | None:
        h = t.approval_thresholds.c
        row = self.c.execute(
            self._SELECT.where(h.currency == currency, h.group_id == group_id)
        ).first()
        return ApprovalThreshold(**_row(row)) if row else None

    _h = t.approval_thresholds.c
    # The group's own threshold first (group 0 is the currency-wide one).
    _APPLICABLE = (
        select(_h.amount)
        .where(_h.currency == bindparam("b_currency"), _h.group_id.in_([bindparam("b_group"), 0]))
        .order_by((_h.group_id == 0).asc())
        .limit(1)
    )

    _RUN_APPLICABLE = driver.Statement(_APPLICABLE)

    def applicable(self, currency: str, group_id: int) -> int | None:
        row = self._RUN_APPLICABLE.execute(
            self.c, {"b_currency": currency, "b_group": group_id}
        ).first()
        return int(row[0]) if row else None

    def list(self) -> list[ApprovalThreshold]:
        h = t.approval_thresholds.c
        rows = self.c.execute(self._SELECT.order_by(h.currency, h.group_id))
        return [ApprovalThreshold(**_row(r)) for r in rows]

    def put(self, threshold: ApprovalThreshold) -> None:
        self.delete(threshold.currency, threshold.group_id)
        self.c.execute(
            insert(t.approval_thresholds).values(
                currency=threshold.currency,
                group_id=threshold.group_id,
                amount=threshold.amount,
                currency_digits=threshold.currency_digits,
                updated_at=threshold.updated_at,
            )
        )

    def delete(self, currency: str, group_id: int) -> None:
        h = t.approval_thresholds.c
        self.c.execute(
            delete(t.approval_thresholds).where(h.currency == currency, h.group_id == group_id)
        )
