"""Back-office sessions: sign-in with a login and password for an access token and a refresh
token, refresh, and the principal behind an access token.

A numeric login is a back-office user (a core Manager, checked against its "password"
verifier); any other login is a TE user (checked against the user's password). Tokens are
random, shown once and stored as SHA-256 hashes with the session they belong to and a
fingerprint of the password verifier they were issued under: a new password, a disabled manager
or a user that is no longer Unlocked ends every session at once. Refreshing consumes the
refresh token and its access token and hands out a new pair.

Failed sign-ins are counted by the lockout every dialect shares (core.access.lockout, run by
Application around `sign_in`): they delay further attempts for a while and never change the
user's status, so nobody can lock a user (its webhook keys and account passwords with it) by
failing to sign in as it. A login that does not exist, or cannot sign in, costs the same
password hash work as a wrong password.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from brokerplane.core import passwords
from brokerplane.core.access import lockout
from brokerplane.core.access.model import Manager
from brokerplane.core.access.tokens import PASSWORD_VERIFIER, fingerprint
from brokerplane.core.actor import Actor
from brokerplane.core.audit.service import record
from brokerplane.core.backoffice.commands import RefreshSession, SignIn, SignInOutcome, TokenPair
from brokerplane.core.backoffice.model import (
    PRINCIPAL_MANAGER,
    PRINCIPAL_USER,
    STATUS_NAMES,
    TOKEN_ACCESS,
    TOKEN_REFRESH,
    BackofficeToken,
    usable,
)
from brokerplane.core.clock import Clock
from brokerplane.core.compare import same
from brokerplane.core.errors import Unauthorized
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.user.model import User
from brokerplane.core.validate import MAX_LOGIN

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "MAX_CREDENTIAL",
    "Principal",
    "RefreshSession",
    "SessionCheck",
    "SignIn",
    "TokenPair",
    "attempt_of",
    "authenticate",
    "hash_token",
    "refresh",
    "sign_in",
    "verify_session",
]

MAX_CREDENTIAL = 256


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def attempt_of(cmd: SignIn, address: str | None) -> lockout.Attempt:
    """Whose counters a sign-in moves: a numeric login's manager, else the TE user's."""
    login = cmd.login
    if isinstance(login, int) and not isinstance(login, bool):
        login = str(login)
    if not isinstance(login, str) or not login.strip() or len(login) > MAX_CREDENTIAL:
        return lockout.Attempt("invalid", address)
    login = login.strip()
    if login.isascii() and login.isdigit():
        return lockout.manager(int(login), address)
    return lockout.user(login, address)


@dataclass(frozen=True)
class Principal:
    """Who a session belongs to: a back-office user (manager) or a TE user."""

    kind: str
    manager: Manager | None = None
    user: User | None = None
    channel: str = ""  # where the session was signed in (model.CHANNEL_CONSOLE, or "")

    @property
    def id(self) -> int:
        if self.manager is not None:
            return self.manager.login
        assert self.user is not None
        return self.user.id


def _manager_verifier(manager: Manager | None) -> str | None:
    if manager is None or not manager.enabled:
        return None
    return manager.verifiers.get(PASSWORD_VERIFIER) or None


def _issue(
    uow: UnitOfWork,
    principal: str,
    principal_id: int,
    verifier: str,
    now: datetime,
    access_ttl: timedelta,
    refresh_ttl: timedelta,
    channel: str = "",
) -> TokenPair:
    session = secrets.token_hex(16)
    access = secrets.token_urlsafe(32)
    refresh = secrets.token_urlsafe(48)
    mark = fingerprint(verifier)
    for kind, token, ttl in (
        (TOKEN_ACCESS, access, access_ttl),
        (TOKEN_REFRESH, refresh, refresh_ttl),
    ):
        uow.backoffice.add_token(
            BackofficeToken(
                hash_token(token),
                kind,
                session,
                principal,
                principal_id,
                mark,
                now,
                now + ttl,
                channel,
            )
        )
    return TokenPair(access, refresh, access_ttl, refresh_ttl, principal, principal_id)


def _check_ttls(access_ttl: timedelta, refresh_ttl: timedelta) -> None:
    if access_ttl <= timedelta(0) or refresh_ttl <= timedelta(0):  # pragma: no cover - settings
        raise ValueError("token lifetimes must be positive")


def sign_in(uow: UnitOfWork, cmd: SignIn, actor: Actor, clock: Clock) -> SignInOutcome:
    _check_ttls(cmd.access_ttl, cmd.refresh_ttl)
    login = cmd.login
    if isinstance(login, int) and not isinstance(login, bool):
        login = str(login)
    password = cmd.password
    if (
        not isinstance(login, str)
        or not login.strip()
        or len(login) > MAX_CREDENTIAL
        or not isinstance(password, str)
        or not password
        or len(password) > MAX_CREDENTIAL
    ):
        return SignInOutcome(None)
    login = login.strip()
    now = clock()
    uow.backoffice.purge_tokens(now)
    if login.isascii() and login.isdigit():
        number = int(login)
        manager = uow.managers.get(number) if 0 < number <= MAX_LOGIN else None
        verifier = _manager_verifier(manager)
        if manager is None or verifier is None:
            lockout.waste_work(passwords.md5_hex(password))
            return SignInOutcome(None)
        if not passwords.verify(verifier, password):
            return SignInOutcome(None)
        pair = _issue(
            uow, PRINCIPAL_MANAGER, manager.login, verifier, now, cmd.access_ttl, cmd.refresh_ttl
        )
        record(
            uow,
            replace(actor, manager_login=manager.login),
            now,
            "manager.signed_in",
            "manager",
            manager.login,
            None,
            {"dialect": actor.dialect},
        )
        return SignInOutcome(pair)
    user = uow.backoffice.user_by_login(login)
    if user is None or not user.password:
        lockout.waste_work(passwords.md5_hex(password))
        return SignInOutcome(None)
    if not passwords.verify(user.password, password):
        return SignInOutcome(None)
    if not usable(user.status):
        return SignInOutcome(None, f"the user is {STATUS_NAMES.get(user.status, user.status)}")
    pair = _issue(uow, PRINCIPAL_USER, user.id, user.password, now, cmd.access_ttl, cmd.refresh_ttl)
    record(
        uow,
        replace(actor, operator_id=f"user {user.id}"),
        now,
        "user.signed_in",
        "user",
        user.id,
        None,
        {"dialect": actor.dialect},
    )
    return SignInOutcome(pair)


def _current_verifier(uow: UnitOfWork, stored: BackofficeToken) -> tuple[Principal, str] | None:
    """The principal of a stored token and its verifier now, while it may still sign in."""
    if stored.principal == PRINCIPAL_MANAGER:
        manager = uow.managers.get(stored.principal_id)
        verifier = _manager_verifier(manager)
        if manager is None or verifier is None:
            return None
        return Principal(PRINCIPAL_MANAGER, manager=manager), verifier
    user = uow.users.get(stored.principal_id)
    if user is None or not user.password or not usable(user.status):
        return None
    return Principal(PRINCIPAL_USER, user=replace(user, password=None)), user.password


def _valid(
    uow: UnitOfWork, token: object, kind: str, now: datetime
) -> tuple[BackofficeToken, Principal]:
    if not isinstance(token, str) or not token.strip() or len(token) > MAX_CREDENTIAL:
        raise Unauthorized("the token is missing or not valid")
    stored = uow.backoffice.get_token(hash_token(token.strip()))
    if stored is None or stored.kind != kind:
        raise Unauthorized("the token is not valid")
    if stored.expires_at <= now:
        raise Unauthorized("the token has expired")
    current = _current_verifier(uow, stored)
    if current is None:
        raise Unauthorized("the token's user is disabled, locked or has no password")
    principal, verifier = current
    if not same(fingerprint(verifier), stored.verifier_fingerprint):
        raise Unauthorized("the token was issued under a password that has since changed")
    return stored, replace(principal, channel=stored.channel)


def authenticate(uow: UnitOfWork, token: str, now: datetime) -> Principal:
    """The principal of a live access token (else Unauthorized)."""
    return _valid(uow, token, TOKEN_ACCESS, now)[1]


def refresh(uow: UnitOfWork, cmd: RefreshSession, actor: Actor, clock: Clock) -> TokenPair:
    """A new pair for a live refresh token; the old pair stops working."""
    _check_ttls(cmd.access_ttl, cmd.refresh_ttl)
    now = clock()
    stored, principal = _valid(uow, cmd.refresh_token, TOKEN_REFRESH, now)
    current = _current_verifier(uow, stored)
    assert current is not None  # checked by _valid in this transaction
    # Single use under concurrency: of refreshes racing with one token, only the one whose
    # delete removes the row goes on (the others wait for its commit and delete nothing).
    if not uow.backoffice.consume_token(stored.token_hash):
        raise Unauthorized("the token is not valid")
    uow.backoffice.delete_session(stored.session_id)
    return _issue(
        uow,
        stored.principal,
        principal.id,
        current[1],
        now,
        cmd.access_ttl,
        cmd.refresh_ttl,
        stored.channel,
    )


@dataclass(frozen=True)
class SessionCheck:
    """Whose session an access token is (GET /auth/pfixtoken/verify): `expired` when it may no
    longer be used (expired, or its user locked, disabled or given a new password)."""

    login: str
    expired: bool


def verify_session(uow: UnitOfWork, token: object, now: datetime) -> SessionCheck:
    """A token that was never issued (or is long gone) is Unauthorized."""
    if not isinstance(token, str) or not token.strip() or len(token) > MAX_CREDENTIAL:
        raise Unauthorized("the token is missing or not valid")
    stored = uow.backoffice.get_token(hash_token(token.strip()))
    if stored is None or stored.kind != TOKEN_ACCESS:
        raise Unauthorized("the token is not valid")
    if stored.principal == PRINCIPAL_MANAGER:
        login = str(stored.principal_id)
    else:
        user = uow.users.get(stored.principal_id)
        login = user.login if user is not None else ""
    try:
        _valid(uow, token, TOKEN_ACCESS, now)
    except Unauthorized:
        return SessionCheck(login, True)
    return SessionCheck(login, False)
