"""`POST /managers/token`: a manager's login and MD5 password in, its `webservToken` out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from brokerplane.api.ctrader.errors import CTraderError
from brokerplane.api.ctrader.protocol import DIALECT, Body, answer, services_of
from brokerplane.core.access.commands import IssueToken
from brokerplane.core.actor import Actor
from brokerplane.core.errors import Unauthorized

router = APIRouter()


@router.post("/managers/token")
async def manager_token(request: Request) -> Response:
    body = await Body.of(request)
    login = body.require_integer("login")
    hashed = body.require_text("hashedPassword")
    actor = Actor(manager_login=login, dialect=DIALECT,
                  request_id=getattr(request.state, "request_id", None),
                  ip=request.client.host if request.client else None)  # fmt: skip
    try:
        token = await run_in_threadpool(
            services_of(request).issue_manager_token, IssueToken(login, hashed, DIALECT), actor
        )
    except Unauthorized as err:
        raise CTraderError(401, "AUTHENTICATION_FAILED", err.detail) from None
    return answer(request, {"webservToken": token}, "token")
