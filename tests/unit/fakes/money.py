"""Fake ledger, approvals and approval thresholds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from brokerplane.core.approval.model import Approval, ApprovalQuery, ApprovalThreshold
from brokerplane.core.errors import Conflict
from brokerplane.core.ledger.model import (
    FIGURES,
    KINDS,
    CurrencyMismatch,
    EntryFacts,
    FigureMismatch,
    LedgerEntry,
    LedgerQuery,
)
from tests.unit.fakes.base import _copy, _Repo


class FakeLedger(_Repo):
    def add(self, entry: LedgerEntry) -> LedgerEntry:
        self._writing()
        if entry.login not in self._s.accounts:
            raise Conflict("foreign key: ledger_entries.login")
        entry.id = self._s.next_ledger_id
        self._s.next_ledger_id += 1
        self._s.ledger.append(_copy(entry))
        return entry

    def mismatches(self) -> list[FigureMismatch]:
        """Per account in login order, each cached figure that is not the sum of its entries."""
        sums: dict[int, dict[str, int]] = {}
        for entry in self._s.ledger:
            totals = sums.setdefault(entry.login, dict.fromkeys(FIGURES, 0))
            totals[KINDS[entry.kind][0]] += entry.amount
        found = []
        for login in sorted(self._s.accounts):
            acc = self._s.accounts[login]
            totals = sums.get(login, dict.fromkeys(FIGURES, 0))
            for figure in FIGURES:
                cached = getattr(acc, figure)
                if cached != totals[figure]:
                    found.append(
                        FigureMismatch(
                            login, figure, cached, totals[figure], acc.currency, acc.currency_digits
                        )
                    )
        return found

    def figures_of(self, login: int) -> tuple[int, int, int]:
        totals = dict.fromkeys(FIGURES, 0)
        for entry in self._s.ledger:
            if entry.login == login:
                totals[KINDS[entry.kind][0]] += entry.amount
        return totals["balance"], totals["credit"], totals["bonus"]

    def iter_facts(self) -> Iterator[EntryFacts]:
        for x in sorted(self._s.ledger, key=lambda e: e.id):
            yield EntryFacts(
                x.id, x.login, x.kind, x.amount, x.balance_after, x.credit_after, x.bonus_after
            )

    def currency_mismatches(self) -> list[CurrencyMismatch]:
        found = []
        for x in sorted(self._s.ledger, key=lambda e: e.id):
            acc = self._s.accounts[x.login]
            if (x.currency, x.currency_digits) != (acc.currency, acc.currency_digits):
                found.append(
                    CurrencyMismatch(
                        acc.login,
                        acc.currency,
                        acc.currency_digits,
                        x.currency,
                        x.currency_digits,
                        f"entry {x.id}",
                    )
                )
        return found

    def accounts_count(self) -> int:
        return len(self._s.accounts)

    def totals(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for x in self._s.ledger:
            sums = out.setdefault(x.currency, {"entries": 0, **dict.fromkeys(FIGURES, 0)})
            sums["entries"] += 1
            sums[KINDS[x.kind][0]] += x.amount
        return dict(sorted(out.items()))

    def list(self, query: LedgerQuery) -> list[LedgerEntry]:
        out = []
        for entry in sorted(self._s.ledger, key=lambda e: e.id):
            if query.login is not None and entry.login != query.login:
                continue
            if query.logins is not None and entry.login not in query.logins:
                continue
            if query.ids is not None and entry.id not in query.ids:
                continue
            if query.kinds and entry.kind not in query.kinds:
                continue
            if query.time_from is not None and entry.at < query.time_from:
                continue
            if query.time_to is not None and entry.at >= query.time_to:
                continue
            if query.reference is not None and entry.reference != query.reference:
                continue
            if query.after_id is not None and entry.id <= query.after_id:
                continue
            if not self._in_reach(entry.login, query.group_ids, query.broker_mask):
                continue
            out.append(_copy(entry))
            if len(out) == query.limit:
                break
        return out


class FakeApprovals(_Repo):
    def add(self, approval: Approval) -> Approval:
        self._writing()
        if approval.login not in self._s.accounts:
            raise Conflict("foreign key: approvals.login")
        approval.id = self._s.next_approval_id
        self._s.next_approval_id += 1
        self._s.approvals[approval.id] = _copy(approval)
        return approval

    def get(self, approval_id: int, *, for_update: bool = False) -> Approval | None:
        found = self._s.approvals.get(approval_id)
        return _copy(found) if found else None

    def update(self, approval: Approval) -> None:
        self._writing()
        if approval.id in self._s.approvals:
            self._s.approvals[approval.id] = _copy(approval)

    def due(self, now: datetime) -> list[Approval]:
        return [
            _copy(self._s.approvals[i])
            for i in sorted(self._s.approvals)
            if self._s.approvals[i].state == "pending" and self._s.approvals[i].expires_at <= now
        ]

    def list(self, query: ApprovalQuery) -> list[Approval]:
        out = []
        for approval_id in sorted(self._s.approvals):
            held = self._s.approvals[approval_id]
            if query.state is not None and held.state != query.state:
                continue
            if query.login is not None and held.login != query.login:
                continue
            if query.after_id is not None and approval_id <= query.after_id:
                continue
            if not self._in_reach(held.login, query.group_ids, query.broker_mask):
                continue
            out.append(_copy(held))
            if len(out) == query.limit:
                break
        return out

    def count_pending(self) -> int:
        return sum(1 for held in self._s.approvals.values() if held.state == "pending")


class FakeThresholds(_Repo):
    def _out(self, threshold: ApprovalThreshold) -> ApprovalThreshold:
        out = _copy(threshold)
        group = self._s.groups.get(threshold.group_id)
        out.group = group.name if group else None  # the outer join the SQL repository makes
        return out

    def find(self, currency: str, group_id: int) -> ApprovalThreshold | None:
        found = self._s.thresholds.get((currency, group_id))
        return self._out(found) if found else None

    def applicable(self, currency: str, group_id: int) -> int | None:
        for key in ((currency, group_id), (currency, 0)):
            if key in self._s.thresholds:
                return self._s.thresholds[key].amount
        return None

    def list(self) -> list[ApprovalThreshold]:
        return [self._out(self._s.thresholds[k]) for k in sorted(self._s.thresholds)]

    def put(self, threshold: ApprovalThreshold) -> None:
        self._writing()
        stored = _copy(threshold)
        stored.group = None
        self._s.thresholds[(threshold.currency, threshold.group_id)] = stored

    def delete(self, currency: str, group_id: int) -> None:
        self._writing()
        self._s.thresholds.pop((currency, group_id), None)
