"""The scope matrix: every native endpoint against every scope, through real HTTP on both engines.

Each row names the scopes that open an endpoint (`admin` opens everything) and builds requests
valid enough that an allowed key reaches the core and succeeds. For every scope a key holding
just that scope is answered (2xx) when the scope is in the row and refused 403 PermissionDenied
when it is not; a key holding every other scope (and not admin) is refused too; no key is 401.
The rows are checked against the app's own routes, so an endpoint without a row fails.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from brokerplane.api.app import create_app
from brokerplane.bootstrap import build
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.actor import SCOPES
from brokerplane.core.events.commands import SaveSubscription
from brokerplane.core.trading.commands import OpenPosition, QuoteInput
from brokerplane.settings import Settings
from tests.dialects.native.conftest import Api

LOGIN = 910024
MAKER = 2000  # a second manager: it requests held operations that manager 1000 decides
ANY = frozenset(SCOPES)  # the /keys endpoints: any valid key

Request = tuple[str, Any]  # (path with its query, JSON body or None)


@dataclass
class World:
    """Manager 1000's keys (api.key) over a funded account, a threshold, a pending approval."""

    api: Api
    maker_key: str
    approval_id: int
    spare_key_id: str
    names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def held(self) -> int:
        """A fresh pending approval, requested by the maker (so manager 1000 may decide it)."""
        response = self.api.post(
            "/v1/balances/deposit", {"login": LOGIN, "amount": "1500"}, key=self.maker_key
        )
        assert response.status_code == 202, response.text
        return int(response.json()["approval_id"])

    def key_id(self, scopes: frozenset[str] = frozenset()) -> str:
        """A fresh key of manager 1000, to rotate or revoke (holding `scopes`, so a caller
        holding them may rotate it: rotation hands out no scope the caller lacks)."""
        issued = self.api.runtime.app.create_api_key(
            CreateApiKey(1000, scopes or frozenset({"users:read"}), "target"), self.api.admin
        )
        return issued.key.id

    def name(self, stem: str) -> str:
        return f"{stem}{next(self.names)}"


# make(world, the calling key's scopes, whether the call should succeed) -> requests to send.
# Fresh resources (approvals to decide, keys to rotate) are only spent on calls that succeed.
Make = Callable[[World, frozenset[str], bool], list[Request]]


@dataclass(frozen=True)
class Row:
    allowed: frozenset[str]
    make: Make


def row(*allowed: str, make: Make) -> Row:
    return Row(frozenset(allowed), make)


def fixed(path: str, body: Any = None, *more: Request) -> Make:
    return lambda w, s, ok: [(path, body), *more]


def _balance(op: str) -> Row:
    return row("balances:write", make=fixed(f"/v1/balances/{op}", {"login": LOGIN, "amount": "1"}))


def _decide(verb: str) -> Row:
    def make(w: World, scopes: frozenset[str], ok: bool) -> list[Request]:
        approval_id = w.held() if ok else w.approval_id
        return [(f"/v1/approvals/{approval_id}/{verb}", {"comment": "checked"})]

    return row("balances:approve", make=make)


def _new_key(w: World, scopes: frozenset[str], ok: bool) -> list[Request]:
    return [("/v1/keys", {"scopes": sorted(scopes or {"users:read"}), "name": "matrix"})]


def _key_path(suffix: str) -> Make:
    return lambda w, s, ok: [(f"/v1/keys/{w.key_id(s) if ok else w.spare_key_id}{suffix}", None)]


def _quoted(w: World) -> None:
    quote = QuoteInput("EURUSD", "1.10000", "1.10020")
    w.api.runtime.app.set_quotes([quote], w.api.admin)


def _position(w: World) -> tuple[int, int]:
    """A fresh 0.01 lot position of the account, and the id of the deal that opened it."""
    _quoted(w)
    order = OpenPosition(LOGIN, "EURUSD", "buy", "0.01")
    done = w.api.runtime.app.open_position(order, w.api.admin)
    assert done.position is not None
    return done.position.id, done.deal.id


def _order(w: World, scopes: frozenset[str], ok: bool) -> list[Request]:
    if ok:
        _quoted(w)
    return [
        ("/v1/positions", {"login": LOGIN, "symbol": "EURUSD", "side": "buy", "volume": "0.01"})
    ]


def _held(path: str, part: int) -> Make:
    """A path naming a fresh position (part 0) or deal (part 1) when the call should succeed."""
    return lambda w, s, ok: [(path.format(_position(w)[part] if ok else 1), None)]


def _doomed(w: World, scopes: frozenset[str], ok: bool) -> list[Request]:
    """A fresh account to delete when the call should succeed; else the world's own."""
    login = int(w.api.open()["login"]) if ok else LOGIN
    return [(f"/v1/users/{login}", None)]


def _transfer(w: World, scopes: frozenset[str], ok: bool) -> list[Request]:
    """One cent from the funded account to a fresh one when the call should succeed."""
    target = int(w.api.open()["login"]) if ok else LOGIN + 1
    return [("/v1/balances/transfer", {"from_login": LOGIN, "to_login": target, "amount": "0.01"})]


def _webhook(w: World) -> int:
    """A fresh webhook subscription (to the discard port: deliveries fail fast)."""
    sub = w.api.runtime.app.create_webhook(
        SaveSubscription(url="http://127.0.0.1:9/hook"), w.api.admin
    )
    return sub.id


def _hook_path(suffix: str, body: Any = None) -> Make:
    return lambda w, s, ok: [(f"/v1/webhooks/{_webhook(w) if ok else 1}{suffix}", body)]


def _report(path: str) -> Make:
    return fixed(path, None, (f"{path}?format=csv", None))


MATRIX: dict[tuple[str, str], Row] = {
    # accounts
    ("GET", "/v1/users"): row("users:read", make=fixed("/v1/users")),
    ("GET", "/v1/users/{login}"): row("users:read", make=fixed(f"/v1/users/{LOGIN}")),
    ("GET", "/v1/users/{login}/history"): row(
        "users:read", make=fixed(f"/v1/users/{LOGIN}/history")
    ),
    ("POST", "/v1/users"): row(
        "users:write", make=fixed("/v1/users", {"name": "A", "group": "demo-usd", "leverage": 100})
    ),
    ("PATCH", "/v1/users/{login}"): row(
        "users:write", make=fixed(f"/v1/users/{LOGIN}", {"leverage": 50})
    ),
    ("POST", "/v1/users/{login}/disable"): row(
        "users:write", make=fixed(f"/v1/users/{LOGIN}/disable", {"reason": "matrix"})
    ),
    ("POST", "/v1/users/{login}/enable"): row(
        "users:write", make=fixed(f"/v1/users/{LOGIN}/enable")
    ),
    ("PUT", "/v1/users/{login}/password"): row(
        "users:write",
        make=fixed(f"/v1/users/{LOGIN}/password", {"type": "investor", "password": "Inv3st!pw"}),
    ),
    ("POST", "/v1/users/{login}/password/check"): row(
        "users:read",
        make=fixed(f"/v1/users/{LOGIN}/password/check", {"type": "main", "password": "x"}),
    ),
    ("DELETE", "/v1/users/{login}"): row("users:delete", make=_doomed),
    ("GET", "/v1/trade-states"): row(
        "users:read",
        make=fixed(
            f"/v1/trade-states?logins={LOGIN}",
            None,
            ("/v1/trade-states?group=demo-*&format=csv", None),
        ),
    ),
    # reports: JSON pages and the streamed CSV
    ("GET", "/v1/reports/users"): row(
        "reports:read",
        make=fixed("/v1/reports/users", None, ("/v1/reports/users?format=csv", None)),
    ),
    # groups and symbols
    ("GET", "/v1/groups"): row("users:read", make=fixed("/v1/groups")),
    ("GET", "/v1/groups/{name}"): row("users:read", make=fixed("/v1/groups/demo-usd")),
    ("POST", "/v1/groups"): row(
        "admin", make=lambda w, s, ok: [("/v1/groups", {"name": w.name("mx"), "currency": "USD"})]
    ),
    ("PATCH", "/v1/groups/{name}"): row(
        "admin", make=fixed("/v1/groups/demo-usd", {"max_leverage": 400})
    ),
    ("GET", "/v1/symbols"): row("users:read", make=fixed("/v1/symbols")),
    ("GET", "/v1/symbols/{name}"): row("users:read", make=fixed("/v1/symbols/EURUSD")),
    ("POST", "/v1/symbols"): row(
        "admin", make=lambda w, s, ok: [("/v1/symbols", {"name": w.name("MTX")})]
    ),
    ("PATCH", "/v1/symbols/{name}"): row("admin", make=fixed("/v1/symbols/EURUSD", {"digits": 4})),
    # money
    ("POST", "/v1/balances/deposit"): _balance("deposit"),
    ("POST", "/v1/balances/withdraw"): _balance("withdraw"),
    ("POST", "/v1/balances/credit"): _balance("credit"),
    ("POST", "/v1/balances/bonus"): _balance("bonus"),
    ("POST", "/v1/balances/correction"): _balance("correction"),
    ("POST", "/v1/balances/charge"): _balance("charge"),
    ("POST", "/v1/balances/transfer"): row("balances:write", make=_transfer),
    ("GET", "/v1/balances/history"): row(
        "balances:write",
        "reports:read",
        make=fixed(
            f"/v1/balances/history?login={LOGIN}",
            None,
            (f"/v1/balances/history?login={LOGIN}&format=csv", None),
        ),
    ),
    # approvals
    ("GET", "/v1/approvals"): row(
        "balances:write", "balances:approve", make=fixed("/v1/approvals")
    ),
    ("GET", "/v1/approvals/{approval_id}"): row(
        "balances:write",
        "balances:approve",
        make=lambda w, s, ok: [(f"/v1/approvals/{w.approval_id}", None)],
    ),
    ("POST", "/v1/approvals/{approval_id}/approve"): _decide("approve"),
    ("POST", "/v1/approvals/{approval_id}/reject"): _decide("reject"),
    ("GET", "/v1/approval-thresholds"): row(
        "balances:write", "balances:approve", make=fixed("/v1/approval-thresholds")
    ),
    ("PUT", "/v1/approval-thresholds"): row(
        "admin", make=fixed("/v1/approval-thresholds", {"currency": "EUR", "amount": "5000"})
    ),
    # audit
    ("GET", "/v1/audit"): row("reports:read", make=fixed("/v1/audit?entity_type=account")),
    # keys: any valid key, for the caller's own manager
    ("POST", "/v1/keys"): Row(ANY, _new_key),
    ("GET", "/v1/keys"): Row(ANY, fixed("/v1/keys")),
    ("POST", "/v1/keys/{key_id}/rotate"): Row(ANY, _key_path("/rotate")),
    ("DELETE", "/v1/keys/{key_id}"): Row(ANY, _key_path("")),
    # trading
    ("PUT", "/v1/quotes"): row(
        "quotes:write",
        make=fixed("/v1/quotes", {"quotes": [{"symbol": "EURUSD", "bid": "1.1", "ask": "1.2"}]}),
    ),
    ("GET", "/v1/quotes"): row(
        "users:read", "reports:read", "quotes:write", "trades:write", make=fixed("/v1/quotes")
    ),
    ("POST", "/v1/positions"): row("trades:write", make=_order),
    ("POST", "/v1/positions/{position_id}/close"): row(
        "trades:write", make=_held("/v1/positions/{}/close", 0)
    ),
    ("GET", "/v1/positions"): row("users:read", "reports:read", make=fixed("/v1/positions")),
    ("GET", "/v1/positions/{position_id}"): row(
        "users:read", "reports:read", make=_held("/v1/positions/{}", 0)
    ),
    ("GET", "/v1/deals"): row("users:read", "reports:read", make=fixed("/v1/deals")),
    ("GET", "/v1/deals/{deal_id}"): row(
        "users:read", "reports:read", make=_held("/v1/deals/{}", 1)
    ),
    ("GET", "/v1/users/{login}/trade-state"): row(
        "users:read", make=fixed(f"/v1/users/{LOGIN}/trade-state")
    ),
    ("GET", "/v1/reports/exposure"): row("reports:read", make=_report("/v1/reports/exposure")),
    ("GET", "/v1/reports/margin-calls"): row(
        "reports:read", make=_report("/v1/reports/margin-calls")
    ),
    # operations: the Prometheus metrics, outside /v1 (where scrapers look for them)
    ("GET", "/metrics"): row("metrics:read", make=fixed("/metrics")),
    # events: the feed reads with reports:read; webhook subscriptions are the admin's
    ("GET", "/v1/events"): row(
        "reports:read", make=fixed("/v1/events", None, ("/v1/events?types=ledger.&after=0", None))
    ),
    ("GET", "/v1/events/types"): row("reports:read", make=fixed("/v1/events/types")),
    ("POST", "/v1/webhooks"): row(
        "admin", make=fixed("/v1/webhooks", {"url": "http://127.0.0.1:9/hook"})
    ),
    ("GET", "/v1/webhooks"): row("admin", make=fixed("/v1/webhooks")),
    ("GET", "/v1/webhooks/{sub_id}"): row("admin", make=_hook_path("")),
    ("PATCH", "/v1/webhooks/{sub_id}"): row(
        "admin", make=_hook_path("", {"description": "matrix"})
    ),
    ("DELETE", "/v1/webhooks/{sub_id}"): row("admin", make=_hook_path("")),
    ("POST", "/v1/webhooks/{sub_id}/replay"): row("admin", make=_hook_path("/replay", {"from": 1})),
    ("GET", "/v1/webhooks/{sub_id}/deliveries"): row("admin", make=_hook_path("/deliveries")),
    ("POST", "/v1/webhooks/{sub_id}/test"): row("admin", make=_hook_path("/test")),
}
# Endpoints outside /v1 that take a native key (and so need a row too).
KEYED_OUTSIDE_V1 = ("/metrics",)


def native_routes(app: FastAPI, prefix: str) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves under `prefix`, HEAD aside."""
    try:  # FastAPI >= 0.16x keeps included routers as branches: walk them
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI flattens app.routes itself
        contexts: Any = app.routes
    else:
        contexts = iter_route_contexts(app.routes)
    found = set()
    for route in contexts:
        path = getattr(route, "path", None) or ""
        if path.startswith(prefix + "/") or path == prefix:
            found |= {(m, path) for m in (getattr(route, "methods", None) or ()) if m != "HEAD"}
    return found


def test_every_native_endpoint_has_a_row_in_the_scope_matrix(tmp_path: Path) -> None:
    runtime = build(Settings(data_dir=tmp_path))  # the app is only inspected: no database use
    try:
        app = create_app(runtime)
        served = native_routes(app, "/v1")
        outside = set().union(*(native_routes(app, path) for path in KEYED_OUTSIDE_V1))
        mirrored = {
            (m, "/v1" + p.removeprefix("/mt4/manager"))
            for m, p in native_routes(app, "/mt4/manager")
        }
    finally:
        runtime.close()
    assert len(served) >= 30  # the walk found the routers, not nothing
    assert outside == {("GET", "/metrics")}
    served_keyed = served | outside
    assert sorted(served_keyed - set(MATRIX)) == [], "endpoints without a row in MATRIX"
    assert sorted(set(MATRIX) - served_keyed) == [], "rows for endpoints the app does not serve"
    assert mirrored == served  # /mt4/manager serves the same endpoints


@pytest.fixture
def world(api: Api) -> World:
    services = api.runtime.app
    api.open(login=LOGIN)
    assert api.post("/v1/balances/deposit", {"login": LOGIN, "amount": "100"}).status_code == 200
    put = api.put("/v1/approval-thresholds", {"currency": "USD", "amount": "1000"})
    assert put.status_code == 200, put.text
    services.create_manager(CreateManager(MAKER, "Maker", "Mak3r!pw"), api.admin)
    maker = services.create_api_key(CreateApiKey(MAKER, frozenset({"balances:write"})), api.admin)
    w = World(api, maker.secret, 0, "")
    w.approval_id = w.held()
    w.spare_key_id = w.key_id()
    return w


def _send(w: World, method: str, req: Request, key: str | None) -> Any:
    path, body = req
    headers = w.api.headers(key) if key is not None else {}
    return w.api.client.request(method, path, json=body, headers=headers)


def _check(response: Any, want: str, what: str, needed: frozenset[str] = ANY) -> str | None:
    """None when the response is what `want` (2xx, 401 or 403) says; else why not. A 403
    names a scope that would have opened the endpoint."""
    status = response.status_code
    rid = response.headers.get("x-request-id", "")
    if not rid:
        return f"{what}: no x-request-id on a {status}"
    if want == "2xx":
        return None if 200 <= status < 300 else f"{what}: {status} {response.text[:300]}"
    problem = response.json() if "json" in response.headers.get("content-type", "") else {}
    if want == "401":
        ok = status == 401 and problem.get("title") == "Unauthorized"
        ok = ok and response.headers.get("www-authenticate") == "Bearer"
    else:
        ok = status == 403 and problem.get("title") == "PermissionDenied"
        ok = ok and problem.get("code") == "auth.missing_scope"
        ok = ok and any(scope in str(problem.get("detail")) for scope in needed)
    if not ok:
        return f"{what}: wanted {want}, got {status} {response.text[:300]}"
    if problem.get("request_id") != rid:
        return f"{what}: the problem's request_id {problem.get('request_id')!r} is not {rid!r}"
    return None


@pytest.mark.parametrize("endpoint", list(MATRIX), ids=[f"{m} {p}" for m, p in MATRIX])
def test_each_scope_opens_exactly_the_endpoints_its_row_names(
    world: World, endpoint: tuple[str, str]
) -> None:
    method, _ = endpoint
    entry = MATRIX[endpoint]
    problems: list[str | None] = []
    for req in entry.make(world, frozenset(), False):
        problems.append(_check(_send(world, method, req, None), "401", f"no key {req[0]}"))
    for scope in SCOPES:
        scopes = frozenset({scope})
        allowed = scope in entry.allowed or scope == "admin"
        key = world.api.key(scope)
        for req in entry.make(world, scopes, allowed):
            got = _send(world, method, req, key)
            want = "2xx" if allowed else "403"
            problems.append(_check(got, want, f"[{scope}] {req[0]}", entry.allowed))
    if entry.allowed != ANY:
        rest = frozenset(SCOPES) - entry.allowed - {"admin"}
        key = world.api.key(*rest)
        for req in entry.make(world, rest, False):
            got = _send(world, method, req, key)
            what = f"[all but {sorted(entry.allowed)}] {req[0]}"
            problems.append(_check(got, "403", what, entry.allowed))
    failed = [p for p in problems if p]
    assert failed == [], "\n".join(failed)
