"""POST /auth/token and GET /auth/token/refresh: back-office (or TE user) sign-in for an access
token and a refresh token, and their renewal (spec 2).

And the caller behind a request's bearer token: a back-office user (a manager) or a signed-in
TE user."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from brokerplane.api.traderevolution.errors import (
    NOT_ALLOWED,
    NOT_AUTHENTICATED,
    WRONG_CREDENTIALS,
    TEError,
)
from brokerplane.api.traderevolution.wire import (
    DIALECT,
    Body,
    answer,
    services_of,
    settings_of,
    throttle,
)
from brokerplane.core.actor import Actor
from brokerplane.core.backoffice.commands import RefreshSession, SignIn, TokenPair
from brokerplane.core.errors import Unauthorized

router = APIRouter()

# Non-strict bodies (`{login:1010,password:secret}`, unquoted keys and bare words) are refused:
# no public source confirms that a TraderEvolution back office accepts them (spec 8), and a
# guessing parser would read passwords holding `,` `}` or `:` differently from the client.
STRICT_JSON = (
    'send the body as JSON with quoted keys and strings: {"login": "1010", "password": "..."}'
)


def _lifetimes(request: Request) -> tuple[timedelta, timedelta]:
    settings = settings_of(request)
    return (
        timedelta(seconds=settings.te_access_token_lifetime_s),
        timedelta(seconds=settings.te_refresh_token_lifetime_s),
    )


def _pair(pair: TokenPair) -> dict[str, Any]:
    return {
        "accessToken": pair.access_token,
        "refreshToken": pair.refresh_token,
        "accessTokenLifeTime": int(pair.access_ttl.total_seconds()),
        "refreshTokenLifeTime": int(pair.refresh_ttl.total_seconds()),
    }


def _anonymous(request: Request) -> Actor:
    return Actor(
        manager_login=None, request_id=request_id(request), dialect=DIALECT, ip=client_ip(request)
    )


@router.post("/auth/token")
async def token(request: Request) -> Response:
    """Sign in with `{login, password}`: a numeric login is a back-office user, any other a
    TraderEvolution user (who may then manage its webhook keys)."""
    await throttle(request, f"ip:{client_ip(request)}")
    try:
        body = await Body.of(request)
    except TEError as err:
        raise TEError(err.status, err.code, f"{err.message}. {STRICT_JSON}") from None
    access_ttl, refresh_ttl = _lifetimes(request)
    login = body.data.get("login")
    login = str(login) if isinstance(login, int | str) and not isinstance(login, bool) else None
    cmd = SignIn(
        login=login,
        password=body.data.get("password"),
        access_ttl=access_ttl,
        refresh_ttl=refresh_ttl,
    )
    services = services_of(request)
    try:
        pair = await run_in_threadpool(services.sign_in_backoffice, cmd, _anonymous(request))
    except Unauthorized as err:
        raise TEError(401, WRONG_CREDENTIALS, err.detail) from None
    return answer(_pair(pair))


async def _refresh_token_of(request: Request) -> str:
    """The refresh token: a `token` header (as working clients send it), a bearer header, or
    the body (`refreshToken` or `token`, as the guide says)."""
    header = request.headers.get("token", "").strip()
    if header:
        return header
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and bearer.strip():
        return bearer.strip()
    body = await Body.of(request, required=False)
    value = body.text("refreshToken", "token")
    if value and value.strip():
        return value.strip()
    raise TEError(
        401, NOT_AUTHENTICATED, "send the refresh token in a 'token' header or as refreshToken"
    )


@router.api_route("/auth/token/refresh", methods=["GET", "POST"])
async def refresh(request: Request) -> Response:
    await throttle(request, f"ip:{client_ip(request)}")
    presented = await _refresh_token_of(request)
    access_ttl, refresh_ttl = _lifetimes(request)
    cmd = RefreshSession(presented, access_ttl, refresh_ttl)
    services = services_of(request)
    pair = await run_in_threadpool(services.refresh_backoffice_session, cmd, _anonymous(request))
    return answer(_pair(pair))


@router.get("/auth/pfixtoken/verify")
async def pfix_token_verify(request: Request) -> Response:
    """Whose trading-platform session a token is: header `token` (no Authorization header),
    answer `{login, isExpired}`; a token never issued is 401 1.2.0.1."""
    await throttle(request, f"ip:{client_ip(request)}")
    token = request.headers.get("token", "").strip()
    if not token:
        raise TEError(401, NOT_AUTHENTICATED, "send the session token in a 'token' header")
    check = await run_in_threadpool(services_of(request).verify_backoffice_session, token)
    return answer({"login": check.login, "isExpired": check.expired})


@dataclass(frozen=True)
class Caller:
    """Who calls: a back-office user (a manager) or, with `user_id`, a signed-in TE user."""

    actor: Actor
    user_id: int | None = None


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    return str(rid) if rid else "te_" + secrets.token_hex(8)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def caller_of(request: Request) -> Caller:
    """The principal behind `Authorization: Bearer <accessToken>`, rate-limited."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header or scheme.lower() != "bearer" or not token.strip():
        raise TEError(
            401, NOT_AUTHENTICATED, "send the access token as 'Authorization: Bearer <accessToken>'"
        )
    services = services_of(request)
    principal = await run_in_threadpool(services.authenticate_backoffice_token, token.strip())
    await throttle(request, f"{principal.kind}:{principal.id}")
    if principal.manager is not None:
        manager = principal.manager
        request.state.manager = manager.login  # for the access log
        actor = Actor(
            manager_login=manager.login,
            scopes=frozenset(manager.rights),
            group_mask=manager.group_mask,
            white_labels=manager.white_labels,
            request_id=request_id(request),
            dialect=DIALECT,
            ip=client_ip(request),
        )
        return Caller(actor)
    assert principal.user is not None
    actor = Actor(
        manager_login=None,
        operator_id=f"user {principal.user.id}",
        request_id=request_id(request),
        dialect=DIALECT,
        ip=client_ip(request),
    )
    return Caller(actor, principal.user.id)


async def manager_of(request: Request) -> Actor:
    """A back-office user's actor; a TE user's session is refused (it manages webhook keys
    only)."""
    caller = await caller_of(request)
    if caller.user_id is not None:
        raise TEError(
            403,
            NOT_ALLOWED,
            "a trading user's session manages only its webhook keys; sign in as a back-office user",
        )
    return caller.actor
