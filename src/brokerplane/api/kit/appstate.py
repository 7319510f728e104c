"""Each app's own objects, found from the request whichever route or sub-application serves it.

The route tables (every dialect's routers and sub-applications) are built once per process and
shared by every app created from them (api/routes.py), so a handler cannot hold its app's
runtime in a closure, nor find it on `request.app` (inside a mounted sub-application that is
the shared sub-application). Each app puts its own `state` (the runtime, the rate limiters,
the metrics, the MT5 sessions, ...) in every request's scope with `AppScope`, its outermost
middleware, and handlers read it with `app_state(request)`."""

from __future__ import annotations

from starlette.datastructures import State
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

SCOPE_KEY = "brokerplane.app_state"


class AppScope:
    """Puts the app's state in the scope of every request (and of its lifespan)."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[SCOPE_KEY] = self.state
        await self.app(scope, receive, send)


def app_state(connection: HTTPConnection) -> State:
    """The state of the app serving this request (its `app.state`)."""
    state: State = connection.scope[SCOPE_KEY]
    return state
