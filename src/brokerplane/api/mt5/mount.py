"""The MT5 Web API's HTTP face: `/api/<command>` (and legacy `/<command_with_underscores>`)
for GET and POST, the handshake, sessions bound to the connection, and the retcode envelope.

`mount` puts it on the app with the command modules (importing them registers their commands)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from brokerplane.api.connection import connection_of
from brokerplane.api.kit.appstate import app_state
from brokerplane.api.kit.idempotency import REPLAY_HEADER, sent_key
from brokerplane.api.mt5 import auth, errors
from brokerplane.api.mt5.auth import (
    VERSION_ACCESS,
    VERSION_TRADE,
    HandshakeFailed,
    Peer,
    Sessions,
    rand_answer,
)
from brokerplane.api.mt5.errors import ERR_NOTIMPLEMENT, ERR_PARAMS, Mt5Error, retcode
from brokerplane.api.mt5.wire import COMMANDS, Answer, Context, Params, command, envelope_body
from brokerplane.application.app import Application

log = logging.getLogger("brokerplane.mt5")
router = APIRouter(include_in_schema=False)


def envelope(code: int, answer: Any = None, **top: Any) -> JSONResponse:
    return JSONResponse(envelope_body(code, answer, **top))


def forbidden(reason: str) -> Response:
    """Transport-level refusal: clients treat any 403 as "session lost, authenticate again"."""
    return JSONResponse(
        {"retcode": retcode(errors.ERR_PERMISSIONS), "reason": reason}, status_code=403
    )


def body_refused(request: Request, status: int, reason: str) -> Response:
    """A body over the server's limit or stalled (api/bodylimit.py): "3 Invalid parameters",
    with the HTTP status (413, 408), since the connection (and any session on it) closes with
    the answer."""
    return JSONResponse({"retcode": retcode(ERR_PARAMS), "reason": reason}, status_code=status)


def _peer(request: Request) -> Peer | None:
    """What this request's session is keyed by: the listener's connection (its id is never
    reused and no header can name it). In-process clients (test clients) have no connection
    and are keyed by the client address they set; an app served by brokerplane's listeners
    never falls back to the address (a trusted proxy's X-Forwarded-For may rewrite it): None,
    no session."""
    connection = connection_of(request.scope)
    if connection is not None:
        return ("connection", connection.id)
    if getattr(app_state(request), "connections_required", False):
        return None
    client = request.client
    return ("address", client.host, client.port) if client else ("address", "", 0)


def _bind_to_connection(request: Request, peer: Peer) -> None:
    """End the session on `peer` when the request's connection closes."""
    connection = connection_of(request.scope)
    if connection is not None:
        sessions = _sessions(request)
        connection.on_close(lambda: sessions.end(peer), key=sessions)


def _address(request: Request) -> str:
    return request.client.host if request.client else "?"


def _sessions(request: Request) -> Sessions:
    sessions: Sessions = app_state(request).mt5_sessions
    return sessions


def _services(request: Request) -> Application:
    services: Application = app_state(request).runtime.app
    return services


async def _auth_start(request: Request, params: Params) -> Response:
    login = auth.start_login(params)
    peer = _peer(request)
    if peer is None:
        return forbidden("this connection cannot hold an MT5 session")
    # Always a fresh challenge: whether the login exists is decided at /api/auth/answer.
    rand = _sessions(request).start(peer, login)
    _bind_to_connection(request, peer)
    return envelope(0, version_access=VERSION_ACCESS, srv_rand=rand.hex())


async def _auth_answer(request: Request, params: Params) -> Response:
    cli_rand = auth.hex16(params.text("cli_rand"))
    answer = params.text("srv_rand_answer") or ""
    peer = _peer(request)
    if peer is None:
        return forbidden("this connection cannot hold an MT5 session")
    if cli_rand is None:
        _sessions(request).end(peer)
        return forbidden("cli_rand must be 32 hex characters")
    address = request.client.host if request.client else None
    try:
        login, pw_hash = await run_in_threadpool(
            auth.check_answer, _services(request), _sessions(request), peer, answer, address
        )
    except HandshakeFailed as err:  # an admitted attempt stays counted as a failure
        log.warning("MT5 authentication failed from %s: %s", _address(request), err)
        return forbidden(str(err))
    request.state.manager = login
    log.info("MT5 manager %s authenticated from %s", login, _address(request))
    return envelope(
        0,
        version_access=VERSION_ACCESS,
        version_trade=VERSION_TRADE,
        cli_rand_answer=rand_answer(pw_hash, cli_rand),
    )


async def dispatch(request: Request, name: str) -> Response:
    """Run a command; an error no handler expected is "2 Common error", logged, in the MT5
    envelope like every answer, and the connection and its session carry on."""
    try:
        return await _dispatch(request, name)
    except Exception:
        log.exception("unexpected error in MT5 command %s", name[:64])
        return envelope(errors.ERR_COMMON)


async def _dispatch(request: Request, name: str) -> Response:
    peer = _peer(request)
    login = _sessions(request).current(peer) if peer is not None else None
    if login is None and name not in ("auth/start", "auth/answer"):
        # the session first: without one, even a malformed body is "authenticate again"
        return forbidden("not authenticated on this connection: run /api/auth/start first")
    try:
        params = Params(request.query_params.multi_items(), await request.body())
    except Mt5Error as err:
        return envelope(err.code)
    try:
        if name == "auth/start":
            return await _auth_start(request, params)
        if name == "auth/answer":
            return await _auth_answer(request, params)
    except Mt5Error as err:  # a parameter of the wrong type or out of range
        return envelope(err.code)
    login = _sessions(request).current(peer) if peer is not None else None
    if login is None or peer is None:
        return forbidden("not authenticated on this connection: run /api/auth/start first")
    request.state.manager = login
    opened_with, epoch = _sessions(request).opened_with(peer)
    session = auth.SignedIn(
        login, opened_with, epoch, request.client.host if request.client else None
    )
    result = await run_in_threadpool(
        auth.run, _services(request), session, name, params, sent_key(request.headers)
    )
    if result is auth.DISABLED:
        _sessions(request).end(peer)
        return forbidden("the manager is disabled or its password changed: authenticate again")
    if result is auth.QUIT:
        _sessions(request).end(peer)
        return envelope(0)
    if not isinstance(result, Answer):
        return envelope(ERR_NOTIMPLEMENT)
    if result.replayed is not None:
        stored = result.replayed
        return Response(
            stored.body.encode(),
            status_code=stored.status or 200,
            media_type="application/json",
            headers={REPLAY_HEADER: "true"},
        )
    if result.replay:
        return JSONResponse(result.body(), headers={REPLAY_HEADER: "true"})
    return envelope(result.code, result.answer, **result.top)


@router.api_route("/api/{name:path}", methods=["GET", "POST"])
async def api(name: str, request: Request) -> Response:
    command_name = name.strip("/").lower()
    # the command, for the metrics and the log: a name MT5 knows, never any other text
    known = command_name in COMMANDS or command_name in _SESSION_COMMANDS
    request.state.route_template = "/api/" + (command_name if known else "{unknown}")
    return await dispatch(request, command_name)


_SESSION_COMMANDS = frozenset({"auth/start", "auth/answer", "quit"})


# ---- service commands -----------------------------------------------------------------------


@command("test/access")
def test_access(ctx: Context) -> Answer:
    return Answer()


@command("time/server")
def time_server(ctx: Context) -> Answer:
    now = datetime.fromtimestamp(int(time.time()), UTC)
    return Answer({"Time": f"{int(now.timestamp())} {now:%Y.%m.%d %H:%M:%S}"})


@command("common/get")
def common_get(ctx: Context) -> Answer:
    settings_currency = ctx.services.config.server_currency
    return Answer(
        {
            "Name": "brokerplane",
            "Owner": "brokerplane",
            "OwnerID": "brokerplane",
            "OwnerHost": "",
            "OwnerEmail": "",
            "Product": "brokerplane",
            "ExpirationLicense": "0",
            "ExpirationSupport": "0",
            "LimitTradeServers": "0",
            "LimitWebServers": "0",
            "LimitAccounts": "0",
            "LimitDeals": "0",
            "LimitSymbols": "0",
            "LimitGroups": "0",
            "AccountUrl": "",
            "AccountAuto": "1",
            "Currency": settings_currency,
            "LoginsRangeFrom": ctx.services.config.login_range_from,
            "LoginsRangeTo": ctx.services.config.login_range_to,
        }
    )


def legacy_paths() -> dict[str, str]:
    """Root aliases of the older REST paths: `/user_get` for `user/get`, `/auth_start`, ..."""
    names = ["auth/start", "auth/answer", "quit", *COMMANDS]
    return {"/" + n.replace("/", "_"): n for n in names}


def _legacy_endpoint(name: str) -> Any:
    async def legacy(request: Request) -> Response:
        return await dispatch(request, name)

    return legacy


def add_legacy_routes(router_: APIRouter) -> None:
    for path, name in legacy_paths().items():
        router_.add_api_route(
            path, _legacy_endpoint(name), methods=["GET", "POST"], include_in_schema=False
        )


def mount(app: APIRouter) -> None:
    """The dialect's routes on `app` (a process's route table, api/routes.py); each app's
    sessions are `new_sessions()` in its state."""
    # Importing the command modules registers their commands.
    from brokerplane.api.mt5 import (  # noqa: F401
        changes,
        clients,
        crm,
        dealer,
        deals,
        groups,
        identity,
        orders,
        positions,
        symbols,
        ticks,
        users,
    )

    app.include_router(router)
    legacy = APIRouter(include_in_schema=False)
    add_legacy_routes(legacy)
    app.include_router(legacy)
