"""The money ports: the ledger, approvals held for a second manager, approval thresholds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Protocol

from brokerplane.core.approval.model import Approval, ApprovalQuery, ApprovalThreshold
from brokerplane.core.ledger.model import (
    CurrencyMismatch,
    EntryFacts,
    FigureMismatch,
    LedgerEntry,
    LedgerQuery,
)


class LedgerRepository(Protocol):
    def add(self, entry: LedgerEntry) -> LedgerEntry:
        """Append the entry; its `id` is set from storage."""
        ...

    def mismatches(self) -> list[FigureMismatch]: ...
    def figures_of(self, login: int) -> tuple[int, int, int]:
        """The balance, credit and bonus the account's entries add up to (minor units)."""
        ...

    def currency_mismatches(self) -> list[CurrencyMismatch]:
        """Accounts whose currency or digits differ from one of their entries' or from their
        newest `account.opened` record's."""
        ...

    def list(self, query: LedgerQuery) -> list[LedgerEntry]: ...
    def iter_facts(self) -> Iterator[EntryFacts]:
        """Every entry's figures, in id order, streamed."""
        ...

    def accounts_count(self) -> int:
        """How many account rows there are (deleted ones too: their figures are checked)."""
        ...

    def totals(self) -> dict[str, dict[str, int]]:
        """Per currency: the entry count and the balance, credit and bonus the entries add up to."""
        ...


class ApprovalRepository(Protocol):
    def add(self, approval: Approval) -> Approval: ...
    def get(self, approval_id: int, *, for_update: bool = False) -> Approval | None: ...
    def update(self, approval: Approval) -> None: ...
    def due(self, now: datetime) -> list[Approval]:
        """Pending approvals whose expiry has passed."""
        ...

    def list(self, query: ApprovalQuery) -> list[Approval]: ...
    def count_pending(self) -> int:
        """How many approvals wait for a decision (all groups and managers)."""
        ...


class ThresholdRepository(Protocol):
    def find(self, currency: str, group_id: int) -> ApprovalThreshold | None: ...
    def applicable(self, currency: str, group_id: int) -> int | None:
        """The amount of the group's threshold for the currency, else of the currency's own
        (group 0), else None: one read on the money path."""
        ...

    def list(self) -> list[ApprovalThreshold]: ...
    def put(self, threshold: ApprovalThreshold) -> None: ...
    def delete(self, currency: str, group_id: int) -> None: ...
