"""Mounting the cTrader dialect: `/v2/webserv/...` (and the proxy spelling `/webserv/...`) as
one sub-application, and the cID calls under `/cid/...` (and seed 003's `/v2/cid/...`) as
another; every answer of both, errors and unknown paths included, speaks cTrader."""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from brokerplane.api.ctrader.errors import CTraderError, status_and_code
from brokerplane.api.ctrader.wire import error_response
from brokerplane.core.errors import CoreError

log = logging.getLogger("brokerplane.ctrader")

WEBSERV_PREFIXES = ("/v2/webserv", "/webserv")
CID_PREFIXES = ("/cid", "/v2/cid")
# One broker's CRM sets partner ids at /v2/oauth2/ctid/setReferral (spec section 10).
PROXY_PREFIXES = ("/v2/oauth2",)


def webserv_app() -> FastAPI:
    from brokerplane.api.ctrader import (
        attributes,
        auth,
        copytrading,
        money,
        positions,
        symbols,
        traders,
    )

    sub = _sub_app()
    sub.include_router(money.router)  # first: the most frequent calls
    sub.include_router(auth.router)
    # attributes first: /traders/attributes must not be read as a trader login
    sub.include_router(attributes.router)
    sub.include_router(traders.router)
    for router in (symbols.router, positions.router, copytrading.router):
        sub.include_router(router)
    return sub


def cid_app() -> FastAPI:
    from brokerplane.api.ctrader.cid import router as cid_router

    sub = _sub_app()
    sub.include_router(cid_router)
    return sub


def proxy_app() -> FastAPI:
    """/v2/oauth2/ctid/setReferral, the same call as PUT /cid/oauth2/ctid/referral."""
    from brokerplane.api.ctrader.cid import set_referral_proxy_path

    sub = _sub_app()
    for path in ("/ctid/setReferral", "/ctid/setReferral/"):
        sub.add_api_route(
            path, set_referral_proxy_path, methods=["PUT", "POST"], include_in_schema=False
        )
    return sub


def _sub_app() -> FastAPI:
    sub = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

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
        if exc.status_code == 404:  # an unknown path: cTrader's body, with a not-found code
            what = f"no such endpoint: {request.method} {request.url.path}"
            return error_response(request, 404, "ENTITY_NOT_FOUND", what)
        return error_response(request, exc.status_code, "INVALID_REQUEST", str(exc.detail))

    sub.add_middleware(_UnexpectedErrors)
    return sub


class _UnexpectedErrors:
    """An error no handler answered becomes cTrader's 500 UNKNOWN_ERROR, and is logged. A
    plain ASGI middleware: Starlette's `@app.middleware("http")` costs a task and a stream
    per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            if started:  # too late for an answer of our own
                raise
            log.exception("unexpected error in a cTrader request")
            response = error_response(
                Request(scope), 500, "UNKNOWN_ERROR", "an unexpected error occurred"
            )
            await response(scope, receive, send)


def mount(app: APIRouter) -> None:
    """The sub-applications on `app` (a process's route table, api/routes.py): they hold no
    app's objects; a handler finds its app's runtime with `app_state(request)`."""
    webserv = webserv_app()
    for prefix in WEBSERV_PREFIXES:
        app.mount(prefix, webserv)
    cid = cid_app()
    for prefix in CID_PREFIXES:
        app.mount(prefix, cid)
    proxy = proxy_app()
    for prefix in PROXY_PREFIXES:
        app.mount(prefix, proxy)
