"""The words every dialect without a "held" answer uses for an operation held for approval."""

from __future__ import annotations

from brokerplane.core.ledger.commands import Posting
from brokerplane.core.money import format_minor


def held_message(posting: Posting) -> str:
    """Why a held operation was not executed, naming the pending approval a second manager
    decides through `/v1/approvals`."""
    assert posting.approval is not None
    approval_id = posting.approval.id
    amount = format_minor(abs(posting.amount), posting.currency)
    return (
        f"{posting.kind} of {amount} {posting.currency.code} on account {posting.login} is "
        f"above the approval threshold: not executed, held as pending approval {approval_id}; "
        f"a different manager approves it with POST /v1/approvals/{approval_id}/approve"
    )


def is_held(posting: Posting) -> bool:
    return posting.status == "pending_approval"
