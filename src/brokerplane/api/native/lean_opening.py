"""Account openings (`POST /users`) without FastAPI's per-request machinery, for ordinary
requests: the lean route of api/native/lean.py, for the opening endpoint.

An opening is listed by `api.hotpaths` (NATIVE_OPENING, under both native prefixes). For a
request whose body is plainly well-formed (a JSON object sent as `application/json`, with no
escaped surrogate, naming only fields `AccountCreate` declares, that it accepts), this runs
the route's steps directly, in the same order and with the same functions:

- the body is `AccountCreate`, validated from the same parsed JSON as FastAPI would validate
  it (FastAPI's route validates the whole body with that model);
- the actor is `current_actor(request)` (the key check, the rate limit, the failures' log);
- the endpoint itself, `accounts.create_user`, runs the command (claim, group commit,
  stored answer) and gives the response, which FastAPI's route sends as it is;
- a core error is rendered exactly as `NativeRoute` does;
- anything else raised goes up to the app's handlers, as from FastAPI's route;
- the metrics and the access log name the request by its route's template, as FastAPI's.

Any other request (no body, a body over LEAN_MAX_BYTES, another content type, malformed JSON,
a field AccountCreate does not declare (such an extra reaches the core, which names it) or
refuses, a surrogate to look at) goes to the FastAPI route unchanged, with the body it sent.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from brokerplane.api import hotpaths
from brokerplane.api.kit.lean import Lean, is_json, plain_body, replaying
from brokerplane.api.native import accounts
from brokerplane.api.native.accounts import AccountCreate
from brokerplane.api.native.auth import current_actor
from brokerplane.api.native.errors import core_problem
from brokerplane.core.errors import CoreError

_FIELDS = frozenset(AccountCreate.model_fields)


def _body_of(raw: bytes) -> AccountCreate | None:
    """The body as AccountCreate when it is plainly well-formed, else None (FastAPI decides)."""
    return plain_body(raw, AccountCreate, _FIELDS)


async def _open(route: BaseRoute, scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive, send)
    raw = await request.body()
    body = _body_of(raw) if is_json(request.headers.get("content-type")) else None
    if body is None:
        await route.handle(scope, replaying(raw, receive), send)
        return
    # The route template the metrics and the access log name it by (these paths have no
    # parameters: the template is the path).
    request.state.route_template = scope["path"]
    request_id = getattr(request.state, "request_id", None)
    try:
        actor = await current_actor(request)
        response = await accounts.create_user(body, request, actor)
    except CoreError as err:
        response = core_problem(err, request_id)
    await response(scope, receive, send)


HANDLERS: Mapping[tuple[str, ...], Lean] = dict.fromkeys(hotpaths.NATIVE_OPENING, _open)
