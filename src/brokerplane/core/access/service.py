"""Manager and API key commands, and turning a presented bearer key into an Actor."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from brokerplane.core import passwords
from brokerplane.core.access.model import ApiKey, Manager
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.audit.service import record
from brokerplane.core.clock import Clock
from brokerplane.core.errors import (
    ManagerAlreadyExists,
    ManagerNotFound,
    PermissionDenied,
    Unauthorized,
    ValidationError,
)
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.validate import MAX_LOGIN, Problems

KEY_PREFIX = "bpk"
# last_used_at is written at most this often per key, so reads stay read-only.
TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class CreateManager:
    login: int
    name: str = ""
    password: str | None = None
    rights: frozenset[str] = frozenset(SCOPES)
    group_mask: str = "*"
    white_labels: str = "*"


@dataclass(frozen=True)
class CreateApiKey:
    manager_login: int
    scopes: frozenset[str]
    name: str = ""
    expires_at: datetime | None = None


@dataclass(frozen=True)
class IssuedKey:
    """A new key: `secret` is shown once and never stored."""

    key: ApiKey
    secret: str


def _check_scopes(field: str, scopes: frozenset[str]) -> None:
    unknown = sorted(scopes - set(SCOPES))
    if unknown:
        raise ValidationError.field(field, "unknown: " + ", ".join(unknown))


def create_manager(uow: UnitOfWork, cmd: CreateManager, actor: Actor, clock: Clock) -> Manager:
    actor.require("admin")
    p = Problems()
    p.integer("login", cmd.login, 1, MAX_LOGIN)
    p.text("name", cmd.name, 127)
    p.raise_if_any()
    _check_scopes("rights", cmd.rights)
    if uow.managers.get(cmd.login) is not None:
        raise ManagerAlreadyExists(cmd.login)
    now = clock()
    manager = Manager(login=cmd.login, name=cmd.name, rights=cmd.rights,
                      group_mask=cmd.group_mask, white_labels=cmd.white_labels,
                      created_at=now, updated_at=now)  # fmt: skip
    if cmd.password is not None:
        if len(cmd.password) < 8:
            raise ValidationError.field("password", "must be at least 8 characters")
        manager.verifiers["password"] = passwords.make_verifier(cmd.password)
    uow.managers.add(manager)
    record(uow, actor, now, "manager.created", "manager", manager.login, None, manager.snapshot())
    return manager


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(uow: UnitOfWork, cmd: CreateApiKey, actor: Actor, clock: Clock) -> IssuedKey:
    if actor.manager_login != cmd.manager_login:
        actor.require("admin")
    manager = uow.managers.get(cmd.manager_login)
    if manager is None:
        raise ManagerNotFound(cmd.manager_login)
    if not cmd.scopes:
        raise ValidationError.field("scopes", "name at least one scope")
    _check_scopes("scopes", cmd.scopes)
    if "admin" not in manager.rights and not cmd.scopes <= manager.rights:
        missing = ", ".join(sorted(cmd.scopes - manager.rights))
        raise PermissionDenied(f"manager {manager.login} does not hold: {missing}")
    now = clock()
    if cmd.expires_at is not None and cmd.expires_at <= now:
        raise ValidationError.field("expires_at", "must be in the future")
    prefix = secrets.token_hex(6)
    secret = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(id=secrets.token_hex(8), manager_login=manager.login, prefix=prefix,
                 secret_hash=_hash_secret(secret), scopes=cmd.scopes, name=cmd.name,
                 created_at=now, expires_at=cmd.expires_at)  # fmt: skip
    uow.api_keys.add(key)
    record(uow, actor, now, "api_key.created", "api_key", key.id, None, key.snapshot())
    return IssuedKey(key, secret)


@dataclass(frozen=True)
class KeyIdentity:
    key: ApiKey
    manager: Manager
    scopes: frozenset[str]
    needs_touch: bool


def authenticate_key(uow: UnitOfWork, presented: str, now: datetime) -> KeyIdentity:
    """The key's manager and effective scopes (key scopes within the manager's rights)."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise Unauthorized("the bearer key is malformed")
    key = uow.api_keys.get_by_prefix(parts[1])
    if key is None or not hmac.compare_digest(key.secret_hash, _hash_secret(presented)):
        raise Unauthorized("the bearer key is not valid")
    if key.revoked_at is not None and key.revoked_at <= now:
        raise Unauthorized("the bearer key has been revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise Unauthorized("the bearer key has expired")
    manager = uow.managers.get(key.manager_login)
    if manager is None or not manager.enabled:
        raise Unauthorized("the key's manager is disabled")
    scopes = key.scopes if "admin" in manager.rights else key.scopes & manager.rights
    needs_touch = key.last_used_at is None or now - key.last_used_at >= TOUCH_INTERVAL
    return KeyIdentity(key, manager, frozenset(scopes), needs_touch)


def revoke_api_key(uow: UnitOfWork, key_id: str, actor: Actor, clock: Clock) -> ApiKey:
    from brokerplane.core.errors import ApiKeyNotFound

    key = uow.api_keys.get(key_id)
    if key is None or (key.manager_login != actor.manager_login and not actor.has("admin")):
        raise ApiKeyNotFound(key_id)
    if key.revoked_at is not None:
        return key
    before = key.snapshot()
    now = clock()
    key = replace(key, revoked_at=now)
    uow.api_keys.update(key)
    record(uow, actor, now, "api_key.revoked", "api_key", key.id, before, key.snapshot())
    return key
