"""API key rules: create, rotate, revoke, list, and turning a presented bearer key into an Actor.

Keys minted by a key stay below it: a key may mint (create, or rotate) only keys whose scopes
it holds and that expire no later than itself; each minted key remembers its parent, and
revoking a key revokes its descendants in the same transaction (rotating one revokes them when
the old secret's overlap ends). The old secret of a rotated key, in its overlap, mints nothing.
Keys made by an operator (the CLI) or outside the native API have no parent.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from brokerplane.core.access.commands import (
    CreateApiKey,
    IssuedKey,
    KeyIdentity,
    require_holding,
)
from brokerplane.core.access.model import ApiKey, Manager
from brokerplane.core.access.people import MAX_LINEAGE
from brokerplane.core.access.rights import check_scopes, require_manager_admin
from brokerplane.core.actor import Actor
from brokerplane.core.audit.service import record
from brokerplane.core.clock import Clock
from brokerplane.core.compare import same
from brokerplane.core.errors import (
    ApiKeyNotFound,
    ManagerNotFound,
    PermissionDenied,
    Unauthorized,
    ValidationError,
)
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.validate import Problems, require_id

KEY_PREFIX = "bpk"
# last_used_at is written at most this often per key, so reads stay read-only.
TOUCH_INTERVAL = timedelta(seconds=60)


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _minting_key(uow: UnitOfWork, actor: Actor) -> ApiKey | None:
    """The key the actor mints with (None: an operator or a session, not a key); a rotated
    key's old secret, still in its overlap, may not mint."""
    if actor.key_id is None:
        return None
    key = uow.api_keys.get(actor.key_id)
    if key is None:  # not a stored key (keys are never deleted): nothing to descend from
        return None
    if key.replaced_by is not None:
        raise PermissionDenied(
            "this key has been rotated: its old secret, valid only until the overlap ends, "
            "cannot create or rotate keys; use the new secret"
        )
    if key.revoked_at is not None:
        # revoked from a moment still to come (its minter was rotated): what it minted now
        # would outlive that revocation
        raise PermissionDenied(
            "this key's revocation is scheduled (the key that minted it was rotated); "
            "it cannot create or rotate keys"
        )
    return key


def effective_end(key: ApiKey) -> datetime | None:
    """When a key stops working: the earlier of its expiry and its (scheduled) revocation."""
    ends = [at for at in (key.expires_at, key.revoked_at) if at is not None]
    return min(ends) if ends else None


def _ancestry(uow: UnitOfWork, key: ApiKey) -> set[str]:
    """The ids of `key` and of the keys that minted it, up to MAX_LINEAGE of them."""
    ids: set[str] = set()
    found: ApiKey | None = key
    while found is not None and found.id not in ids and len(ids) < MAX_LINEAGE:
        ids.add(found.id)
        found = uow.api_keys.get(found.parent_key_id) if found.parent_key_id else None
    return ids


def _check_lifetime(parent: ApiKey | None, expires_at: datetime | None) -> None:
    """A key minted by `parent` expires no later than the parent stops working."""
    end = effective_end(parent) if parent is not None else None
    if end is None:
        return
    limit = end.astimezone(UTC).isoformat()
    if expires_at is None:
        raise ValidationError.field(
            "expires_at", f"is required: a key expiring {limit} cannot mint a key that never does"
        )
    if expires_at > end:
        raise ValidationError.field(
            "expires_at", f"must be no later than {limit}, when the calling key expires"
        )


def create_api_key(uow: UnitOfWork, cmd: CreateApiKey, actor: Actor, clock: Clock) -> IssuedKey:
    parent = _minting_key(uow, actor)
    require_id("manager_login", cmd.manager_login)
    if actor.manager_login != cmd.manager_login:
        require_manager_admin(actor)
    manager = uow.managers.get(cmd.manager_login)
    if manager is None:
        raise ManagerNotFound(cmd.manager_login)
    if not cmd.scopes:
        raise ValidationError.field("scopes", "name at least one scope")
    check_scopes("scopes", cmd.scopes)
    if "admin" not in manager.rights and not cmd.scopes <= manager.rights:
        missing = ", ".join(sorted(cmd.scopes - manager.rights))
        raise PermissionDenied(f"manager {manager.login} does not hold: {missing}")
    if not actor.has("admin") and not cmd.scopes <= actor.scopes:
        missing = ", ".join(sorted(cmd.scopes - actor.scopes))
        raise PermissionDenied(f"this credential cannot hand out scopes it lacks: {missing}")
    now = clock()
    expires_at = cmd.expires_at
    if expires_at is not None:
        # A time without an offset is UTC; every time is kept and answered in UTC.
        expires_at = expires_at.replace(tzinfo=UTC) if expires_at.tzinfo is None else expires_at
        expires_at = expires_at.astimezone(UTC)
        if expires_at <= now:
            raise ValidationError.field("expires_at", "must be in the future")
    _check_lifetime(parent, expires_at)
    p = Problems()
    p.text("name", cmd.name, 127)
    p.raise_if_any()
    issued = _issue(
        uow,
        manager,
        cmd.scopes,
        cmd.name,
        expires_at,
        now,
        parent.id if parent else None,
        actor.manager_login,
    )
    record(
        uow, actor, now, "api_key.created", "api_key", issued.key.id, None, issued.key.snapshot()
    )
    return issued


def _issue(
    uow: UnitOfWork,
    manager: Manager,
    scopes: frozenset[str],
    name: str,
    expires_at: datetime | None,
    now: datetime,
    parent_key_id: str | None,
    created_by: int | None,
) -> IssuedKey:
    prefix = secrets.token_hex(6)
    secret = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        id=secrets.token_hex(8),
        manager_login=manager.login,
        prefix=prefix,
        secret_hash=_hash_secret(secret),
        scopes=scopes,
        name=name,
        created_at=now,
        expires_at=expires_at,
        parent_key_id=parent_key_id,
        created_by=created_by,
    )
    uow.api_keys.add(key)
    return IssuedKey(key, secret)


def key_prefix(presented: str) -> str:
    """The public prefix of a presented key (Unauthorized when it is not shaped like one)."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise Unauthorized("the bearer key is malformed")
    return parts[1]


def authenticate_key(uow: UnitOfWork, presented: str, now: datetime) -> KeyIdentity:
    """The key's manager and effective scopes (key scopes within the manager's rights)."""
    return verify_key(uow.api_keys.with_manager(key_prefix(presented)), presented, now)


def verify_key(
    found: tuple[ApiKey, Manager | None] | None, presented: str, now: datetime
) -> KeyIdentity:
    """Every rule of a key's check, on the rows read for its prefix (just now, or kept while
    nothing changed: application.keycache)."""
    key, manager = found if found is not None else (None, None)
    if key is None or not same(key.secret_hash, _hash_secret(presented)):
        raise Unauthorized("the bearer key is not valid")
    if key.revoked_at is not None and key.revoked_at <= now:
        raise Unauthorized("the bearer key has been revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise Unauthorized("the bearer key has expired")
    if manager is None or not manager.enabled:
        raise Unauthorized("the key's manager is disabled")
    scopes = key.scopes if "admin" in manager.rights else key.scopes & manager.rights
    needs_touch = key.last_used_at is None or now - key.last_used_at >= TOUCH_INTERVAL
    return KeyIdentity(key, manager, frozenset(scopes), needs_touch)


def _own_key(uow: UnitOfWork, key_id: str, actor: Actor) -> ApiKey:
    """A key of the caller's manager (any key, for admins); others read as absent."""
    key = uow.api_keys.get(key_id) if isinstance(key_id, str) else None
    if key is None:
        raise ApiKeyNotFound(str(key_id))
    if key.manager_login != actor.manager_login and not (
        actor.has("admin") and actor.unlimited_reach
    ):
        raise ApiKeyNotFound(str(key_id))
    return key


def list_api_keys(uow: UnitOfWork, actor: Actor, manager_login: int | None = None) -> list[ApiKey]:
    """The caller's manager's keys; admins may name any manager, or None for all."""
    require_id("manager", manager_login)
    if manager_login != actor.manager_login:
        if manager_login is not None or actor.manager_login is None:
            require_manager_admin(actor)
        elif not (actor.has("admin") and actor.unlimited_reach):
            manager_login = actor.manager_login
    return uow.api_keys.list(manager_login)


def rotate_api_key(
    uow: UnitOfWork, key_id: str, actor: Actor, clock: Clock, overlap: timedelta
) -> tuple[IssuedKey, ApiKey]:
    """A new secret with the same scopes, name and expiry; the old secret keeps working
    for `overlap` (so workers can be redeployed) and then expires, and the keys it minted are
    revoked at the same moment. Rotating is minting: the caller's key must outlive the key, and
    the new key descends from the caller's key (from the old key's parent when a key rotates
    itself or an operator rotates it) and records the caller's manager as its minter."""
    parent = _minting_key(uow, actor)
    old = _own_key(uow, key_id, actor)
    require_holding(actor, old, "rotate")
    now = clock()
    if old.revoked_at is not None and old.revoked_at <= now:
        raise ValidationError.field("key_id", "the key is revoked; create a new one")
    if old.expires_at is not None and old.expires_at <= now:
        raise ValidationError.field("key_id", "the key has expired; create a new one")
    if old.replaced_by is not None:
        raise ValidationError.field(
            "key_id", f"the key was rotated already; rotate its replacement {old.replaced_by}"
        )
    _check_lifetime(parent, old.expires_at)
    manager = uow.managers.get(old.manager_login)
    if manager is None:  # pragma: no cover - foreign key keeps it
        raise ManagerNotFound(old.manager_login)
    # Rotating another key is minting: the new key descends from the rotating key (revoking
    # that key revokes it); rotating a key with itself (or
    # with a key it minted) keeps the key's place in the lineage.
    lineage = old.parent_key_id
    if parent is not None and old.id not in _ancestry(uow, parent):
        lineage = parent.id
    issued = _issue(
        uow, manager, old.scopes, old.name, old.expires_at, now, lineage, actor.manager_login
    )
    before = old.snapshot()
    cutoff = now + overlap
    retired = replace(
        old,
        expires_at=min(old.expires_at, cutoff) if old.expires_at else cutoff,
        replaced_by=issued.key.id,
    )
    uow.api_keys.update(retired)
    record(
        uow,
        actor,
        now,
        "api_key.rotated",
        "api_key",
        old.id,
        before,
        {**retired.snapshot(), "replaced_by": issued.key.id},
    )
    record(
        uow,
        actor,
        now,
        "api_key.created",
        "api_key",
        issued.key.id,
        None,
        {**issued.key.snapshot(), "replaces": old.id},
    )
    _revoke_descendants(uow, actor, old, retired.expires_at or cutoff, now)
    return issued, retired


def revoke_api_key(uow: UnitOfWork, key_id: str, actor: Actor, clock: Clock) -> ApiKey:
    key = _own_key(uow, key_id, actor)
    require_holding(actor, key, "revoke")
    now = clock()
    if key.revoked_at is not None and key.revoked_at <= now:
        return key
    before = key.snapshot()
    key = replace(key, revoked_at=now)
    uow.api_keys.update(key)
    record(uow, actor, now, "api_key.revoked", "api_key", key.id, before, key.snapshot())
    _revoke_descendants(uow, actor, key, now, now)
    return key


def _revoke_descendants(
    uow: UnitOfWork, actor: Actor, root: ApiKey, at: datetime, now: datetime
) -> None:
    """Revoke (from `at`) every key minted by `root`, by its children, and so on."""
    seen = {root.id}
    pending = [root.id]
    while pending:
        for child in uow.api_keys.children(pending.pop()):
            if child.id in seen:  # pragma: no cover - a key cannot be its own ancestor
                continue
            seen.add(child.id)
            pending.append(child.id)
            if child.revoked_at is not None and child.revoked_at <= at:
                continue
            before = child.snapshot()
            revoked = replace(child, revoked_at=at)
            uow.api_keys.update(revoked)
            record(
                uow,
                actor,
                now,
                "api_key.revoked",
                "api_key",
                child.id,
                before,
                {**revoked.snapshot(), "with": root.id},
            )
