"""Manager session tokens of the dialects that log managers in with a password (cTrader's
webservToken): issued for a login and the MD5 of its password, checked on every call.

A token is derived, not drawn: HMAC-SHA256 keyed with the presented MD5 over the dialect, the
login and the manager's current password verifier, shown as a UUID. The same credentials
therefore always get the same token (cTrader's documented behaviour), a new password (a new
verifier) gets a new one, and the database, which holds neither the MD5 nor the token, only a
SHA-256 of the token, cannot recreate it. Each stored token carries a fingerprint of the
verifier it was issued under; once the password changes the fingerprints differ and the
token is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from brokerplane.core import passwords
from brokerplane.core.access import lockout
from brokerplane.core.access.model import Manager
from brokerplane.core.actor import Actor
from brokerplane.core.audit.service import record
from brokerplane.core.clock import Clock
from brokerplane.core.errors import Unauthorized
from brokerplane.core.ports import UnitOfWork

PASSWORD_VERIFIER = "password"
_MD5_HEX = re.compile(r"^[0-9a-fA-F]{32}$")
MAX_TOKEN = 128


@dataclass(frozen=True)
class ManagerToken:
    """A stored token: its hash, whose it is, for which dialect, under which verifier."""

    token_hash: str
    manager_login: int
    dialect: str
    verifier_fingerprint: str
    issued_at: datetime


@dataclass(frozen=True)
class IssueToken:
    """Log a manager in: `md5_password` is the hex MD5 of the manager's password."""

    login: int
    md5_password: str
    dialect: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.strip().lower().encode("utf-8")).hexdigest()


def fingerprint(verifier: str) -> str:
    return hashlib.sha256(verifier.encode("utf-8")).hexdigest()


def _derive(md5hex: str, dialect: str, login: int, verifier: str) -> str:
    mac = hmac.new(md5hex.lower().encode(), f"{dialect}:{login}:{verifier}".encode(), "sha256")
    return str(uuid.UUID(bytes=mac.digest()[:16]))


def _verifier(manager: Manager | None) -> str | None:
    if manager is None or not manager.enabled:
        return None
    return manager.verifiers.get(PASSWORD_VERIFIER) or None


def issue_token(uow: UnitOfWork, cmd: IssueToken, actor: Actor, clock: Clock) -> str:
    """The manager's token for these credentials (stored on first issue), or Unauthorized."""
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
    token = _derive(md5hex, cmd.dialect, login, verifier)
    token_hash = hash_token(token)
    if uow.tokens.get(token_hash) is None:
        now = clock()
        uow.tokens.delete_for_manager(login, cmd.dialect)  # those of an older password
        uow.tokens.add(ManagerToken(token_hash, login, cmd.dialect, fingerprint(verifier), now))
        record(uow, actor, now, "manager.token_issued", "manager", login, None,
               {"dialect": cmd.dialect})  # fmt: skip
    return token


def authenticate_token(uow: UnitOfWork, token: str, dialect: str) -> Manager:
    """The enabled manager a token was issued to, while its password is unchanged."""
    if not isinstance(token, str) or not token.strip() or len(token) > MAX_TOKEN:
        raise Unauthorized("the token is missing or not valid")
    found = uow.tokens.with_manager(hash_token(token))  # one read: every call does it
    if found is None or found[0].dialect != dialect:
        raise Unauthorized("the token is not valid")
    stored, manager = found
    verifier = _verifier(manager)
    if manager is None or verifier is None:
        raise Unauthorized("the token's manager is disabled or has no password")
    if not hmac.compare_digest(fingerprint(verifier), stored.verifier_fingerprint):
        raise Unauthorized("the token was issued under a password that has since changed")
    return manager
