"""The ledger commands and what they answer: a posting, and the report of `ledger verify`."""

from __future__ import annotations

from dataclasses import dataclass, field

from brokerplane.core.actor import needs
from brokerplane.core.approval.model import Approval
from brokerplane.core.kinds import Operation, OperationName
from brokerplane.core.ledger.model import (
    CurrencyMismatch,
    EntryProblem,
    FigureMismatch,
    LedgerEntry,
)
from brokerplane.core.money import Amount, Currency, Number

MAX_PAGE = 1000

# What happens to an operation above the approval threshold.
ON_THRESHOLD = ("hold", "refuse")


@needs("balances:write")
@dataclass(frozen=True)
class PostLedgerEntry:
    """Move money on `login`: `operation` is a kind, or `credit`/`bonus` signed by the amount.

    `on_threshold`: above the approval threshold, "hold" the operation for a second manager, or
    "refuse" it (ApprovalRequired) where it cannot be held; never applied at once.
    """

    login: int
    operation: Operation | OperationName
    amount: Amount
    comment: str = ""
    reference: str = ""
    on_threshold: str = "hold"
    # Refuse taking money out beyond the free margin of an account with open positions (MT5's
    # check_margin=1, the default). False checks only that no figure goes below zero.
    check_margin: bool = True


@dataclass(frozen=True)
class Posting:
    """What a posting did: applied (with its entry) or held (with its approval)."""

    status: str
    login: int
    kind: str
    amount: int
    currency: Currency
    balance: int
    credit: int
    bonus: int
    entry: LedgerEntry | None = None
    approval: Approval | None = None
    comment: str = ""
    reference: str = ""

    @property
    def operation_id(self) -> int | None:
        return self.entry.id if self.entry else None


@dataclass(frozen=True)
class LedgerReport:
    """`ledger verify`'s findings: figures that are not the sums, entries the audit contradicts."""

    accounts: int
    entries: int
    figures: list[FigureMismatch]
    entry_problems: list[EntryProblem]
    # Accounts whose currency differs from their entries' or their opening record's.
    currencies: list[CurrencyMismatch] = field(default_factory=list)
    # Managers, API keys and approvals that differ from their newest audit record.
    row_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.figures or self.entry_problems or self.currencies or self.row_problems)


MAX_REPORTED = 1000


@needs("balances:write")
@dataclass(frozen=True)
class TransferFunds:
    """Move `amount` (positive, in the accounts' currency) from `source` to `target`."""

    source: int
    target: int
    amount: Number
    comment: str = ""
    reference: str = ""
    # Money out of a source with open positions may not exceed its free margin.
    check_margin: bool = True
    # Both accounts must belong to one user (TraderEvolution's transfers).
    same_owner: bool = False


@dataclass(frozen=True)
class Transfer:
    """What a transfer did: the source's withdrawal and the target's deposit, both applied."""

    source: Posting
    target: Posting

    @property
    def amount(self) -> int:
        return self.target.amount

    @property
    def reference(self) -> str:
        """The reference both legs carry (`transfer:...`)."""
        return self.target.entry.reference if self.target.entry else ""


@needs("users:read", "reports:read")
@dataclass(frozen=True)
class CheckBalance:
    """Re-add one account's entries and compare them with its cached figures (a read)."""

    login: int
