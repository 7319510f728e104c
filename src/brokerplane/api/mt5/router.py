"""The MT5 Web API's HTTP face: `/api/<command>` (and legacy `/<command_with_underscores>`)
for GET and POST, the handshake, sessions bound to the connection, and the retcode envelope."""

from __future__ import annotations

import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from brokerplane.api.connection import connection_of
from brokerplane.api.kit.idempotency import REPLAY_HEADER, sent_key
from brokerplane.api.mt5 import retcodes
from brokerplane.api.mt5.protocol import COMMANDS, Answer, Context, Params, command, envelope_body
from brokerplane.api.mt5.retcodes import ERR_NOTIMPLEMENT, ERR_PARAMS, Mt5Error, retcode
from brokerplane.api.mt5.session import HandshakeFailed, Peer, Sessions, rand_answer
from brokerplane.core.access import lockout
from brokerplane.core.access.tokens import still_signed_in
from brokerplane.core.actor import Actor
from brokerplane.core.errors import CoreError
from brokerplane.core.services import Services

log = logging.getLogger("brokerplane.mt5")
router = APIRouter(include_in_schema=False)

VERSION_ACCESS = "1290"
VERSION_TRADE = "1290"
MIN_CLIENT_VERSION = 484
MT5_VERIFIER = "mt5"  # the manager's verifier the handshake checks


def envelope(code: int, answer: Any = None, **top: Any) -> JSONResponse:
    return JSONResponse(envelope_body(code, answer, **top))


def forbidden(reason: str) -> Response:
    """Transport-level refusal: clients treat any 403 as "session lost, authenticate again"."""
    return JSONResponse({"retcode": retcode(retcodes.ERR_PERMISSIONS), "reason": reason},
                        status_code=403)  # fmt: skip


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
    if getattr(request.app.state, "connections_required", False):
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
    sessions: Sessions = request.app.state.mt5_sessions
    return sessions


def _services(request: Request) -> Services:
    services: Services = request.app.state.runtime.services
    return services


def _pw_hash_of(services: Services, login: int) -> bytes | None:
    manager = services.get_manager(login)
    if manager is None or not manager.enabled:
        return None
    stored = manager.verifiers.get("mt5")
    if not stored:
        return None
    try:
        return bytes.fromhex(stored)
    except ValueError:
        return None


def _hex16(value: str | None) -> bytes | None:
    if value is None or len(value.strip()) != 32:
        return None
    try:
        return bytes.fromhex(value.strip())
    except ValueError:
        return None


async def _auth_start(request: Request, params: Params) -> Response:
    login = params.integer("login", low=1)
    kind = (params.text("type") or "manager").strip().lower()
    agent = params.text("agent")
    version = params.integer("version", default=MIN_CLIENT_VERSION)
    if login is None or kind != "manager" or not agent or " " in agent.strip():
        return envelope(ERR_PARAMS)
    if version is None or version < MIN_CLIENT_VERSION:
        return envelope(ERR_PARAMS)
    peer = _peer(request)
    if peer is None:
        return forbidden("this connection cannot hold an MT5 session")
    # Always a fresh challenge: whether the login exists is decided at /api/auth/answer.
    rand = _sessions(request).start(peer, login)
    _bind_to_connection(request, peer)
    return envelope(0, version_access=VERSION_ACCESS, srv_rand=rand.hex())


async def _auth_answer(request: Request, params: Params) -> Response:
    cli_rand = _hex16(params.text("cli_rand"))
    answer = params.text("srv_rand_answer") or ""
    services = _services(request)
    peer = _peer(request)
    if peer is None:
        return forbidden("this connection cannot hold an MT5 session")
    if cli_rand is None:
        _sessions(request).end(peer)
        return forbidden("cli_rand must be 32 hex characters")
    asked: list[lockout.Attempt] = []
    address = request.client.host if request.client else None

    def pw_hash_of(login: int) -> bytes | None:
        """The manager's hash, unless the sign-in lockout holds this login or address."""
        attempt = lockout.manager(login, address)
        until = services.login_locked_until(attempt)
        if until is not None:
            raise HandshakeFailed(lockout.locked_message(until, services.clock()))
        asked.append(attempt)
        return _pw_hash_of(services, login)

    try:
        login, pw_hash = await run_in_threadpool(
            _sessions(request).answer, peer, answer, pw_hash_of
        )
    except HandshakeFailed as err:
        log.warning("MT5 authentication failed from %s: %s", _address(request), err)
        if asked:  # the answer was checked against the password: a failure counts
            await run_in_threadpool(services.record_login, asked[0], False)
        return forbidden(str(err))
    await run_in_threadpool(services.record_login, asked[0], True)
    log.info("MT5 manager %s authenticated from %s", login, _address(request))
    return envelope(0, version_access=VERSION_ACCESS, version_trade=VERSION_TRADE,
                    cli_rand_answer=rand_answer(pw_hash, cli_rand))  # fmt: skip


def _actor(
    request: Request, services: Services, login: int, opened_with: bytes | None
) -> Actor | None:
    """The session's manager as an actor; None once it is disabled or its password changed
    since the session's handshake."""
    manager = services.get_manager(login)
    if manager is None or not still_signed_in(
        manager, MT5_VERIFIER, opened_with.hex() if opened_with is not None else None
    ):
        return None
    return Actor(
        manager_login=manager.login,
        scopes=frozenset(manager.rights),
        group_mask=manager.group_mask,
        white_labels=manager.white_labels,
        request_id="mt5_" + secrets.token_hex(8),
        dialect="mt5",
        ip=request.client.host if request.client else None,
    )


# What a command's thread answers instead of an Answer.
_DISABLED, _QUIT, _UNKNOWN = object(), object(), object()


async def dispatch(request: Request, name: str) -> Response:
    """Run a command; an error no handler expected is "2 Common error", logged, in the MT5
    envelope like every answer, and the connection and its session carry on."""
    try:
        return await _dispatch(request, name)
    except Exception:
        log.exception("unexpected error in MT5 command %s", name[:64])
        return envelope(retcodes.ERR_COMMON)


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
    opened_with = _sessions(request).credential(peer)
    services = _services(request)
    handler = COMMANDS.get(name)
    key = sent_key(request.headers)

    def run() -> Answer | object:  # the manager's check and the command: one trip to a thread
        actor = _actor(request, services, login, opened_with)
        if actor is None:
            return _DISABLED
        if name == "quit":
            return _QUIT
        if handler is None:
            return _UNKNOWN
        return handler(Context(params, actor, services, key))

    try:
        result = await run_in_threadpool(run)
    except Mt5Error as err:
        return envelope(err.code)
    except CoreError as err:
        return envelope(retcodes.code_for(err))
    if result is _DISABLED:
        _sessions(request).end(peer)
        return forbidden("the manager is disabled or its password changed: authenticate again")
    if result is _QUIT:
        _sessions(request).end(peer)
        return envelope(0)
    if not isinstance(result, Answer):
        return envelope(ERR_NOTIMPLEMENT)
    if result.replayed is not None:
        stored = result.replayed
        return Response(stored.body.encode(), status_code=stored.status,
                        media_type="application/json", headers={REPLAY_HEADER: "true"})  # fmt: skip
    return envelope(result.code, result.answer, **result.top)


@router.api_route("/api/{name:path}", methods=["GET", "POST"])
async def api(name: str, request: Request) -> Response:
    return await dispatch(request, name.strip("/").lower())


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
        router_.add_api_route(path, _legacy_endpoint(name), methods=["GET", "POST"],
                              include_in_schema=False)  # fmt: skip
