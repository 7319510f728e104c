"""LedgerEntry and the kinds of money movement, each moving one of balance, credit or bonus."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from brokerplane.core.kinds import EntryKind, Figure, Operation

# kind -> (figure it moves, sign: +1 adds, -1 removes, 0 signed by the amount itself)
KINDS: dict[str, tuple[Figure, int]] = {
    EntryKind.DEPOSIT: (Figure.BALANCE, 1),
    EntryKind.WITHDRAWAL: (Figure.BALANCE, -1),
    EntryKind.CREDIT_IN: (Figure.CREDIT, 1),
    EntryKind.CREDIT_OUT: (Figure.CREDIT, -1),
    EntryKind.BONUS_IN: (Figure.BONUS, 1),
    EntryKind.BONUS_OUT: (Figure.BONUS, -1),
    EntryKind.CORRECTION: (Figure.BALANCE, 0),
    EntryKind.CHARGE: (Figure.BALANCE, -1),
    # A deal: its amount is the realised P/L (zero for a deal that opens), signed, and it may
    # take the balance below zero. Only trading posts it (core/trading).
    EntryKind.TRADE: (Figure.BALANCE, 0),
}
FIGURES: tuple[str, ...] = tuple(Figure)

# Operations a caller may ask for: every kind, plus signed shorthands that resolve to a kind
# by the amount's sign (credit +50 is credit_in 50, credit -50 is credit_out 50).
SIGNED_OPERATIONS: dict[str, tuple[EntryKind, EntryKind]] = {
    Operation.CREDIT: (EntryKind.CREDIT_IN, EntryKind.CREDIT_OUT),
    Operation.BONUS: (EntryKind.BONUS_IN, EntryKind.BONUS_OUT),
}
OPERATIONS: tuple[Operation, ...] = tuple(Operation)

COMMENT_MAX = 255
REFERENCE_MAX = 127
# The reference both legs of a transfer carry (core.ledger.transfer): `transfer:<16 hex>`.
# Reserved: no other posting may take a reference that starts with it.
TRANSFER_PREFIX = "transfer:"


def is_transfer_leg(entry: LedgerEntry) -> bool:
    return entry.kind in ("deposit", "withdrawal") and entry.reference.startswith(TRANSFER_PREFIX)


@dataclass
class LedgerEntry:
    """One money movement on one account; `amount` is the signed change to the kind's figure."""

    login: int
    kind: str
    amount: int
    balance_after: int
    credit_after: int
    bonus_after: int
    currency: str
    currency_digits: int
    at: datetime
    comment: str = ""
    reference: str = ""
    manager_login: int | None = None
    key_id: str | None = None
    operator_id: str | None = None
    request_id: str | None = None
    dialect: str = "system"
    approval_id: int | None = None
    approved_by: int | None = None
    id: int = 0

    @property
    def figure(self) -> str:
        return KINDS[self.kind][0]

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "login": self.login,
            "kind": self.kind,
            "amount": self.amount,
            "currency": self.currency,
            "balance_after": self.balance_after,
            "credit_after": self.credit_after,
            "bonus_after": self.bonus_after,
            "comment": self.comment,
            "reference": self.reference,
            "approval_id": self.approval_id,
            "currency_digits": self.currency_digits,
            "manager_login": self.manager_login,
        }


@dataclass(frozen=True)
class LedgerQuery:
    login: int | None = None
    kinds: tuple[str, ...] | None = None
    time_from: datetime | None = None
    time_to: datetime | None = None
    reference: str | None = None
    after_id: int | None = None
    limit: int = 100
    # Reach: only accounts in these groups / under white labels matching this mask.
    group_ids: tuple[int, ...] | None = None
    broker_mask: str | None = None
    # Only these accounts / these entries (batch reads).
    logins: tuple[int, ...] | None = None
    ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class FigureMismatch:
    """An account whose cached figure differs from the sum of its ledger entries."""

    login: int
    figure: str
    cached: int
    ledger: int
    currency: str
    currency_digits: int


@dataclass(frozen=True)
class CurrencyMismatch:
    """An account whose currency or digits differ from what one of its entries, or the record
    of its opening, says (a changed `currency_digits` multiplies every figure it holds)."""

    login: int
    currency: str
    currency_digits: int
    said_currency: str | None
    said_digits: int | None
    source: str  # "entry 12", "audit record 7"


class EntryFacts(NamedTuple):
    """What a ledger row says of itself (credit and bonus after are None where not recorded);
    a tuple, as millions of them stream through `ledger verify`."""

    id: int
    login: int
    kind: str
    amount: int
    balance_after: int
    credit_after: int | None
    bonus_after: int | None
    # The rest of the row, tied too; None where the caller did not read it (`full` False).
    currency: str | None = None
    currency_digits: int | None = None
    at: datetime | None = None
    comment: str | None = None
    reference: str | None = None
    manager_login: int | None = None
    approval_id: int | None = None
    approved_by: int | None = None
    full: bool = False


class EntryClaim(NamedTuple):
    """What an audit record (`ledger.entry_posted`, `trade.deal`) says of the entry it posted;
    None where the record does not say."""

    record_id: int
    entry_id: int | None
    login: str
    kind: str | None
    amount: int | None
    balance_after: int | None
    credit_after: int | None
    bonus_after: int | None
    currency: str | None = None
    currency_digits: int | None = None
    at: datetime | None = None  # the record's time: the entry's, posted in the same command
    comment: str | None = None
    reference: str | None = None
    # Whether the record says which approval the entry carried out (None: none); then `actor`
    # (the record's manager) is the poster, or the approver of an approved entry, whose
    # requester is `requester` where the record names it.
    approval_said: bool = False
    approval_id: int | None = None
    actor: int | None = None
    requester: int | None = None


@dataclass(frozen=True)
class EntryProblem:
    """A ledger entry and the audit trail disagree: no record, two records, other figures."""

    reason: str
    entry_id: int | None = None
    login: int | None = None
    record_id: int | None = None
