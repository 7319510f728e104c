"""SqlAttributes: the named attributes of accounts, groups and managers (see the
AttributeRepository port)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, func, select
from sqlalchemy.sql.elements import ColumnElement

from brokerplane.core.attribute.model import Attribute, AttributeQuery, AttributeSet
from brokerplane.storage import tables as t
from brokerplane.storage.engine import dialect_insert
from brokerplane.storage.sql.conditions import mask_condition

# kind -> (attribute table, its entity column, the entity table, that table's key)
_ATTRIBUTE_TABLES: dict[str, tuple[Any, Any, Any, Any]] = {
    "account": (t.account_attributes, t.account_attributes.c.login, t.accounts, t.accounts.c.login),
    "group": (t.group_attributes, t.group_attributes.c.group_id, t.groups, t.groups.c.id),
    "manager": (
        t.manager_attributes,
        t.manager_attributes.c.manager_login,
        t.managers,
        t.managers.c.login,
    ),
}


class SqlAttributes:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    def list(self, query: AttributeQuery) -> list[AttributeSet]:
        table, key = _ATTRIBUTE_TABLES[query.kind][:2]
        c = table.c
        row_conds: list[ColumnElement[bool]] = []
        if query.name_contains:
            row_conds.append(c.folded_name.contains(query.name_contains, autoescape=True))
        conds = list(row_conds)
        if query.ids is not None:
            if not query.ids:
                return []
            conds.append(key.in_(query.ids))
        if query.after_id is not None:
            conds.append(key > query.after_id)
        source: Any = table
        if query.kind == "account":
            # live accounts only, within the reach the query names
            a = t.accounts.c
            source = table.join(t.accounts, a.login == key)
            conds.append(a.deleted_at.is_(None))
            if query.group_ids is not None:
                if not query.group_ids:
                    return []
                conds.append(a.group_id.in_(query.group_ids))
            if query.broker_mask is not None:
                conds.append(mask_condition(a.broker, query.broker_mask, self.c.dialect.name))
        entities = select(key).select_from(source).where(and_(True, *conds)).group_by(key)
        if query.since is not None:
            entities = entities.having(func.max(c.updated_at) >= query.since)
        entities = entities.order_by(key)
        if query.limit is not None:
            entities = entities.limit(query.limit)
        ids = [int(i) for i in self.c.execute(entities).scalars()]
        if not ids:
            return []
        rows = self.c.execute(
            select(key.label("entity_id"), c.name, c.value, c.updated_at)
            .where(key.in_(ids), *row_conds)
            .order_by(key, c.name)
        )
        found: dict[int, list[Attribute]] = {}
        for row in rows:
            found.setdefault(int(row.entity_id), []).append(
                Attribute(row.name, row.value, row.updated_at)
            )
        return [AttributeSet(i, tuple(found[i])) for i in ids if i in found]

    def put(self, kind: str, entity_id: int, attributes: Sequence[Attribute]) -> None:
        if not attributes:
            return
        table, key = _ATTRIBUTE_TABLES[kind][:2]
        rows = [
            {
                key.name: entity_id,
                "name": a.name,
                "folded_name": a.name.casefold(),
                "value": a.value,
                "updated_at": a.updated_at,
            }
            for a in attributes
        ]
        make = dialect_insert(self.c.dialect.name)
        q = make(table).values(rows)
        q = q.on_conflict_do_update(
            index_elements=[key, table.c.name],
            set_={"value": q.excluded.value, "updated_at": q.excluded.updated_at},
        )
        self.c.execute(q)

    def delete(self, kind: str, entity_id: int, names: Sequence[str] | None) -> None:
        table, key = _ATTRIBUTE_TABLES[kind][:2]
        q = delete(table).where(key == entity_id)
        if names is not None:
            q = q.where(table.c.name.in_(names))
        self.c.execute(q)

    def lock(self, kind: str, ids: Sequence[int]) -> None:
        """PostgreSQL: the entities' rows, FOR NO KEY UPDATE (new rows referring to them may
        still be written); SQLite: writers already take turns (BEGIN IMMEDIATE)."""
        if not ids or self.c.dialect.name != "postgresql":
            return
        parent_key = _ATTRIBUTE_TABLES[kind][3]
        for start in range(0, len(ids), 1000):
            chunk = list(ids[start : start + 1000])
            q = select(parent_key).where(parent_key.in_(chunk)).order_by(parent_key)
            self.c.execute(q.with_for_update(key_share=True)).all()
