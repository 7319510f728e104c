"""The exposure aggregate as one statement, on SQLite and PostgreSQL.

The open positions in scope, joined to their accounts, are summed two ways: per symbol and
group (with the positions' own digits and contract size: a symbol's digits may change while
older positions stay open) and per group, each with the distinct accounts holding them; each
line is joined to its symbol's quote. PostgreSQL does both in one pass with GROUPING SETS;
SQLite, which has none, sums a common table expression twice in a UNION ALL.

The reach and white-label conditions are the ones every accounts read uses
(`conditions.reach_conditions`). On the accounts side the join needs only `login`, `group_id`
and `broker`, which the index `ix_accounts_login_group_id_broker` (revision 0025) covers, so
PostgreSQL reads the accounts from the index alone instead of scanning the table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, case, func, literal_column, null, select, tuple_, union_all
from sqlalchemy.sql.elements import ColumnElement

from brokerplane.core.trading.model import ExposureFilter
from brokerplane.storage import tables as t
from brokerplane.storage.sql.conditions import reach_conditions

# `level` of a row: a line (one symbol in one group), or a group (every symbol).
LINE, GROUP = 0, 1


def exposure_statement(query: ExposureFilter, dialect: str) -> Select[Any]:
    """Rows (level, symbol, group_id, digits, contract_size, buy_volume, buy_value,
    sell_volume, sell_value, positions, accounts, bid, ask, at) ordered by level, symbol and
    group id. GROUP rows have no symbol, digits, contract size or quote."""
    p, a = t.positions.c, t.accounts.c
    conds: list[ColumnElement[bool]] = reach_conditions(query.group_ids, query.broker_mask, dialect)
    if query.symbols is not None:
        conds.append(p.symbol.in_(query.symbols))
    held = t.positions.join(t.accounts, a.login == p.login)
    where = and_(True, *conds)
    if dialect == "postgresql":
        key = (p.symbol, a.group_id, p.digits, p.contract_size)
        sums = (
            select(func.grouping(p.symbol).label("level"), *key, *_sums(p))
            .select_from(held)
            .where(where)
            .group_by(func.grouping_sets(tuple_(*key), tuple_(a.group_id)))
        ).subquery("sums")
    else:
        cte = (
            select(p.symbol, p.digits, p.contract_size, p.side, p.volume, p.open_value)
            .add_columns(p.login, a.group_id)
            .select_from(held)
            .where(where)
            .cte("held")
        )
        h = cte.c
        lines = select(
            literal_column(str(LINE)).label("level"),
            h.symbol,
            h.group_id,
            h.digits,
            h.contract_size,
            *_sums(h),
        ).group_by(h.symbol, h.group_id, h.digits, h.contract_size)
        groups = select(
            literal_column(str(GROUP)), null(), h.group_id, null(), null(), *_sums(h)
        ).group_by(h.group_id)
        sums = union_all(lines, groups).subquery("sums")
    s, q = sums.c, t.quotes.c
    return (
        select(sums, q.bid, q.ask, q.at)
        .select_from(sums.outerjoin(t.quotes, q.symbol == s.symbol))
        .order_by(s.level, s.symbol, s.group_id)
    )


def _sums(cols: Any) -> list[Any]:
    """Volumes and open values by side, positions, and the distinct accounts holding them."""
    buy = cols.side == "buy"

    def total(column: Any, on_buy: bool) -> Any:
        return func.coalesce(func.sum(case((buy if on_buy else ~buy, column), else_=0)), 0)

    return [
        total(cols.volume, True).label("buy_volume"),
        total(cols.open_value, True).label("buy_value"),
        total(cols.volume, False).label("sell_volume"),
        total(cols.open_value, False).label("sell_value"),
        func.count().label("positions"),
        func.count(func.distinct(cols.login)).label("accounts"),
    ]
