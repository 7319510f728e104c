"""The access commands and what they answer: managers, API keys and a key's identity, manager
session tokens, the console's second factor (its steps, outcomes and refusals)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from brokerplane.core.access import totp
from brokerplane.core.access.model import ApiKey, Manager
from brokerplane.core.actor import SCOPES, Actor, needs
from brokerplane.core.backoffice.commands import WRONG_CREDENTIALS as WRONG_CREDENTIALS
from brokerplane.core.backoffice.commands import TokenPair
from brokerplane.core.errors import CoreError, PermissionDenied


@needs("admin")
@dataclass(frozen=True)
class CreateManager:
    login: int
    name: str = ""
    password: str | None = None
    rights: frozenset[str] = frozenset(SCOPES)
    group_mask: str = "*"
    white_labels: str = "*"


@needs("admin")
@dataclass(frozen=True)
class UpdateManager:
    """Change a manager: any field left None stays as it is."""

    login: int
    name: str | None = None
    enabled: bool | None = None
    password: str | None = None
    grant: frozenset[str] = frozenset()
    revoke: frozenset[str] = frozenset()
    group_mask: str | None = None
    white_labels: str | None = None


@needs("admin")
@dataclass(frozen=True)
class Administration:
    """Entering the administration as a whole (the console's administration pages: managers,
    keys, groups, symbols and thresholds, many commands behind one page), refused up front
    before anything is read; each command behind it checks its own declaration again."""


@needs()
@dataclass(frozen=True)
class CreateApiKey:
    manager_login: int
    scopes: frozenset[str]
    name: str = ""
    expires_at: datetime | None = None


def require_holding(actor: Actor, key: ApiKey, doing: str) -> None:
    """A credential may rotate or revoke only a key whose scopes it holds (admin: any): a
    stolen read-only key must not switch off, or take over, the finance or admin keys."""
    if not actor.has("admin") and not key.scopes <= actor.scopes:
        missing = ", ".join(sorted(key.scopes - actor.scopes))
        raise PermissionDenied(
            f"this credential cannot {doing} a key holding scopes it lacks: {missing}"
        )


# Rotating or revoking a key needs no scope by name: any key of the manager may, and the rule
# refuses a key holding scopes the caller lacks (as creating one does). A stored answer is
# replayed only to a caller the rule would let do it (`check_replay`, Application.run).
@needs()
@dataclass(frozen=True)
class RotateApiKey:
    key_id: str

    def check_replay(self, result: tuple[IssuedKey, ApiKey], actor: Actor) -> None:
        require_holding(actor, result[1], "rotate")


@needs()
@dataclass(frozen=True)
class RevokeApiKey:
    key_id: str

    def check_replay(self, result: ApiKey, actor: Actor) -> None:
        require_holding(actor, result, "revoke")


@dataclass(frozen=True)
class IssuedKey:
    """A new key: `secret` is shown once and never stored."""

    key: ApiKey
    secret: str


@dataclass(frozen=True)
class KeyIdentity:
    key: ApiKey
    manager: Manager
    scopes: frozenset[str]
    needs_touch: bool


@needs()
@dataclass(frozen=True)
class IssueToken:
    """Log a manager in: `md5_password` is the hex MD5 of the manager's password."""

    login: int
    md5_password: str
    dialect: str


@needs()
@dataclass(frozen=True)
class AnswerChallenge:
    """An MT5 Web API handshake's answer (either transport): the manager `login` the
    challenge was asked for, the server's `challenge` (srv_rand) and the client's `answer`
    (srv_rand_answer, hex)."""

    login: int
    challenge: bytes
    answer: str


@dataclass(frozen=True)
class ChallengeAnswered:
    """A right answer: the manager's Web API password hash (what the server's own answer and
    the channel's encryption are made with) and its session epoch, read together."""

    login: int
    password_hash: bytes
    epoch: int


@needs()
@dataclass(frozen=True)
class ResumeSession:
    """A connection-bound (MT5) session's next command: the manager, the password hash and the
    session epoch its handshake was made with."""

    login: int
    opened_with: bytes | None
    epoch: int | None


EXPIRED = "the sign-in has expired: sign in again with your password"
WRONG_CODE = "wrong code"
USED_CODE = "that code was used already: wait for the next one"
TOO_MANY = "too many wrong codes: sign in again with your password"


@dataclass(frozen=True)
class Status:
    """What the security page shows."""

    enabled: bool
    pending: totp.Enrolment | None
    recovery_left: int


@dataclass(frozen=True)
class Enrolled:
    """A confirmation's result, its attempt counted either way: the recovery codes, or why
    not."""

    codes: list[str] | None
    problem: CoreError | None = None


@dataclass(frozen=True)
class FirstStep:
    """A console sign-in's password step: a session, a challenge, or neither (wrong)."""

    pair: TokenPair | None = None
    challenge: str | None = None


@needs()
@dataclass(frozen=True)
class SecondStep:
    challenge: str
    code: str
    access_ttl: timedelta
    refresh_ttl: timedelta


@dataclass(frozen=True)
class StepOutcome:
    """A second step's result: a session, or why not (`counted`: as a failed sign-in)."""

    pair: TokenPair | None
    reason: str = WRONG_CODE
    counted: bool = True
