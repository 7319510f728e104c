"""Webhook keys: a TE user's keys for inbound trading webhooks, generated, listed, deleted, and
checked when a webhook arrives.

A key is a public `api_key` and a secret shown once. brokerplane keeps only the secret's
SHA-256 (`secret_digest`), which serves two ways of proving a webhook:
- presenting the secret itself (as alert tools that cannot compute a signature do): the
  server compares digests, and a copy of the database does not reveal a usable secret;
- signing the body: HMAC-SHA256 of the raw body keyed with SHA-256(secret) (the 32 bytes),
  hex. The digest is the signing key, so whoever reads the database could sign as the user:
  the trade-off taken so that no server-side encryption key has to be managed. Rotate keys
  (delete and generate) after a suspected database leak.

A signed-in TE user manages only its own keys (`as_user`); a back-office user manages the keys
of users within its reach (users:read to list, users:write to generate and delete). A key works
only while its user is Unlocked and the key has not expired.

A webhook trades only its user's accounts (`trade`): the key is checked again in the order's
own transaction, the account must belong to the key's user (another's reads as absent), and
the order runs as an actor holding trades:write alone and named after the key, so the deal,
its ledger entry and the audit record all say which key placed it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.audit.service import record
from brokerplane.core.backoffice.commands import (
    ACTIONS,
    WEBHOOK_NAME_MAX,
    CreateWebhookKey,
    DeleteWebhookKey,
    IssuedWebhookKey,
    ListWebhookKeys,
    WebhookFill,
    WebhookIdentity,
    WebhookOrder,
    WebhookProof,
)
from brokerplane.core.backoffice.model import REPLAY_WINDOW, WebhookKey, usable
from brokerplane.core.backoffice.users import load_user
from brokerplane.core.clock import Clock
from brokerplane.core.compare import same
from brokerplane.core.errors import (
    AccountNotFound,
    NotFound,
    SymbolNotFound,
    Unauthorized,
    ValidationError,
)
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.trading import service as trading
from brokerplane.core.trading.commands import ClosePosition, OpenPosition
from brokerplane.core.user.model import User
from brokerplane.core.user.service import in_reach

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "API_KEY_PREFIX",
    "MAX_KEYS_PER_USER",
    "TOUCH_INTERVAL",
    "CreateWebhookKey",
    "DeleteWebhookKey",
    "IssuedWebhookKey",
    "ListWebhookKeys",
    "WebhookFill",
    "WebhookIdentity",
    "WebhookOrder",
    "authenticate_key",
    "create_key",
    "delete_key",
    "key_not_found",
    "list_keys",
    "prove",
    "secret_digest",
    "sign",
    "signing_key",
    "trade",
    "trader_of",
    "verify_secret",
    "verify_signature",
    "webhook_account",
]

MAX_KEYS_PER_USER = 50
API_KEY_PREFIX = "whk_"
TOUCH_INTERVAL = timedelta(seconds=60)


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def signing_key(secret: str) -> bytes:
    """What a client keys its HMAC-SHA256 with: SHA-256 of the secret, as 32 bytes."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


def sign(secret: str, body: bytes) -> str:
    """A body's signature as a client computes it (hex)."""
    return hmac.new(signing_key(secret), body, "sha256").hexdigest()


def verify_signature(key: WebhookKey, body: bytes, signature: str) -> bool:
    if not isinstance(signature, str):
        return False
    expected = hmac.new(bytes.fromhex(key.secret_digest), body, "sha256").hexdigest()
    return same(expected, signature.strip().lower())


def verify_secret(key: WebhookKey, presented: str) -> bool:
    if not isinstance(presented, str) or not presented:
        return False
    return same(key.secret_digest, secret_digest(presented))


def prove(key: WebhookKey, proof: WebhookProof) -> None:
    """The webhook's signature of its body, else its secret (WebhookProof): Unauthorized when
    neither holds."""
    if proof.signature is not None:
        text = proof.signature.strip()
        if text.lower().startswith("sha256="):
            text = text[len("sha256=") :]
        if not verify_signature(key, proof.body, text):
            raise Unauthorized(
                "the X-Signature does not match the body: sign the raw body with "
                "HMAC-SHA256 keyed with SHA-256 of the secret, in hex"
            )
        return
    if proof.secret is None:
        raise Unauthorized(
            "prove the webhook: send an X-Signature header (HMAC-SHA256 of the "
            "body) or the key's secret as 'secret'"
        )
    if not verify_secret(key, proof.secret):
        raise Unauthorized("the secret does not match the webhook key")


def key_not_found(key_id: object) -> NotFound:
    return NotFound(f"webhook key {key_id} does not exist", key_id=key_id)


def _owner(uow: UnitOfWork, user_id: int, actor: Actor, as_user: int | None, scope: str) -> User:
    """The user whose keys are managed: the signed-in user itself, or one in the manager's
    reach."""
    if as_user is not None:
        user = uow.users.get(as_user)
        if user is None or user_id != as_user or not usable(user.status):
            raise Unauthorized("the session's user may not manage webhook keys now")
        return user
    actor.require(scope)
    return load_user(uow, user_id, actor)


def create_key(
    uow: UnitOfWork, cmd: CreateWebhookKey, actor: Actor, clock: Clock
) -> IssuedWebhookKey:
    name = cmd.name.strip() if isinstance(cmd.name, str) else cmd.name
    if name is not None and not isinstance(name, str):
        raise ValidationError.field("name", "must be a string")
    if name and (len(name) > WEBHOOK_NAME_MAX or not name.isprintable()):
        raise ValidationError.field(
            "name", f"must be printable and at most {WEBHOOK_NAME_MAX} characters"
        )
    now = clock()
    expires_at = cmd.expires_at
    if expires_at is not None:
        expires_at = expires_at.replace(tzinfo=UTC) if expires_at.tzinfo is None else expires_at
        if expires_at.astimezone(UTC) <= now:
            raise ValidationError.field("expirationDate", "must be in the future")
    user = _owner(uow, cmd.user_id, actor, cmd.as_user, "users:write")
    if uow.backoffice.count_webhook_keys(user.id) >= MAX_KEYS_PER_USER:
        raise ValidationError.field(
            "name", f"user {user.id} holds {MAX_KEYS_PER_USER} keys already; delete one first"
        )
    api_key = API_KEY_PREFIX + secrets.token_hex(16)
    secret = secrets.token_urlsafe(32)
    key = uow.backoffice.add_webhook_key(
        WebhookKey(
            id=0,
            user_id=user.id,
            name=name or f"webhook-{api_key[4:12]}",
            api_key=api_key,
            secret_digest=secret_digest(secret),
            created_at=now,
            expires_at=expires_at.astimezone(UTC) if expires_at else None,
        )
    )
    record(uow, actor, now, "webhook_key.created", "webhook_key", key.id, None, key.snapshot())
    return IssuedWebhookKey(key, secret)


def list_keys(uow: UnitOfWork, query: ListWebhookKeys, actor: Actor) -> list[WebhookKey]:
    if query.as_user is not None:
        user = _owner(uow, query.as_user, actor, query.as_user, "users:read")
        return uow.backoffice.list_webhook_keys([user.id])
    if query.user_id is not None:
        user = _owner(uow, query.user_id, actor, None, "users:read")
        return uow.backoffice.list_webhook_keys([user.id])
    actor.require_for(query)
    keys = uow.backoffice.list_webhook_keys(None)
    reached: dict[int, bool] = {}
    for key in keys:
        if key.user_id not in reached:
            owner = uow.users.get(key.user_id)
            reached[key.user_id] = owner is not None and in_reach(uow, actor, owner)
    return [k for k in keys if reached[k.user_id]]


def delete_key(uow: UnitOfWork, cmd: DeleteWebhookKey, actor: Actor, clock: Clock) -> WebhookKey:
    """Delete a key of the caller's (or, for a manager, of a user in reach); any other key
    reads as absent."""
    key = uow.backoffice.get_webhook_key(cmd.key_id) if cmd.key_id > 0 else None
    if key is None:
        raise key_not_found(cmd.key_id)
    if cmd.as_user is not None:
        _owner(uow, cmd.as_user, actor, cmd.as_user, "users:write")
        if key.user_id != cmd.as_user:
            raise key_not_found(cmd.key_id)
    else:
        actor.require("users:write")
        owner = uow.users.get(key.user_id)
        if owner is None or not in_reach(uow, actor, owner):
            raise key_not_found(cmd.key_id)
    uow.backoffice.delete_webhook_key(key.id)
    now = clock()
    record(uow, actor, now, "webhook_key.deleted", "webhook_key", key.id, key.snapshot(), None)
    return key


def authenticate_key(uow: UnitOfWork, api_key: str, now: datetime) -> WebhookIdentity:
    """The key and its user for an inbound webhook, before its secret or signature is checked
    (verify_secret, verify_signature): Unauthorized for an unknown or expired key, or a user
    that is not Unlocked."""
    if not isinstance(api_key, str) or not api_key.startswith(API_KEY_PREFIX) or len(api_key) > 64:
        raise Unauthorized("the webhook key is not valid")
    key = uow.backoffice.webhook_key_by_api_key(api_key)
    if key is None:
        raise Unauthorized("the webhook key is not valid")
    if key.expires_at is not None and key.expires_at <= now:
        raise Unauthorized("the webhook key has expired")
    user = uow.users.get(key.user_id)
    if user is None or not usable(user.status):
        raise Unauthorized("the webhook key's user is locked")
    touch = key.last_used_at is None or now - key.last_used_at >= TOUCH_INTERVAL
    return WebhookIdentity(key, replace(user, password=None), touch)


# ---- trading by webhook ---------------------------------------------------------------------


def webhook_account(uow: UnitOfWork, user: User, login: int | None) -> Account:
    """The account a webhook of `user` trades: the one named, if the user's (any other reads
    as absent), else the user's first account."""
    if login is None:
        owned = uow.backoffice.accounts_of_user(user.id)
        if not owned:
            raise ValidationError.field("accountId", f"user {user.id} has no trading account")
        return owned[0]
    acc = uow.accounts.get(login) if isinstance(login, int) and login > 0 else None
    if acc is None or acc.user_id != user.id:
        raise AccountNotFound(login)
    return acc


def trader_of(key: WebhookKey, actor: Actor) -> Actor:
    """The request's actor reduced to placing orders, named after the key: the account is
    chosen by `webhook_account`, never by reach."""
    return replace(
        actor,
        manager_login=None,
        scopes=frozenset({"trades:write"}),
        key_id=None,
        operator_id=f"webhook key {key.id} of user {key.user_id}",
        group_mask="*",
        white_labels="*",
    )


def trade(uow: UnitOfWork, order: WebhookOrder, actor: Actor, clock: Clock) -> WebhookFill:
    """Run a webhook's order on its user's account, all in the caller's transaction."""
    now = clock()
    if order.action not in ACTIONS:
        raise ValidationError.field("side", "must be one of " + ", ".join(ACTIONS))
    if not order.webhook_id:
        raise ValidationError.field("id", "is required: a unique id of the alert, signed")
    if order.sent_at is None:
        raise ValidationError.field("timestamp", "is required: the alert's time, signed")
    if abs(now - order.sent_at) > REPLAY_WINDOW:
        raise Unauthorized(
            "the webhook's timestamp is more than "
            f"{int(REPLAY_WINDOW.total_seconds() // 60)} minutes from the server's time"
        )
    identity = authenticate_key(uow, order.api_key, now)
    acc = webhook_account(uow, identity.user, order.login)
    trader = trader_of(identity.key, actor)
    if order.action != "close":
        cmd = OpenPosition(acc.login, order.symbol, order.action, order.volume, order.comment)
        return WebhookFill(identity.key, acc, (trading.open_position(uow, cmd, trader, clock),))
    sym = uow.symbols.get(order.symbol)
    if sym is None:
        raise SymbolNotFound(order.symbol[:64])
    held = [p for p in uow.trading.positions_of(acc.login) if p.symbol == sym.name]
    if not held:
        raise NotFound(
            f"account {acc.login} holds no {sym.name} position; nothing was closed",
            login=acc.login,
            symbol=sym.name,
        )
    closes = [ClosePosition(p.id, None, order.comment) for p in held]
    done = tuple(trading.close_position(uow, c, trader, clock) for c in closes)
    return WebhookFill(identity.key, acc, done)
