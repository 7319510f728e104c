"""What every dialect's lean handler shares: a busy route answered without FastAPI's
per-request machinery around it (solving dependencies, the exit stack, a sub-application's
own middleware stack), by the route's own functions, in the same order.

`api.hotpaths` finds the route of a listed (method, path) once and hands the request to the
dialect's lean handler together with that route; a handler that would not answer exactly as
the route does hands the request back to it (`route.handle`), with the body it already read
(`replaying`). The native money endpoints (api/native/lean.py), MT5's `trade/balance`
(api/mt5/lean.py) and cTrader's `changebalance` (api/ctrader/lean.py) are written on these.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as ModelError
from starlette.routing import BaseRoute
from starlette.types import Message, Receive, Scope, Send

from brokerplane.api import jsonbody

# A lean handler: the route the ordinary search found for the request (to hand it back to),
# and the request.
Lean = Callable[[BaseRoute, Scope, Receive, Send], Awaitable[None]]

# A body a lean handler looks at: an ordinary one is a few hundred bytes. A larger one goes to
# the route unparsed, so that a large body (up to the body limit) is parsed once, not twice.
LEAN_MAX_BYTES = 8192


M = TypeVar("M", bound=BaseModel)


def plain_body(raw: bytes, model: type[M], fields: frozenset[str]) -> M | None:
    """The body as `model` when it is plainly well-formed (at most LEAN_MAX_BYTES, no escaped
    surrogate to look at, a JSON object naming only `fields`, which `model` accepts), else
    None: the route decides, finding its problems in its own order."""
    if not raw or len(raw) > LEAN_MAX_BYTES or jsonbody.may_hold_surrogate(raw):
        return None
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(parsed, dict) or not parsed.keys() <= fields:
        return None
    try:
        return model.model_validate(parsed)
    except ModelError:
        return None


def is_json(content_type: str | None) -> bool:
    """Whether the content type is `application/json` (parameters aside)."""
    if content_type is None:
        return False
    return content_type.partition(";")[0].strip().lower() == "application/json"


def replaying(raw: bytes, receive: Receive) -> Receive:
    """A receive that gives the body already read once more, then the connection's own."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return replay


def templated(scope: Scope, template: str) -> None:
    """Name the request by its route's template for the metrics and the access log, as the
    route would have (api/observe.py reads `route_template` from the request's state)."""
    state = scope.setdefault("state", {})
    state["route_template"] = template
