"""What a broker tells cTrader ID about a user beyond the profile: in-app controls (the
ribbons shown in the user's cTrader apps) and partner attribution (the partner id a user, or
one of the user's trading accounts, is attributed to).

Both are stored on the user (and, for an account-level partner id, on the link that made the
account the user's: cTrader's ctidTraderAccountId), audited, and read back. The rules of the
in-app controls are kept as sent, after the dialect has checked their shape; the core bounds
their size. Writing needs users:write, reading users:read, and the user within reach (a user
out of reach is answered as unknown).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from brokerplane.core.actor import Actor
from brokerplane.core.audit.service import record
from brokerplane.core.clock import Clock
from brokerplane.core.errors import NotFound, ValidationError
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.user.commands import Partner, ReadUser, SetInAppControls, SetPartner
from brokerplane.core.user.model import User, UserLink
from brokerplane.core.user.service import _load
from brokerplane.core.validate import MAX_LOGIN

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "PARTNER_MAX",
    "RULES_MAX_BYTES",
    "Partner",
    "SetInAppControls",
    "SetPartner",
    "get_in_app_controls",
    "get_partner",
    "set_in_app_controls",
    "set_partner",
]

RULES_MAX_BYTES = 16_384  # the in-app controls rules, as compact JSON
PARTNER_MAX = 255


def set_in_app_controls(uow: UnitOfWork, cmd: SetInAppControls, actor: Actor, clock: Clock) -> User:
    actor.require_for(cmd)
    if not isinstance(cmd.rules, dict):
        raise ValidationError.field("rules", "must be an object")
    size = len(json.dumps(cmd.rules, separators=(",", ":"), ensure_ascii=False).encode())
    if size > RULES_MAX_BYTES:
        raise ValidationError.field("rules", f"must be at most {RULES_MAX_BYTES} bytes as JSON")
    user = _load(uow, cmd.user_id, actor, for_update=True)
    now = clock()
    updated = replace(user, in_app_controls=dict(cmd.rules), updated_at=now)
    uow.users.update(updated)
    record(
        uow,
        actor,
        now,
        "user.in_app_controls_set",
        "user",
        user.id,
        {"in_app_controls": user.in_app_controls},
        {"in_app_controls": updated.in_app_controls},
    )
    return updated


def _link(uow: UnitOfWork, user: User, link_id: int, *, for_update: bool = False) -> UserLink:
    """The user's link `link_id`; another user's or none is an unknown trading account."""
    if isinstance(link_id, bool) or not isinstance(link_id, int) or not 0 < link_id <= MAX_LOGIN:
        raise NotFound(f"trading account {link_id} is not linked to user {user.id}")
    link = uow.users.link_by_id(link_id, for_update=for_update)
    if link is None or link.user_id != user.id:
        raise NotFound(f"trading account {link_id} is not linked to user {user.id}")
    return link


def _owner(
    uow: UnitOfWork,
    user_id: int | None,
    link_id: int | None,
    actor: Actor,
    *,
    for_update: bool = False,
) -> User:
    """The user named, or (none named) the owner of the trading account `link_id`."""
    if user_id is None:
        if link_id is None:
            raise ValidationError.field("user_id", "is required (or the trading account's id)")
        link = uow.users.link_by_id(link_id) if isinstance(link_id, int) else None
        if link is None:
            raise NotFound(f"trading account {link_id} is not linked to any user")
        user_id = link.user_id
    return _load(uow, user_id, actor, for_update=for_update)


def set_partner(uow: UnitOfWork, cmd: SetPartner, actor: Actor, clock: Clock) -> Partner:
    actor.require_for(cmd)
    if (
        not isinstance(cmd.partner_id, str)
        or len(cmd.partner_id) > PARTNER_MAX
        or ("\x00" in cmd.partner_id)
    ):
        raise ValidationError.field("partner_id", f"must be text of at most {PARTNER_MAX}")
    user = _owner(uow, cmd.user_id, cmd.link_id, actor, for_update=True)
    now = clock()
    if cmd.link_id is None:
        before = user.partner_id
        uow.users.update(replace(user, partner_id=cmd.partner_id, updated_at=now))
    else:
        link = _link(uow, user, cmd.link_id, for_update=True)
        before = link.partner_id
        uow.users.set_link_partner(link.id, cmd.partner_id)
    action = "user.partner_removed" if not cmd.partner_id else "user.partner_set"
    record(
        uow,
        actor,
        now,
        action,
        "user",
        user.id,
        {"link_id": cmd.link_id, "partner_id": before},
        {"link_id": cmd.link_id, "partner_id": cmd.partner_id},
    )
    return Partner(user.id, cmd.link_id, cmd.partner_id)


def get_partner(uow: UnitOfWork, user_id: int | None, link_id: int | None, actor: Actor) -> Partner:
    actor.require_for(ReadUser)
    user = _owner(uow, user_id, link_id, actor)
    if link_id is None:
        return Partner(user.id, None, user.partner_id)
    return Partner(user.id, link_id, _link(uow, user, link_id).partner_id)


def get_in_app_controls(uow: UnitOfWork, user_id: int, actor: Actor) -> dict[str, Any] | None:
    actor.require_for(ReadUser)
    return _load(uow, user_id, actor).in_app_controls
