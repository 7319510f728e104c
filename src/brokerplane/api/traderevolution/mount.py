"""Mounting the TraderEvolution Back-Office dialect at `/proftrading/rest` as one
sub-application: every answer, errors and unknown paths included, speaks TraderEvolution."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from brokerplane.api.traderevolution.errors import (
    INTERNAL,
    INVALID_REQUEST,
    METHOD_NOT_ALLOWED,
    NO_SUCH_PATH,
    NOT_ACCEPTABLE,
    TEError,
    message_of,
    status_and_code,
)
from brokerplane.api.traderevolution.wire import PREFIX, Throttle, accepts_json, error_response
from brokerplane.bootstrap import Runtime
from brokerplane.core.errors import CoreError, RateLimited

log = logging.getLogger("brokerplane.traderevolution")


def te_app() -> FastAPI:
    from brokerplane.api.traderevolution.accounts import router as accounts_router
    from brokerplane.api.traderevolution.apidoc import UI_PATHS
    from brokerplane.api.traderevolution.apidoc import router as apidoc_router
    from brokerplane.api.traderevolution.auth import router as auth_router
    from brokerplane.api.traderevolution.brandings import router as brandings_router
    from brokerplane.api.traderevolution.groups import router as groups_router
    from brokerplane.api.traderevolution.methods import router as methods_router
    from brokerplane.api.traderevolution.operations import router as operations_router
    from brokerplane.api.traderevolution.presets import router as presets_router
    from brokerplane.api.traderevolution.reports import router as reports_router
    from brokerplane.api.traderevolution.trading import router as trading_router
    from brokerplane.api.traderevolution.users import router as users_router
    from brokerplane.api.traderevolution.webhooks import router as webhooks_router

    sub = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    routers = (
        apidoc_router,
        auth_router,
        users_router,
        accounts_router,
        groups_router,
        presets_router,
        brandings_router,
        operations_router,
        webhooks_router,
        trading_router,
        reports_router,
        methods_router,
    )
    sub.state.te_routers = routers
    for router in routers:
        sub.include_router(router)
    pages = {PREFIX + path for path in UI_PATHS}

    @sub.exception_handler(TEError)
    async def te_error(request: Request, exc: TEError) -> Response:
        return error_response(exc.status, exc.code, exc.message)

    @sub.exception_handler(CoreError)
    async def core_error(request: Request, exc: CoreError) -> Response:
        status, code = status_and_code(exc)
        headers = None
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(exc.context.get("retry_after", 1))}
        return error_response(status, code, message_of(exc), headers)

    @sub.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        return error_response(400, INVALID_REQUEST, "the request is malformed")

    @sub.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            return error_response(405, METHOD_NOT_ALLOWED, "method not allowed on this path")
        if exc.status_code == 404:
            return error_response(404, NO_SUCH_PATH, "no such endpoint")
        return error_response(exc.status_code, INVALID_REQUEST, str(exc.detail))

    @sub.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if not accepts_json(request) and request.url.path not in pages:
            message = "this API answers in JSON only; accept application/json"
            return error_response(406, NOT_ACCEPTABLE, message)
        try:
            return await call_next(request)
        except Exception:
            log.exception("unexpected error in a TraderEvolution request")
            return error_response(500, INTERNAL, "an unexpected error occurred; it has been logged")

    return sub


def mount(app: APIRouter) -> None:
    """The sub-application on `app` (a process's route table, api/routes.py): it holds no
    app's objects; a handler finds its app's runtime and throttle with `app_state(request)`."""
    app.mount(PREFIX, te_app())


def new_throttle(runtime: Runtime) -> Throttle:
    """An app's TraderEvolution rate limit (its state's `te_throttle`)."""
    settings = runtime.settings
    shared = runtime.storage.rate_limits.take if settings.shared_rate_limits else None
    return Throttle(settings.te_rate_limit_per_second, shared=shared)
