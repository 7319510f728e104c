"""create_app: the one ASGI app; mounts the enabled dialects, health probes and request ids."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import brokerplane
from brokerplane import freshness
from brokerplane.api import riskpass, routes
from brokerplane.api.bodylimit import BodyLimit
from brokerplane.api.kit.appstate import AppScope
from brokerplane.api.native import delivery
from brokerplane.api.native.auth import AuthFailures, RateLimiter
from brokerplane.api.native.errors import problem
from brokerplane.api.native.wire import validation_problem
from brokerplane.api.observe import Observe, ServerMetrics
from brokerplane.bootstrap import Runtime

log = logging.getLogger("brokerplane.api")

REQUEST_ID_HEADER = "x-request-id"
MAX_REQUEST_ID = 127
# How long a stopping server waits for its maintenance and risk pass to finish their step.
STOP_WAIT_S = 30.0

DESCRIPTION = """\
The native manager API of brokerplane, shaped like the MT4 Manager API.

Authenticate with `Authorization: Bearer <key>`. Send `x-operator-id` to name the worker or
person in the audit trail and `x-request-id` to correlate (it is echoed back).
Every endpoint is served at `/v1/...` and, identically, at `/mt4/manager/...`.
Errors are `application/problem+json` with a stable `code` and field errors.
Money amounts are decimal strings in the account currency.
"""


class RequestIdMiddleware:
    """Gives every request an id (the client's x-request-id, else a new one) and echoes it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client_id = None
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                client_id = value.decode("latin-1")
                break
        request_id = client_id[:MAX_REQUEST_ID] if client_id else "req_" + secrets.token_hex(8)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["client_request_id"] = client_id or None  # whole, for idempotency keys
        header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        await self.app(scope, receive, send_with_id)


class ReplicaLagHeader:
    """States in the answer how far behind its lists, reports, exports and exposure were read:
    `X-Brokerplane-Replica-Lag: <seconds>` (an upper bound) when the read replica served them,
    `primary` when they went to the primary; absent when the request made no such read (or no
    replica is configured). A streamed export's header is sent before its pages are read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reads = freshness.track()

        async def send_with_lag(message: Message) -> None:
            if message["type"] == "http.response.start":
                value = reads.header
                if value is not None:
                    header = (freshness.HEADER.encode("ascii"), value.encode("ascii"))
                    message["headers"] = [*message.get("headers", []), header]
            await send(message)

        await self.app(scope, receive, send_with_lag)


async def _maintenance(runtime: Runtime, stopping: asyncio.Event) -> None:
    """Purge expired request ids and expire overdue approvals, every few minutes (every
    process does it; each statement is safe run twice at once), until the server stops."""
    interval = runtime.settings.maintenance_interval_s
    while not await riskpass.pause(stopping, interval):
        try:
            purged, expired = await run_in_threadpool(runtime.app.run_maintenance)
            events = await run_in_threadpool(runtime.app.purge_events)
            if runtime.settings.shared_rate_limits:  # names whose allowance is full again
                await run_in_threadpool(runtime.storage.rate_limits.purge, time.time())
        except Exception:
            log.exception("maintenance failed; retrying in %ss", interval)
            continue
        if purged or expired or events:
            log.info(
                "maintenance: %d request ids purged, %d approvals expired, %d events purged",
                purged,
                expired,
                events,
            )


def create_app(runtime: Runtime) -> FastAPI:
    """The app of one runtime. Its routes are the process's route table for the enabled
    dialects (api/routes.py: built once per process, since FastAPI builds each route's request
    handling on its first request and keeps it in the route); what is this app's own (the
    runtime, rate limiters, metrics, MT5 sessions, the console, its middlewares and its
    background tasks) lives in `app.state`, which `AppScope` puts in every request's scope
    for the handlers (api/kit/appstate.py)."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stopping = asyncio.Event()
        settings = runtime.settings
        tasks = [asyncio.create_task(_maintenance(runtime, stopping))]
        if settings.risk_pass_interval_s > 0:
            tasks.append(asyncio.create_task(riskpass.run(runtime, stopping)))
        stop, workers = delivery.start(runtime.app, settings, _app.state.metrics.webhook_delivered)
        try:
            yield
        finally:
            stopping.set()
            stop.set()
            for thread in workers:
                await run_in_threadpool(thread.join, settings.webhook_timeout_s + 1)
            # The loops stop after the step under way: cancelling a task cannot stop the
            # thread it waits on, which would go on using the runtime after it is closed.
            _, stuck = await asyncio.wait(tasks, timeout=STOP_WAIT_S)
            for running in stuck:
                log.warning("a background task did not stop within %ss; cancelled", STOP_WAIT_S)
                running.cancel()
            for running in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await running

    app = FastAPI(
        lifespan=lifespan,
        title="brokerplane",
        version=brokerplane.__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,  # served from assets shipped in the package (api/routes.py): no CDN
        redoc_url=None,
    )
    _openapi(app)
    settings = runtime.settings
    enabled = settings.enabled_dialects
    state = app.state
    state.runtime = runtime
    shared = runtime.storage.rate_limits.take if settings.shared_rate_limits else None
    state.rate_limiter = RateLimiter(settings.rate_limit_per_minute, shared=shared)
    state.auth_failures = AuthFailures()
    state.metrics = ServerMetrics(runtime, state)
    if "mt5" in enabled:
        from brokerplane.api.mt5.auth import Sessions

        state.mt5_sessions = Sessions()
    if "traderevolution" in enabled:
        from brokerplane.api.traderevolution.mount import new_throttle

        state.te_throttle = new_throttle(runtime)

    table = routes.table(enabled)
    app.router.routes.extend(table.router.routes)

    if settings.console:
        from fastapi.responses import RedirectResponse

        from brokerplane.api.console.app import build as build_console

        @app.get("/", include_in_schema=False)
        @app.get("/console", include_in_schema=False)
        async def to_console() -> Response:
            return RedirectResponse("/console/", 307)

        app.mount("/console", build_console(runtime))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "NotFound", 405: "MethodNotAllowed"}
        code = {404: "http.not_found", 405: "http.method_not_allowed"}.get(exc.status_code, "http")
        detail = "no such endpoint" if exc.status_code == 404 else str(exc.detail)
        return problem(
            exc.status_code,
            titles.get(exc.status_code, "Error"),
            detail,
            code,
            _rid(request),
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return validation_problem(exc, _rid(request))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected error in request %s", _rid(request), exc_info=exc)
        # This handler runs outside RequestIdMiddleware, so it echoes the id itself.
        rid = _rid(request)
        echo = {REQUEST_ID_HEADER: rid} if rid else None
        return problem(
            500,
            "InternalError",
            "an unexpected error occurred; it has been logged",
            "internal",
            rid,
            headers=echo,
        )

    # Inside RequestIdMiddleware, so a refused body's answer carries the request id too.
    app.add_middleware(
        BodyLimit,
        limit=settings.max_body_bytes,
        routes=list(table.body_routes),
        idle_timeout=settings.header_timeout_s,
        default=_body_refused,
    )
    # Inside RequestIdMiddleware (its lines carry the request id), outside everything else (a
    # refused body is counted and logged too).
    app.add_middleware(Observe, metrics=state.metrics, mt5_paths=table.mt5_paths)
    if runtime.storage.replica is not None:
        app.add_middleware(ReplicaLagHeader)
    app.add_middleware(RequestIdMiddleware)
    # Outermost: every request of this app, whichever shared route serves it, finds its state.
    app.add_middleware(AppScope, state=state)
    return app


BEARER = "bearerAuth"


def _openapi(app: FastAPI) -> None:
    """The OpenAPI document declares the bearer key scheme, so the docs' "Authorize" and "Try
    it out" work with a key, and the error statuses the API really sends."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {})["securitySchemes"] = {
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A manager's API key: `Authorization: Bearer bpk_...`",
                }
            }
            for path, operations in schema.get("paths", {}).items():
                if path.startswith("/v1/"):
                    for operation in operations.values():
                        operation["security"] = [{BEARER: []}]
                for operation in operations.values():
                    _real_statuses(operation)
            _drop_unused_schemas(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# Answers every operation that takes a body may give before it runs (api/bodylimit.py).
BODY_REFUSALS: dict[str, dict[str, Any]] = {
    "408": {"description": "RequestTimeout: the body did not arrive in time"},
    "413": {"description": "PayloadTooLarge: the body is over the size limit"},
}


def _real_statuses(operation: dict[str, Any]) -> None:
    """The error statuses the API really sends: never FastAPI's 422 (a request that does not
    validate is a 400 problem, api/native/wire.py), and the body refusals where a body is
    read."""
    responses = operation.get("responses", {})
    responses.pop("422", None)
    if "requestBody" in operation:
        problem_of = responses.get("400", {}).get("content")
        for status, answer in BODY_REFUSALS.items():
            responses.setdefault(
                status, {**answer, **({"content": problem_of} if problem_of else {})}
            )


def _drop_unused_schemas(schema: dict[str, Any]) -> None:
    """FastAPI's validation-error schemas, once no answer names them."""
    schemas = schema.get("components", {}).get("schemas", {})
    text = json.dumps(schema.get("paths", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        if name in schemas and f"#/components/schemas/{name}" not in text:
            nested = json.dumps({k: v for k, v in schemas.items() if k != name})
            if f"#/components/schemas/{name}" not in nested:
                del schemas[name]


def _body_refused(request: Request, status: int, reason: str) -> Response:
    """The native answer (and the probes') to a body over the limit (413) or stalled (408)."""
    if status == 413:
        return problem(413, "PayloadTooLarge", reason, "http.body_too_large", _rid(request))
    return problem(status, "RequestTimeout", reason, "http.body_timeout", _rid(request))


def _rid(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)
