"""The route table: every enabled dialect's routes and sub-applications, the offline docs, the
metrics and the probes, built once per process for each set of enabled dialects and shared by
every app created from it (api/app.py).

Why per process: FastAPI builds a route's request handling (its dependencies, the validators of
its parameters, body and answer) on the first request that reaches it, and keeps it in the
route objects. Built per app, every new app paid that again on its first request (half a
second to most of a second of CPU), which a server pays in each worker process and a test
suite in every test. Nothing in the table belongs to one app: a handler finds its app's
runtime, rate limiters, metrics and sessions in the request's scope (api/kit/appstate.py), so
two apps in one process share the table and never each other's objects. (Dependency overrides
would be the table's, not an app's: brokerplane uses none.)"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

import brokerplane
from brokerplane.api import hotpaths
from brokerplane.api.bodylimit import Route
from brokerplane.api.kit.appstate import app_state
from brokerplane.api.kit.lean import Lean
from brokerplane.api.native import lean, lean_opening
from brokerplane.api.native.errors import problem
from brokerplane.api.native.mount import mount as mount_native
from brokerplane.api.observe import router as metrics_router

DOCS_ASSETS = "/docs-assets"


@dataclass(frozen=True)
class Table:
    """A process's routes for one set of enabled dialects, and what the app's middlewares
    need to know of them: where another dialect refuses a body over the limit in its own
    words (api/bodylimit.py), and MT5's legacy root paths (api/observe.py)."""

    router: APIRouter
    body_routes: tuple[Route, ...]
    mt5_paths: frozenset[str]


_Key = tuple[frozenset[str], frozenset[tuple[tuple[str, ...], Lean]]]
_tables: dict[_Key, Table] = {}
_lock = threading.Lock()


def table(enabled: Iterable[str]) -> Table:
    """The table for these enabled dialects, built on first use in this process (and again
    should the lean handlers, api/native/lean*.py and the dialects' lean.py, be others)."""
    dialects = frozenset(enabled)
    handlers: dict[tuple[str, ...], Lean] = {}
    if "native" in dialects:
        handlers.update(lean.HANDLERS)
        handlers.update(lean_opening.HANDLERS)
    if "mt5" in dialects:
        from brokerplane.api.mt5 import lean as mt5_lean

        handlers.update(mt5_lean.HANDLERS)
    if "ctrader" in dialects:
        from brokerplane.api.ctrader import lean as ctrader_lean

        handlers.update(ctrader_lean.HANDLERS)
    key = (dialects, frozenset(handlers.items()))
    with _lock:
        found = _tables.get(key)
        if found is None:
            found = _tables[key] = _build(dialects, handlers)
        return found


def _build(enabled: frozenset[str], handlers: Mapping[tuple[str, ...], Lean]) -> Table:
    router = APIRouter()
    _offline_docs(router)
    body_routes: list[Route] = []
    mt5_paths: frozenset[str] = frozenset()
    if "mt5" in enabled:
        from brokerplane.api.mt5 import mount as mt5_mount

        mt5_mount.mount(router)
        mt5_paths = frozenset(mt5_mount.legacy_paths())
        body_routes.append(Route(mt5_mount.body_refused, ("/api",), mt5_paths))
    if "ctrader" in enabled:
        from brokerplane.api.ctrader import mount as ctrader_mount
        from brokerplane.api.ctrader import wire as ctrader_wire

        ctrader_mount.mount(router)
        prefixes = (
            ctrader_mount.WEBSERV_PREFIXES
            + ctrader_mount.CID_PREFIXES
            + ctrader_mount.PROXY_PREFIXES
        )
        body_routes.append(Route(ctrader_wire.body_refused, prefixes))
    if "traderevolution" in enabled:
        from brokerplane.api.traderevolution import mount as te_mount
        from brokerplane.api.traderevolution import wire as te_wire

        te_mount.mount(router)
        body_routes.append(Route(te_wire.body_refused, (te_wire.PREFIX,)))
    if "native" in enabled:
        mount_native(router)

    router.include_router(metrics_router)
    hotpaths.install(
        router,
        (hotpaths.NATIVE_MONEY + hotpaths.NATIVE_OPENING if "native" in enabled else ())
        + (hotpaths.MT5_MONEY if "mt5" in enabled else ()),
        hotpaths.CTRADER_MONEY if "ctrader" in enabled else (),
        handlers or None,
    )
    _probes(router)
    return Table(router, tuple(body_routes), mt5_paths)


def _probes(router: APIRouter) -> None:
    @router.get("/health", tags=["probes"], summary="The process is up")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": brokerplane.__version__}

    @router.get(
        "/ready",
        tags=["probes"],
        summary="The database is reachable (503 ManagerOffline when not)",
    )
    async def ready(request: Request) -> Response:
        storage = app_state(request).runtime.storage
        ok = await run_in_threadpool(storage.ping)
        if not ok:
            return problem(
                503,
                "ManagerOffline",
                "the database is unreachable",
                "storage.unavailable",
                getattr(request.state, "request_id", None),
                headers={"Retry-After": "5"},
            )
        return JSONResponse({"status": "ready", "database": storage.backend})


def _offline_docs(router: APIRouter) -> None:
    """/docs (Swagger UI) and /redoc from the files the fastapi-offline package ships (Swagger
    UI under Apache-2.0, ReDoc under MIT), so they work without internet. The document they
    read is the app's own /openapi.json (api/app.py)."""
    import fastapi_offline
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from starlette.staticfiles import StaticFiles

    assets = Path(fastapi_offline.__file__).parent / "static"
    router.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

    # Only this server: ReDoc's own footer would fetch its logo from a CDN; the browser drops it.
    policy = {
        "Content-Security-Policy": (
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-inline' blob:; worker-src 'self' blob:; "
            "frame-ancestors 'none'"
        )
    }

    @router.get("/docs", include_in_schema=False)
    async def swagger() -> Response:
        page = get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="brokerplane API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": False},
        )
        page.headers.update(policy)
        return page

    @router.get("/redoc", include_in_schema=False)
    async def redoc() -> Response:
        page = get_redoc_html(
            openapi_url="/openapi.json",
            title="brokerplane API",
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )
        page.headers.update(policy)
        return page
