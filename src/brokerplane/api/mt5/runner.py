"""What both MT5 transports (HTTP `/api/...` and the native TCP protocol) run the same way: the
handshake's checks (the start's parameters; the answer checked against the manager's MT5
password hash under the shared sign-in lockout, the attempt counted before the check), the
session's actor (refused once the manager is disabled, or was disabled or its password
changed since the handshake), and a command run in one trip to a worker thread with its
errors turned into retcodes.

Each transport keeps only its own words: where parameters come from, how a session is keyed,
and how an `Answer` (or a refusal) is written on the wire.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from brokerplane.api.kit.idempotency import SentKey
from brokerplane.api.mt5.protocol import COMMANDS, Answer, Context, Params
from brokerplane.api.mt5.retcodes import ERR_COMMON, ERR_PARAMS, Mt5Error, code_for
from brokerplane.api.mt5.session import HandshakeFailed, Peer, Sessions
from brokerplane.application.services import Services
from brokerplane.core.access import lockout
from brokerplane.core.access.tokens import still_signed_in
from brokerplane.core.actor import Actor
from brokerplane.core.errors import CoreError

log = logging.getLogger("brokerplane.mt5")

VERSION_ACCESS = "1290"
VERSION_TRADE = "1290"
MIN_CLIENT_VERSION = 484
MT5_VERIFIER = "mt5"  # the manager's verifier the handshake checks


def start_login(params: Params) -> int:
    """The login an `auth/start` (AUTH_START) asks a challenge for; 3 when its parameters
    are not those of a manager client of a supported build."""
    login = params.integer("login", low=1)
    kind = (params.text("type") or "manager").strip().lower()
    agent = params.text("agent")
    version = params.integer("version", default=MIN_CLIENT_VERSION)
    if login is None or kind != "manager" or not agent or " " in agent.strip():
        raise Mt5Error(ERR_PARAMS, "login, type=manager and agent are required")
    if version is None or version < MIN_CLIENT_VERSION:
        raise Mt5Error(ERR_PARAMS, f"version must be {MIN_CLIENT_VERSION} or later")
    return login


def hex16(value: str | None) -> bytes | None:
    """16 bytes given as 32 hex characters (a client's random); None otherwise."""
    if value is None or len(value.strip()) != 32:
        return None
    try:
        return bytes.fromhex(value.strip())
    except ValueError:
        return None


def pw_hash_of(services: Services, login: int) -> tuple[bytes, int] | None:
    """The enabled manager's MT5 password hash and its session epoch, read together; None
    when it cannot use the Web API."""
    manager = services.get_manager(login)
    if manager is None or not manager.enabled:
        return None
    stored = manager.verifiers.get(MT5_VERIFIER)
    if not stored:
        return None
    try:
        return bytes.fromhex(stored), manager.session_epoch
    except ValueError:
        return None


def check_answer(
    services: Services, sessions: Sessions, peer: Peer, srv_rand_answer: str, address: str | None
) -> tuple[int, bytes]:
    """Check a handshake's answer on `peer` (in a worker thread): (login, password hash) when
    it matches, HandshakeFailed otherwise. A locked login or address is refused before its
    password is looked at; a checked answer counts as a sign-in attempt either way."""
    asked: list[lockout.Attempt] = []

    def unlocked_hash(login: int) -> tuple[bytes, int] | None:
        attempt = lockout.manager(login, address)
        until = services.admit_login(attempt)  # a slot taken before the password is looked at
        if until is not None:
            raise HandshakeFailed(lockout.locked_message(until, services.clock()))
        asked.append(attempt)
        return pw_hash_of(services, login)

    try:
        login, pw_hash = sessions.answer(peer, srv_rand_answer, unlocked_hash)
    except BaseException:
        if asked:  # admitted, then failed (a wrong answer, or no such manager): it counts
            services.login_failed(asked[0])
        raise
    services.login_succeeded(asked[0])
    return login, pw_hash


def actor(
    services: Services, login: int, opened_with: bytes | None, epoch: int | None, ip: str | None
) -> Actor | None:
    """The session's manager as an actor; None once it is disabled, or was disabled or its
    password changed since the session's handshake."""
    manager = services.get_manager(login)
    hashed = opened_with.hex() if opened_with is not None else None
    if manager is None or not still_signed_in(manager, MT5_VERIFIER, hashed, epoch):
        return None
    return Actor(
        manager_login=manager.login,
        scopes=frozenset(manager.rights),
        group_mask=manager.group_mask,
        white_labels=manager.white_labels,
        request_id="mt5_" + secrets.token_hex(8),
        dialect="mt5",
        ip=ip,
    )


@dataclass(frozen=True)
class SignedIn:
    """A session's manager, and the password hash and session epoch its handshake was made
    with."""

    login: int
    opened_with: bytes | None
    epoch: int | None
    ip: str | None


# What `run` answers instead of an Answer.
DISABLED, QUIT, UNKNOWN = object(), object(), object()
Outcome = Answer | object


def run(
    services: Services, session: SignedIn, name: str, params: Params, key: SentKey | None
) -> Outcome:
    """The manager's check and the command, in one worker-thread trip: the command's Answer
    (a refusal as Answer(code=retcode)), or DISABLED (the session is over), QUIT, UNKNOWN."""
    try:
        signed_in = actor(services, session.login, session.opened_with, session.epoch, session.ip)
        if signed_in is None:
            return DISABLED
        if name == "quit":
            return QUIT
        handler: Callable[[Context], Answer] | None = COMMANDS.get(name)
        if handler is None:
            return UNKNOWN
        return handler(Context(params, signed_in, services, key))
    except Mt5Error as err:
        return Answer(code=err.code)
    except CoreError as err:
        return Answer(code=code_for(err))
    except Exception:  # no handler expected it: "2 Common error", and the session carries on
        log.exception("unexpected error in MT5 command %s", name[:64])
        return Answer(code=ERR_COMMON)
