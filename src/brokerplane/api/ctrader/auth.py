"""cTrader's managers: `POST /managers/token` (a manager's login and MD5 password in, its
`webservToken` out), and the manager behind a call's `?token=` as the core's actor."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from brokerplane.api.ctrader.errors import CTraderError
from brokerplane.api.ctrader.wire import DIALECT, Body, answer, services_of
from brokerplane.core.access.commands import IssueToken
from brokerplane.core.actor import Actor
from brokerplane.core.errors import Unauthorized


async def actor_of(request: Request) -> Actor:
    """The manager behind `?token=` (a Bearer header beside it is ignored), as an actor."""
    token = request.query_params.get("token")
    if not token:
        raise CTraderError(401, "CH_CLIENT_AUTH_FAILURE", "the token query parameter is missing")
    services = services_of(request)
    # A token kept since an earlier check (nothing changed anywhere since) is checked here on
    # the event loop; otherwise the database is read in the thread pool.
    manager = services.authenticate_kept_manager_token(token, DIALECT)
    if manager is None:
        manager = await run_in_threadpool(services.authenticate_manager_token, token, DIALECT)
    request.state.manager = manager.login  # for the access log
    rid = getattr(request.state, "request_id", None) or "ct_" + secrets.token_hex(8)
    return Actor(
        manager_login=manager.login,
        scopes=frozenset(manager.rights),
        group_mask=manager.group_mask,
        white_labels=manager.white_labels,
        request_id=rid,
        dialect=DIALECT,
        ip=request.client.host if request.client else None,
    )


router = APIRouter()


@router.post("/managers/token")
async def manager_token(request: Request) -> Response:
    body = await Body.of(request)
    login = body.require_integer("login")
    hashed = body.require_text("hashedPassword")
    actor = Actor(
        manager_login=login,
        dialect=DIALECT,
        request_id=getattr(request.state, "request_id", None),
        ip=request.client.host if request.client else None,
    )
    try:
        token = await run_in_threadpool(
            services_of(request).issue_manager_token, IssueToken(login, hashed, DIALECT), actor
        )
    except Unauthorized as err:
        raise CTraderError(401, "AUTHENTICATION_FAILED", err.detail) from None
    return answer(request, {"webservToken": token}, "token")
