"""SqlGroups: the groups accounts inherit from (see the GroupRepository port)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, select, update

from brokerplane.core.group.model import Group
from brokerplane.storage import driver
from brokerplane.storage import tables as t
from brokerplane.storage.sql.rows import row_dict as _row

# A group by name, compiled once (storage/driver.py): every opening reads its group, and
# building the select per read cost more CPU than running it.
_RUN_BY_NAME = driver.Statement(select(t.groups).where(t.groups.c.name == bindparam("b_name")))


class SqlGroups:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    @staticmethod
    def _to(row: Row[Any]) -> Group:
        return Group(**_row(row))

    def get(self, name: str) -> Group | None:
        row = _RUN_BY_NAME.execute(self.c, {"b_name": name}).first()
        if row is None:
            return None
        return Group(**dict(zip(_RUN_BY_NAME.columns(self.c), row, strict=True)))

    def get_by_id(self, group_id: int) -> Group | None:
        row = self.c.execute(select(t.groups).where(t.groups.c.id == group_id)).first()
        return self._to(row) if row else None

    def list(self) -> list[Group]:
        return [self._to(r) for r in self.c.execute(select(t.groups).order_by(t.groups.c.name))]

    def add(self, group: Group) -> Group:
        values = asdict(group)
        values.pop("id")
        group.id = self.c.execute(
            insert(t.groups).values(**values).returning(t.groups.c.id)
        ).scalar_one()
        return group

    def update(self, group: Group) -> None:
        values = asdict(group)
        self.c.execute(update(t.groups).where(t.groups.c.id == values.pop("id")).values(**values))

    def count_accounts(self, group_id: int) -> int:
        q = select(func.count()).select_from(t.accounts).where(t.accounts.c.group_id == group_id)
        return int(self.c.execute(q).scalar_one())

    def count_users(self, group_id: int) -> int:
        q = select(func.count()).select_from(t.users).where(t.users.c.group_id == group_id)
        return int(self.c.execute(q).scalar_one())

    def delete(self, group_id: int) -> None:
        ga, th = t.group_attributes, t.approval_thresholds
        self.c.execute(delete(ga).where(ga.c.group_id == group_id))
        self.c.execute(delete(th).where(th.c.group_id == group_id))
        self.c.execute(delete(t.groups).where(t.groups.c.id == group_id))
