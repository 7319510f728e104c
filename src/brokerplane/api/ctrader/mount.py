"""Mounting the cTrader dialect: `/v2/webserv/...` (and the proxy spelling `/webserv/...`) as
one sub-application, and the cID calls under `/cid/...` (and seed 003's `/v2/cid/...`) as
another; every answer of both, errors and unknown paths included, speaks cTrader."""

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
CID_PREFIXES = ("/cid", "/v2/cid")


def webserv_app(runtime: object) -> FastAPI:
    from brokerplane.api.ctrader.attributes import router as attributes_router
    from brokerplane.api.ctrader.catalog import router as catalog_router
    from brokerplane.api.ctrader.token import router as token_router
    from brokerplane.api.ctrader.traders import router as traders_router

    sub = _sub_app(runtime)
    sub.include_router(token_router)
    # attributes first: /traders/attributes must not be read as a trader login
    sub.include_router(attributes_router)
    sub.include_router(traders_router)
    sub.include_router(catalog_router)
    return sub


def cid_app(runtime: object) -> FastAPI:
    from brokerplane.api.ctrader.cid import router as cid_router

    sub = _sub_app(runtime)
    sub.include_router(cid_router)
    return sub


def _sub_app(runtime: object) -> FastAPI:
    sub = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    sub.state.runtime = runtime

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
    webserv = webserv_app(app.state.runtime)
    for prefix in WEBSERV_PREFIXES:
        app.mount(prefix, webserv)
    cid = cid_app(app.state.runtime)
    for prefix in CID_PREFIXES:
        app.mount(prefix, cid)
