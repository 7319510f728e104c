"""A manager's optional second factor for the console: TOTP enrolment (confirmed by a first
code), recovery codes, turning it off, an administrator's reset, and the two-step sign-in.

Enrolment asks for the manager's password again (to start and to confirm: a session alone
cannot enrol its holder's authenticator), lives `ENROLMENT_TTL` and takes `ENROLMENT_ATTEMPTS`
wrong first codes, then its secret is discarded. Turning TOTP off and new recovery codes take a
proof of the second factor itself (a code or a recovery code), never the password alone.

Sign-in: a right password for a manager with TOTP on gives no session but a challenge, a random
token shown once (the console keeps it in an HttpOnly cookie) and stored as a hash with the
manager, the fingerprint of the password verifier it was earned under, an attempt count and a
short expiry. The session is issued only when a code (or an unused recovery code) is sent with
the challenge; a wrong code counts toward the challenge's attempts (at `CHALLENGE_ATTEMPTS`
it is gone, and the password is asked again) and, in Application, toward the same sign-in lockout
as a wrong password. A code is accepted once: the step it belongs to is stored, and a code of
that step or an earlier one is refused (no replay within its window).

The dialects' own password sign-ins (MT5, cTrader, TraderEvolution, native keys) carry no second
factor: their protocols have no place for one, so TOTP guards the console only.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime, timedelta

from brokerplane.core import passwords
from brokerplane.core.access import lockout, totp
from brokerplane.core.access.commands import (
    EXPIRED,
    TOO_MANY,
    USED_CODE,
    WRONG_CODE,
    Enrolled,
    FirstStep,
    SecondStep,
    Status,
    StepOutcome,
)
from brokerplane.core.access.model import Challenge, Manager, SecondFactor
from brokerplane.core.access.tokens import PASSWORD_VERIFIER, fingerprint
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import AuditKeys
from brokerplane.core.audit.service import record
from brokerplane.core.backoffice import sessions
from brokerplane.core.backoffice.commands import SignIn
from brokerplane.core.backoffice.model import CHANNEL_CONSOLE, PRINCIPAL_MANAGER
from brokerplane.core.backoffice.sessions import MAX_CREDENTIAL, _issue, hash_token
from brokerplane.core.clock import Clock
from brokerplane.core.compare import same
from brokerplane.core.errors import Conflict, ManagerNotFound, PermissionDenied, ValidationError
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.validate import MAX_LOGIN

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "CHALLENGE_ATTEMPTS",
    "CHALLENGE_TTL",
    "ENROLMENT_ATTEMPTS",
    "ENROLMENT_DISCARDED",
    "ENROLMENT_TTL",
    "EXPIRED",
    "ISSUER",
    "MISMATCH",
    "NO_ENROLMENT",
    "FirstStep",
    "SecondStep",
    "Status",
    "StepOutcome",
    "attempt_of",
    "challenge_login",
    "confirm",
    "disable",
    "password_step",
    "regenerate",
    "require_enabled",
    "require_off",
    "require_pending",
    "reset",
    "second_step",
    "start",
    "status",
]

ISSUER = "brokerplane"
CHALLENGE_TTL = timedelta(minutes=5)
CHALLENGE_ATTEMPTS = 5
# An enrolment (a secret drawn, waiting for its first code) lives this long and takes this many
# wrong first codes; then its secret is discarded and the manager starts again.
ENROLMENT_TTL = timedelta(minutes=15)
ENROLMENT_ATTEMPTS = 5
NO_ENROLMENT = "there is no enrolment waiting for its first code: start again"
ENROLMENT_DISCARDED = "too many wrong codes: the new secret is discarded, start again"
MISMATCH = "does not match: check the code and the device's clock, and try again"


def _keys(keys: AuditKeys | None) -> AuditKeys:
    if keys is None:
        raise Conflict(
            "two-factor sign-in needs the audit keyring (it seals the TOTP secrets), "
            "and none is configured"
        )
    return keys


def _open(factor: SecondFactor, keys: AuditKeys | None) -> bytes:
    """The factor's secret; Conflict when the keyring cannot open it (its key was removed, or
    the row was altered): an administrator's reset is then the way out."""
    try:
        return totp.open_sealed(factor.sealed_secret, factor.manager_login, _keys(keys))
    except totp.SealError as err:
        raise Conflict(f"{err}: an administrator can reset this manager's second factor") from None


def _own_login(actor: Actor) -> int:
    if actor.manager_login is None or actor.key_id is not None:
        raise PermissionDenied("only a signed-in manager manages its own second factor")
    return actor.manager_login


def _manager(uow: UnitOfWork, login: int) -> Manager:
    manager = uow.managers.get(login)
    if manager is None:
        raise ManagerNotFound(login)
    return manager


def status(uow: UnitOfWork, actor: Actor, keys: AuditKeys | None, now: datetime) -> Status:
    login = _own_login(actor)
    factor = uow.second_factor.get(login)
    if factor is None:
        return Status(False, None, 0)
    if factor.enabled:
        return Status(True, None, uow.second_factor.recovery_codes_left(login))
    if _pending(uow, login, now) is None:  # expired, or discarded: start again
        return Status(False, None, 0)
    secret = _open(factor, keys)
    return Status(False, _enrolment(secret, login), 0)


def _enrolment(secret: bytes, login: int) -> totp.Enrolment:
    return totp.Enrolment(totp.b32(secret), totp.otpauth_uri(secret, str(login), ISSUER))


def _enrolment_key(login: int) -> str:
    """The key an enrolment's attempts are counted under, with the sign-ins waiting for their
    second step; never a token's hash (those are hex), so no cookie can name it."""
    return f"enrolment:{login}"


def _pending(uow: UnitOfWork, login: int, now: datetime) -> Challenge | None:
    """The live enrolment of the manager (its expiry, its wrong first codes so far)."""
    found = uow.second_factor.get_challenge(_enrolment_key(login))
    return found if found is not None and found.expires_at > now else None


def _password_ok(manager: Manager, password: object) -> bool:
    """Whether `password` is the manager's current password (re-authentication)."""
    verifier = manager.verifiers.get(PASSWORD_VERIFIER)
    if not isinstance(password, str) or not password or len(password) > MAX_CREDENTIAL:
        return False
    if not verifier:
        lockout.waste_work(passwords.md5_hex(password))
        return False
    return passwords.verify(verifier, password)


def require_off(uow: UnitOfWork, actor: Actor) -> None:
    """Conflict when the actor's own second factor is on already (checked before a password
    is counted by the lockout)."""
    current = uow.second_factor.get(_own_login(actor))
    if current is not None and current.enabled:
        raise Conflict("two-factor sign-in is already on: turn it off first")


def require_pending(uow: UnitOfWork, actor: Actor, now: datetime) -> None:
    """Conflict unless the actor has an enrolment waiting for its first code."""
    login = _own_login(actor)
    factor = uow.second_factor.get(login)
    if factor is None or factor.enabled or _pending(uow, login, now) is None:
        raise Conflict(NO_ENROLMENT)


def start(
    uow: UnitOfWork, actor: Actor, password: object, clock: Clock, keys: AuditKeys | None
) -> totp.Enrolment | None:
    """A new secret, stored sealed and off until `confirm` sees a first code from it (a
    secret waiting for its first code is replaced); only for the manager's current password
    (None: wrong, counted by the caller as a failed sign-in), so a session alone cannot
    enrol an authenticator of its holder's."""
    login = _own_login(actor)
    ring = _keys(keys)
    manager = _manager(uow, login)
    current = uow.second_factor.get(login)
    if current is not None and current.enabled:
        raise Conflict("two-factor sign-in is already on: turn it off first")
    if not _password_ok(manager, password):
        return None
    now = clock()
    secret = totp.new_secret()
    uow.second_factor.put(SecondFactor(login, totp.seal(secret, login, ring), created_at=now))
    key = _enrolment_key(login)
    uow.second_factor.delete_challenge(key)
    verifier = manager.verifiers[PASSWORD_VERIFIER]
    uow.second_factor.add_challenge(
        Challenge(key, login, fingerprint(verifier), 0, now + ENROLMENT_TTL)
    )
    record(uow, actor, now, "manager.second_factor_enrolment_started", "manager", login, None,
           {"method": "totp"})  # fmt: skip
    return _enrolment(secret, login)


def confirm(
    uow: UnitOfWork,
    actor: Actor,
    code: object,
    password: object,
    clock: Clock,
    keys: AuditKeys | None,
) -> Enrolled | None:
    """Turn TOTP on once a code from the new secret matches, for the manager's current
    password (None: wrong, counted by the caller as a failed sign-in). A wrong code counts
    toward the enrolment's attempts: at `ENROLMENT_ATTEMPTS` its secret is discarded."""
    login = _own_login(actor)
    manager = _manager(uow, login)
    now = clock()
    factor = uow.second_factor.get(login)
    pending = _pending(uow, login, now)
    if factor is None or factor.enabled or pending is None:
        return Enrolled(None, Conflict(NO_ENROLMENT))
    if not _password_ok(manager, password):
        return None
    verifier = manager.verifiers[PASSWORD_VERIFIER]
    if not same(fingerprint(verifier), pending.verifier_fingerprint):  # a new password since
        _discard(uow, actor, login, now, "password changed")
        return Enrolled(None, Conflict(NO_ENROLMENT))
    attempts = uow.second_factor.count_attempt(pending.token_hash)  # serialises confirmations
    if attempts == 0 or attempts > ENROLMENT_ATTEMPTS:
        return Enrolled(None, Conflict(NO_ENROLMENT))
    digits = totp.normal_code(code)
    secret = _open(factor, keys)
    step = totp.matching_step(secret, digits, now) if digits is not None else None
    if step is None:
        if attempts >= ENROLMENT_ATTEMPTS:
            _discard(uow, actor, login, now, "too many wrong codes")
            return Enrolled(None, Conflict(ENROLMENT_DISCARDED))
        why = "must be the 6 digits the app shows" if digits is None else MISMATCH
        return Enrolled(None, ValidationError.field("code", why))
    uow.second_factor.delete_challenge(pending.token_hash)
    uow.second_factor.put(replace(factor, enabled=True, last_step=step, enabled_at=now))
    codes = _new_codes(uow, login, now)
    record(uow, actor, now, "manager.second_factor_enabled", "manager", login, None,
           {"method": "totp", "recovery_codes": len(codes)})  # fmt: skip
    return Enrolled(codes)


def _discard(uow: UnitOfWork, actor: Actor, login: int, now: datetime, why: str) -> None:
    """The pending secret is gone: the manager starts the enrolment again."""
    _forget(uow, login)
    record(uow, actor, now, "manager.second_factor_enrolment_discarded", "manager", login,
           None, {"method": "totp", "reason": why})  # fmt: skip


def _new_codes(uow: UnitOfWork, login: int, now: datetime) -> list[str]:
    codes = totp.new_recovery_codes()
    hashes = [totp.recovery_hash(login, totp.normal_recovery_code(c) or "") for c in codes]
    uow.second_factor.set_recovery_codes(login, hashes, now)
    return codes


def _proved(uow: UnitOfWork, manager: Manager, factor: SecondFactor, proof: object,
            now: datetime, keys: AuditKeys | None) -> str | None:  # fmt: skip
    """How `proof` proves the manager holds the second factor (totp, recovery_code), using up
    the code or the recovery code; None: it does not. The password never does: it is the very
    factor this one stands beside."""
    if not isinstance(proof, str) or not proof or len(proof) > MAX_CREDENTIAL:
        return None
    login = manager.login
    digits = totp.normal_code(proof)
    if digits is not None:
        secret = _open(factor, keys)
        step = totp.matching_step(secret, digits, now)
        if step is not None and uow.second_factor.use_step(login, step):
            return "totp"
        return None
    recovery = totp.normal_recovery_code(proof)
    if recovery is None:
        return None
    stored = totp.recovery_matches(login, recovery, uow.second_factor.unused_recovery_hashes(login))
    if stored is not None and uow.second_factor.use_recovery_code(login, stored, now):
        return "recovery_code"  # the conditional update: two concurrent uses succeed once
    return None


def require_enabled(uow: UnitOfWork, actor: Actor) -> None:
    """Conflict unless the actor's own second factor is on (checked before a proof is
    counted by the lockout)."""
    _enabled(uow, _own_login(actor))


def _enabled(uow: UnitOfWork, login: int) -> SecondFactor:
    factor = uow.second_factor.get(login)
    if factor is None or not factor.enabled:
        raise Conflict("two-factor sign-in is not on")
    return factor


def disable(
    uow: UnitOfWork, actor: Actor, proof: object, clock: Clock, keys: AuditKeys | None
) -> bool:
    """Turn TOTP off with a current code or a recovery code; False: the proof is wrong
    (counted by the caller as a failed sign-in)."""
    login = _own_login(actor)
    factor = _enabled(uow, login)
    now = clock()
    how = _proved(uow, _manager(uow, login), factor, proof, now, keys)
    if how is None:
        return False
    _forget(uow, login)
    record(uow, actor, now, "manager.second_factor_disabled", "manager", login,
           {"method": "totp"}, {"proved_by": how})  # fmt: skip
    return True


def regenerate(
    uow: UnitOfWork, actor: Actor, proof: object, clock: Clock, keys: AuditKeys | None
) -> list[str] | None:
    """New recovery codes (the old ones stop working) for a current code or a recovery code;
    None: the proof is wrong."""
    login = _own_login(actor)
    factor = _enabled(uow, login)
    now = clock()
    how = _proved(uow, _manager(uow, login), factor, proof, now, keys)
    if how is None:
        return None
    codes = _new_codes(uow, login, now)
    record(uow, actor, now, "manager.recovery_codes_replaced", "manager", login, None,
           {"recovery_codes": len(codes), "proved_by": how})  # fmt: skip
    return codes


def reset(uow: UnitOfWork, login: int, actor: Actor, clock: Clock) -> bool:
    """An administrator (admin, unlimited reach) removes a manager's second factor, its
    recovery codes and its waiting sign-ins, and ends its back-office sessions (the device
    may be in someone else's hands, and so may a session opened with it); False: it had
    none."""
    actor.require("admin")
    if not actor.unlimited_reach:
        raise PermissionDenied("managing managers needs unlimited reach (groups and brokers *)")
    _manager(uow, login)
    factor = uow.second_factor.get(login)
    _forget(uow, login)
    if factor is None:
        return False
    uow.backoffice.delete_tokens_of(PRINCIPAL_MANAGER, login)
    record(uow, actor, clock(), "manager.second_factor_reset", "manager", login,
           {"method": "totp", "enabled": factor.enabled}, {"sessions_ended": True})  # fmt: skip
    return True


def _forget(uow: UnitOfWork, login: int) -> None:
    uow.second_factor.delete(login)
    uow.second_factor.set_recovery_codes(login, [], None)
    uow.second_factor.delete_challenges_of(login)


# ---- sign-in ---------------------------------------------------------------------------------


def attempt_of(cmd: SignIn, address: str | None) -> lockout.Attempt:
    """The lockout counters of a console sign-in: the manager's, as in every dialect (a login
    written with leading zeros counts on the same manager)."""
    return sessions.attempt_of(cmd, address)


def password_step(
    uow: UnitOfWork, cmd: SignIn, actor: Actor, clock: Clock, ttl: timedelta = CHALLENGE_TTL
) -> FirstStep:
    """A manager's password: a session when it has no second factor on, else a challenge."""
    login, password = cmd.login, cmd.password
    if (
        not isinstance(login, str)
        or not (login.isascii() and login.isdigit())
        or len(login) > 18
        or not isinstance(password, str)
        or not password
        or len(password) > MAX_CREDENTIAL
    ):
        return FirstStep()
    now = clock()
    uow.backoffice.purge_tokens(now)
    number = int(login)
    manager = uow.managers.get(number) if 0 < number <= MAX_LOGIN else None
    verifier = manager.verifiers.get(PASSWORD_VERIFIER) if manager and manager.enabled else None
    if manager is None or not verifier:
        lockout.waste_work(passwords.md5_hex(password))
        return FirstStep()
    if not passwords.verify(verifier, password):
        return FirstStep()
    factor = uow.second_factor.get(manager.login)
    if factor is None or not factor.enabled:
        pair = _issue(uow, PRINCIPAL_MANAGER, manager.login, verifier, now, cmd.access_ttl,
                      cmd.refresh_ttl, CHANNEL_CONSOLE)  # fmt: skip
        record(uow, replace(actor, manager_login=manager.login), now, "manager.signed_in",
               "manager", manager.login, None, {"dialect": actor.dialect})  # fmt: skip
        return FirstStep(pair=pair)
    uow.second_factor.purge_challenges(now)
    token = secrets.token_urlsafe(32)
    uow.second_factor.add_challenge(
        Challenge(hash_token(token), manager.login, fingerprint(verifier), 0, now + ttl)
    )
    return FirstStep(challenge=token)


def _challenge(uow: UnitOfWork, token: object, now: datetime) -> Challenge | None:
    if not isinstance(token, str) or not token or len(token) > MAX_CREDENTIAL:
        return None
    found = uow.second_factor.get_challenge(hash_token(token))
    if found is None or found.expires_at <= now:
        return None
    return found


def challenge_login(uow: UnitOfWork, token: object, now: datetime) -> int | None:
    """Whose sign-in a live challenge is (None: none, or expired)."""
    found = _challenge(uow, token, now)
    return found.manager_login if found is not None else None


def second_step(
    uow: UnitOfWork, cmd: SecondStep, actor: Actor, clock: Clock, keys: AuditKeys | None
) -> StepOutcome:
    """The code (or a recovery code) for a challenge: a session, or a refusal; a wrong code
    counts toward the challenge's attempts."""
    now = clock()
    found = _challenge(uow, cmd.challenge, now)
    if found is None:
        return StepOutcome(None, EXPIRED, counted=False)
    login = found.manager_login
    manager = uow.managers.get(login)
    verifier = manager.verifiers.get(PASSWORD_VERIFIER) if manager and manager.enabled else None
    factor = uow.second_factor.get(login)
    if (
        manager is None
        or not verifier
        or factor is None
        or not factor.enabled
        or not same(fingerprint(verifier), found.verifier_fingerprint)
    ):
        uow.second_factor.delete_challenge(found.token_hash)
        return StepOutcome(None, EXPIRED, counted=False)
    # The attempt is counted first: the update holds the challenge until this step commits,
    # so concurrent steps with one challenge run one after the other, and a step that finds
    # it gone (a concurrent one signed in with it) uses up no code.
    attempts = uow.second_factor.count_attempt(found.token_hash)
    if attempts == 0:
        return StepOutcome(None, EXPIRED, counted=False)
    if attempts > CHALLENGE_ATTEMPTS:
        uow.second_factor.delete_challenge(found.token_hash)
        return StepOutcome(None, TOO_MANY)
    how = _proved(uow, manager, factor, cmd.code, now, keys)
    if how is None:
        if attempts >= CHALLENGE_ATTEMPTS:
            uow.second_factor.delete_challenge(found.token_hash)
            return StepOutcome(None, TOO_MANY)
        digits = totp.normal_code(cmd.code)
        reused = digits is not None and _was_used(uow, factor, digits, now, keys)
        return StepOutcome(None, USED_CODE if reused else WRONG_CODE)
    uow.second_factor.delete_challenge(found.token_hash)
    pair = _issue(
        uow,
        PRINCIPAL_MANAGER,
        login,
        verifier,
        now,
        cmd.access_ttl,
        cmd.refresh_ttl,
        CHANNEL_CONSOLE,
    )
    record(uow, replace(actor, manager_login=login), now, "manager.signed_in", "manager", login,
           None, {"dialect": actor.dialect, "second_factor": how})  # fmt: skip
    if how == "recovery_code":
        left = uow.second_factor.recovery_codes_left(login)
        record(uow, replace(actor, manager_login=login), now, "manager.recovery_code_used",
               "manager", login, None, {"recovery_codes_left": left})  # fmt: skip
    return StepOutcome(pair)


def _was_used(
    uow: UnitOfWork, factor: SecondFactor, digits: str, now: datetime, keys: AuditKeys | None
) -> bool:
    """Whether a refused code was right but already used (said so, so people wait)."""
    secret = _open(factor, keys)
    step = totp.matching_step(secret, digits, now)
    stored = uow.second_factor.get(factor.manager_login)
    return step is not None and stored is not None and (stored.last_step or -1) >= step
