"""Reach: which accounts, groups and contact details an actor may see, enforced in the core.

An account outside the actor's reach is answered exactly as an account that does not exist
(NotFound), for reads and writes alike: a different answer would let a manager limited to
`demo\\*` learn which logins exist in `real\\*`. Groups out of reach are likewise NotFound. A
white label out of reach, named by the caller when opening or editing an account, is
PermissionDenied.
Without the `personal_data` right, contact fields read back empty, as MT5 does.

Settings that reach past any one manager's accounts (a currency-wide approval threshold, a
quote, a symbol) need unlimited reach; a group and its own threshold may be changed by a
manager whose group mask reaches the group and who is limited to no white label
(`check_group_write`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from brokerplane.core.account.model import PERSONAL_FIELDS, Account, blank_personal
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import AuditRecord
from brokerplane.core.errors import (
    AccountNotFound,
    FieldError,
    GroupNotFound,
    PermissionDenied,
    ReachTooNarrow,
)
from brokerplane.core.group.model import Group
from brokerplane.core.ports import UnitOfWork


def check_account(actor: Actor, acc: Account) -> Account:
    if not actor.reaches(acc.group, acc.broker):
        raise AccountNotFound(acc.login)
    return acc


def check_group(actor: Actor, group: Group) -> Group:
    if not actor.reaches_group(group.name):
        raise GroupNotFound(group.name)
    return group


def require_unlimited(actor: Actor, what: str) -> None:
    """`what` affects accounts of every group and white label: only unlimited reach may."""
    actor.require_unlimited(what)


def check_group_write(actor: Actor, name: str) -> None:
    """Creating or changing group `name` (or its approval threshold): every account in it must
    be within reach. The group must match the group mask, and the manager may be limited to
    no white label: a group's accounts may be under any white label, whatever the group's own."""
    if not actor.reaches_group(name) or actor.white_labels.strip() != "*":
        raise ReachTooNarrow(f"group {name!r}")


def check_broker(actor: Actor, group: Group, broker: str) -> None:
    """Opening an account (or moving one) under a white label out of reach is refused; the
    caller named the white label, so saying so reveals nothing."""
    if not actor.reaches(group.name, broker):
        raise broker_denied(broker)


def broker_denied(broker: str) -> PermissionDenied:
    return PermissionDenied(
        f"white label {broker!r} is outside this manager's reach",
        fields=[FieldError("broker", "is outside this manager's white labels")],
    )


def redact(actor: Actor, acc: Account) -> Account:
    if actor.has("personal_data"):
        return acc
    blank: dict[str, Any] = dict.fromkeys(PERSONAL_FIELDS, "")
    return replace(acc, **blank)


def redact_snapshot(actor: Actor, data: dict[str, Any] | None) -> dict[str, Any] | None:
    if data is None or actor.has("personal_data"):
        return data
    return blank_personal(data)


def redact_record(actor: Actor, rec: AuditRecord) -> AuditRecord:
    if actor.has("personal_data"):
        return rec
    return replace(
        rec, before=redact_snapshot(actor, rec.before), after=redact_snapshot(actor, rec.after)
    )


def query_scope(uow: UnitOfWork, actor: Actor) -> tuple[tuple[int, ...] | None, str | None]:
    """(group ids, white-label mask) that limit a listing to the actor's reach; None: no limit."""
    group_ids = None
    if actor.group_mask.strip() != "*":
        group_ids = tuple(g.id for g in uow.groups.list() if actor.reaches_group(g.name))
    brokers = None if actor.white_labels.strip() == "*" else actor.white_labels
    return group_ids, brokers
