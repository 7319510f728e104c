"""cTrader's `changebalance` without its sub-application's per-request machinery.

`POST /v2/webserv/traders/<login>/changebalance` (and the proxy spelling under `/webserv`)
went through the app's routes to the mounted sub-application (api/ctrader/mount.py), which
runs its own middleware stack, exception middleware and router, then FastAPI's route around
the endpoint: about a third of what the event loop spent on a cTrader deposit. The endpoint
reads its own body and query (`money._post`: the token, the body through `Body`, the key
from the headers), so FastAPI validates nothing for it; here the same function runs directly
(api.hotpaths finds the mount once and checks that the login is digits), with what the
sub-application would add around it:

- the path's login read as its `{login:int}` convertor reads it;
- `CTraderError` and a core error answered by the sub-application's own handlers' rules
  (`error_response`, the error table), anything else as its `_UnexpectedErrors` does
  (logged, cTrader's 500 UNKNOWN_ERROR while nothing was sent);
- the metrics and the access log name the request by the route's template, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import Message, Receive, Scope, Send

from brokerplane.api import hotpaths
from brokerplane.api.ctrader import money
from brokerplane.api.ctrader.errors import CTraderError, status_and_code
from brokerplane.api.ctrader.wire import error_response
from brokerplane.api.kit.lean import Lean, templated
from brokerplane.core.errors import CoreError

log = logging.getLogger("brokerplane.ctrader")


async def _change_balance(route: BaseRoute, scope: Scope, receive: Receive, send: Send) -> None:
    root = scope.get("root_path", "")
    templated(scope, f"{root}/traders/{{login}}/changebalance")
    started = False

    async def watched(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    request = Request(scope, receive, watched)
    login = int(scope["path"].rsplit("/", 2)[-2])  # digits only (api.hotpaths)
    try:
        try:
            response = await money.change_balance(login, request)
        except CTraderError as err:
            response = error_response(request, err.status, err.code, err.description)
        except CoreError as err:
            status, code = status_and_code(err)
            response = error_response(request, status, code, err.detail)
        await response(scope, receive, watched)
    except Exception:
        if started:  # too late for an answer of our own
            raise
        log.exception("unexpected error in a cTrader request")
        response = error_response(request, 500, "UNKNOWN_ERROR", "an unexpected error occurred")
        await response(scope, receive, send)


HANDLERS: Mapping[tuple[str, ...], Lean] = {
    pattern: _change_balance for pattern in hotpaths.CTRADER_MONEY if pattern[2] == "/changebalance"
}
