"""Brandings, plans, account presets and user groups as the TraderEvolution back office sees
them: admins create them; anyone who may read users lists them, within their reach.

A branding is a white label: its name is the `broker` of the groups, accounts and users under
it, so a manager's white-label mask limits which brandings (and whose users) it sees. A user
group is a core Group; its branding is its `broker` and its plan is its `plan_id`. brokerplane
is one server node, so every group is on server 1.
"""

from __future__ import annotations

from typing import Any

from brokerplane.core import masks
from brokerplane.core.access import reach
from brokerplane.core.actor import Actor
from brokerplane.core.audit.service import record
from brokerplane.core.backoffice.commands import (
    CreatePlan,
    CreatePreset,
    CreateUserGroup,
    CreateWhiteLabel,
    GroupFilter,
    ReadWhiteLabel,
)
from brokerplane.core.backoffice.model import (
    PLAN_KINDS,
    SERVER_ID,
    AccountPreset,
    Asset,
    Plan,
    WhiteLabel,
)
from brokerplane.core.clock import Clock
from brokerplane.core.config import CoreConfig
from brokerplane.core.errors import Conflict, FieldError, GroupNotFound, NotFound, PermissionDenied
from brokerplane.core.group import service as groups
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.group.model import ACCOUNT_TYPES, MAX_LEVERAGE_LIMIT, Group
from brokerplane.core.money import currency
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.validate import Problems

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "DESCRIPTION_MAX",
    "ISO_NUMERIC",
    "MAX_ID",
    "NAME_MAX",
    "Asset",
    "CreatePlan",
    "CreatePreset",
    "CreateUserGroup",
    "CreateWhiteLabel",
    "GroupFilter",
    "asset_id",
    "create_plan",
    "create_preset",
    "create_user_group",
    "create_white_label",
    "get_preset",
    "get_white_label",
    "group_by_id",
    "list_assets",
    "list_plans",
    "list_presets",
    "list_user_groups",
    "list_white_labels",
    "plan_not_found",
    "preset_not_found",
    "valid_id",
    "white_label_not_found",
    "white_label_of",
]

NAME_MAX = 63
DESCRIPTION_MAX = 255
# Groups, brandings, plans and presets have 32-bit ids: a larger id names nothing.
MAX_ID = 2**31 - 1
# Characters a white-label name may not hold: they are a mask's syntax.
_MASK_SYNTAX = set(",*!")


def valid_id(value: object) -> bool:
    """Whether `value` could be the id of a group, branding, plan or preset."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def white_label_not_found(branding_id: object) -> NotFound:
    return NotFound(f"branding {branding_id} does not exist", branding_id=branding_id)


def plan_not_found(plan_id: object) -> NotFound:
    return NotFound(f"plan {plan_id} does not exist", plan_id=plan_id)


def preset_not_found(preset_id: object) -> NotFound:
    return NotFound(f"account preset {preset_id} does not exist", preset_id=preset_id)


def _already(what: str, name: str, field: str = "name") -> Conflict:
    return Conflict(f"{what} {name!r} already exists", fields=[FieldError(field, "already exists")])


def _require_admin(actor: Actor) -> None:
    """Brandings, plans and presets are the server's configuration: admin, unlimited reach."""
    actor.require("admin")
    if not actor.unlimited_reach:
        raise PermissionDenied("configuring the back office needs unlimited reach")


def _name(p: Problems, value: object, field: str = "name") -> str:
    p.text(field, value, NAME_MAX, required=True)
    return value.strip() if isinstance(value, str) else ""


def _white_label_reached(actor: Actor, name: str) -> bool:
    return actor.white_labels.strip() == "*" or masks.parse(actor.white_labels, "brokers").admits(
        name
    )


# ---- brandings ------------------------------------------------------------------------------


def create_white_label(
    uow: UnitOfWork, cmd: CreateWhiteLabel, actor: Actor, clock: Clock
) -> WhiteLabel:
    _require_admin(actor)
    p = Problems()
    name = _name(p, cmd.name)
    p.text("description", cmd.description, DESCRIPTION_MAX)
    if name and (_MASK_SYNTAX & set(name) or not name.isprintable()):
        p.add("name", "must be printable and hold none of , * !")
    p.raise_if_any()
    if uow.backoffice.white_label_by_name(name) is not None:
        raise _already("branding", name)
    now = clock()
    branding = uow.backoffice.add_white_label(
        WhiteLabel(id=0, name=name, description=cmd.description.strip(), created_at=now)
    )
    record(uow, actor, now, "branding.created", "branding", branding.id, None, branding.snapshot())
    return branding


def list_white_labels(uow: UnitOfWork, actor: Actor) -> list[WhiteLabel]:
    actor.require("users:read")
    return [b for b in uow.backoffice.list_white_labels() if _white_label_reached(actor, b.name)]


def get_white_label(uow: UnitOfWork, branding_id: int, actor: Actor) -> WhiteLabel:
    actor.require_for(ReadWhiteLabel)
    branding = uow.backoffice.get_white_label(branding_id) if valid_id(branding_id) else None
    if branding is None or not _white_label_reached(actor, branding.name):
        raise white_label_not_found(branding_id)
    return branding


def white_label_of(uow: UnitOfWork, broker: str) -> WhiteLabel | None:
    """The branding named by a `broker` field, if one was created for it."""
    return uow.backoffice.white_label_by_name(broker) if broker else None


# ---- plans ----------------------------------------------------------------------------------


def create_plan(uow: UnitOfWork, cmd: CreatePlan, actor: Actor, clock: Clock) -> Plan:
    _require_admin(actor)
    p = Problems()
    name = _name(p, cmd.name)
    p.text("description", cmd.description, DESCRIPTION_MAX)
    kind = cmd.kind.strip().lower() if isinstance(cmd.kind, str) else cmd.kind
    p.choice("type", kind, PLAN_KINDS)
    p.raise_if_any()
    if uow.backoffice.plan_by_name(name) is not None:
        raise _already("plan", name)
    now = clock()
    plan = uow.backoffice.add_plan(
        Plan(id=0, name=name, kind=str(kind), description=cmd.description.strip(), created_at=now)
    )
    record(uow, actor, now, "plan.created", "plan", plan.id, None, plan.snapshot())
    return plan


def list_plans(uow: UnitOfWork, actor: Actor, kind: str | None = None) -> list[Plan]:
    actor.require("users:read")
    plans = uow.backoffice.list_plans()
    if kind is not None:
        plans = [p for p in plans if p.kind == kind.strip().lower()]
    return plans


# ---- account presets ------------------------------------------------------------------------


def create_preset(uow: UnitOfWork, cmd: CreatePreset, actor: Actor, clock: Clock) -> AccountPreset:
    _require_admin(actor)
    p = Problems()
    name = _name(p, cmd.name, "presetName")
    p.text("description", cmd.description, DESCRIPTION_MAX)
    if cmd.leverage is not None:
        p.integer("leverage", cmd.leverage, 1, MAX_LEVERAGE_LIMIT)
    account_type = cmd.account_type.strip().upper() if isinstance(cmd.account_type, str) else None
    if cmd.account_type is not None:
        p.choice("accountType", account_type, ACCOUNT_TYPES)
    if cmd.swap_free is not None:
        p.boolean("swapFree", cmd.swap_free)
    p.raise_if_any()
    cur = currency(cmd.currency) if cmd.currency is not None else None
    if uow.backoffice.preset_by_name(name) is not None:
        raise _already("account preset", name, "presetName")
    now = clock()
    preset = uow.backoffice.add_preset(
        AccountPreset(
            id=0,
            name=name,
            currency=cur.code if cur else None,
            currency_digits=cur.digits if cur else None,
            leverage=cmd.leverage,
            account_type=account_type,
            swap_free=cmd.swap_free,
            description=cmd.description.strip(),
            created_at=now,
        )
    )
    record(uow, actor, now, "preset.created", "preset", preset.id, None, preset.snapshot())
    return preset


def list_presets(
    uow: UnitOfWork, actor: Actor, currency_code: str | None = None, name: str | None = None
) -> list[AccountPreset]:
    """Presets, by currency (code, any case) and by name (exact, any case) when given."""
    actor.require("users:read")
    presets = uow.backoffice.list_presets()
    if currency_code is not None:
        code = currency_code.strip().upper()
        presets = [p for p in presets if (p.currency or "") == code]
    if name is not None:
        folded = name.strip().casefold()
        presets = [p for p in presets if p.name.casefold() == folded]
    return presets


def get_preset(uow: UnitOfWork, preset_id: int) -> AccountPreset:
    preset = uow.backoffice.get_preset(preset_id) if valid_id(preset_id) else None
    if preset is None:
        raise preset_not_found(preset_id)
    return preset


# ---- user groups ----------------------------------------------------------------------------


def create_user_group(
    uow: UnitOfWork, cmd: CreateUserGroup, actor: Actor, clock: Clock, config: CoreConfig
) -> Group:
    _require_admin(actor)
    settings: dict[str, Any] = {"description": cmd.description}
    if cmd.branding_id is not None:
        valid = valid_id(cmd.branding_id)
        branding = uow.backoffice.get_white_label(cmd.branding_id) if valid else None
        if branding is None:
            raise white_label_not_found(cmd.branding_id)
        settings["broker"] = branding.name
    if cmd.plan_id is not None:
        if not valid_id(cmd.plan_id) or uow.backoffice.get_plan(cmd.plan_id) is None:
            raise plan_not_found(cmd.plan_id)
        settings["plan_id"] = cmd.plan_id
    for name in ("default_leverage", "max_leverage"):
        value = getattr(cmd, name)
        if value is not None:
            settings[name] = value
    if "default_leverage" in settings and "max_leverage" not in settings:
        settings["max_leverage"] = max(settings["default_leverage"], Group.max_leverage)
    code = cmd.currency if cmd.currency is not None else config.server_currency
    return groups.create_group(
        uow, CreateGroup(name=cmd.name, currency=code, settings=settings), actor, clock
    )


def list_user_groups(uow: UnitOfWork, query: GroupFilter, actor: Actor) -> list[Group]:
    """Groups within reach, by branding, name (any case), plan and server, in id order."""
    actor.require_for(query)
    found = sorted(groups.list_groups(uow, actor), key=lambda g: g.id)
    if query.server_id is not None and query.server_id != SERVER_ID:
        return []
    if query.branding_id is not None:
        branding = (
            uow.backoffice.get_white_label(query.branding_id)
            if valid_id(query.branding_id)
            else None
        )
        if branding is None:
            return []
        folded = branding.name.casefold()
        found = [g for g in found if g.broker.casefold() == folded]
    if query.name is not None:
        folded = query.name.strip().casefold()
        found = [g for g in found if g.name.casefold() == folded]
    if query.plan_id is not None:
        found = [g for g in found if g.plan_id == query.plan_id]
    return found[query.offset : query.offset + query.limit]


def group_by_id(uow: UnitOfWork, group_id: int, actor: Actor) -> Group:
    """A group within reach by id (else GroupNotFound, as a group that does not exist)."""
    group = uow.groups.get_by_id(group_id) if valid_id(group_id) else None
    if group is None:
        raise GroupNotFound(group_id)
    return reach.check_group(actor, group)


# ---- assets (currencies) --------------------------------------------------------------------

# ISO 4217 numeric codes of common currencies: an asset's id where the code is known; any
# other code gets 1,000,000 plus its value in base 36 (stable and distinct, never an ISO code).
ISO_NUMERIC = {
    "AED": 784,
    "AUD": 36,
    "BRL": 986,
    "CAD": 124,
    "CHF": 756,
    "CNY": 156,
    "CZK": 203,
    "DKK": 208,
    "EUR": 978,
    "GBP": 826,
    "HKD": 344,
    "HUF": 348,
    "ILS": 376,
    "INR": 356,
    "JPY": 392,
    "KRW": 410,
    "MXN": 484,
    "NOK": 578,
    "NZD": 554,
    "PLN": 985,
    "RUB": 643,
    "SAR": 682,
    "SEK": 752,
    "SGD": 702,
    "THB": 764,
    "TRY": 949,
    "USD": 840,
    "ZAR": 710,
    "XAU": 959,
    "XAG": 961,
    "XPT": 962,
    "XPD": 964,
}


def asset_id(code: str) -> int:
    return ISO_NUMERIC.get(code) or 1_000_000 + int(code, 36)


def list_assets(uow: UnitOfWork, actor: Actor) -> list[Asset]:
    """The currencies the server uses: of its user groups and of its symbols."""
    actor.require_any("users:read", "reports:read")
    codes = {g.currency for g in uow.groups.list()}
    for s in uow.symbols.list():
        codes |= {s.currency_base, s.currency_profit, s.currency_margin}
    found = []
    for code in sorted(c for c in codes if c and c.isalnum() and len(c) <= 8):
        found.append(Asset(asset_id(code.upper()), code, currency(code).digits))
    return found
