"""Approval commands: decide held operations (re-checking the rules), expire them, thresholds."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from brokerplane.core.access import reach
from brokerplane.core.access.people import people_behind, people_of
from brokerplane.core.account.checks import check_login
from brokerplane.core.actor import Actor
from brokerplane.core.approval.commands import (
    DECISION_COMMENT_MAX,
    MAX_PAGE,
    DecideApproval,
    Decision,
    ReadApproval,
    SetApprovalThreshold,
)
from brokerplane.core.approval.model import STATES, Approval, ApprovalQuery, ApprovalThreshold
from brokerplane.core.audit.service import record
from brokerplane.core.clock import Clock
from brokerplane.core.config import CoreConfig
from brokerplane.core.errors import (
    ApprovalNotFound,
    ApprovalNotPending,
    CurrencyMismatch,
    InvalidAmount,
    PermissionDenied,
    ValidationError,
)
from brokerplane.core.group.service import get_group
from brokerplane.core.kinds import Operation
from brokerplane.core.ledger import service as ledger
from brokerplane.core.money import currency, parse_decimal, to_minor
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.validate import Problems

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "DecideApproval",
    "Decision",
    "SetApprovalThreshold",
    "decide",
    "expire_due",
    "get_approval",
    "list_approvals",
    "list_thresholds",
    "set_threshold",
]


def _load(uow: UnitOfWork, approval_id: int, actor: Actor, *, for_update: bool = False) -> Approval:
    """The approval, if it exists and its account is within the actor's reach."""
    if isinstance(approval_id, bool) or not isinstance(approval_id, int) or approval_id < 1:
        raise ValidationError.field("approval_id", "must be a positive integer")
    found = uow.approvals.get(approval_id, for_update=for_update)
    if found is None:
        raise ApprovalNotFound(approval_id)
    acc = uow.accounts.get(found.login)
    if acc is None or not actor.reaches(acc.group, acc.broker):
        raise ApprovalNotFound(approval_id)
    return found


def decide(
    uow: UnitOfWork, cmd: DecideApproval, actor: Actor, clock: Clock, config: CoreConfig
) -> Decision:
    """Approve (apply now, rules re-checked) or reject a pending operation."""
    actor.require_for(cmd)
    p = Problems()
    p.text("comment", cmd.comment, DECISION_COMMENT_MAX)
    p.raise_if_any()
    held = _load(uow, cmd.approval_id, actor, for_update=True)
    now = clock()
    if held.state != "pending":
        raise ApprovalNotPending(held.id, held.state)
    if held.expires_at <= now:
        raise ApprovalNotPending(held.id, "expired")  # the sweep records the expiry
    requesters = people_of(held.requested_people, held.requested_by)
    if actor.manager_login is None or requesters & people_behind(uow, actor):
        # neither side may act through a key minted for another manager: the people behind
        # the request and behind the decision must be different people
        raise PermissionDenied(
            "a manager other than the one who requested the operation must decide it "
            "(with a key neither held nor minted by the requester, nor by whoever minted "
            "the requester's key)",
            approval_id=held.id,
        )
    before = held.snapshot()
    decided = replace(
        held,
        decided_by=actor.manager_login,
        decided_operator=actor.operator_id,
        decided_at=now,
        decision_comment=cmd.comment,
    )
    posting = None
    if cmd.approve:
        acc = ledger.load_for_update(uow, held.login, actor)
        cur = ledger.currency_of(acc)
        magnitude = Decimal(abs(held.amount)).scaleb(-cur.digits)
        kind = Operation(held.kind)
        move = ledger.movement(kind, magnitude, 1 if held.amount > 0 else -1, cur, config)
        entry, updated = ledger.apply(
            uow, acc, move, actor, now, comment=held.comment, reference=held.reference, origin=held
        )
        decided.state, decided.entry_id = "approved", entry.id
        posting = ledger.posting_of(entry, updated)
        action = "approval.approved"
    else:
        decided.state = "rejected"
        action = "approval.rejected"
    uow.approvals.update(decided)
    record(uow, actor, now, action, "approval", held.id, before, decided.snapshot())
    return Decision(decided, posting)


def expire_due(uow: UnitOfWork, actor: Actor, now: datetime) -> int:
    """Mark every pending approval past its expiry as expired, each one audited."""
    count = 0
    for held in uow.approvals.due(now):
        before = held.snapshot()
        held.state, held.decided_at = "expired", now
        uow.approvals.update(held)
        record(uow, actor, now, "approval.expired", "approval", held.id, before, held.snapshot())
        count += 1
    return count


def get_approval(uow: UnitOfWork, approval_id: int, actor: Actor) -> Approval:
    actor.require_for(ReadApproval)
    return _load(uow, approval_id, actor)


def list_approvals(uow: UnitOfWork, query: ApprovalQuery, actor: Actor) -> list[Approval]:
    actor.require_any("balances:write", "balances:approve")
    if query.state is not None and query.state not in STATES:
        raise ValidationError.field("state", f"must be one of {', '.join(STATES)}")
    if not 1 <= query.limit <= MAX_PAGE:
        raise ValidationError.field("limit", f"must be between 1 and {MAX_PAGE}")
    if query.login is not None:
        check_login(query.login)  # beyond what storage holds is bad input, not a fault
    group_ids, brokers = reach.query_scope(uow, actor)
    return uow.approvals.list(replace(query, group_ids=group_ids, broker_mask=brokers))


def set_threshold(
    uow: UnitOfWork, cmd: SetApprovalThreshold, actor: Actor, clock: Clock
) -> ApprovalThreshold | None:
    """A group's threshold needs the group in reach (and no white-label limit); a currency's
    threshold applies in every group, so it needs unlimited reach. Raising the threshold that
    applies (the group's, else its currency's) or removing one weakens four eyes, so it needs
    unlimited reach too: within a limited reach a group's threshold may only be set or lowered."""
    actor.require_for(cmd)
    group = get_group(uow, cmd.group, actor) if cmd.group else None
    if group is None:
        reach.require_unlimited(actor, "a currency's approval threshold")
    else:
        reach.check_group_write(actor, group.name)
    cur = currency(cmd.currency if cmd.currency else (group.currency if group else ""))
    if group is not None:
        if cur.code != group.currency:
            raise CurrencyMismatch.field(
                "currency", f"group {group.name} is in {group.currency}, not {cur.code}"
            )
        cur = currency(group.currency, group.currency_digits)
    group_id = group.id if group else 0
    existing = uow.thresholds.find(cur.code, group_id)
    before = _threshold_snapshot(existing)
    now = clock()
    if cmd.amount is None:
        if existing is None:
            return None
        # removing a threshold weakens four eyes: not within a limited reach
        _require_weakening(actor, "removing an approval threshold")
        uow.thresholds.delete(cur.code, group_id)
        record(
            uow,
            actor,
            now,
            "approval_threshold.removed",
            "approval_threshold",
            f"{cur.code}:{group_id}",
            before,
            None,
        )
        return None
    try:
        value = parse_decimal(cmd.amount, "amount")
    except ValidationError as err:
        raise InvalidAmount(err.detail, fields=err.fields) from None
    if value < 0:
        raise InvalidAmount.field("amount", "must be zero or positive")
    try:
        units = to_minor(value, cur)
    except ValidationError as err:
        raise InvalidAmount(err.detail, fields=err.fields) from None
    applied = uow.thresholds.applicable(cur.code, group_id)
    if applied is not None and units > applied:
        # raising one weakens four eyes (a group's may only be lowered within a limited reach)
        _require_weakening(actor, "raising an approval threshold")
    threshold = ApprovalThreshold(
        currency=cur.code,
        amount=units,
        currency_digits=cur.digits,
        group_id=group_id,
        group=group.name if group else None,
        updated_at=now,
    )
    uow.thresholds.put(threshold)
    record(
        uow,
        actor,
        now,
        "approval_threshold.set",
        "approval_threshold",
        f"{cur.code}:{group_id}",
        before,
        _threshold_snapshot(threshold),
    )
    return threshold


def _require_weakening(actor: Actor, what: str) -> None:
    if not actor.unlimited_reach:
        raise PermissionDenied(
            f"{what} weakens four eyes; it needs unlimited reach (groups and white labels *)"
        )


def _threshold_snapshot(t: ApprovalThreshold | None) -> dict[str, object] | None:
    if t is None:
        return None
    return {"currency": t.currency, "group_id": t.group_id, "amount": t.amount}


def list_thresholds(uow: UnitOfWork, actor: Actor) -> list[ApprovalThreshold]:
    actor.require_any("balances:write", "balances:approve", "admin")
    return [t for t in uow.thresholds.list() if t.group is None or actor.reaches_group(t.group)]
