"""Approval and ApprovalThreshold: a held money operation and the amounts that cause holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

STATES = ("pending", "approved", "rejected", "expired")


@dataclass
class Approval:
    """A money operation above its threshold, held until a second manager decides."""

    login: int
    kind: str
    amount: int
    currency: str
    currency_digits: int
    requested_at: datetime
    expires_at: datetime
    comment: str = ""
    reference: str = ""
    state: str = "pending"
    requested_by: int | None = None
    # people_behind the requester when the operation was held (people_text); None: only
    # requested_by is known (held before they were recorded).
    requested_people: str | None = None
    requested_key: str | None = None
    requested_operator: str | None = None
    request_id: str | None = None
    dialect: str = "system"
    decided_by: int | None = None
    decided_operator: str | None = None
    decided_at: datetime | None = None
    decision_comment: str = ""
    entry_id: int | None = None
    id: int = 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "login": self.login,
            "kind": self.kind,
            "amount": self.amount,
            "currency": self.currency,
            "state": self.state,
            "requested_by": self.requested_by,
            "decided_by": self.decided_by,
            "decision_comment": self.decision_comment,
            "entry_id": self.entry_id,
            "currency_digits": self.currency_digits,
            "comment": self.comment,
            "reference": self.reference,
        }


@dataclass(frozen=True)
class ApprovalQuery:
    state: str | None = None
    login: int | None = None
    after_id: int | None = None
    limit: int = 100
    # Reach: only accounts in these groups / under white labels matching this mask.
    group_ids: tuple[int, ...] | None = None
    broker_mask: str | None = None


@dataclass
class ApprovalThreshold:
    """Operations in `currency` above `amount` (minor units) need approval; `group_id` 0 is
    the currency-wide default, any other id overrides it for that group."""

    currency: str
    amount: int
    currency_digits: int = 2
    group_id: int = 0
    group: str | None = None
    updated_at: datetime | None = None
