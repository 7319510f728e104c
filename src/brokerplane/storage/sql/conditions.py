"""The mask and reach conditions as SQL, their one owner: MT5-style masks, the accounts within
a manager's reach, ASCII-only case folding, and the filters of account lists and exports, alike
on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement

from brokerplane.core import masks
from brokerplane.core.account.model import AccountQuery
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


def reach_conditions(
    group_ids: tuple[int, ...] | None, broker_mask: str | None, dialect: str
) -> list[ColumnElement[bool]]:
    """Accounts within reach (by group ids and white-label mask), as conditions on the
    accounts table's own columns: for a statement that joins `accounts`."""
    a = t.accounts.c
    conds: list[ColumnElement[bool]] = []
    if group_ids is not None:
        conds.append(a.group_id.in_(group_ids))
    if broker_mask is not None:
        conds.append(mask_condition(a.broker, broker_mask, dialect))
    return conds


def reach(
    login: Any, group_ids: tuple[int, ...] | None, broker_mask: str | None, dialect: str
) -> Any:
    """Logins of accounts within reach (by group ids and white-label mask), as a subquery."""
    conds = reach_conditions(group_ids, broker_mask, dialect)
    return login.in_(select(t.accounts.c.login).where(and_(True, *conds)))


def account_conditions(query: AccountQuery, dialect: str) -> list[ColumnElement[bool]]:
    """The filters of account lists and exports: live accounts within reach matching the
    query (an empty `group_ids` matches nothing: callers answer it without a query)."""
    a = t.accounts.c
    archived = a.deleted_at.is_not(None) if query.archived else a.deleted_at.is_(None)
    conds: list[ColumnElement[bool]] = [archived]
    if query.group_ids is not None:
        # `+ 0` keeps the planner off the group_id index: walking that index would sort every
        # account of the groups again for each page; in login order a whole export reads the
        # table once.
        conds.append((a.group_id + 0).in_(query.group_ids))
    if query.broker_mask is not None:
        conds.append(mask_condition(a.broker, query.broker_mask, dialect))
    if query.white_label_mask is not None:
        conds.append(mask_condition(a.broker, query.white_label_mask, dialect))
    if query.email:
        conds.append(func.lower(a.email) == query.email.lower())
    if query.name_contains:
        # ASCII letters in either case, as masks compare: SQLite's lower() folds only those
        name = func.lower(a.name) if dialect == "sqlite" else fold(a.name)
        conds.append(name.contains(masks.fold(query.name_contains), autoescape=True))
    if query.logins is not None:
        conds.append(a.login.in_(query.logins))
    if query.registered_from is not None:
        conds.append(a.registered_at >= query.registered_from)
    if query.registered_to is not None:
        conds.append(a.registered_at < query.registered_to)
    if query.after_login is not None:
        conds.append(a.login > query.after_login)
    return conds
