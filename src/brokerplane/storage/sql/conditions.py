"""The mask and reach conditions as SQL, their one owner: MT5-style masks, the accounts within
a manager's reach, and ASCII-only case folding, alike on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement

from brokerplane.core import masks
from brokerplane.storage import tables as t

_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_LOWER = _ASCII_UPPER.lower()
TO_LOWER = str.maketrans(_ASCII_UPPER, _ASCII_LOWER)


def _like(pattern: masks.Pattern) -> str:
    """A parsed mask pattern (already folded) as a LIKE pattern escaped with backslashes."""
    escaped = (
        p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for p in pattern.pieces
    )
    return "%".join(escaped)


def fold(column: Any) -> Any:
    """The column with ASCII letters lowered and nothing else, on every engine and locale."""
    return func.translate(column, _ASCII_UPPER, _ASCII_LOWER)


def ascii_folded(column: Any, dialect: str) -> Any:
    """The column with ASCII letters lowered (SQLite's lower() folds ASCII only)."""
    return func.lower(column) if dialect == "sqlite" else fold(column)


def mask_condition(column: Any, mask: str, dialect: str = "postgresql") -> ColumnElement[bool]:
    """An MT5-style mask (`a*,!b`) as SQL: LIKEs ignoring ASCII case, exclusions winning,
    exactly as core.masks.matches decides in Python. core.masks parses (and bounds) the mask;
    this only renders its patterns, with runs of stars already collapsed to one."""
    folded = func.lower(column) if dialect == "sqlite" else fold(column)
    parsed = masks.parse(mask)
    include = [folded.like(_like(p), escape="\\") for p in parsed.include]
    exclude = [folded.like(_like(p), escape="\\") for p in parsed.exclude]
    result: ColumnElement[bool] = or_(*include) if include else literal(True)
    if exclude:
        result = and_(result, ~or_(*exclude))
    return result


def reach(
    login: Any, group_ids: tuple[int, ...] | None, broker_mask: str | None, dialect: str
) -> Any:
    """Logins of accounts within reach (by group ids and white-label mask), as a subquery."""
    a = t.accounts.c
    conds: list[ColumnElement[bool]] = []
    if group_ids is not None:
        conds.append(a.group_id.in_(group_ids))
    if broker_mask is not None:
        conds.append(mask_condition(a.broker, broker_mask, dialect))
    return login.in_(select(a.login).where(and_(True, *conds)))
