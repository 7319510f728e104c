"""Console sessions: a manager's back-office session (core.backoffice.sessions) held in a cookie,
with a CSRF token of its own, an idle timeout and sign-out.

The cookie holds `<issued, unix ms>.<access token>.<refresh token>.<csrf token>`; the tokens are the
core's back-office session tokens (stored as SHA-256 hashes, tied to the manager's password
verifier), so a new password or a disabled manager ends every console session at once (the core
deletes the manager's sessions then), and a restart ends none. The access token lives as long as
the idle timeout; once it is half way there, the next request trades the refresh token for a new
pair (sliding expiry): a session without a request for the whole timeout is over.

The CSRF token is drawn at sign-in and kept inside the HttpOnly session cookie; every form
carries it and every POST must send it back (compared in constant time). A page on another site
can neither read it nor make the browser send the cookie (SameSite=Strict). The sign-in form has
a token of its own, in a short-lived cookie of the same kind, against login CSRF.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "bp_console"
PRE_COOKIE = "bp_console_signin"
MAX_COOKIE = 512


def cookie_name(request: Request, base: str) -> str:
    """Under TLS the cookie is `__Host-`: bound to this host and path /, Secure, and not
    settable by a sibling domain."""
    return f"__Host-{base}" if is_tls(request) else base


def is_tls(request: Request) -> bool:
    return request.url.scheme == "https"


@dataclass(frozen=True)
class Held:
    """What the session cookie holds."""

    issued: int
    access: str
    refresh: str
    csrf: str

    def encode(self) -> str:
        return f"{self.issued}.{self.access}.{self.refresh}.{self.csrf}"

    @classmethod
    def decode(cls, value: str | None) -> Held | None:
        if not value or len(value) > MAX_COOKIE:
            return None
        parts = value.split(".")
        # ASCII digits only: str.isdigit also takes superscripts, which int() refuses
        issued = parts[0] if len(parts) == 4 else ""
        if not (issued.isascii() and issued.isdigit() and len(issued) <= 16) or not all(parts[1:]):
            return None
        return cls(int(parts[0]), parts[1], parts[2], parts[3])


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def same(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode(), b.encode())


def held(request: Request) -> Held | None:
    return Held.decode(request.cookies.get(cookie_name(request, COOKIE)))


def set_session(response: Response, request: Request, value: Held, max_age: int) -> None:
    response.set_cookie(
        cookie_name(request, COOKIE),
        value.encode(),
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=is_tls(request),
    )


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(
        cookie_name(request, COOKIE),
        path="/",
        httponly=True,
        samesite="strict",
        secure=is_tls(request),
    )


def pre_token(request: Request) -> str | None:
    value = request.cookies.get(cookie_name(request, PRE_COOKIE))
    return value if value and len(value) <= 64 else None


def set_pre_token(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        cookie_name(request, PRE_COOKIE),
        token,
        max_age=3600,
        path="/",
        httponly=True,
        samesite="strict",
        secure=is_tls(request),
    )


def clear_pre_token(response: Response, request: Request) -> None:
    # a __Host- cookie is only replaced (here: deleted) by a Secure Set-Cookie
    response.delete_cookie(
        cookie_name(request, PRE_COOKIE),
        path="/",
        httponly=True,
        samesite="strict",
        secure=is_tls(request),
    )


def now_ms() -> int:
    return int(time.time() * 1000)


# A sign-in waiting for its second factor (core.access.second_factor): the challenge token the
# password step gave, in an HttpOnly, SameSite=Strict cookie of this browser only; the core
# stores only its hash, with an expiry and an attempt count, so it cannot be forged or reused
# from elsewhere, and it gives no session by itself.
CHALLENGE_COOKIE = "bp_console_2fa"
CHALLENGE_MAX_AGE = 300


def challenge(request: Request) -> str | None:
    value = request.cookies.get(cookie_name(request, CHALLENGE_COOKIE))
    return value if value and len(value) <= 128 else None


def set_challenge(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        cookie_name(request, CHALLENGE_COOKIE),
        token,
        max_age=CHALLENGE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=is_tls(request),
    )


def clear_challenge(response: Response, request: Request) -> None:
    response.delete_cookie(
        cookie_name(request, CHALLENGE_COOKIE),
        path="/",
        httponly=True,
        samesite="strict",
        secure=is_tls(request),
    )
