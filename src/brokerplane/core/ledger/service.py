"""Ledger rules: post a money movement (or hold it for approval), read history. The commands
are in commands.py; `ledger verify` is integrity.py.

Above the approval threshold an operation is held for a second manager, whoever asks and
through whichever dialect: nobody approves their own operation, not even a manager who holds
balances:approve. The native API answers a held operation with its 202; a dialect with no
"held" answer (MT5, cTrader, TraderEvolution) renders the same held posting as its refusal,
naming the approval, which a different manager approves through `/v1/approvals`. Where nothing
can be held (a starting balance posted with the account's opening, `on_threshold="refuse"`)
an operation above the threshold is refused with ApprovalRequired, for everyone.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from brokerplane.core.access import reach
from brokerplane.core.access.people import people_behind, people_text
from brokerplane.core.account.checks import check_login
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.approval.model import Approval
from brokerplane.core.audit.service import record
from brokerplane.core.clock import Clock
from brokerplane.core.config import CoreConfig
from brokerplane.core.errors import (
    AccountNotFound,
    AmountLimitExceeded,
    ApprovalRequired,
    FieldError,
    InsufficientFunds,
    InvalidAmount,
    ValidationError,
)
from brokerplane.core.kinds import EntryKind, Operation
from brokerplane.core.ledger.commands import (
    MAX_PAGE,
    ON_THRESHOLD,
    LedgerReport,
    Posting,
    PostLedgerEntry,
)
from brokerplane.core.ledger.integrity import audit_ledger, verify
from brokerplane.core.ledger.model import (
    COMMENT_MAX,
    KINDS,
    OPERATIONS,
    REFERENCE_MAX,
    SIGNED_OPERATIONS,
    TRANSFER_PREFIX,
    LedgerEntry,
    LedgerQuery,
)
from brokerplane.core.money import (
    MAX_MINOR,
    Currency,
    MinorUnits,
    Number,
    format_amount,
    format_minor,
    parse_decimal,
    to_minor,
)
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.trading import risk
from brokerplane.core.validate import Problems

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "MAX_PAGE",
    "LedgerReport",
    "Movement",
    "PostLedgerEntry",
    "Posting",
    "apply",
    "audit_ledger",
    "check_free_margin",
    "check_funds",
    "check_text",
    "currency_of",
    "figures",
    "list_entries",
    "load_for_update",
    "movement",
    "post_entry",
    "posting_of",
    "threshold_for",
    "verify",
]


@dataclass(frozen=True)
class Movement:
    """A checked request: kind and signed amount in minor units, not yet applied."""

    kind: EntryKind
    amount: int


def _magnitude(operation: Operation | str, amount: Number) -> tuple[Operation, Decimal, int]:
    """The operation's kind-to-be (or shorthand), its magnitude and its sign."""
    if not isinstance(operation, str) or operation not in OPERATIONS:
        raise ValidationError.field("kind", f"must be one of {', '.join(OPERATIONS)}")
    operation = Operation(operation)
    try:
        value = parse_decimal(amount, "amount")
    except ValidationError as err:
        raise InvalidAmount(err.detail, fields=err.fields) from None
    signed = operation in SIGNED_OPERATIONS or KINDS[EntryKind(operation)][1] == 0
    if signed:
        if value == 0:
            raise InvalidAmount.field("amount", "must not be zero")
        return operation, abs(value), 1 if value > 0 else -1
    if value <= 0:
        raise InvalidAmount.field("amount", "must be positive")
    return operation, value, 1


def check_text(comment: object, reference: object) -> None:
    p = Problems()
    p.text("comment", comment, COMMENT_MAX)
    p.text("reference", reference, REFERENCE_MAX)
    p.raise_if_any()


def movement(
    operation: Operation, magnitude: Decimal, sign: int, cur: Currency, config: CoreConfig
) -> Movement:
    """Resolve shorthands and convert to minor units, within the currency's digits and limit."""
    if magnitude > config.max_operation_amount:
        limit = format_amount(config.max_operation_amount, cur)
        raise AmountLimitExceeded.field(
            "amount", f"must be at most {limit} {cur.code} per operation"
        )
    try:
        units = to_minor(magnitude, cur)
    except ValidationError as err:
        raise InvalidAmount(err.detail, fields=err.fields) from None
    if operation in SIGNED_OPERATIONS:
        plus, minus = SIGNED_OPERATIONS[operation]
        kind = plus if sign > 0 else minus
    else:
        kind = EntryKind(operation)
    return Movement(kind, units * (KINDS[kind][1] or sign))


def currency_of(acc: Account) -> Currency:
    return Currency(acc.currency, acc.currency_digits)


def figures(acc: Account) -> dict[str, int]:
    return {"balance": acc.balance, "credit": acc.credit, "bonus": acc.bonus}


def check_funds(acc: Account, move: Movement) -> dict[str, int]:
    """The account's figures after the movement; refuses any figure going below zero."""
    figure = KINDS[move.kind][0]
    after = figures(acc)
    after[figure] += move.amount
    if after[figure] > MAX_MINOR:
        raise AmountLimitExceeded.field(
            "amount", f"would take the {figure} beyond the largest amount brokerplane stores"
        )
    if move.amount < 0 and after[figure] < 0:
        cur = currency_of(acc)
        held = format_minor(getattr(acc, figure), cur)
        wanted = format_minor(-move.amount, cur)
        raise InsufficientFunds(
            f"{move.kind} of {wanted} {cur.code} exceeds the account's {figure} of {held}",
            fields=[FieldError("amount", f"exceeds the {figure} held ({held} {cur.code})")],
            login=acc.login,
            figure=figure,
            available=held,
        )
    return after


def check_free_margin(uow: UnitOfWork, acc: Account, move: Movement) -> None:
    """Money out of an account with open positions may not exceed its free margin."""
    if move.amount >= 0:
        return
    state = risk.account_risk(uow, acc)
    if not state.positions or -move.amount <= state.free_margin:
        return
    cur = currency_of(acc)
    free = format_minor(max(state.free_margin, 0), cur)
    wanted = format_minor(-move.amount, cur)
    raise InsufficientFunds(
        f"{move.kind} of {wanted} {cur.code} exceeds the account's free margin of {free}",
        fields=[FieldError("amount", f"exceeds the free margin ({free} {cur.code})")],
        login=acc.login,
        figure="free_margin",
        available=free,
    )


def load_for_update(uow: UnitOfWork, login: int, actor: Actor) -> Account:
    """The account, locked, if it exists and is within the actor's reach."""
    acc = uow.accounts.get(login, for_update=True)
    if acc is None:
        raise AccountNotFound(login)
    return reach.check_account(actor, acc)


def apply(
    uow: UnitOfWork,
    acc: Account,
    move: Movement,
    actor: Actor,
    now: datetime,
    *,
    comment: str,
    reference: str,
    origin: Approval | None = None,
    margin: bool = True,
    audited: bool = True,
) -> tuple[LedgerEntry, Account]:
    """Append the entry and move the cached figure in the same transaction, audited.

    `origin`: the approval being carried out (its approver is the actor); `margin`: whether
    money out is limited by the free margin too; `audited` False: the caller writes the one
    record that names this entry (a transfer names both of its legs in one record)."""
    after = check_funds(acc, move)
    if margin:
        check_free_margin(uow, acc, move)
    entry = LedgerEntry(
        login=acc.login,
        kind=move.kind,
        amount=move.amount,
        balance_after=after["balance"],
        credit_after=after["credit"],
        bonus_after=after["bonus"],
        currency=acc.currency,
        currency_digits=acc.currency_digits,
        at=now,
        comment=comment,
        reference=reference,
        manager_login=origin.requested_by if origin else actor.manager_login,
        key_id=origin.requested_key if origin else actor.key_id,
        operator_id=origin.requested_operator if origin else actor.operator_id,
        request_id=origin.request_id if origin else actor.request_id,
        dialect=origin.dialect if origin else actor.dialect,
        approval_id=origin.id if origin else None,
        approved_by=actor.manager_login if origin else None,
    )
    uow.ledger.add(entry)
    # dataclasses.replace with these four, without passing the other 60-odd fields through
    # __init__ again (Account has no __post_init__; its lists and dicts are shared either way)
    updated = copy.copy(acc)
    updated.balance, updated.credit, updated.bonus = (
        after["balance"],
        after["credit"],
        after["bonus"],
    )
    updated.updated_at = now
    uow.accounts.set_figures(acc.login, after["balance"], after["credit"], after["bonus"], now)
    if not audited:
        return entry, updated
    record(
        uow,
        actor,
        now,
        "ledger.entry_posted",
        "account",
        acc.login,
        figures(acc),
        {**after, "entry": entry.snapshot()},
    )
    return entry, updated


def threshold_for(uow: UnitOfWork, acc: Account) -> int | None:
    """The approval threshold (minor units) for this account: its group's, else its currency's."""
    return uow.thresholds.applicable(acc.currency, acc.group_id)


def post_entry(
    uow: UnitOfWork, cmd: PostLedgerEntry, actor: Actor, clock: Clock, config: CoreConfig
) -> Posting:
    actor.require_for(cmd)
    if cmd.on_threshold not in ON_THRESHOLD:
        raise ValidationError.field("on_threshold", f"must be one of {', '.join(ON_THRESHOLD)}")
    minor = cmd.amount if isinstance(cmd.amount, MinorUnits) else None
    # minor units are read at the account's digits below; their sign and zero are read here
    sent = Decimal(cmd.amount.units) if isinstance(cmd.amount, MinorUnits) else cmd.amount
    operation, magnitude, sign = _magnitude(cmd.operation, sent)
    check_text(cmd.comment, cmd.reference)
    if isinstance(cmd.reference, str) and cmd.reference.startswith(TRANSFER_PREFIX):
        raise ValidationError.field(
            "reference", f"must not start with {TRANSFER_PREFIX!r}: it marks transfers"
        )
    login = check_login(cmd.login)
    acc = load_for_update(uow, login, actor)
    cur = currency_of(acc)
    if minor is not None:  # in the account currency's minor units: its digits, read here
        magnitude = magnitude.scaleb(-cur.digits)
    move = movement(operation, magnitude, sign, cur, config)
    now = clock()
    threshold = threshold_for(uow, acc)
    if threshold is not None and abs(move.amount) > threshold:
        check_funds(acc, move)  # refuse now what could never be applied
        if cmd.check_margin:
            check_free_margin(uow, acc, move)
        if cmd.on_threshold == "refuse":
            raise _approval_required(acc, move, threshold)
        approval = Approval(
            login=login,
            kind=move.kind,
            amount=move.amount,
            currency=cur.code,
            currency_digits=cur.digits,
            requested_at=now,
            expires_at=now + config.approval_ttl,
            comment=cmd.comment,
            reference=cmd.reference,
            requested_by=actor.manager_login,
            requested_people=people_text(people_behind(uow, actor)) or None,
            requested_key=actor.key_id,
            requested_operator=actor.operator_id,
            request_id=actor.request_id,
            dialect=actor.dialect,
        )
        uow.approvals.add(approval)
        record(
            uow,
            actor,
            now,
            "approval.requested",
            "approval",
            approval.id,
            None,
            approval.snapshot(),
        )
        return Posting(
            "pending_approval",
            login,
            move.kind,
            move.amount,
            cur,
            acc.balance,
            acc.credit,
            acc.bonus,
            approval=approval,
            comment=cmd.comment,
            reference=cmd.reference,
        )
    entry, updated = apply(
        uow,
        acc,
        move,
        actor,
        now,
        comment=cmd.comment,
        reference=cmd.reference,
        margin=cmd.check_margin,
    )
    return posting_of(entry, updated)


def _approval_required(acc: Account, move: Movement, threshold: int) -> ApprovalRequired:
    """An above-threshold operation that cannot be held: refused, whatever the actor's rights
    (the approve right approves others' operations, never one's own)."""
    cur = currency_of(acc)
    wanted = format_minor(abs(move.amount), cur)
    limit = format_minor(threshold, cur)
    return ApprovalRequired(
        f"{move.kind} of {wanted} {cur.code} is above the approval threshold of {limit} "
        f"{cur.code} and cannot be held here; post it on its own, where a second manager "
        "approves it",
        fields=[FieldError("amount", f"above the approval threshold ({limit} {cur.code})")],
        login=acc.login,
        threshold=limit,
    )


def posting_of(entry: LedgerEntry, acc: Account) -> Posting:
    return Posting(
        "applied",
        entry.login,
        entry.kind,
        entry.amount,
        currency_of(acc),
        entry.balance_after,
        entry.credit_after,
        entry.bonus_after,
        entry=entry,
        comment=entry.comment,
        reference=entry.reference,
    )


def list_entries(uow: UnitOfWork, query: LedgerQuery, actor: Actor) -> list[LedgerEntry]:
    """One page of entries, oldest first, after `after_id`."""
    actor.require_any("balances:write", "reports:read")
    if not 1 <= query.limit <= MAX_PAGE:
        raise ValidationError.field("limit", f"must be between 1 and {MAX_PAGE}")
    for kind in query.kinds or ():
        if kind not in KINDS:
            raise ValidationError.field("kind", f"must be among {', '.join(KINDS)}")
    if query.reference is not None and len(query.reference) > REFERENCE_MAX:
        raise ValidationError.field("reference", f"is longer than {REFERENCE_MAX} characters")
    if query.login is not None:
        acc = uow.accounts.get(check_login(query.login))
        if acc is None:
            raise AccountNotFound(query.login)
        reach.check_account(actor, acc)
    group_ids, brokers = reach.query_scope(uow, actor)
    return uow.ledger.list(replace(query, group_ids=group_ids, broker_mask=brokers))
