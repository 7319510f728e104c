"""The MT5 Web API's manager authentication, the same for both its transports (HTTP `/api/...`
and the native TCP protocol): which manager may answer a challenge, with which password hash,
and whether a session opened by a handshake may go on.

A manager answers with its Web API password hash (`passwords.mt5_webapi_hash`, kept as its
`mt5` verifier): a disabled manager, or one without that verifier, cannot sign in, and its
answer is refused exactly as a wrong one is. A session goes on while the manager is enabled,
its verifier is the one the handshake was made with, and no password change or disable has
happened since (`tokens.still_signed_in`). The attempt runs under the sign-in lockout (the
application layer admits it before the check and counts it after).
"""

from __future__ import annotations

from brokerplane.core import passwords
from brokerplane.core.access.commands import AnswerChallenge, ChallengeAnswered, ResumeSession
from brokerplane.core.access.model import Manager
from brokerplane.core.access.tokens import still_signed_in
from brokerplane.core.compare import same
from brokerplane.core.ports import UnitOfWork

MT5_VERIFIER = "mt5"  # the manager's verifier the handshake checks


def password_hash_of(manager: Manager | None) -> tuple[bytes, int] | None:
    """The enabled manager's Web API password hash and its session epoch; None when it cannot
    use the Web API."""
    if manager is None or not manager.enabled:
        return None
    stored = manager.verifiers.get(MT5_VERIFIER)
    if not stored:
        return None
    try:
        return bytes.fromhex(stored), manager.session_epoch
    except ValueError:
        return None


def check_answer(uow: UnitOfWork, cmd: AnswerChallenge) -> ChallengeAnswered | None:
    """The manager's password hash when `cmd.answer` answers the challenge with it; None (a
    failed sign-in) otherwise, whether the manager is missing, cannot use the Web API, or
    answered wrong (a missing one is compared too, so the answer tells nothing)."""
    found = password_hash_of(uow.managers.get(cmd.login))
    if found is None:
        same("x", cmd.answer.strip().lower())
        return None
    pw_hash, epoch = found
    expected = passwords.mt5_challenge_answer(pw_hash, cmd.challenge)
    if not same(expected, cmd.answer.strip().lower()):
        return None
    return ChallengeAnswered(cmd.login, pw_hash, epoch)


def session_manager(uow: UnitOfWork, cmd: ResumeSession) -> Manager | None:
    """The session's manager, or None once it is disabled, or was disabled or its password
    changed since the session's handshake."""
    manager = uow.managers.get(cmd.login)
    opened_with = cmd.opened_with.hex() if cmd.opened_with is not None else None
    if manager is None or not still_signed_in(manager, MT5_VERIFIER, opened_with, cmd.epoch):
        return None
    return manager
