"""GET /methods/errors?errorId=<code>: what a dotted error code means (spec 9). Any signed-in
back-office user may ask; an unknown code is 404."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from brokerplane.api.traderevolution.auth import manager_of
from brokerplane.api.traderevolution.errors import describe, invalid
from brokerplane.api.traderevolution.wire import answer, query_text
from brokerplane.core.errors import NotFound

router = APIRouter()


@router.get("/methods/errors")
async def error_description(request: Request) -> Response:
    await manager_of(request)
    code = query_text(request, "errorId")
    if code is None:
        raise invalid("errorId is required: a dotted code such as 1.6.2.2")
    if len(code) > 32:
        raise invalid("errorId is a dotted code such as 1.6.2.2")
    found = describe(code)
    if found is None:
        raise NotFound(f"no error {code}", error_id=code)
    status, text = found
    return answer({"errorId": code, "httpStatus": status, "description": text})
