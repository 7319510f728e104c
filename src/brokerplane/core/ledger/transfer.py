"""Transfers: money from one account to another as one ledger operation.

Both legs post in one transaction (a withdrawal from the source, a deposit into the target,
each an ordinary ledger entry with its own `ledger.entry_posted` record, so `ledger verify`
ties them as it ties any entry), carry one reference (`transfer:<16 hex digits>`) and are
named together by one `ledger.transferred` audit record. Both accounts are locked in login
order. The accounts must be two different accounts in reach, in one currency; with
`same_owner` (TraderEvolution's transfers between a user's accounts) they must belong to one
user. A transfer is never held for approval (two legs cannot wait for a second manager): above
the approval threshold it is refused with ApprovalRequired. Retry safety is the caller's
request id, as for every money command (Services._write).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from brokerplane.core.account.service import check_login
from brokerplane.core.actor import Actor
from brokerplane.core.audit.service import record
from brokerplane.core.clock import Clock
from brokerplane.core.config import CoreConfig
from brokerplane.core.errors import CurrencyMismatch, FieldError, ValidationError
from brokerplane.core.ledger.model import TRANSFER_PREFIX
from brokerplane.core.ledger.service import (
    Posting,
    _approval_required,
    _magnitude,
    apply,
    check_text,
    currency_of,
    load_for_update,
    movement,
    posting_of,
    threshold_for,
)
from brokerplane.core.money import format_minor
from brokerplane.core.ports import UnitOfWork


@dataclass(frozen=True)
class TransferFunds:
    from_login: int
    to_login: int
    amount: object
    comment: str = ""
    same_owner: bool = False


@dataclass(frozen=True)
class Transfer:
    reference: str
    out: Posting
    into: Posting


def transfer(
    uow: UnitOfWork, cmd: TransferFunds, actor: Actor, clock: Clock, config: CoreConfig
) -> Transfer:
    actor.require("balances:write")
    source, target = (
        check_login(cmd.from_login, "fromAccountId"),
        check_login(cmd.to_login, "toAccountId"),
    )
    if source == target:
        raise ValidationError.field("toAccountId", "must be another account than the source")
    check_text(cmd.comment, "")
    _, magnitude, sign = _magnitude("withdrawal", cmd.amount)
    if sign < 0 or magnitude <= 0:
        raise ValidationError.field("amount", "must be a positive amount to transfer")
    locked = {login: load_for_update(uow, login, actor) for login in sorted((source, target))}
    src, dst = locked[source], locked[target]
    if (src.currency, src.currency_digits) != (dst.currency, dst.currency_digits):
        raise CurrencyMismatch(
            f"account {source} is in {src.currency} and account {target} in {dst.currency}; "
            "a transfer moves one currency",
            fields=[FieldError("toAccountId", f"is in {dst.currency}, not {src.currency}")],
        )
    if cmd.same_owner and (src.user_id is None or src.user_id != dst.user_id):
        raise ValidationError.field("toAccountId", "must be another account of the same user")
    out_move = movement("withdrawal", magnitude, 1, currency_of(src), config)
    in_move = movement("deposit", magnitude, 1, currency_of(dst), config)
    for acc, move in ((src, out_move), (dst, in_move)):
        threshold = threshold_for(uow, acc)
        if threshold is not None and abs(move.amount) > threshold:
            raise _approval_required(acc, move, threshold)
    now = clock()
    reference = f"{TRANSFER_PREFIX}{secrets.token_hex(8)}"
    out_entry, out_acc = apply(uow, src, out_move, actor, now, comment=cmd.comment,
                               reference=reference, margin=True)  # fmt: skip
    in_entry, in_acc = apply(uow, dst, in_move, actor, now, comment=cmd.comment,
                             reference=reference, margin=True)  # fmt: skip
    record(uow, actor, now, "ledger.transferred", "transfer", reference, None, {
        "from": source, "to": target, "amount": format_minor(in_move.amount, currency_of(src)),
        "currency": src.currency, "entries": [out_entry.id, in_entry.id],
        "comment": cmd.comment,
    })  # fmt: skip
    return Transfer(reference, posting_of(out_entry, out_acc), posting_of(in_entry, in_acc))
