"""The console's page machinery every section shares: rendering with its security headers,
the signed-in request (`Ctx`) behind a session cookie, the view wrapper (sign-in redirect,
CSRF check on posts, core errors as an error page) and bounded form reading."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from brokerplane.api.console import session as sess
from brokerplane.api.kit.idempotency import SentKey, keyed_actor, request_of, run
from brokerplane.application.app import Application
from brokerplane.application.idempotency import Replay
from brokerplane.bootstrap import Runtime
from brokerplane.core.actor import Actor
from brokerplane.core.backoffice.commands import RefreshSession
from brokerplane.core.backoffice.model import CHANNEL_CONSOLE
from brokerplane.core.errors import (
    CoreError,
    NotFound,
    PermissionDenied,
    StorageUnavailable,
    Unauthorized,
    ValidationError,
)
from brokerplane.core.kinds import Dialect
from brokerplane.core.money import format_units

log = logging.getLogger("brokerplane.console")

DIALECT = Dialect.CONSOLE
HERE = Path(__file__).parent
PAGE = 50
MAX_FORM = 16 * 1024
MAX_FIELDS = 40
MAX_TEXT = 255
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["units"] = lambda units, digits: format_units(int(units), int(digits))
    env.filters["shown"] = shown_amount
    env.filters["when"] = lambda at: at.strftime("%Y-%m-%d %H:%M:%S") if at else ""
    env.filters["tojson_pretty"] = lambda data: json.dumps(data, sort_keys=True, default=str)
    env.globals["changed"] = _changed
    return env


@dataclass
class Ctx:
    """One signed-in request: who, the actor the core sees, the CSRF token, a refreshed cookie."""

    request: Request
    actor: Actor
    name: str
    csrf: str
    renewed: sess.Held | None = None


class Pages:
    """What every console page has: the runtime, rendering, the signed-in request."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.services: Application = runtime.app
        self.idle = timedelta(seconds=runtime.settings.console_idle_timeout_s)
        self.env = _env()

    # ---- rendering ---------------------------------------------------------------------

    def page(
        self,
        request: Request,
        template: str,
        status: int = 200,
        ctx: Ctx | None = None,
        **data: Any,
    ) -> Response:
        html = self.env.get_template(template).render(
            me=ctx,
            csrf=ctx.csrf if ctx else data.pop("csrf", ""),
            path=request.url.path,
            **data,
        )
        response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
        if ctx is not None and ctx.renewed is not None:
            sess.set_session(response, request, ctx.renewed, self._max_age())
        return response

    def _max_age(self) -> int:
        return int(self.idle.total_seconds())

    def error(self, ctx: Ctx, err: CoreError) -> Response:
        status = 409
        if isinstance(err, NotFound):
            status = 404
        elif isinstance(err, PermissionDenied):
            status = 403
        elif isinstance(err, ValidationError):
            status = 400
        elif isinstance(err, Unauthorized):
            status = 401
        elif isinstance(err, StorageUnavailable):
            status = 503
        fields = [f"{f.field}: {f.message}" for f in err.fields]
        return self.page(
            ctx.request,
            "error.html",
            status,
            ctx,
            title="Refused",
            detail=err.detail,
            fields=fields,
        )

    # ---- sessions ----------------------------------------------------------------------

    async def signed_in(self, request: Request) -> Ctx | None:
        """The session behind the cookie, renewed past half its life; None: sign in."""
        held = sess.held(request)
        if held is None:
            return None
        try:
            principal = await run_in_threadpool(
                self.services.authenticate_backoffice_token, held.access
            )
        except Unauthorized:
            return None
        manager = principal.manager
        if manager is None or principal.channel != CHANNEL_CONSOLE:
            # a TraderEvolution session (a user's, or a manager's from the password alone,
            # without the console's second factor): not a console session
            return None
        renewed = None
        if sess.now_ms() - held.issued >= self._max_age() * 500:
            cmd = RefreshSession(held.refresh, self.idle, self.idle)
            try:
                pair = await run_in_threadpool(
                    self.services.refresh_backoffice_session, cmd, self._anonymous(request)
                )
                renewed = sess.Held(sess.now_ms(), pair.access_token, pair.refresh_token, held.csrf)
            except Unauthorized:
                pass  # a concurrent request renewed it; this one still holds a live token
        actor = Actor(
            manager_login=manager.login,
            scopes=frozenset(manager.rights),
            group_mask=manager.group_mask,
            white_labels=manager.white_labels,
            request_id=getattr(request.state, "request_id", None),
            dialect=DIALECT,
            ip=request.client.host if request.client else None,
        )
        return Ctx(request, actor, manager.name or str(manager.login), held.csrf, renewed)

    def _anonymous(self, request: Request) -> Actor:
        return Actor(
            manager_login=None,
            dialect=DIALECT,
            request_id=getattr(request.state, "request_id", None),
            ip=request.client.host if request.client else None,
        )

    def _to_signin(self, request: Request) -> Response:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        query = urlencode({"next": target}) if request.method == "GET" else ""
        return RedirectResponse("/console/signin" + (f"?{query}" if query else ""), 303)

    async def _signed_in_or_none(self, request: Request) -> Ctx | None:
        try:
            return await self.signed_in(request)
        except CoreError:
            return None

    # ---- wrappers ----------------------------------------------------------------------

    def view(
        self, fn: Callable[[Ctx], Awaitable[Response]], *, post: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                ctx = await self.signed_in(request)
            except CoreError as err:  # the database is unreachable, say
                return self.page(
                    request,
                    "error.html",
                    503,
                    None,
                    title="Unavailable",
                    detail=err.detail,
                    fields=[],
                )
            if ctx is None:
                return self._to_signin(request)
            if post:
                form = await read_form(request)
                if form is None:
                    status, detail = await why_not_a_form(request)
                    return self.page(
                        request,
                        "error.html",
                        status,
                        ctx,
                        title="Refused",
                        detail=detail,
                        fields=[],
                    )
                if not sess.same(form.get("csrf"), ctx.csrf):
                    return self.page(
                        request,
                        "error.html",
                        403,
                        ctx,
                        title="Refused",
                        detail="the form's security token is missing or wrong; "
                        "reload the page and try again",
                        fields=[],
                    )
                request.state.form = form
                request.state.pairs = await read_pairs(request)
            try:
                return await fn(ctx)
            except CoreError as err:
                return self.error(ctx, err)

        return endpoint

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await run_in_threadpool(fn, *args)

    async def once(
        self, call: Callable[[Actor], Any], actor: Actor, sent: SentKey, request_print: str
    ) -> tuple[Any, bool]:
        """Run a form's write once per submission key (drawn when the form was rendered):
        (its result, False) the first time; (the stored result, True) when the same form is
        sent again, nothing applied again. The stored result holds no password or secret."""
        request = request_of(actor, sent, request_print)
        keyed = keyed_actor(actor, request)
        write = partial(self.services.run_call, call, keyed, request)
        outcome = await self.call(run, write, _no_operation)
        if isinstance(outcome, Replay):
            return outcome.result, True
        return outcome, False


def _no_operation(_result: Any) -> tuple[int, str | None]:
    """A console form's write as a reused key's refusal names it: no operation id."""
    return 200, None


def _changed(side: dict[str, Any] | None, other: dict[str, Any] | None) -> dict[str, Any]:
    """The members of a before/after snapshot that the other side does not hold alike (all of
    it when there is no other side): the audit trail shows what changed, not whole records."""
    if not side:
        return {}
    if not other:
        return side
    return {k: v for k, v in side.items() if other.get(k) != v}


def shown_amount(kind: str, amount: int) -> int:
    """A deposit or withdrawal reads as its size (the operation says the way); a credit, bonus
    or correction keeps its sign."""
    return abs(amount) if kind in ("deposit", "withdrawal", "charge") else amount


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path only (no other host, no scheme): printable
    ASCII without spaces or backslashes, no `//`, and no dot segment (`/../`, `%2e`) that a
    browser would resolve to a path outside /console."""
    if (
        not value
        or len(value) > 512
        or not value.isascii()
        or not value.isprintable()
        or any(c in value for c in " \\")
        or "//" in value
        or ".." in value
        or "/./" in value
        or "%2e" in value.lower()
        or not (value == "/console" or value.startswith(("/console/", "/console?")))
    ):
        return "/console/"
    return value


async def read_form(request: Request) -> dict[str, str] | None:
    """An urlencoded form, bounded; None when it is not one (a repeated name: its last value)."""
    pairs = await read_pairs(request)
    return None if pairs is None else dict(pairs)


async def read_pairs(request: Request) -> list[tuple[str, str]] | None:
    """An urlencoded form's fields in order, bounded; None when it is not one."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    body = await request.body()
    if len(body) > MAX_FORM:
        return None
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        return None
    return pairs


async def why_not_a_form(request: Request) -> tuple[int, str]:
    """The status and reason a post is not a form `read_form` takes."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return 415, "send the form as application/x-www-form-urlencoded"
    body = await request.body()
    if len(body) > MAX_FORM:
        return 413, f"the form is too large (at most {MAX_FORM // 1024} KiB)"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return 400, "the form is not UTF-8 text"
    if text.count("&") + 1 > MAX_FIELDS:
        return 400, f"the form has too many fields (at most {MAX_FIELDS})"
    return 400, "the form could not be read"


def whole(value: object) -> int | None:
    text = value.strip() if isinstance(value, str) else ""
    if not (text.isascii() and text.isdigit()) or len(text) > 18:  # no superscripts: int() refuses
        return None
    return int(text)


def path_login(request: Request) -> int:
    login = whole(request.path_params.get("login"))
    if login is None:
        raise ValidationError.field("login", "must be a number")
    return login
