"""Transfers: money from one account's balance to another's as one ledger operation.

A transfer is two entries posted in one transaction — a `withdrawal` on the source and a
`deposit` on the target, of the same amount — and one audit record, `ledger.transfer`, that
names both (`ledger verify` ties each leg to it). Both accounts must exist, be within the
actor's reach and hold the same currency (an exchange is not a transfer: CurrencyMismatch).
The source may not go below zero nor, with open positions, below its free margin.

Approval thresholds apply to both accounts: a transfer above the threshold of either is refused
with ApprovalRequired (a held approval moves one account; a transfer cannot be half held). Post
the two legs as a withdrawal and a deposit, each held for a second manager, instead.

Both legs carry one reference, `transfer:<the caller's reference>` (or `transfer:<16 hex>` when
the caller gives none): the prefix is reserved (`post_entry` refuses it), so reports can tell a
transfer's legs from cash in and out (`is_transfer_leg`). With `same_owner` (TraderEvolution's
transfers between a user's accounts) both accounts must belong to one user.

Retry safety comes from the caller's idempotency key (the dialect claims it around the command),
as for every other money write. The accounts are locked in login order, so two transfers
crossing the same pair in opposite directions wait for each other instead of deadlocking.

Dialects call `Application.transfer_funds(TransferFunds(...), actor)`; the native API serves it at
`POST /v1/balances/transfer`.
"""

from __future__ import annotations

import secrets
from typing import Any

from brokerplane.core.account.checks import check_login
from brokerplane.core.actor import Actor
from brokerplane.core.audit.service import record
from brokerplane.core.clock import Clock
from brokerplane.core.config import CoreConfig
from brokerplane.core.errors import (
    ApprovalRequired,
    CurrencyMismatch,
    FieldError,
    InvalidAmount,
    ValidationError,
)
from brokerplane.core.kinds import Operation
from brokerplane.core.ledger.commands import Transfer, TransferFunds
from brokerplane.core.ledger.model import REFERENCE_MAX, TRANSFER_PREFIX
from brokerplane.core.ledger.service import (
    _approval_required,
    apply,
    check_free_margin,
    check_funds,
    check_text,
    currency_of,
    figures,
    load_for_update,
    movement,
    posting_of,
    threshold_for,
)
from brokerplane.core.money import format_minor, parse_decimal
from brokerplane.core.ports import UnitOfWork

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "Transfer",
    "TransferFunds",
    "transfer",
]


def _comment(given: str, words: str, login: int) -> str:
    return given if given else f"{words} {login}"


def transfer(
    uow: UnitOfWork, cmd: TransferFunds, actor: Actor, clock: Clock, config: CoreConfig
) -> Transfer:
    actor.require_for(cmd)
    source, target = check_login(cmd.source, "from_login"), check_login(cmd.target, "to_login")
    if source == target:
        raise ValidationError.field("to_login", "must be another account than from_login")
    try:
        magnitude = parse_decimal(cmd.amount, "amount")
    except ValidationError as err:
        raise InvalidAmount(err.detail, fields=err.fields) from None
    if magnitude <= 0:
        raise InvalidAmount.field("amount", "must be positive")
    check_text(cmd.comment, cmd.reference)
    if len(cmd.reference) > REFERENCE_MAX - len(TRANSFER_PREFIX):
        raise ValidationError.field(
            "reference", f"must be at most {REFERENCE_MAX - len(TRANSFER_PREFIX)} characters"
        )
    reference = TRANSFER_PREFIX + (cmd.reference or secrets.token_hex(8))
    # Lock in login order: two transfers over one pair never hold one lock each.
    locked = {login: load_for_update(uow, login, actor) for login in sorted((source, target))}
    src, dst = locked[source], locked[target]
    if (src.currency, src.currency_digits) != (dst.currency, dst.currency_digits):
        raise CurrencyMismatch.field(
            "to_login",
            f"account {source} is in {src.currency} and account {target} in {dst.currency}; "
            "a transfer moves one currency",
        )
    if cmd.same_owner and (src.user_id is None or src.user_id != dst.user_id):
        raise ValidationError(
            f"account {target} does not belong to the owner of account {source}",
            fields=[FieldError("to_login", "must be another account of the same user")],
        )
    cur = currency_of(src)
    out = movement(Operation.WITHDRAWAL, magnitude, 1, cur, config)
    into = movement(Operation.DEPOSIT, magnitude, 1, cur, config)
    check_funds(src, out)
    check_funds(dst, into)
    if cmd.check_margin:
        check_free_margin(uow, src, out)
    for acc, move in ((src, out), (dst, into)):
        threshold = threshold_for(uow, acc)
        if threshold is not None and abs(move.amount) > threshold:
            refusal = _approval_required(acc, move, threshold)
            limit = refusal.context.get("threshold")
            raise ApprovalRequired(
                f"a transfer of {format_minor(into.amount, cur)} {cur.code} is above the "
                f"approval threshold of {limit} {cur.code} of account {acc.login}; a transfer "
                "is not held: post a withdrawal and a deposit, each approved by a second manager",
                fields=refusal.fields,
                login=acc.login,
                threshold=limit,
            )
    now = clock()
    before: dict[str, Any] = {"from": figures(src), "to": figures(dst)}
    out_entry, src_after = apply(
        uow,
        src,
        out,
        actor,
        now,
        audited=False,
        margin=False,
        comment=_comment(cmd.comment, "transfer to", target),
        reference=reference,
    )
    in_entry, dst_after = apply(
        uow,
        dst,
        into,
        actor,
        now,
        audited=False,
        margin=False,
        comment=_comment(cmd.comment, "transfer from", source),
        reference=reference,
    )
    after = {
        "from": {**figures(src_after), "entry": out_entry.snapshot()},
        "to": {**figures(dst_after), "entry": in_entry.snapshot()},
        "amount": into.amount,
        "currency": cur.code,
    }
    record(uow, actor, now, "ledger.transfer", "account", source, before, after)
    return Transfer(posting_of(out_entry, src_after), posting_of(in_entry, dst_after))
