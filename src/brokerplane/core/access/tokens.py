"""Manager session tokens of the dialects that log managers in with a password (cTrader's
webservToken): issued for a login and the MD5 of its password, checked on every call.

A token is derived, not drawn: HMAC-SHA256 keyed with the presented MD5 over the dialect, the
login, the manager's current password verifier and the second it was issued, shown as a UUID.
While a token is in the first half of its lifetime the same credentials get the same token
back (cTrader's documented behaviour); after that a new one is issued (the older one keeps
working until it expires), so a client asking for a token always gets one with at least half a
lifetime left. The database, which holds neither the MD5 nor the token, only a SHA-256 of the
token, cannot recreate it. Each stored token carries a fingerprint of the verifier it was
issued under: once the password changes the fingerprints differ and the token is refused (and
the password change deletes the manager's tokens in the same transaction, as disabling does).
A token older than its lifetime is refused as expired.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from datetime import datetime, timedelta

from brokerplane.core import passwords
from brokerplane.core.access import lockout
from brokerplane.core.access.commands import IssueToken
from brokerplane.core.access.model import Manager, ManagerToken
from brokerplane.core.actor import Actor
from brokerplane.core.audit.service import record
from brokerplane.core.clock import Clock
from brokerplane.core.compare import same
from brokerplane.core.errors import TokenExpired, Unauthorized
from brokerplane.core.ports import UnitOfWork

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "MAX_TOKEN",
    "PASSWORD_VERIFIER",
    "IssueToken",
    "ManagerToken",
    "authenticate_token",
    "expired",
    "fingerprint",
    "hash_token",
    "issue_token",
    "still_signed_in",
    "token_hash_of",
    "verify_token",
]

PASSWORD_VERIFIER = "password"
_MD5_HEX = re.compile(r"^[0-9a-fA-F]{32}$")
MAX_TOKEN = 128


def hash_token(token: str) -> str:
    return hashlib.sha256(token.strip().lower().encode("utf-8")).hexdigest()


def fingerprint(verifier: str) -> str:
    return hashlib.sha256(verifier.encode("utf-8")).hexdigest()


def _derive(md5hex: str, dialect: str, login: int, verifier: str, issued_at: datetime) -> str:
    message = f"{dialect}:{login}:{verifier}:{int(issued_at.timestamp())}"
    mac = hmac.new(md5hex.lower().encode(), message.encode(), "sha256")
    return str(uuid.UUID(bytes=mac.digest()[:16]))


def _verifier(manager: Manager | None) -> str | None:
    if manager is None or not manager.enabled:
        return None
    return manager.verifiers.get(PASSWORD_VERIFIER) or None


def expired(token: ManagerToken, now: datetime, ttl: timedelta | None) -> bool:
    return ttl is not None and token.issued_at + ttl <= now


def issue_token(
    uow: UnitOfWork, cmd: IssueToken, actor: Actor, clock: Clock, ttl: timedelta | None = None
) -> str:
    """The manager's token for these credentials, or Unauthorized. The live one is handed out
    again while at least half its lifetime (`ttl`; None: no end) is left; otherwise a new one is
    stored, and tokens that expired or belong to an older password are deleted."""
    md5hex = cmd.md5_password.strip() if isinstance(cmd.md5_password, str) else ""
    login = cmd.login
    if isinstance(login, bool) or not isinstance(login, int) or not _MD5_HEX.match(md5hex):
        raise Unauthorized("wrong login or password")
    manager = uow.managers.get(login)
    verifier = _verifier(manager)
    if verifier is None:  # no such (enabled) manager: the same hash work as a wrong password
        lockout.waste_work(md5hex)
        raise Unauthorized("wrong login or password")
    if not passwords.verify_md5(verifier, md5hex):
        raise Unauthorized("wrong login or password")
    now = clock()
    mark = fingerprint(verifier)
    stored = uow.tokens.for_manager(login, cmd.dialect)
    live = [t for t in stored if t.verifier_fingerprint == mark and not expired(t, now, ttl)]
    for candidate in live:
        if ttl is not None and candidate.issued_at + ttl / 2 <= now:
            continue  # past half its life: a new one below
        token = _derive(md5hex, cmd.dialect, login, verifier, candidate.issued_at)
        if same(hash_token(token), candidate.token_hash):
            return token
    issued_at = now.replace(microsecond=0)
    token = _derive(md5hex, cmd.dialect, login, verifier, issued_at)
    token_hash = hash_token(token)
    if any(t.token_hash == token_hash for t in stored):
        return token  # issued within this same second
    if len(live) < len(stored):
        uow.tokens.delete_for_manager(login, cmd.dialect)  # expired or of an older password
        for keep in live:
            uow.tokens.add(keep)
    uow.tokens.add(ManagerToken(token_hash, login, cmd.dialect, mark, issued_at))
    expires_at = (issued_at + ttl).isoformat() if ttl is not None else None
    record(
        uow,
        actor,
        now,
        "manager.token_issued",
        "manager",
        login,
        None,
        {"dialect": cmd.dialect, "expires_at": expires_at},
    )
    return token


def token_hash_of(token: str) -> str:
    """The stored hash a presented token is looked up by (Unauthorized when it is not one)."""
    if not isinstance(token, str) or not token.strip() or len(token) > MAX_TOKEN:
        raise Unauthorized("the token is missing or not valid")
    return hash_token(token)


def authenticate_token(
    uow: UnitOfWork,
    token: str,
    dialect: str,
    now: datetime | None = None,
    ttl: timedelta | None = None,
) -> Manager:
    """The enabled manager a token was issued to, while its password is unchanged and the
    token is younger than `ttl` (None: no end) at `now`."""
    found = uow.tokens.with_manager(token_hash_of(token))  # one read: every call does it
    return verify_token(found, dialect, now, ttl)


def verify_token(
    found: tuple[ManagerToken, Manager | None] | None,
    dialect: str,
    now: datetime | None = None,
    ttl: timedelta | None = None,
) -> Manager:
    """Every rule of a token's check, on the rows read for its hash (just now, or kept while
    nothing changed: application.keycache)."""
    if found is None or found[0].dialect != dialect:
        raise Unauthorized("the token is not valid")
    stored, manager = found
    verifier = _verifier(manager)
    if manager is None or verifier is None:
        raise Unauthorized("the token's manager is disabled or has no password")
    if not same(fingerprint(verifier), stored.verifier_fingerprint):
        raise Unauthorized("the token was issued under a password that has since changed")
    if now is not None and expired(stored, now, ttl):
        raise TokenExpired("the token has expired; request a new one from /managers/token")
    return manager


def still_signed_in(
    manager: Manager | None, verifier: str, opened_with: str | None, epoch: int | None
) -> bool:
    """Whether a connection-bound session (MT5's) opened with the manager's `verifier` under
    session `epoch` may go on: the manager exists, is enabled, that verifier is still the one
    the session was opened with (a new password ends the session), and no password change or
    disable has happened since (a disable ends it, even once enabled again)."""
    if manager is None or not manager.enabled or not opened_with:
        return False
    if epoch is None or manager.session_epoch != epoch:
        return False
    current = manager.verifiers.get(verifier)
    if not current:
        return False
    return same(current.lower(), opened_with.lower())
