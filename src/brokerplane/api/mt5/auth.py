"""MT5 sessions: the challenge-response handshake, bound to the client's connection.

A session lives on one transport connection and ends when it closes (the router keys sessions
by the listener's connection id, which no request header can name); it also expires after
180 s without a command, and must finish its handshake within 10 s. A manager may hold any
number of sessions; `/api/auth/start` on a live connection restarts the handshake.

The handshake's checks and a command's run, the same for both transports (HTTP `/api/...`
and the native TCP protocol): the handshake's checks (the start's parameters here; the answer
checked by the core, core.access.handshake, against the manager's MT5 password hash under the
shared sign-in lockout, the attempt counted before the check), the session's actor (refused,
by the same core rules, once the manager is disabled, or was disabled or its password changed
since the handshake), and a command run in one trip to a worker thread with its errors turned
into retcodes.

Each transport keeps only its own words: where parameters come from, how a session is keyed,
and how an `Answer` (or a refusal) is written on the wire."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from brokerplane.api.kit.idempotency import SentKey
from brokerplane.api.mt5.errors import ERR_COMMON, ERR_PARAMS, Mt5Error, code_for
from brokerplane.api.mt5.wire import COMMANDS, Answer, Context, Params
from brokerplane.application.app import Application
from brokerplane.core.access.commands import WRONG_CREDENTIALS, AnswerChallenge, ResumeSession
from brokerplane.core.actor import Actor
from brokerplane.core.errors import CoreError, Unauthorized
from brokerplane.core.kinds import Dialect
from brokerplane.core.passwords import mt5_challenge_answer, mt5_webapi_hash

IDLE_TIMEOUT_S = 180.0
AUTH_WINDOW_S = 10.0
MAX_SESSIONS = 100_000

# What a session is keyed by: the connection it lives on (see router.session_key).
Peer = Hashable


def password_hash(password: str) -> bytes:
    """b2 of spec §2.2: MD5(MD5(UTF-16LE(password)) || "WebAPI"), raw bytes."""
    return bytes.fromhex(mt5_webapi_hash(password))


def rand_answer(pw_hash: bytes, rand: bytes) -> str:
    """hex(MD5(b2 || rand)) in lower case, as clients compare it."""
    return mt5_challenge_answer(pw_hash, rand)


@dataclass
class Session:
    login: int | None = None  # the manager, once authenticated
    challenge: bytes | None = None
    challenge_login: int | None = None
    challenge_at: float = 0.0
    last_seen: float = 0.0
    credential: bytes | None = None  # the password hash the session was opened with
    epoch: int | None = None  # the manager's session epoch when it was opened


class HandshakeFailed(Exception):
    """The answer was wrong, late, unasked for, or the login cannot use the Web API."""


class Sessions:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._by_peer: dict[Peer, Session] = {}

    def _sweep(self, now: float) -> None:
        if len(self._by_peer) > MAX_SESSIONS // 2:
            self._by_peer = {
                p: s for p, s in self._by_peer.items() if now - s.last_seen < IDLE_TIMEOUT_S
            }

    def start(self, peer: Peer, login: int) -> bytes:
        """A fresh single-use challenge for `login` on this connection (any earlier session on
        it is dropped: the client is authenticating again)."""
        now = self._clock()
        rand = secrets.token_bytes(16)
        with self._lock:
            self._sweep(now)
            self._by_peer[peer] = Session(
                challenge=rand, challenge_login=login, challenge_at=now, last_seen=now
            )
        return rand

    def answer(
        self, peer: Peer, check: Callable[[int, bytes], tuple[bytes, int]]
    ) -> tuple[int, bytes]:
        """Use up the connection's challenge and have `check` (login, challenge) check the
        client's answer to it: (password hash, session epoch), or HandshakeFailed. On success
        the connection's session belongs to the manager. Returns (login, password hash)."""
        now = self._clock()
        with self._lock:
            session = self._by_peer.get(peer)
            if session is None or session.challenge is None or session.challenge_login is None:
                raise HandshakeFailed("no challenge on this connection: call /api/auth/start")
            challenge, login, at = session.challenge, session.challenge_login, session.challenge_at
            self._by_peer.pop(peer, None)
        if now - at > AUTH_WINDOW_S:
            raise HandshakeFailed("more than 10 s passed since /api/auth/start")
        pw_hash, epoch = check(login, challenge)
        with self._lock:
            self._by_peer[peer] = Session(
                login=login, last_seen=now, credential=pw_hash, epoch=epoch
            )
        return login, pw_hash

    def current(self, peer: Peer) -> int | None:
        """The manager authenticated on this connection, touching the session; None if none."""
        now = self._clock()
        with self._lock:
            session = self._by_peer.get(peer)
            if session is None or session.login is None:
                return None
            if now - session.last_seen > IDLE_TIMEOUT_S:
                del self._by_peer[peer]
                return None
            session.last_seen = now
            return session.login

    def opened_with(self, peer: Peer) -> tuple[bytes | None, int | None]:
        """The password hash and session epoch the connection's session was opened with."""
        with self._lock:
            session = self._by_peer.get(peer)
            if session is None:
                return None, None
            return session.credential, session.epoch

    def end(self, peer: Peer) -> None:
        with self._lock:
            self._by_peer.pop(peer, None)

    def count(self) -> int:
        with self._lock:
            return sum(1 for s in self._by_peer.values() if s.login is not None)

    def count_by_transport(self) -> tuple[int, int]:
        """Signed-in sessions not idle past their timeout: (over HTTP, over the TCP protocol)."""
        now = self._clock()
        http = tcp = 0
        with self._lock:
            for peer, session in self._by_peer.items():
                if session.login is None or now - session.last_seen > IDLE_TIMEOUT_S:
                    continue
                if isinstance(peer, tuple) and peer[:1] == ("mt5tcp",):
                    tcp += 1
                else:
                    http += 1
        return http, tcp


log = logging.getLogger("brokerplane.mt5")

VERSION_ACCESS = "1290"
VERSION_TRADE = "1290"
MIN_CLIENT_VERSION = 484


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


def check_answer(
    services: Application, sessions: Sessions, peer: Peer, srv_rand_answer: str, address: str | None
) -> tuple[int, bytes]:
    """Check a handshake's answer on `peer` (in a worker thread): (login, password hash) when
    it matches, HandshakeFailed otherwise. The core decides (a locked login or address is
    refused before its password is looked at; a checked answer counts as a sign-in attempt
    either way); this keeps MT5's words for a refusal."""

    def check(login: int, challenge: bytes) -> tuple[bytes, int]:
        cmd = AnswerChallenge(login, challenge, srv_rand_answer)
        try:
            done = services.answer_mt5_challenge(cmd, address)
        except Unauthorized as err:
            wrong = err.detail == WRONG_CREDENTIALS  # else: locked, and for how long
            reason = "srv_rand_answer does not match" if wrong else err.detail
            raise HandshakeFailed(reason) from None
        return done.password_hash, done.epoch

    return sessions.answer(peer, check)


def actor(
    services: Application, login: int, opened_with: bytes | None, epoch: int | None, ip: str | None
) -> Actor | None:
    """The session's manager as an actor; None once it is disabled, or was disabled or its
    password changed since the session's handshake."""
    manager = services.resume_mt5_session(ResumeSession(login, opened_with, epoch))
    if manager is None:
        return None
    return Actor(
        manager_login=manager.login,
        scopes=frozenset(manager.rights),
        group_mask=manager.group_mask,
        white_labels=manager.white_labels,
        request_id="mt5_" + secrets.token_hex(8),
        dialect=Dialect.MT5,
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
    services: Application, session: SignedIn, name: str, params: Params, key: SentKey | None
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
