"""The approval commands and what they answer: decide an approval, set a threshold."""

from __future__ import annotations

from dataclasses import dataclass

from brokerplane.core.actor import needs
from brokerplane.core.approval.model import Approval
from brokerplane.core.ledger.commands import Posting
from brokerplane.core.money import Number

MAX_PAGE = 1000
DECISION_COMMENT_MAX = 255


@needs("balances:approve")
@dataclass(frozen=True)
class DecideApproval:
    approval_id: int
    approve: bool
    comment: str = ""


@needs("admin")
@dataclass(frozen=True)
class SetApprovalThreshold:
    """Hold operations above `amount` in `currency` (for `group` only, when given);
    `amount` None removes the threshold."""

    currency: str
    amount: Number | None
    group: str | None = None


@dataclass(frozen=True)
class Decision:
    approval: Approval
    posting: Posting | None = None


@needs("balances:write", "balances:approve")
@dataclass(frozen=True)
class ReadApproval:
    """One approval by id: for who may request held operations or decide them."""

    approval_id: int
