"""SqlLedger: the ledger's entries, their totals and the verifier's checks of the cached
figures (see the LedgerRepository port)."""

from __future__ import annotations

import operator
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, String, and_, case, cast, func, insert, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement

from brokerplane.core.ledger.model import (
    KINDS,
    CurrencyMismatch,
    EntryFacts,
    FigureMismatch,
    LedgerEntry,
    LedgerQuery,
)
from brokerplane.storage import driver
from brokerplane.storage import tables as t
from brokerplane.storage.sql.conditions import reach as _reach
from brokerplane.storage.sql.rows import STREAM_PAGE
from brokerplane.storage.sql.rows import row_dict as _row

_LEDGER_COLUMNS = [c.name for c in t.ledger_entries.columns if c.name != "id"]
_LEDGER_INSERT = insert(t.ledger_entries).returning(t.ledger_entries.c.id)
_RUN_LEDGER_INSERT = driver.Statement(_LEDGER_INSERT, _LEDGER_COLUMNS)
_LEDGER_VALUES = operator.attrgetter(*_LEDGER_COLUMNS)  # an entry's, in one call


class SqlLedger:
    def __init__(self, conn: Connection) -> None:
        self.c = conn
        # the kinds of the entries written in this transaction (a savepoint rolled back takes
        # its own out again), reported once the transaction commits
        self.added: list[str] = []

    def add(self, entry: LedgerEntry) -> LedgerEntry:
        values = dict(zip(_LEDGER_COLUMNS, _LEDGER_VALUES(entry), strict=True))
        entry.id = int(_RUN_LEDGER_INSERT.execute(self.c, values).one()[0])
        self.added.append(entry.kind)
        return entry

    def mismatches(self) -> list[FigureMismatch]:
        e = t.ledger_entries.c
        a = t.accounts.c

        def total(figure: str) -> Any:
            kinds = [k for k, (f, _) in KINDS.items() if f == figure]
            return func.coalesce(func.sum(case((e.kind.in_(kinds), e.amount), else_=0)), 0)

        sums = (
            select(
                e.login.label("login"),
                total("balance").label("balance"),
                total("credit").label("credit"),
                total("bonus").label("bonus"),
            )
            .group_by(e.login)
            .subquery()
        )
        zero = literal(0)
        lb = func.coalesce(sums.c.balance, zero)
        lc = func.coalesce(sums.c.credit, zero)
        lx = func.coalesce(sums.c.bonus, zero)
        q = (
            select(
                a.login,
                a.balance,
                a.credit,
                a.bonus,
                a.currency,
                a.currency_digits,
                lb.label("l_balance"),
                lc.label("l_credit"),
                lx.label("l_bonus"),
            )
            .select_from(t.accounts.outerjoin(sums, sums.c.login == a.login))
            .where(or_(a.balance != lb, a.credit != lc, a.bonus != lx))
            .order_by(a.login)
        )
        found: list[FigureMismatch] = []
        for row in self.c.execute(q):
            for figure in ("balance", "credit", "bonus"):
                cached, summed = int(getattr(row, figure)), int(getattr(row, "l_" + figure))
                if cached != summed:
                    found.append(
                        FigureMismatch(
                            row.login, figure, cached, summed, row.currency, row.currency_digits
                        )
                    )
        return found

    def figures_of(self, login: int) -> tuple[int, int, int]:
        """The balance, credit and bonus the account's entries add up to (minor units)."""
        e = t.ledger_entries.c

        def total(figure: str) -> Any:
            kinds = [k for k, (f, _) in KINDS.items() if f == figure]
            return func.coalesce(func.sum(case((e.kind.in_(kinds), e.amount), else_=0)), 0)

        q = select(total("balance"), total("credit"), total("bonus")).where(e.login == login)
        row = self.c.execute(q).one()
        return int(row[0]), int(row[1]), int(row[2])

    _FACTS = select(
        t.ledger_entries.c.id,
        t.ledger_entries.c.login,
        t.ledger_entries.c.kind,
        t.ledger_entries.c.amount,
        t.ledger_entries.c.balance_after,
        t.ledger_entries.c.credit_after,
        t.ledger_entries.c.bonus_after,
        t.ledger_entries.c.currency,
        t.ledger_entries.c.currency_digits,
        t.ledger_entries.c.at,
        t.ledger_entries.c.comment,
        t.ledger_entries.c.reference,
        t.ledger_entries.c.manager_login,
        t.ledger_entries.c.approval_id,
        t.ledger_entries.c.approved_by,
    )

    def iter_facts(self) -> Iterator[EntryFacts]:
        e = t.ledger_entries.c
        last = 0
        while True:
            q = self._FACTS.where(e.id > last).order_by(e.id).limit(STREAM_PAGE)
            rows = self.c.execute(q).all()
            yield from (EntryFacts._make((*row, True)) for row in rows)
            if len(rows) < STREAM_PAGE:
                return
            last = int(rows[-1][0])

    def currency_mismatches(self) -> list[CurrencyMismatch]:
        e, acc, a = t.ledger_entries.c, t.accounts.c, t.audit_records.c
        found: list[CurrencyMismatch] = []
        by_entry = (
            select(
                acc.login,
                acc.currency,
                acc.currency_digits,
                e.currency,
                e.currency_digits,
                func.min(e.id),
            )
            .join(t.ledger_entries, e.login == acc.login)
            .where(or_(e.currency != acc.currency, e.currency_digits != acc.currency_digits))
            .group_by(acc.login, acc.currency, acc.currency_digits, e.currency, e.currency_digits)
            .order_by(acc.login)
        )
        for login, cur, digits, said, said_digits, entry_id in self.c.execute(by_entry):
            found.append(
                CurrencyMismatch(login, cur, digits, said, said_digits, f"entry {entry_id}")
            )
        opened = (
            select(a.entity_id, func.max(a.id).label("rid"))
            .where(a.entity_type == "account", a.action == "account.opened")
            .group_by(a.entity_id)
            .subquery()
        )
        said_cur = a.after["currency"].as_string()
        said_digits = a.after["currency_digits"].as_integer()
        by_record = (
            select(acc.login, acc.currency, acc.currency_digits, said_cur, said_digits, a.id)
            .join(opened, opened.c.entity_id == cast(acc.login, String))
            .join(t.audit_records, a.id == opened.c.rid)
            .where(or_(said_cur != acc.currency, said_digits != acc.currency_digits))
            .order_by(acc.login)
        )
        for login, cur, digits, said, s_digits, rid in self.c.execute(by_record):
            found.append(
                CurrencyMismatch(login, cur, digits, said, s_digits, f"audit record {rid}")
            )
        return found

    def accounts_count(self) -> int:
        return int(self.c.execute(select(func.count()).select_from(t.accounts)).scalar_one())

    def totals(self) -> dict[str, dict[str, int]]:
        e = t.ledger_entries.c
        columns = [func.count().label("entries")]
        for figure in ("balance", "credit", "bonus"):
            kinds = [k for k, (f, _) in KINDS.items() if f == figure]
            columns.append(
                func.coalesce(func.sum(case((e.kind.in_(kinds), e.amount), else_=0)), 0).label(
                    figure
                )
            )
        q = select(e.currency, *columns).group_by(e.currency).order_by(e.currency)
        return {
            r.currency: {
                name: int(getattr(r, name)) for name in ("entries", "balance", "credit", "bonus")
            }
            for r in self.c.execute(q)
        }

    def list(self, query: LedgerQuery) -> list[LedgerEntry]:
        e = t.ledger_entries.c
        conds: list[ColumnElement[bool]] = []
        if query.login is not None:
            conds.append(e.login == query.login)
        if query.kinds:
            conds.append(e.kind.in_(query.kinds))
        if query.time_from is not None:
            conds.append(e.at >= query.time_from)
        if query.time_to is not None:
            conds.append(e.at < query.time_to)
        if query.reference is not None:
            conds.append(e.reference == query.reference)
        if query.logins is not None:
            conds.append(e.login.in_(query.logins))
        if query.ids is not None:
            conds.append(e.id.in_(query.ids))
        if query.after_id is not None:
            conds.append(e.id > query.after_id)
        if query.group_ids is not None or query.broker_mask is not None:
            if query.group_ids is not None and not query.group_ids:
                return []
            conds.append(_reach(e.login, query.group_ids, query.broker_mask, self.c.dialect.name))
        q = select(t.ledger_entries).where(and_(True, *conds)).order_by(e.id).limit(query.limit)
        return [LedgerEntry(**_row(r)) for r in self.c.execute(q)]
