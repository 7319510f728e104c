"""The back-office console: server-rendered pages at /console for a broker's operations and
finance staff, over the same core commands as the APIs (rights, reach, personal data, four eyes
and idempotency are the core's; the console only signs managers in and renders). This module
assembles the pages, one section a module, into one Starlette app.

Every page is a plain HTML form or link (no JavaScript needed); static/console.js only adds
niceties (a submit button disabled once pressed, the risk page refreshing itself)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from brokerplane.api.console import security
from brokerplane.api.console.accounts import AccountPages
from brokerplane.api.console.audit import AuditPages
from brokerplane.api.console.catalog import CatalogPages
from brokerplane.api.console.money import MoneyPages
from brokerplane.api.console.overview import OverviewPages
from brokerplane.api.console.pages import HERE, SECURITY_HEADERS
from brokerplane.api.console.signin import SignInPages
from brokerplane.bootstrap import Runtime


class Console(SignInPages, OverviewPages, AccountPages, MoneyPages, AuditPages, CatalogPages):
    """Every page of the console, one section a mixin."""


def build(runtime: Runtime) -> Starlette:
    c = Console(runtime)

    async def root(request: Request) -> Response:
        return RedirectResponse("/console/", 307)

    routes = [
        Route("/", c.view(c.overview)),
        Route("/signin", c.signin_form, methods=["GET"]),
        Route("/signin", c.signin, methods=["POST"]),
        Route("/signout", c.signout, methods=["POST"]),
        *security.routes(c),
        Route("/accounts", c.view(c.accounts)),
        Route("/accounts.csv", c.view(c.accounts_csv)),
        Route("/accounts/new", c.view(c.open_form), methods=["GET"]),
        Route("/accounts/new", c.view(c.open_account, post=True), methods=["POST"]),
        Route("/accounts/{login}", c.view(c.account)),
        Route("/accounts/{login}/edit", c.view(c.edit_form), methods=["GET"]),
        Route("/accounts/{login}/edit", c.view(c.edit_account, post=True), methods=["POST"]),
        Route("/accounts/{login}/state", c.view(c.account_state, post=True), methods=["POST"]),
        Route("/accounts/{login}/money", c.view(c.money, post=True), methods=["POST"]),
        Route("/approvals", c.view(c.approvals)),
        Route("/approvals/{approval_id}", c.view(c.decide, post=True), methods=["POST"]),
        Route("/risk", c.view(c.risk)),
        Route("/audit", c.view(c.audit)),
        Route("/admin", c.view(c.admin)),
        Route("/admin/keys", c.view(c.admin_keys, post=True), methods=["POST"]),
        Route("/admin/managers", c.view(c.admin_managers, post=True), methods=["POST"]),
        Route("/admin/thresholds", c.view(c.admin_thresholds, post=True), methods=["POST"]),
        Route("/admin/manager", c.view(c.manager_form), methods=["GET"]),
        Route("/admin/manager", c.view(c.manager_save, post=True), methods=["POST"]),
        Route("/admin/group", c.view(c.group_form), methods=["GET"]),
        Route("/admin/group", c.view(c.group_save, post=True), methods=["POST"]),
        Route("/admin/symbol", c.view(c.symbol_form), methods=["GET"]),
        Route("/admin/symbol", c.view(c.symbol_save, post=True), methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        html = c.env.get_template("error.html").render(
            me=None,
            csrf="",
            path=request.url.path,
            title="Not found",
            detail="There is no such page in the console.",
            fields=[],
        )
        return HTMLResponse(html, status_code=404, headers=SECURITY_HEADERS)

    app = Starlette(routes=routes, exception_handlers={404: not_found})
    app.state.console = c
    app.state.root = root
    return app
