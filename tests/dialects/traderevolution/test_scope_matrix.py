"""The scope matrix of the TraderEvolution endpoints added for reports, the API document and
the CRM calls: every endpoint against every scope, through real HTTP.

For each scope a back-office user holding just that scope is answered (2xx) when the scope is
in the endpoint's row and refused 403 2.0.2.4 when it is not; a user holding every other scope
(not admin) is refused too; no token is 401. Fresh resources are made for each call that is
meant to succeed and destroys something. The rows are checked against the routes: a route
added to one of these modules without a row fails."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from starlette.routing import Route

from brokerplane import bootstrap
from brokerplane.api.traderevolution import accounts, apidoc, methods, reports
from brokerplane.api.traderevolution import users as te_users
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateManager
from brokerplane.core.actor import SCOPES
from brokerplane.settings import Settings
from tests.dialects.traderevolution.conftest import TE, sign_in


@pytest.fixture
def runtime(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """The matrix sends hundreds of requests a second with a few tokens: TE's per-caller rate
    limit (tested on its own in test_auth_and_errors) is off here, so a 429 cannot stand in for
    the answer a scope gets."""
    settings = Settings(database_url=database_url, data_dir=tmp_path, te_rate_limit_per_second=0)
    rt = bootstrap.build(settings)
    try:
        yield rt
    finally:
        rt.close()


ANY = frozenset(SCOPES)  # any signed-in back-office user
OPEN: frozenset[str] = frozenset()  # no token needed


@dataclass
class World:
    te: TE
    names: itertools.count  # type: ignore[type-arg]

    def user(self, **extra: Any) -> dict[str, Any]:
        return self.te.create_user(f"u{next(self.names)}", **extra)

    def account(self) -> int:
        return int(self.user()["accounts"][0]["id"])

    def pair(self) -> tuple[int, int]:
        made = self.user(accounts=[{"accountName": "a"}, {"accountName": "b"}])
        first, second = (a["id"] for a in made["accounts"])
        self.te.ok(
            self.te.post(
                "/accountOperations", {"accountId": first, "amount": 100, "operationTypeId": 2}
            )
        )
        return first, second


Call = tuple[str, str, Any]  # method, path (with query), JSON body or None
Make = Callable[[World], Call]


@dataclass(frozen=True)
class Row:
    endpoint: str  # the endpoint function's name
    allowed: frozenset[str]
    make: Make


def row(endpoint: str, allowed: frozenset[str] | set[str], make: Make) -> Row:
    return Row(endpoint, frozenset(allowed), make)


ROWS = [
    row("api_docs", OPEN, lambda w: ("GET", "/v2/api-docs", None)),
    row("swagger_ui", OPEN, lambda w: ("GET", "/swagger-ui.html", None)),
    row("list_reports", {"reports:read"}, lambda w: ("GET", "/reports", None)),
    row("report_functions", {"reports:read"}, lambda w: ("GET", "/reports/functions", None)),
    row("run_report", {"reports:read"}, lambda w: ("GET", "/reports/125", None)),
    row("list_accounts", {"users:read"}, lambda w: ("GET", "/accounts", None)),
    row(
        "account_details",
        {"users:read"},
        lambda w: ("GET", f"/accountDetails?accountId={w.account()}", None),
    ),
    row("list_assets", {"users:read", "reports:read"}, lambda w: ("GET", "/assets", None)),
    row(
        "patch_account",
        {"users:write"},
        lambda w: ("PATCH", f"/accounts/{w.account()}", {"accountName": "renamed"}),
    ),
    row("delete_account", {"users:delete"}, lambda w: ("DELETE", f"/accounts/{w.account()}", None)),
    row("close_account", {"users:write"}, lambda w: ("POST", f"/closeAccount/{w.account()}", None)),
    row("delete_user", {"users:delete"}, lambda w: ("DELETE", f"/users/{w.user()['id']}", None)),
    row(
        "reset_password",
        {"users:write"},
        lambda w: ("POST", f"/users/{w.user()['id']}/resetPassword", None),
    ),
    row("error_description", ANY, lambda w: ("GET", "/methods/errors?errorId=1.6.2.2", None)),
]


def transfer(w: World) -> Call:
    first, second = w.pair()
    return (
        "POST",
        "/accountOperations",
        {"accountId": first, "toAccountId": second, "amount": 5, "operationTypeId": 17},
    )


TRANSFER = row("post_operation", {"balances:write"}, transfer)


def test_every_route_of_the_new_modules_has_a_row() -> None:
    routers = (accounts.router, apidoc.router, methods.router, reports.router)
    served = {name for rt in routers for name in _endpoint_names(rt)}
    served |= {"delete_user", "reset_password"}
    assert served == {r.endpoint for r in ROWS}
    assert {"delete_user", "reset_password"} <= _endpoint_names(te_users.router)


def _endpoint_names(router: APIRouter) -> set[str]:
    names = set()
    for route in router.routes:
        assert isinstance(route, Route), route
        names.add(route.endpoint.__name__)
    return names


def test_the_scope_matrix(te: TE) -> None:
    tokens: dict[str, str] = {}
    for n, scope in enumerate(SCOPES):
        login = 1100 + n
        te.services.create_manager(
            CreateManager(login, scope, f"Scope#{login}x", frozenset({scope})), te.admin
        )
        tokens[scope] = sign_in(te.client, login, f"Scope#{login}x").json()["accessToken"]
    world = World(te, itertools.count(1))
    failures: list[str] = []

    def check(r: Row, token: str | None, label: str, allowed: bool) -> None:
        method, path, body = r.make(world)
        if token is None:
            response = te.client.request(method, "/proftrading/rest" + path, json=body)
        else:
            response = te.call(method, path, json=body, token=token)
        if allowed and not 200 <= response.status_code < 300:
            failures.append(f"{r.endpoint} with {label}: {response.status_code} {response.text}")
        if not allowed and (
            response.status_code != 403 or response.json()["errorCode"] != "2.0.2.4"
        ):
            failures.append(f"{r.endpoint} with {label}: {response.status_code}, not refused")

    for r in [*ROWS, TRANSFER]:
        if r.allowed == OPEN:
            check(r, None, "no token", True)
            continue
        assert te.client.get("/proftrading/rest/reports").status_code == 401
        for scope in SCOPES:
            check(
                r, tokens[scope], scope, scope == "admin" or scope in r.allowed or r.allowed == ANY
            )
        if r.allowed != ANY:
            others = frozenset(SCOPES) - r.allowed - {"admin"}
            login = 1200 + len(failures) + next(world.names)
            te.services.create_manager(
                CreateManager(login, "others", f"Other#{login}x", others), te.admin
            )
            token = sign_in(te.client, login, f"Other#{login}x").json()["accessToken"]
            check(r, token, "every other scope", False)
    assert not failures, "\n".join(failures)
