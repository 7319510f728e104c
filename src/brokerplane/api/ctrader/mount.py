"""Mounting the cTrader dialect: `/v2/webserv/...` (and the proxy spelling `/webserv/...`) as
one sub-application whose every answer, errors and unknown paths included, speaks cTrader."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from brokerplane.api.ctrader.errors import CTraderError, status_and_code
from brokerplane.api.ctrader.protocol import error_response
from brokerplane.core.errors import CoreError

log = logging.getLogger("brokerplane.ctrader")

WEBSERV_PREFIXES = ("/v2/webserv", "/webserv")


def webserv_app(runtime: object) -> FastAPI:
    from brokerplane.api.ctrader.token import router as token_router
    from brokerplane.api.ctrader.traders import router as traders_router

    sub = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    sub.state.runtime = runtime
    sub.include_router(token_router)
    sub.include_router(traders_router)

    @sub.exception_handler(CTraderError)
    async def ctrader_error(request: Request, exc: CTraderError) -> Response:
        return error_response(request, exc.status, exc.code, exc.description)

    @sub.exception_handler(CoreError)
    async def core_error(request: Request, exc: CoreError) -> Response:
        status, code = status_and_code(exc)
        return error_response(request, status, code, exc.detail)

    @sub.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            return error_response(request, 405, "INVALID_REQUEST", "method not allowed here")
        return error_response(request, exc.status_code, "INVALID_REQUEST", "no such endpoint")

    @sub.middleware("http")
    async def unexpected(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        try:
            return await call_next(request)
        except Exception:
            log.exception("unexpected error in a cTrader request")
            return error_response(request, 500, "UNKNOWN_ERROR", "an unexpected error occurred")

    return sub


def mount(app: FastAPI) -> None:
    sub = webserv_app(app.state.runtime)
    for prefix in WEBSERV_PREFIXES:
        app.mount(prefix, sub)
