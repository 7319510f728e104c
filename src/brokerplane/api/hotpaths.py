"""Hot paths: the route of a few busy (method, path) pairs is looked up once, not per request.

The app has hundreds of routes (every dialect's), and a request's route is found by trying
them in order: about 0.5 ms of CPU for a native deposit, whose routes come after MT5's,
cTrader's and TraderEvolution's. `HotPaths`, first in the app's routes, answers for the listed
pairs with the route that the ordinary search finds for them (searched once, on the first such
request, through the same routes in the same order), so the request goes to the same route,
with the same scope, as before; any other request is not its business. A pair the search
would answer with "method not allowed" or nothing is left to the ordinary search.

A path with an account login in it is listed as (method, prefix, suffix): the login between
them must be digits only (at most 18). The route found for the first such path is asked
again for each request (its own match, which is cheap: it is the search through the routes
before it that is not), so the scope is the one it makes for that path; when it does not
match, the ordinary search runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from starlette.routing import BaseRoute, Match, Router
from starlette.types import Receive, Scope, Send

from brokerplane.api.kit.lean import Lean

_ROUTE = "brokerplane.hot_route"

# A leaner handler for one of the pairs, or of the paths with a login (keyed by their
# (method, prefix, suffix)): called with the route the ordinary search found (to hand the
# request back to) and the request (api/kit/lean.py).
_PATTERN = "brokerplane.hot_pattern"

# cTrader's balance change (its sub-application is mounted after MT5's router, whose routes a
# request for it tries first: about 0.2-1.4 ms).
CTRADER_MONEY = (
    ("POST", "/v2/webserv/traders/", "/changebalance"),
    ("POST", "/webserv/traders/", "/changebalance"),
)

# MT5's balance operation over the HTTP Web API (its route comes first, but is FastAPI's).
MT5_MONEY = (("GET", "/api/trade/balance"), ("POST", "/api/trade/balance"))

# Money operations of the native API, under both of its prefixes.
NATIVE_MONEY = tuple(
    ("POST", f"{prefix}/balances/{operation}")
    for prefix in ("/v1", "/mt4/manager")
    for operation in ("deposit", "withdraw", "credit", "bonus", "correction", "charge")
)

# Account openings of the native API (`POST /users`), under both of its prefixes: they come
# after every other dialect's routes too.
NATIVE_OPENING = tuple(("POST", f"{prefix}/users") for prefix in ("/v1", "/mt4/manager"))


class HotPaths(BaseRoute):
    def __init__(
        self,
        router: Router,
        pairs: Iterable[tuple[str, str]],
        logins: Iterable[tuple[str, str, str]] = (),
        lean: Mapping[tuple[str, ...], Lean] | None = None,
    ) -> None:
        self._router = router
        self._lean: dict[tuple[str, ...], Lean] = dict(lean or {})
        self._pairs = frozenset(pairs)
        self._logins = tuple(logins)
        self._found: dict[tuple[str, str], tuple[BaseRoute, dict[str, Any]] | None] = {}
        self._by_login: dict[tuple[str, str, str], BaseRoute | None] = {}

    def _with_login(self, scope: Scope) -> tuple[Match, Scope]:
        method, path = scope["method"], scope["path"]
        for pattern in self._logins:
            verb, prefix, suffix = pattern
            if method != verb or not (path.startswith(prefix) and path.endswith(suffix)):
                continue
            login = path[len(prefix) : len(path) - len(suffix)]
            if not (0 < len(login) <= 18 and login.isascii() and login.isdigit()):
                return Match.NONE, {}
            if pattern not in self._by_login:
                found = self._search(scope)
                self._by_login[pattern] = found[0] if found is not None else None
            route = self._by_login[pattern]
            if route is None:
                return Match.NONE, {}
            match, child = route.matches(scope)
            if match != Match.FULL:
                return Match.NONE, {}
            if pattern in self._lean:
                return Match.FULL, {**child, _ROUTE: route, _PATTERN: pattern}
            return Match.FULL, {**child, _ROUTE: route}
        return Match.NONE, {}

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope.get("root_path"):
            return Match.NONE, {}
        pair = (scope["method"], scope["path"])
        if pair not in self._pairs:
            return self._with_login(scope) if self._logins else (Match.NONE, {})
        if pair in self._found:
            found = self._found[pair]
        else:
            found = self._found[pair] = self._search(scope)
        if found is None:
            return Match.NONE, {}
        route, child = found
        params = dict(child.get("path_params", {}))
        return Match.FULL, {**child, "path_params": params, _ROUTE: route}

    def _search(self, scope: Scope) -> tuple[BaseRoute, dict[str, Any]] | None:
        for route in self._router.routes:
            if route is self:
                continue
            match, child = route.matches(scope)
            if match == Match.FULL:
                return route, dict(child)
            if match == Match.PARTIAL:
                return None  # the ordinary search decides (405 or a later route)
        return None

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: BaseRoute = scope.pop(_ROUTE)
        pattern = scope.pop(_PATTERN, None)
        lean = None
        if self._lean:
            lean = self._lean.get(pattern or (scope["method"], scope["path"]))
        if lean is not None:
            await lean(route, scope, receive, send)
            return
        await route.handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        from starlette.routing import NoMatchFound

        raise NoMatchFound(name, path_params)


def install(
    router: Router,
    pairs: Iterable[tuple[str, str]],
    logins: Iterable[tuple[str, str, str]] = (),
    lean: Mapping[tuple[str, ...], Lean] | None = None,
) -> None:
    """Put a HotPaths for `pairs` (and paths with a login, `logins`) first in the routes;
    a pair with a handler in `lean` is handled by it (given the route found for it)."""
    router.routes.insert(0, HotPaths(router, pairs, logins, lean))
