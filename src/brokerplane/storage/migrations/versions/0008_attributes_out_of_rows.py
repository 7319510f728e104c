"""accounts and groups: their `attributes` move from the row's JSON into the attribute tables

Since this revision an account's and a group's attributes are kept only in account_attributes
and group_attributes (what cTrader's attribute calls read and write); the JSON column stays,
always `{}`. Pairs the tables cannot hold (an empty value, a name over 64 characters, a value
over 512) are dropped: the attribute calls could never have shown them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from brokerplane.storage.types import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MOVES = (
    ("accounts", "login", "account_attributes", "login"),
    ("groups", "id", "group_attributes", "group_id"),
)


def _pairs(raw: Any) -> dict[str, str]:
    data = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(data, dict):
        return {}
    return {
        k: v
        for k, v in data.items()
        if isinstance(k, str) and isinstance(v, str) and 1 <= len(k) <= 64 and 1 <= len(v) <= 512
    }


def upgrade() -> None:
    conn = op.get_bind()
    now = datetime.now(UTC)
    for table, key, target, target_key in _MOVES:
        rows = conn.execute(sa.text(f"SELECT {key}, attributes FROM {table}")).all()
        owners = sa.table(table, sa.column(key), sa.column("attributes", sa.JSON))
        stamp = sa.column("updated_at", UTCDateTime(timezone=True))
        store = sa.table(
            target,
            sa.column(target_key),
            sa.column("name"),
            sa.column("folded_name"),
            sa.column("value"),
            stamp,
        )
        for entity_id, raw in rows:
            if raw in (None, "{}", {}):
                continue
            pairs = _pairs(raw)
            existing = {
                r[0]
                for r in conn.execute(
                    sa.text(f"SELECT name FROM {target} WHERE {target_key} = :id"),
                    {"id": entity_id},
                )
            }
            fresh = [
                {
                    target_key: entity_id,
                    "name": n,
                    "folded_name": n.casefold(),
                    "value": v,
                    "updated_at": now,
                }
                for n, v in sorted(pairs.items())
                if n not in existing
            ]
            if fresh:
                conn.execute(store.insert(), fresh)
            conn.execute(owners.update().where(owners.c[key] == entity_id).values(attributes={}))


def downgrade() -> None:
    conn = op.get_bind()
    for table, key, target, target_key in _MOVES:
        owners = sa.table(table, sa.column(key), sa.column("attributes", sa.JSON))
        rows = conn.execute(
            sa.text(f"SELECT {target_key}, name, value FROM {target} ORDER BY {target_key}, name")
        ).all()
        found: dict[Any, dict[str, str]] = {}
        for entity_id, name, value in rows:
            found.setdefault(entity_id, {})[name] = value
        for entity_id, pairs in found.items():
            conn.execute(owners.update().where(owners.c[key] == entity_id).values(attributes=pairs))
