"""Attribute rules: key/value metadata on accounts (cTrader traders), groups and managers.

Each attribute is a name (1-64 characters, case-sensitive) and a string value (1-512
characters) with the time it was last set. Reads list the attribute sets of named entities, or
page through every account within reach that has at least one attribute; writes upsert in bulk
and delete by name or all at once. A value of None (JSON null) is never a delete: it is refused.

Authorisation is partial, as cTrader's attribute calls are: ids the actor may not touch (out of
reach, missing, or another manager's) are silently skipped, and a write fails only when none of
its ids is left. For accounts and groups reach decides (the same rule as everywhere: an id out
of reach is answered as one that does not exist); managers may read and write their own
attributes, and super-admins (the admin right with unlimited reach) any manager's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from brokerplane.core.access import reach
from brokerplane.core.account.model import AccountQuery
from brokerplane.core.actor import Actor
from brokerplane.core.attribute.commands import (
    FILTER_MAX,
    MAX_ATTRIBUTES,
    MAX_IDS,
    MAX_NAMES,
    MAX_PAGE,
    MAX_SETS,
    NAME_MAX,
    VALUE_MAX,
    AttributePage,
    DeleteAttributes,
    ListAttributes,
    SetAttributes,
)
from brokerplane.core.attribute.model import KINDS, Attribute, AttributeQuery
from brokerplane.core.audit.service import record
from brokerplane.core.clock import Clock
from brokerplane.core.errors import (
    AccountNotFound,
    CoreError,
    GroupNotFound,
    ManagerNotFound,
    PermissionDenied,
    ValidationError,
)
from brokerplane.core.validate import MAX_LOGIN, Problems

if TYPE_CHECKING:
    from brokerplane.core.ports import UnitOfWork

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "AttributePage",
    "DeleteAttributes",
    "ListAttributes",
    "SetAttributes",
    "check_mapping",
    "delete_attributes",
    "list_attributes",
    "mappings",
    "set_attributes",
    "store_mapping",
]


# --- validation ------------------------------------------------------------------------------


def _check_kind(kind: Any) -> str:
    if kind not in KINDS:
        raise ValidationError.field("kind", "must be one of " + ", ".join(KINDS))
    return str(kind)


def _text(p: Problems, field: str, value: Any, limit: int) -> None:
    if value is None:
        p.add(field, "must not be null")
    elif not isinstance(value, str):
        p.add(field, "must be a string")
    elif not value:
        p.add(field, "must not be empty")
    elif len(value) > limit:
        p.add(field, f"must be at most {limit} characters")
    elif "\x00" in value:
        p.add(field, "must not contain NUL characters")


def _check_name(p: Problems, field: str, name: Any) -> None:
    _text(p, field, name, NAME_MAX)
    if isinstance(name, str) and name and not name.strip():
        p.add(field, "must not be blank")


def _check_ids(p: Problems, field: str, ids: Any, *, required: bool) -> tuple[int, ...]:
    """The ids without repeats, in the order given."""
    if ids is None:
        ids = ()
    if not isinstance(ids, tuple | list):
        p.add(field, "must be a list of ids")
        return ()
    if required and not ids:
        p.add(field, f"must name 1 to {MAX_IDS} ids")
    elif len(ids) > MAX_IDS:
        p.add(field, f"must name at most {MAX_IDS} ids")
        return ()
    good: dict[int, None] = {}
    for i, entity_id in enumerate(ids):
        if isinstance(entity_id, bool) or not isinstance(entity_id, int):
            p.add(f"{field}[{i}]", "must be an integer")
        elif not 1 <= entity_id <= MAX_LOGIN:
            p.add(f"{field}[{i}]", f"must be between 1 and {MAX_LOGIN}")
        else:
            good[entity_id] = None
    return tuple(good)


# --- authorisation ---------------------------------------------------------------------------


def _super_admin(actor: Actor) -> bool:
    return actor.has("admin") and actor.unlimited_reach


def _reachable(
    uow: UnitOfWork, actor: Actor, kind: str, ids: Sequence[int], *, write: bool
) -> dict[int, str]:
    """The ids the actor may touch, in the order given, each with its audit entity id."""
    if kind == "account":
        actor.require("users:write" if write else "users:read")
        group_ids, brokers = reach.query_scope(uow, actor)
        found: set[int] = set()
        for start in range(0, len(ids), 1000):
            chunk = tuple(ids[start : start + 1000])
            query = AccountQuery(
                group_ids=group_ids, broker_mask=brokers, logins=chunk, limit=len(chunk)
            )
            found.update(a.login for a in uow.accounts.list(query))
        return {i: str(i) for i in ids if i in found}
    if kind == "group":
        actor.require("users:write" if write else "users:read")
        names = {g.id: g.name for g in uow.groups.list() if actor.reaches_group(g.name)}
        return {i: names[i] for i in ids if i in names}
    managers = {m.login for m in uow.managers.list()}
    if _super_admin(actor):
        return {i: str(i) for i in ids if i in managers}
    own = actor.manager_login
    return {i: str(i) for i in ids if i == own and i in managers}


def _none_reachable(actor: Actor, kind: str, ids: Sequence[int]) -> CoreError:
    """The error of a call none of whose ids is left. An actor who sees everything learns
    that the id does not exist; any other is refused, so nothing out of reach is revealed."""
    first = ids[0]
    if kind == "manager":
        if _super_admin(actor):
            return ManagerNotFound(first)
        return PermissionDenied("a manager may only touch its own attributes", manager=first)
    if actor.unlimited_reach:
        return AccountNotFound(first) if kind == "account" else GroupNotFound(first)
    noun = "accounts" if kind == "account" else "groups"
    return PermissionDenied(f"none of the named {noun} is within this manager's reach")


def _authorise_write(
    uow: UnitOfWork, actor: Actor, kind: str, ids: Sequence[int]
) -> dict[int, str]:
    allowed = _reachable(uow, actor, kind, ids, write=True)
    if not allowed:
        raise _none_reachable(actor, kind, ids)
    uow.attributes.lock(kind, sorted(allowed))
    return allowed


def _current(uow: UnitOfWork, kind: str, ids: Iterable[int]) -> dict[int, dict[str, str]]:
    sets = uow.attributes.list(AttributeQuery(kind=kind, ids=tuple(ids)))
    return {s.entity_id: s.as_dict() for s in sets}


# --- services --------------------------------------------------------------------------------


def list_attributes(uow: UnitOfWork, cmd: ListAttributes, actor: Actor) -> AttributePage:
    kind = _check_kind(cmd.kind)
    p = Problems()
    paged = kind == "account" and not cmd.ids
    ids = _check_ids(p, "ids", cmd.ids, required=not paged)
    if paged:
        if cmd.limit is not None:
            p.integer("limit", cmd.limit, 1, MAX_PAGE)
        if cmd.after_id is not None:
            p.integer("after_id", cmd.after_id, 0, MAX_LOGIN)
    else:
        for name in ("limit", "after_id"):
            if getattr(cmd, name) is not None:
                p.add(name, "only pages through all accounts, without ids")
    if cmd.name_contains is not None:
        p.text("name_contains", cmd.name_contains, FILTER_MAX)
    if cmd.since is not None and not isinstance(cmd.since, datetime):
        p.add("since", "must be a time")
    p.raise_if_any()
    name_contains = cmd.name_contains.casefold() if cmd.name_contains else None
    since = cmd.since
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)

    if paged:
        actor.require("users:read")
        group_ids, brokers = reach.query_scope(uow, actor)
        limit = cmd.limit if cmd.limit is not None else MAX_PAGE
        sets = uow.attributes.list(
            AttributeQuery(
                kind=kind,
                after_id=cmd.after_id or 0,
                limit=limit + 1,
                name_contains=name_contains,
                since=since,
                group_ids=group_ids,
                broker_mask=brokers,
            )
        )
        if len(sets) > limit:
            sets = sets[:limit]
            return AttributePage(sets, next_after_id=sets[-1].entity_id)
        return AttributePage(sets)

    allowed = _reachable(uow, actor, kind, ids, write=False)
    if not allowed and kind == "manager":
        raise _none_reachable(actor, kind, ids)
    if not allowed:
        return AttributePage([])  # out of reach reads as absent, and absent has no attributes
    query = AttributeQuery(kind=kind, ids=tuple(allowed), name_contains=name_contains, since=since)
    return AttributePage(uow.attributes.list(query))


def set_attributes(
    uow: UnitOfWork, cmd: SetAttributes, actor: Actor, clock: Clock
) -> tuple[int, ...]:
    """Upsert; answers the ids whose attributes were written (the authorised ones)."""
    kind = _check_kind(cmd.kind)
    p = Problems()
    sets = cmd.sets if isinstance(cmd.sets, tuple | list) else ()
    if not 1 <= len(sets) <= MAX_SETS:
        p.add("sets", f"must hold 1 to {MAX_SETS} attribute sets")
    wanted: dict[int, dict[str, str]] = {}
    for i, item in enumerate(sets[:MAX_SETS]):
        entity_id = item.entity_id
        if isinstance(entity_id, bool) or not isinstance(entity_id, int):
            p.add(f"sets[{i}].id", "must be an integer")
        elif not 1 <= entity_id <= MAX_LOGIN:
            p.add(f"sets[{i}].id", f"must be between 1 and {MAX_LOGIN}")
        attrs = item.attributes if isinstance(item.attributes, tuple | list) else ()
        if not 1 <= len(attrs) <= MAX_ATTRIBUTES:
            p.add(f"sets[{i}].attributes", f"must hold 1 to {MAX_ATTRIBUTES} attributes")
        for j, attr in enumerate(attrs[:MAX_ATTRIBUTES]):
            _check_name(p, f"sets[{i}].attributes[{j}].name", attr.name)
            if attr.value is None:
                p.add(
                    f"sets[{i}].attributes[{j}].value",
                    "must not be null; remove attributes with the delete call",
                )
            else:
                _text(p, f"sets[{i}].attributes[{j}].value", attr.value, VALUE_MAX)
            if isinstance(entity_id, int) and isinstance(attr.value, str):
                wanted.setdefault(entity_id, {})[attr.name] = attr.value
    p.raise_if_any()

    allowed = _authorise_write(uow, actor, kind, list(wanted))
    current = _current(uow, kind, allowed)
    now = clock()
    for entity_id, audit_id in allowed.items():
        have = current.get(entity_id, {})
        changed = {n: v for n, v in wanted[entity_id].items() if have.get(n) != v}
        if not changed:
            continue
        uow.attributes.put(kind, entity_id, [Attribute(n, v, now) for n, v in changed.items()])
        before = {n: have[n] for n in changed if n in have}
        record(
            uow,
            actor,
            now,
            f"{kind}.attributes_set",
            kind,
            audit_id,
            {"attributes": before},
            {"attributes": changed},
        )
    return tuple(allowed)


def delete_attributes(
    uow: UnitOfWork, cmd: DeleteAttributes, actor: Actor, clock: Clock
) -> tuple[int, ...]:
    """Delete by name, or all; answers the ids whose attributes were deleted (the authorised
    ones, whether or not they had any)."""
    kind = _check_kind(cmd.kind)
    p = Problems()
    ids = _check_ids(p, "ids", cmd.ids, required=True)
    names = cmd.names if isinstance(cmd.names, tuple | list) else None
    if names is None:
        p.add("names", "must be a list of names")
        names = ()
    elif len(names) > MAX_NAMES:
        p.add("names", f"must name at most {MAX_NAMES} attributes")
    for i, name in enumerate(names[:MAX_NAMES]):
        _check_name(p, f"names[{i}]", name)
    p.raise_if_any()

    allowed = _authorise_write(uow, actor, kind, ids)
    current = _current(uow, kind, allowed)
    now = clock()
    for entity_id, audit_id in allowed.items():
        have = current.get(entity_id, {})
        gone = {n: v for n, v in have.items() if not names or n in names}
        if not gone:
            continue
        uow.attributes.delete(kind, entity_id, tuple(names) or None)
        record(
            uow,
            actor,
            now,
            f"{kind}.attributes_deleted",
            kind,
            audit_id,
            {"attributes": gone},
            {"attributes": {}},
        )
    return tuple(allowed)


# --- the attribute set of one entity as a plain mapping ------------------------------------------
# Accounts and groups carry `attributes` (name -> value) in the native API; those are the same
# pairs the attribute calls read and write, kept only here, never in the entity's own row.


def check_mapping(p: Problems, field: str, attributes: Any) -> None:
    """An `attributes` mapping within the limits of the attribute calls."""
    if not isinstance(attributes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        p.add(field, "must map names to string values")
        return
    for name, value in attributes.items():
        if not 1 <= len(name) <= NAME_MAX or "\x00" in name:
            p.add(field, f"names must be 1 to {NAME_MAX} characters")
        elif not 1 <= len(value) <= VALUE_MAX or "\x00" in value:
            p.add(f"{field}.{name}", f"must be 1 to {VALUE_MAX} characters")


def store_mapping(
    uow: UnitOfWork,
    kind: str,
    entity_id: int,
    old: dict[str, str],
    new: dict[str, str],
    now: datetime,
) -> None:
    """Make the entity's attributes `new` (they were `old`): names gone are deleted, values
    new or changed are set at `now`, the others keep their time."""
    gone = [name for name in old if name not in new]
    if gone:
        uow.attributes.delete(kind, entity_id, gone)
    changed = [Attribute(n, v, now) for n, v in sorted(new.items()) if old.get(n) != v]
    if changed:
        uow.attributes.put(kind, entity_id, changed)


def mappings(uow: UnitOfWork, kind: str, ids: Sequence[int]) -> dict[int, dict[str, str]]:
    """The attributes of each entity that has some, in one read."""
    if not ids:
        return {}
    return {s.entity_id: s.as_dict() for s in uow.attributes.list(AttributeQuery(kind, tuple(ids)))}
