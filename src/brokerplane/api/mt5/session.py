"""MT5 sessions: the challenge-response handshake, bound to the client's connection.

A session lives on one transport connection and ends when it closes (the router keys sessions
by the listener's connection id, which no request header can name); it also expires after
180 s without a command, and must finish its handshake within 10 s. A manager may hold any
number of sessions; `/api/auth/start` on a live connection restarts the handshake.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from brokerplane.core.compare import same

IDLE_TIMEOUT_S = 180.0
AUTH_WINDOW_S = 10.0
MAX_SESSIONS = 100_000

# What a session is keyed by: the connection it lives on (see router.session_key).
Peer = Hashable


def password_hash(password: str) -> bytes:
    """b2 of spec §2.2: MD5(MD5(UTF-16LE(password)) || "WebAPI"), raw bytes."""
    inner = hashlib.md5(password.encode("utf-16-le")).digest()
    return hashlib.md5(inner + b"WebAPI").digest()


def rand_answer(pw_hash: bytes, rand: bytes) -> str:
    """hex(MD5(b2 || rand)) in lower case, as clients compare it."""
    return hashlib.md5(pw_hash + rand).hexdigest()


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
        self, peer: Peer, srv_rand_answer: str,
        pw_hash_of: Callable[[int], tuple[bytes, int] | None],
    ) -> tuple[int, bytes]:  # fmt: skip
        """Check the client's answer against the password hash `pw_hash_of` gives with the
        manager's session epoch (read together, before the check); on success the connection's
        session belongs to the manager. Returns (login, password hash). The challenge is used up
        either way."""
        now = self._clock()
        with self._lock:
            session = self._by_peer.get(peer)
            if session is None or session.challenge is None or session.challenge_login is None:
                raise HandshakeFailed("no challenge on this connection: call /api/auth/start")
            challenge, login, at = session.challenge, session.challenge_login, session.challenge_at
            self._by_peer.pop(peer, None)
        if now - at > AUTH_WINDOW_S:
            raise HandshakeFailed("more than 10 s passed since /api/auth/start")
        found = pw_hash_of(login)
        pw_hash, epoch = found if found is not None else (None, None)
        expected = rand_answer(pw_hash, challenge) if pw_hash is not None else "x"
        if pw_hash is None or not same(expected, srv_rand_answer.strip().lower()):
            raise HandshakeFailed("srv_rand_answer does not match")
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
