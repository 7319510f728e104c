"""The native money endpoints without FastAPI's per-request machinery, for ordinary requests.

A native deposit spent about a sixth of its CPU in FastAPI's handling of the route around the
endpoint: solving its dependencies, reading and validating the body through the generic
field machinery, the exit stack, the response wrapping. For the six `POST /balances/<op>`
routes (listed by `api.hotpaths`), this runs the same steps directly, in the same order and
with the same functions, for a request whose body is plainly well-formed: a JSON object sent
as `application/json`, with no escaped surrogate, that `BalanceIn` accepts. Then:

- the body is `BalanceIn`, validated from the same parsed JSON as FastAPI would validate it;
- the actor is `current_actor(request)` (the key check, the rate limit, the failures' log);
- the endpoint's own `_post` runs the command (claim, group commit, stored answer);
- a core error is rendered exactly as `NativeRoute` does (a failed write's claim is the
  application layer's to let go);
- anything else raised goes up to the app's handlers, as from FastAPI's route;
- the metrics and the access log name the request by its route's template, as FastAPI's.

Any other request (no body, a body over LEAN_MAX_BYTES, another content type, malformed JSON,
a field BalanceIn does not have or refuses, a surrogate to look at) goes to the FastAPI route
unchanged, with the body it sent: nothing was checked or counted for it here, so its answer,
and the order in which its problems are found, are FastAPI's.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from brokerplane.api.kit.lean import Lean, plain_body
from brokerplane.api.kit.lean import is_json as _is_json
from brokerplane.api.kit.lean import replaying as _replaying
from brokerplane.api.native import money
from brokerplane.api.native.auth import current_actor
from brokerplane.api.native.errors import core_problem
from brokerplane.api.native.money import BalanceIn
from brokerplane.core.errors import CoreError
from brokerplane.core.kinds import Operation

# A body the lean handler looks at (api/kit/lean.py's bound): an ordinary one is a few hundred
# bytes (the core allows a comment of 255 characters and a reference of 127). A body naming a
# field BalanceIn does not have goes to FastAPI's route unvalidated.
_FIELDS = frozenset(BalanceIn.model_fields)


def _body_of(raw: bytes) -> BalanceIn | None:
    """The body as BalanceIn when it is plainly well-formed, else None (FastAPI decides)."""
    return plain_body(raw, BalanceIn, _FIELDS)


def _post(operation: Operation) -> Lean:
    async def lean(route: BaseRoute, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        raw = await request.body()
        body = _body_of(raw) if _is_json(request.headers.get("content-type")) else None
        if body is None:
            await route.handle(scope, _replaying(raw, receive), send)
            return
        # The route template the metrics and the access log name it by (FastAPI's route
        # would have put its own in the scope; these paths have no parameters).
        request.state.route_template = scope["path"]
        request_id = getattr(request.state, "request_id", None)
        try:
            actor = await current_actor(request)
            response = await money.post_balance(request, actor, operation, body)
        except CoreError as err:
            response = core_problem(err, request_id)
        await response(scope, receive, send)

    return lean


# The operation each path's endpoint posts (api/native/money.py), under both native prefixes.
_OPERATIONS = {
    "deposit": Operation.DEPOSIT,
    "withdraw": Operation.WITHDRAWAL,
    "credit": Operation.CREDIT,
    "bonus": Operation.BONUS,
    "correction": Operation.CORRECTION,
    "charge": Operation.CHARGE,
}
HANDLERS: Mapping[tuple[str, ...], Lean] = {
    ("POST", f"{prefix}/balances/{path}"): _post(operation)
    for prefix in ("/v1", "/mt4/manager")
    for path, operation in _OPERATIONS.items()
}
