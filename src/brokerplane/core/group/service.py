"""Group commands: create and update templates; reads for every dialect."""

from __future__ import annotations

from dataclasses import fields, replace
from decimal import Decimal
from typing import Any

from brokerplane.core import masks
from brokerplane.core.access import reach
from brokerplane.core.actor import Actor
from brokerplane.core.attribute import service as attributes
from brokerplane.core.audit.service import record
from brokerplane.core.clock import Clock
from brokerplane.core.errors import (
    CurrencyMismatch,
    GroupAlreadyExists,
    GroupInUse,
    GroupNotFound,
    ValidationError,
)
from brokerplane.core.group.commands import CreateGroup, DeleteGroup, ReadGroup, UpdateGroup
from brokerplane.core.group.model import ACCOUNT_TYPES, MARGIN_MODES, MAX_LEVERAGE_LIMIT, Group
from brokerplane.core.money import currency
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.validate import MAX_LOGIN, Problems

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "EDITABLE_FIELDS",
    "CreateGroup",
    "DeleteGroup",
    "UpdateGroup",
    "create_group",
    "delete_group",
    "get_group",
    "list_groups",
    "update_group",
    "with_attributes",
]

_FIXED = {"id", "created_at", "updated_at"}
EDITABLE_FIELDS = tuple(f.name for f in fields(Group) if f.name not in _FIXED)


def _check(group: Group) -> None:
    p = Problems()
    p.text("name", group.name, 63, required=True)
    p.text("description", group.description, 255)
    p.text("company", group.company, 63)
    p.text("broker", group.broker, 63)
    p.integer("default_leverage", group.default_leverage, 1, MAX_LEVERAGE_LIMIT)
    p.integer("max_leverage", group.max_leverage, 1, MAX_LEVERAGE_LIMIT)
    if (
        isinstance(group.default_leverage, int)
        and isinstance(group.max_leverage, int)
        and group.default_leverage > group.max_leverage
    ):
        p.add("default_leverage", "must not exceed max_leverage")
    p.choice("margin_mode", group.margin_mode, MARGIN_MODES)
    p.choice("default_account_type", group.default_account_type, ACCOUNT_TYPES)
    p.integer("default_rights", group.default_rights, 0, 0x3FFFF)
    p.integer("password_min_length", group.password_min_length, 8, 16)
    p.integer("permissions", group.permissions, 0, 2**31 - 1)
    lo, hi = group.login_range_from, group.login_range_to
    if (lo is None) != (hi is None):
        p.add("login_range_from", "login_range_from and login_range_to go together")
    elif lo is not None and hi is not None:
        p.integer("login_range_from", lo, 1, MAX_LOGIN)
        p.integer("login_range_to", hi, 1, MAX_LOGIN)
        if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
            p.add("login_range_to", "must not be below login_range_from")
    for name in ("margin_call", "stop_out"):
        value = getattr(group, name)
        if not isinstance(value, Decimal) or value < 0 or value > Decimal(100000):
            p.add(name, "must be a decimal between 0 and 100000")
    attributes.check_mapping(p, "attributes", group.attributes)
    p.raise_if_any()


def _coerce(changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(changes)
    for name in ("margin_call", "stop_out"):
        if name in out and isinstance(out[name], int | str) and not isinstance(out[name], bool):
            try:
                out[name] = Decimal(str(out[name]))
            except ArithmeticError:
                raise ValidationError.field(name, "must be a decimal number") from None
    if "margin_mode" in out and isinstance(out["margin_mode"], str):
        out["margin_mode"] = out["margin_mode"].upper()
    return out


def create_group(uow: UnitOfWork, cmd: CreateGroup, actor: Actor, clock: Clock) -> Group:
    actor.require_for(cmd)
    unknown = sorted(set(cmd.settings) - set(EDITABLE_FIELDS) - {"currency_digits"})
    if unknown:
        p = Problems()
        for name in unknown:
            p.add(name, "is not a group setting")
        p.raise_if_any()
    cur = currency(cmd.currency, cmd.settings.get("currency_digits"))
    settings = _coerce({k: v for k, v in cmd.settings.items() if k not in ("name", "currency")})
    settings["currency_digits"] = cur.digits
    group = Group(name=cmd.name.strip(), currency=cur.code, **settings)
    _check(group)
    reach.check_group_write(actor, group.name)
    if uow.groups.get(group.name) is not None:
        raise GroupAlreadyExists(group.name)
    now = clock()
    group.created_at = group.updated_at = now
    wanted = group.attributes
    group = uow.groups.add(replace(group, attributes={}))
    attributes.store_mapping(uow, "group", group.id, {}, wanted, now)
    group.attributes = wanted
    record(uow, actor, now, "group.created", "group", group.name, None, group.snapshot())
    return group


def update_group(uow: UnitOfWork, cmd: UpdateGroup, actor: Actor, clock: Clock) -> Group:
    actor.require_for(cmd)
    group = uow.groups.get(cmd.name)
    if group is None or not actor.reaches_group(group.name):
        raise GroupNotFound(cmd.name)  # out of reach reads as absent, as accounts do
    reach.check_group_write(actor, group.name)
    group = with_attributes(uow, [group])[0]
    p = Problems()
    for name in sorted(cmd.changes):
        if name not in EDITABLE_FIELDS:
            p.add(name, "is read-only" if name in _FIXED else "is not a group setting")
    p.raise_if_any()
    changes = _coerce(cmd.changes)
    if "currency" in changes:
        cur = currency(str(changes["currency"]), changes.get("currency_digits"))
        if cur.code != group.currency and uow.groups.count_accounts(group.id):
            raise CurrencyMismatch.field(
                "currency", "cannot change the currency of a group that has accounts"
            )
        changes["currency"], changes["currency_digits"] = cur.code, cur.digits
    elif "currency_digits" in changes and changes["currency_digits"] != group.currency_digits:
        raise ValidationError.field("currency_digits", "follows the currency; change currency")
    if "name" in changes and changes["name"] != group.name:
        if uow.groups.count_accounts(group.id):
            raise GroupInUse("a group with accounts cannot be renamed", group=group.name)
        if uow.groups.get(changes["name"]) is not None:
            raise GroupAlreadyExists(changes["name"])
    before = group.snapshot()
    updated = replace(group, **changes)
    _check(updated)
    reach.check_group_write(actor, updated.name)
    updated.updated_at = clock()
    uow.groups.update(replace(updated, attributes={}))
    attributes.store_mapping(
        uow, "group", group.id, group.attributes, updated.attributes, updated.updated_at
    )
    record(
        uow,
        actor,
        updated.updated_at,
        "group.updated",
        "group",
        group.name,
        before,
        updated.snapshot(),
    )
    return updated


def delete_group(uow: UnitOfWork, cmd: DeleteGroup, actor: Actor, clock: Clock) -> Group:
    """Admin whose reach covers every account the group could hold (`check_group_write`); a
    group with any account, even a deleted one, or any user is GroupInUse."""
    actor.require_for(cmd)
    group = uow.groups.get(cmd.name)
    if group is None or not actor.reaches_group(group.name):
        raise GroupNotFound(cmd.name)  # out of reach reads as absent, as accounts do
    reach.check_group_write(actor, group.name)
    if uow.groups.count_accounts(group.id) or uow.groups.count_users(group.id):
        raise GroupInUse("a group with accounts or users cannot be deleted", group=group.name)
    group = with_attributes(uow, [group])[0]
    uow.groups.delete(group.id)
    record(uow, actor, clock(), "group.deleted", "group", group.name, group.snapshot(), None)
    return group


def get_group(uow: UnitOfWork, name: str, actor: Actor) -> Group:
    actor.require_for(ReadGroup)
    group = uow.groups.get(name)
    if group is None or not actor.reaches_group(group.name):
        raise GroupNotFound(name)  # out of reach reads as absent, as accounts do
    return with_attributes(uow, [group])[0]


def list_groups(uow: UnitOfWork, actor: Actor, mask: str | None = None) -> list[Group]:
    actor.require("users:read")
    wanted = masks.parse(mask, "name") if mask else None
    groups = [g for g in uow.groups.list() if actor.reaches_group(g.name)]
    if wanted is not None:
        groups = [g for g in groups if wanted.admits(g.name)]
    return with_attributes(uow, groups)


def with_attributes(uow: UnitOfWork, groups: list[Group]) -> list[Group]:
    """The groups with their attributes (cTrader's trader-group attributes) filled in: they are
    kept in the attribute store, never in the group's row."""
    found = attributes.mappings(uow, "group", [g.id for g in groups])
    for group in groups:
        group.attributes = found.get(group.id, {})
    return groups
