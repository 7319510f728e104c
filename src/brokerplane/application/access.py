"""Access: managers, API keys, manager tokens, console sign-in and its second factor."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from brokerplane.application.base import LazySlice
from brokerplane.application.lockout import SignInLockout
from brokerplane.core.access.commands import AnswerChallenge, ChallengeAnswered, ResumeSession
from brokerplane.core.access.model import ApiKey, Manager
from brokerplane.core.actor import Actor
from brokerplane.core.errors import Unauthorized
from brokerplane.core.ports import UnitOfWork

if TYPE_CHECKING:
    from brokerplane.core.access import handshake, lockout, second_factor, tokens, totp
    from brokerplane.core.access import service as access
    from brokerplane.core.backoffice import sessions as bo_sessions
else:
    handshake = LazySlice("brokerplane.core.access.handshake")
    lockout = LazySlice("brokerplane.core.access.lockout")
    second_factor = LazySlice("brokerplane.core.access.second_factor")
    tokens = LazySlice("brokerplane.core.access.tokens")
    totp = LazySlice("brokerplane.core.access.totp")
    access = LazySlice("brokerplane.core.access.service")
    bo_sessions = LazySlice("brokerplane.core.backoffice.sessions")

T = TypeVar("T")


class AccessServices(SignInLockout):
    """Who may call: managers, their keys and tokens, and the console's sign-in."""

    def create_manager(self, cmd: access.CreateManager, actor: Actor) -> Manager:
        return self._command(access.create_manager, cmd, actor)

    def update_manager(self, cmd: access.UpdateManager, actor: Actor) -> Manager:
        try:
            return self._command(access.update_manager, cmd, actor)
        finally:
            self._forget_keys()

    def list_managers(self, actor: Actor) -> list[Manager]:
        return self._view(access.list_managers, actor)

    def list_api_keys(self, actor: Actor, manager_login: int | None = None) -> list[ApiKey]:
        return self._read(lambda u: access.list_api_keys(u, actor, manager_login))

    def rotate_api_key(
        self, cmd: access.RotateApiKey, actor: Actor
    ) -> tuple[access.IssuedKey, ApiKey]:
        overlap = self.config.key_rotation_overlap
        try:
            return self._write(
                lambda u: access.rotate_api_key(u, cmd.key_id, actor, self.clock, overlap), actor
            )
        finally:
            self._forget_keys()

    def get_manager(self, login: int) -> Manager | None:
        return self._read(lambda u: u.managers.get(login))

    def create_api_key(self, cmd: access.CreateApiKey, actor: Actor) -> access.IssuedKey:
        return self._command(access.create_api_key, cmd, actor)

    def revoke_api_key(self, cmd: access.RevokeApiKey, actor: Actor) -> ApiKey:
        try:
            return self._command(access.revoke_api_key, cmd.key_id, actor)
        finally:
            self._forget_keys()

    def authenticate_key(self, presented: str) -> access.KeyIdentity:
        now = self.clock()
        prefix = access.key_prefix(presented)
        kept = self.verified_keys
        found = kept.get(prefix) if kept is not None else None
        if found is None:
            token = kept.token() if kept is not None else None  # before the read
            found = self._read(lambda u: u.api_keys.with_manager(prefix))
            if found is not None and kept is not None:
                kept.keep(prefix, token, found)
        identity = access.verify_key(found, presented, now)
        if identity.needs_touch:
            self._write(lambda u: u.api_keys.touch(identity.key.id, now))
            self._forget_keys()  # the stamp changed the row kept
        return identity

    def authenticate_kept_key(self, presented: str) -> access.KeyIdentity | None:
        """The key's check on rows kept in memory, without a database read (so it may run on
        the event loop); the same rules as `authenticate_key`. None: the database must be
        read (not kept, changed since, or the key is due its last-used stamp)."""
        kept = self.verified_keys
        if kept is None:
            return None
        try:
            prefix = access.key_prefix(presented)
        except Unauthorized:
            return None  # the full check says so
        found = kept.get(prefix)
        if found is None:
            return None
        identity = access.verify_key(found, presented, self.clock())
        return None if identity.needs_touch else identity

    def is_empty(self) -> bool:
        return self._read(lambda u: not u.managers.list())

    def unlock_manager(self, login: int, actor: Actor) -> int:
        """Forget a manager's failed sign-ins and end its locks (audited); the counters
        deleted."""
        return self._command(access.unlock_manager, login, actor)

    def issue_manager_token(self, cmd: tokens.IssueToken, actor: Actor) -> str:
        ttl = self.config.manager_token_ttl

        def check(u: UnitOfWork) -> str | None:
            try:
                return tokens.issue_token(u, cmd, actor, self.clock, ttl)
            except Unauthorized:
                return None

        try:
            return self._guarded(lockout.manager(cmd.login, actor.ip), check)
        finally:
            self._forget_keys()  # issuing may delete the manager's older tokens

    def authenticate_manager_token(self, token: str, dialect: str) -> Manager:
        now, ttl = self.clock(), self.config.manager_token_ttl
        hashed = tokens.token_hash_of(token)
        kept = self.verified_tokens
        found = kept.get(hashed) if kept is not None else None
        if found is None:
            taken = kept.token() if kept is not None else None  # before the read
            found = self._read(lambda u: u.tokens.with_manager(hashed))
            if found is not None and kept is not None:
                kept.keep(hashed, taken, found)
        return tokens.verify_token(found, dialect, now, ttl)

    def authenticate_kept_manager_token(self, token: str, dialect: str) -> Manager | None:
        """A manager token's check on rows kept in memory, without a database read (so it may
        run on the event loop); the same rules as `authenticate_manager_token`. None: the
        database must be read (not kept, or changed since)."""
        kept = self.verified_tokens
        if kept is None:
            return None
        found = kept.get(tokens.token_hash_of(token))
        if found is None:
            return None
        return tokens.verify_token(found, dialect, self.clock(), self.config.manager_token_ttl)

    def answer_mt5_challenge(self, cmd: AnswerChallenge, address: str | None) -> ChallengeAnswered:
        """An MT5 handshake's answer, under the sign-in lockout (admitted before the password
        hash is read, counted after): Unauthorized with the lock's message when the login or
        address is locked, with WRONG_CREDENTIALS when the answer is wrong, the manager does not
        exist, or it cannot use the Web API."""
        return self._guarded(
            lockout.manager(cmd.login, address), lambda u: handshake.check_answer(u, cmd)
        )

    def resume_mt5_session(self, cmd: ResumeSession) -> Manager | None:
        """The manager of an MT5 session for its next command; None: the session is over."""
        return self._read(lambda u: handshake.session_manager(u, cmd))

    def sign_in_console(self, cmd: bo_sessions.SignIn, actor: Actor) -> second_factor.FirstStep:
        """A manager's password for the console, under the sign-in lockout: a session, or a
        challenge when its second factor is on (the lockout's counters are cleared only once
        the second step is passed)."""

        def check(u: UnitOfWork) -> second_factor.FirstStep | None:
            step = second_factor.password_step(u, cmd, actor, self.clock)
            return step if step.pair is not None or step.challenge is not None else None

        return self._guarded(
            second_factor.attempt_of(cmd, actor.ip),
            check,
            clears=lambda step: step.pair is not None,
        )

    def sign_in_second_step(
        self, cmd: second_factor.SecondStep, actor: Actor
    ) -> bo_sessions.TokenPair:
        """The second step of a console sign-in, under the same lockout as the password: a
        wrong code is a failed sign-in of the manager from this address."""
        now = self.clock()
        login = self._read(lambda u: second_factor.challenge_login(u, cmd.challenge, now))
        if login is None:
            raise Unauthorized(second_factor.EXPIRED)
        attempt = lockout.manager(login, actor.ip)
        until = self.admit_login(attempt)
        if until is not None:
            raise Unauthorized(lockout.locked_message(until, self.clock()))
        policy, keys = self.config.lockout, self.config.audit_keys

        def run(u: UnitOfWork) -> second_factor.StepOutcome:
            outcome = second_factor.second_step(u, cmd, actor, self.clock, keys)
            if outcome.pair is not None:
                lockout.record_success(u.lockouts, attempt, policy)
            return outcome

        try:
            outcome = self._write(run)
        except BaseException:
            self.login_failed(attempt)
            raise
        if outcome.pair is None:
            if outcome.counted:
                self.login_failed(attempt)
            else:
                self.login_not_checked(attempt)
            raise Unauthorized(outcome.reason)
        self._settled()
        return outcome.pair

    def second_factor_status(self, actor: Actor) -> second_factor.Status:
        keys, now = self.config.audit_keys, self.clock()
        return self._read(lambda u: second_factor.status(u, actor, keys, now))

    def start_second_factor(self, actor: Actor, password: str) -> totp.Enrolment:
        """A new TOTP secret for the actor, for its current password (re-authentication: a
        wrong one counts toward the sign-in lockout)."""
        keys = self.config.audit_keys
        self._view(second_factor.require_off, actor)  # no lockout strike
        return self._guarded(
            lockout.manager(actor.manager_login, actor.ip),
            lambda u: second_factor.start(u, actor, password, self.clock, keys),
        )

    def confirm_second_factor(self, actor: Actor, code: str, password: str) -> list[str]:
        """Switch TOTP on with a first code, for the current password (a wrong one counts
        toward the sign-in lockout, a wrong code toward the enrolment's own attempts)."""
        keys = self.config.audit_keys
        self._read(lambda u: second_factor.require_pending(u, actor, self.clock()))
        done = self._guarded(
            lockout.manager(actor.manager_login, actor.ip),
            lambda u: second_factor.confirm(u, actor, code, password, self.clock, keys),
        )
        if done.problem is not None:
            raise done.problem
        assert done.codes is not None
        return done.codes

    def _proved(self, actor: Actor, change: Callable[[UnitOfWork], T | None]) -> T:
        """A change to one's own second factor that needs a proof of it (a code or a recovery
        code), counted by the sign-in lockout when the proof is wrong."""
        self._view(second_factor.require_enabled, actor)  # no lockout strike
        return self._guarded(lockout.manager(actor.manager_login, actor.ip), change)

    def disable_second_factor(self, actor: Actor, proof: str) -> bool:
        keys = self.config.audit_keys
        return self._proved(
            actor, lambda u: second_factor.disable(u, actor, proof, self.clock, keys) or None
        )

    def regenerate_recovery_codes(self, actor: Actor, proof: str) -> list[str]:
        keys = self.config.audit_keys
        return self._proved(
            actor, lambda u: second_factor.regenerate(u, actor, proof, self.clock, keys)
        )

    def reset_second_factor(self, login: int, actor: Actor) -> bool:
        """An administrator removes a manager's second factor (audited); False: it had none."""
        return self._command(second_factor.reset, login, actor)
