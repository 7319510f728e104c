"""The back-office console: server-rendered pages at /console for a broker's operations and
finance staff, over the same core commands as the APIs (rights, reach, personal data, four eyes
and idempotency are the core's; this module only signs managers in and renders).

Every page is a plain HTML form or link (no JavaScript needed); static/console.js only adds
niceties (a submit button disabled once pressed, the risk page refreshing itself).
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from brokerplane.api.console import security
from brokerplane.api.console import session as sess
from brokerplane.api.console.admin import AdminPages, require_admin
from brokerplane.api.kit.idempotency import SentKey, arm, encode, fingerprint, run
from brokerplane.api.native.routes import _EXPORT_COLUMNS as EXPORT_COLUMNS
from brokerplane.api.native.routes import _csv_chunks as csv_chunks
from brokerplane.application.services import Services
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateApiKey, UpdateManager
from brokerplane.core.access.lockout import WRONG_CREDENTIALS
from brokerplane.core.access.reach import PERSONAL_FIELDS
from brokerplane.core.account.commands import (
    ChangePassword,
    DisableAccount,
    EnableAccount,
    ListAccounts,
    OpenAccount,
    UpdateAccount,
)
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.approval.commands import DecideApproval, SetApprovalThreshold
from brokerplane.core.approval.model import STATES, Approval, ApprovalQuery
from brokerplane.core.audit.model import AuditQuery, AuditRecord
from brokerplane.core.backoffice.commands import RefreshSession, SignIn, TokenPair
from brokerplane.core.backoffice.model import CHANNEL_CONSOLE
from brokerplane.core.errors import (
    CoreError,
    NotFound,
    PermissionDenied,
    StorageUnavailable,
    Unauthorized,
    ValidationError,
)
from brokerplane.core.idempotency import StoredResponse
from brokerplane.core.ledger.commands import Posting, PostLedgerEntry
from brokerplane.core.ledger.model import LedgerEntry, LedgerQuery
from brokerplane.core.money import format_units
from brokerplane.core.trading.model import Deal, DealQuery, PositionFigures, lots, price_of

log = logging.getLogger("brokerplane.console")

DIALECT = "console"
HERE = Path(__file__).parent
PAGE = 50
MAX_FORM = 16 * 1024
MAX_FIELDS = 40
MAX_TEXT = 255
OPERATIONS = {
    "deposit": "Deposit",
    "withdrawal": "Withdraw",
    "credit": "Credit",
    "bonus": "Bonus",
    "correction": "Correction",
}
EDIT_FIELDS = (
    ("name", "Full name"), ("first_name", "First name"), ("last_name", "Last name"),
    ("email", "Email"), ("phone", "Phone"), ("country", "Country"), ("city", "City"),
    ("address", "Address"), ("status", "Status"), ("comment", "Comment"),
    ("leverage", "Leverage"),
)  # fmt: skip
MAX_ATTRIBUTES_TEXT = 8 * 1024
# The dialects changes come through, as the audit trail records them.
AUDIT_DIALECTS = ("native", "mt5", "ctrader", "traderevolution", "console", "cli", "system")
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
    env.filters["shown"] = _shown
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


class Console(AdminPages):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.services: Services = runtime.services
        self.idle = timedelta(seconds=runtime.settings.console_idle_timeout_s)
        self.env = _env()

    # ---- rendering ---------------------------------------------------------------------

    def page(
        self, request: Request, template: str, status: int = 200, ctx: Ctx | None = None,
        **data: Any,
    ) -> Response:  # fmt: skip
        html = self.env.get_template(template).render(
            me=ctx, csrf=ctx.csrf if ctx else data.pop("csrf", ""), path=request.url.path,
            **data,
        )  # fmt: skip
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
        return self.page(ctx.request, "error.html", status, ctx, title="Refused",
                         detail=err.detail, fields=fields)  # fmt: skip

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
                pair = await run_in_threadpool(self.services.refresh_backoffice_session, cmd,
                                               self._anonymous(request))  # fmt: skip
                renewed = sess.Held(sess.now_ms(), pair.access_token, pair.refresh_token,
                                    held.csrf)  # fmt: skip
            except Unauthorized:
                pass  # a concurrent request renewed it; this one still holds a live token
        actor = Actor(
            manager_login=manager.login, scopes=frozenset(manager.rights),
            group_mask=manager.group_mask, white_labels=manager.white_labels,
            request_id=getattr(request.state, "request_id", None), dialect=DIALECT,
            ip=request.client.host if request.client else None,
        )  # fmt: skip
        return Ctx(request, actor, manager.name or str(manager.login), held.csrf, renewed)

    def _anonymous(self, request: Request) -> Actor:
        return Actor(manager_login=None, dialect=DIALECT,
                     request_id=getattr(request.state, "request_id", None),
                     ip=request.client.host if request.client else None)  # fmt: skip

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

    async def signin_form(self, request: Request) -> Response:
        if await self._signed_in_or_none(request) is not None:
            return RedirectResponse(safe_next(request.query_params.get("next")), 303)
        return self._signin_page(request, None, "")

    def _signin_page(self, request: Request, message: str | None, login: str,
                     status: int = 200) -> Response:  # fmt: skip
        token = secrets.token_urlsafe(24)
        response = self.page(request, "signin.html", status, None, title="Sign in",
                             message=message, login=login, csrf=token,
                             next=safe_next(request.query_params.get("next")))  # fmt: skip
        sess.set_pre_token(response, request, token)
        return response

    async def signin(self, request: Request) -> Response:
        form = await read_form(request)
        if form is None or not sess.same(form.get("csrf"), sess.pre_token(request)):
            return self._signin_page(request, "The form expired: please sign in again.", "", 403)
        login = (form.get("login") or "").strip()[:32]
        password = form.get("password") or ""
        target = safe_next(form.get("next"))
        if not (login.isascii() and login.isdigit()):
            # Only managers sign in here (a TraderEvolution user's login is not numeric).
            return self._signin_page(request, WRONG_CREDENTIALS, login, 401)
        cmd = SignIn(login=login, password=password, access_ttl=self.idle, refresh_ttl=self.idle)
        try:
            step = await run_in_threadpool(self.services.sign_in_console, cmd,
                                           self._anonymous(request))  # fmt: skip
        except Unauthorized as err:
            return self._signin_page(request, err.detail, login, 401)
        except CoreError as err:
            return self._signin_page(request, err.detail, login, 503)
        if step.challenge is not None:  # the manager's second factor is on: ask for a code
            response = RedirectResponse("/console/signin/code?" + urlencode({"next": target}),
                                        303, headers=SECURITY_HEADERS)  # fmt: skip
            sess.set_challenge(response, request, step.challenge)
            return response
        assert step.pair is not None
        return self.start_session(request, step.pair, target)

    def start_session(self, request: Request, pair: TokenPair, target: str) -> Response:
        held = sess.Held(sess.now_ms(), pair.access_token, pair.refresh_token, sess.new_csrf())
        # A new cookie on every sign-in: a session planted before it is never reused.
        response = RedirectResponse(target, 303, headers=SECURITY_HEADERS)
        sess.set_session(response, request, held, self._max_age())
        sess.clear_pre_token(response, request)
        sess.clear_challenge(response, request)
        return response

    async def signout(self, request: Request) -> Response:
        ctx = await self._signed_in_or_none(request)
        form = await read_form(request)
        if ctx is not None and form is not None and sess.same(form.get("csrf"), ctx.csrf):
            held = ctx.renewed or sess.held(request)
            if held is not None:
                # Trading the refresh token in ends the pair; the new pair is dropped unseen.
                cmd = RefreshSession(held.refresh, timedelta(seconds=1), timedelta(seconds=1))
                with contextlib.suppress(CoreError):  # already over: nothing to end
                    await run_in_threadpool(self.services.refresh_backoffice_session, cmd,
                                            self._anonymous(request))  # fmt: skip
        elif ctx is not None:
            return self.page(request, "error.html", 403, ctx, title="Refused", fields=[],
                             detail="the form's security token is missing or wrong")  # fmt: skip
        response = RedirectResponse("/console/signin", 303, headers=SECURITY_HEADERS)
        sess.clear_session(response, request)
        return response

    # ---- wrappers ----------------------------------------------------------------------

    def view(self, fn: Callable[[Ctx], Awaitable[Response]], *, post: bool = False) -> Callable[
        [Request], Awaitable[Response]
    ]:  # fmt: skip
        async def endpoint(request: Request) -> Response:
            try:
                ctx = await self.signed_in(request)
            except CoreError as err:  # the database is unreachable, say
                return self.page(request, "error.html", 503, None, title="Unavailable",
                                 detail=err.detail, fields=[])  # fmt: skip
            if ctx is None:
                return self._to_signin(request)
            if post:
                form = await read_form(request)
                if form is None or not sess.same(form.get("csrf"), ctx.csrf):
                    return self.page(request, "error.html", 403, ctx, title="Refused",
                                     detail="the form's security token is missing or wrong; "
                                     "reload the page and try again", fields=[])  # fmt: skip
                request.state.form = form
                request.state.pairs = await read_pairs(request)
            try:
                return await fn(ctx)
            except CoreError as err:
                return self.error(ctx, err)

        return endpoint

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await run_in_threadpool(fn, *args)

    # ---- overview ----------------------------------------------------------------------

    async def overview(self, ctx: Ctx) -> Response:
        actor, s = ctx.actor, self.services
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        moves: dict[str, dict[str, int]] = {}
        digits: dict[str, int] = {}
        money_note = None
        try:
            entries = await self.call(s.list_ledger, LedgerQuery(
                kinds=("deposit", "withdrawal"), time_from=today, limit=1000), actor)  # fmt: skip
            for e in entries:
                row = moves.setdefault(e.currency, {"deposit": 0, "withdrawal": 0, "count": 0})
                row[e.kind] += abs(e.amount)
                row["count"] += 1
                digits[e.currency] = e.currency_digits
            if len(entries) == 1000:
                money_note = "the first 1,000 operations of the day"
        except PermissionDenied:
            money_note = "needs balances:write or reports:read"
        pending = await self._approvals(actor, "pending")
        exposure, calls, recent = None, None, None
        try:
            exposure = await self.call(partial(s.exposure, actor))
            calls = await self.call(s.margin_calls, actor)
        except PermissionDenied:
            pass
        try:
            records = await self.call(s.query_audit, AuditQuery(
                time_from=datetime.now(UTC) - timedelta(days=1), limit=1000), actor)  # fmt: skip
            recent = list(reversed(records[-10:]))
        except PermissionDenied:
            pass
        return self.page(ctx.request, "overview.html", 200, ctx, title="Overview", moves=moves,
                         digits=digits, money_note=money_note, pending=pending,
                         exposure=exposure, chart=chart(exposure), calls=calls,
                         recent=recent)  # fmt: skip

    async def _approvals(self, actor: Actor, state: str | None) -> list[Approval] | None:
        try:
            found: list[Approval] = await self.call(
                self.services.list_approvals, ApprovalQuery(state=state, limit=1000), actor
            )
            return found
        except PermissionDenied:
            return None

    # ---- accounts ----------------------------------------------------------------------

    @staticmethod
    def _filter(request: Request) -> tuple[dict[str, str], ListAccounts]:
        """The search form's fields (as typed, for the links) and the core's filter."""
        q = request.query_params
        shown = {name: (q.get(name) or "").strip()[:MAX_TEXT]
                 for name in ("login", "name", "email", "group", "label")}  # fmt: skip
        logins = None
        if shown["login"]:
            number = _int(shown["login"])
            if number is None:
                raise ValidationError.field("login", "must be a number")
            logins = (number,)
        cmd = ListAccounts(group_mask=shown["group"] or None, email=shown["email"] or None,
                           logins=logins, name=shown["name"] or None,
                           white_label=shown["label"] or None)  # fmt: skip
        return {k: v for k, v in shown.items() if v}, cmd

    async def accounts_csv(self, ctx: Ctx) -> Response:
        """Every account of the current filter as CSV, the same rows the native export writes
        (formula-like text made safe, contacts blank without personal_data), streamed page by
        page."""
        _, cmd = self._filter(ctx.request)
        stream = self.services.export_accounts(cmd, ctx.actor, EXPORT_COLUMNS)
        first = await run_in_threadpool(next, stream, None)
        headers = {**SECURITY_HEADERS,
                   "Content-Disposition": 'attachment; filename="accounts.csv"'}  # fmt: skip
        return StreamingResponse(csv_chunks(first, stream), media_type="text/csv; charset=utf-8",
                                 headers=headers)  # fmt: skip

    async def accounts(self, ctx: Ctx) -> Response:
        params, cmd = self._filter(ctx.request)
        after = _int(ctx.request.query_params.get("after"))
        cmd = replace(cmd, after_login=after, limit=PAGE + 1)
        found = await self.call(self.services.list_accounts, cmd, ctx.actor)
        more = len(found) > PAGE
        found = found[:PAGE]
        next_url = None
        if more:
            next_url = "/console/accounts?" + urlencode({**params, "after": found[-1].login})
        return self.page(ctx.request, "accounts.html", 200, ctx, title="Accounts",
                         csv_url="/console/accounts.csv?" + urlencode(params),
                         accounts=found, q=params, next_url=next_url,
                         first_url="/console/accounts?" + urlencode(params) if after else None,
                         personal=ctx.actor.has("personal_data"))  # fmt: skip

    async def open_form(self, ctx: Ctx) -> Response:
        groups = await self.call(self.services.list_groups, ctx.actor)
        return self.page(ctx.request, "open.html", 200, ctx, title="Open an account",
                         groups=groups, personal=ctx.actor.has("personal_data"))  # fmt: skip

    async def open_account(self, ctx: Ctx) -> Response:
        """Open an account (users:write, a group within reach); then its page."""
        form = ctx.request.state.form
        profile = {}
        for name in ("first_name", "last_name", "email", "country", "comment"):
            value = (form.get(name) or "").strip()[:MAX_TEXT]
            if value:
                profile[name] = value
        leverage = _int(form.get("leverage"))
        cmd = OpenAccount(group=(form.get("group") or "")[:MAX_TEXT], leverage=leverage,
                          name=(form.get("name") or "").strip()[:MAX_TEXT],
                          profile=profile)  # fmt: skip
        opened = await self.call(self.services.open_account, cmd, ctx.actor)
        return RedirectResponse(f"/console/accounts/{opened.login}", 303)

    async def account(self, ctx: Ctx, notice: str | None = None) -> Response:
        login = _path_login(ctx.request)
        s, actor = self.services, ctx.actor
        acc = await self.call(s.get_account, login, actor)
        state = await self.call(s.get_trade_state, login, actor)
        ledger: list[LedgerEntry] | None = None
        try:
            ledger = await self.call(s.list_ledger, LedgerQuery(login=login, limit=1000), actor)
            ledger = list(reversed(ledger[-PAGE:]))
        except PermissionDenied:
            pass
        positions: list[PositionFigures] | None = None
        deals: list[Deal] | None = None
        try:
            positions = await self.call(partial(s.list_positions, actor, logins=(login,)))
            found = await self.call(s.list_deals, DealQuery(login=login, limit=1000), actor)
            deals = list(reversed(found[-PAGE:]))
        except PermissionDenied:
            pass
        trail: list[AuditRecord] | None = None
        try:
            trail = await self.call(s.account_history, login, actor)
            trail = list(reversed(trail[-PAGE:]))
        except PermissionDenied:
            pass
        return self.page(ctx.request, "account.html", 200, ctx, title=f"Account {login}",
                         acc=acc, state=state, ledger=ledger, trail=trail,
                         positions=positions, deals=deals, lots=lots, price_of=price_of,
                         notice=notice, profile=[f for f in EDIT_FIELDS if f[0] != "leverage"],
                         operations=OPERATIONS, key=secrets.token_urlsafe(16),
                         can_move=actor.has("balances:write"),
                         can_edit=actor.has("users:write"))  # fmt: skip

    async def edit_form(self, ctx: Ctx) -> Response:
        """An account's attributes as a form (users:write; contacts with personal_data)."""
        login = _path_login(ctx.request)
        ctx.actor.require("users:write")
        acc = await self.call(self.services.get_account, login, ctx.actor)
        return self.page(ctx.request, "edit.html", 200, ctx, title=f"Edit account {login}",
                         acc=acc, fields=self._edit_fields(ctx),
                         attributes="\n".join(f"{k}={v}" for k, v in
                                              sorted(acc.attributes.items())))  # fmt: skip

    @staticmethod
    def _edit_fields(ctx: Ctx) -> list[tuple[str, str]]:
        personal = ctx.actor.has("personal_data")
        return [(n, label) for n, label in EDIT_FIELDS if personal or n not in PERSONAL_FIELDS]

    async def edit_account(self, ctx: Ctx) -> Response:
        """The fields that differ from the account's, through the APIs' update command."""
        login = _path_login(ctx.request)
        form = ctx.request.state.form
        acc = await self.call(self.services.get_account, login, ctx.actor)
        changes: dict[str, Any] = {}
        for name, _label in self._edit_fields(ctx):
            if name not in form:
                continue
            value: Any = form[name].strip()[:MAX_TEXT]
            if name == "leverage":
                value = _int(value)
                if value is None:
                    raise ValidationError.field("leverage", "must be a whole number")
            if value != getattr(acc, name):
                changes[name] = value
        if "attributes" in form:
            wanted = _attributes(form["attributes"])
            if wanted != acc.attributes:
                changes["attributes"] = wanted
        if not changes:
            return await self.account(ctx, notice="Nothing changed.")
        await self.call(self.services.update_account, UpdateAccount(login, changes), ctx.actor)
        return await self.account(ctx, notice="Changed: " + ", ".join(sorted(changes)) + ".")

    async def account_state(self, ctx: Ctx) -> Response:
        login = _path_login(ctx.request)
        form = ctx.request.state.form
        if form.get("action") == "disable":
            reason = (form.get("reason") or "")[:MAX_TEXT]
            await self.call(self.services.disable_account, DisableAccount(login, reason),
                            ctx.actor)  # fmt: skip
        elif form.get("action") == "enable":
            await self.call(self.services.enable_account, EnableAccount(login), ctx.actor)
        elif form.get("action") == "move":
            group = (form.get("group") or "").strip()[:MAX_TEXT]
            if not group:
                raise ValidationError.field("group", "name the group to move the account to")
            await self.call(self.services.update_account,
                            UpdateAccount(login, {"group": group}), ctx.actor)  # fmt: skip
        elif form.get("action") == "password":
            kind = form.get("kind") or "main"
            if kind not in ("main", "investor"):
                raise ValidationError.field("kind", "must be main or investor")
            password = (form.get("password") or "")[:64]
            await self.call(self.services.change_password,
                            ChangePassword(login, kind, password), ctx.actor)  # fmt: skip
            return await self.account(ctx, notice=f"The {kind} password was changed.")
        else:
            raise ValidationError.field("action", "must be disable, enable, move or password")
        return RedirectResponse(f"/console/accounts/{login}", 303)

    async def money(self, ctx: Ctx) -> Response:
        """Two steps: `confirm` shows what will happen; `apply` posts it once per form key."""
        login = _path_login(ctx.request)
        form = ctx.request.state.form
        op = form.get("operation") or ""
        if op not in OPERATIONS:
            raise ValidationError.field("operation", f"must be one of {', '.join(OPERATIONS)}")
        amount = (form.get("amount") or "").strip()[:40]
        comment = (form.get("comment") or "")[:MAX_TEXT]
        key = (form.get("key") or "")[:64]
        if not key:
            raise ValidationError.field("key", "the form has no submission key; reload it")
        try:
            parsed = Decimal(amount)
        except ArithmeticError:
            raise ValidationError.field("amount", "must be a decimal number") from None
        if not parsed.is_finite():
            raise ValidationError.field("amount", "must be a decimal number")
        acc = await self.call(self.services.get_account, login, ctx.actor)
        if form.get("step") != "apply":
            return self.page(ctx.request, "confirm.html", 200, ctx, title="Confirm", acc=acc,
                             operation=op, label=OPERATIONS[op], amount=amount,
                             comment=comment, key=key)  # fmt: skip
        cmd = PostLedgerEntry(login=login, operation=op, amount=amount, comment=comment)
        print_ = fingerprint(DIALECT, op, login, parsed, comment)
        armed = arm(ctx.actor, SentKey(key, "Idempotency-Key"), print_, _stored)
        outcome = await self.call(run, partial(self.services.post_ledger_entry, cmd), armed)
        replayed = isinstance(outcome, StoredResponse)
        result = json.loads(outcome.body) if replayed else _summary(outcome)
        return self.page(ctx.request, "outcome.html", 200, ctx, title="Done", acc=acc,
                         result=result, label=OPERATIONS[op], replayed=replayed)  # fmt: skip

    # ---- approvals ---------------------------------------------------------------------

    async def approvals(self, ctx: Ctx) -> Response:
        state = ctx.request.query_params.get("state") or "pending"
        if state not in STATES:
            raise ValidationError.field("state", f"must be one of {', '.join(STATES)}")
        after = _int(ctx.request.query_params.get("after"))
        limit = 1000 if state == "pending" else PAGE + 1  # the queue whole; history by pages
        query = ApprovalQuery(state=state, after_id=after, limit=limit)
        found = await self.call(self.services.list_approvals, query, ctx.actor)
        next_url = None
        if state != "pending" and len(found) > PAGE:
            found = found[:PAGE]
            next_url = "/console/approvals?" + urlencode({"state": state, "after": found[-1].id})
        return self.page(ctx.request, "approvals.html", 200, ctx, title="Approvals",
                         approvals=found, state=state, states=STATES, next_url=next_url,
                         can_decide=ctx.actor.has("balances:approve"))  # fmt: skip

    async def decide(self, ctx: Ctx) -> Response:
        approval_id = _int(ctx.request.path_params.get("approval_id"))
        if approval_id is None:
            raise ValidationError.field("approval_id", "must be a number")
        form = ctx.request.state.form
        decision = form.get("decision")
        if decision not in ("approve", "reject"):
            raise ValidationError.field("decision", "must be approve or reject")
        cmd = DecideApproval(approval_id, decision == "approve",
                             (form.get("comment") or "")[:MAX_TEXT])  # fmt: skip
        done = await self.call(self.services.decide_approval, cmd, ctx.actor)
        return self.page(ctx.request, "decided.html", 200, ctx, title="Decided",
                         approval=done.approval)  # fmt: skip

    # ---- risk and audit ------------------------------------------------------------------

    async def risk(self, ctx: Ctx) -> Response:
        exposure = await self.call(partial(self.services.exposure, ctx.actor))
        calls = await self.call(self.services.margin_calls, ctx.actor)
        return self.page(ctx.request, "risk.html", 200, ctx, title="Risk", exposure=exposure,
                         chart=chart(exposure), calls=calls, refresh=30)  # fmt: skip

    async def audit(self, ctx: Ctx) -> Response:
        q = ctx.request.query_params
        action = (q.get("action") or "").strip()[:100] or None
        account = _int(q.get("account"))
        manager = _int(q.get("manager"))
        operator = (q.get("operator") or "").strip()[:127] or None
        dialect = (q.get("dialect") or "").strip()[:16] or None
        if dialect is not None and dialect not in AUDIT_DIALECTS:
            raise ValidationError.field("dialect", f"must be one of {', '.join(AUDIT_DIALECTS)}")
        since, until = (q.get("from") or "").strip()[:16], (q.get("to") or "").strip()[:16]
        time_from = _moment("from", since)
        time_to = _moment("to", until)
        if time_to is not None and len(until) == 10:
            # a day given as the end: up to its end (the calendar's last day: no end at all)
            time_to = time_to + timedelta(days=1) if time_to.date() < date.max else None
        after = _int(q.get("after"))
        query = AuditQuery(
            entity_type="account" if account is not None else None,
            entity_id=str(account) if account is not None else None, action=action,
            manager_login=manager, operator_id=operator, time_from=time_from, time_to=time_to,
            after_id=after, limit=PAGE + 1, dialect=dialect,
        )  # fmt: skip
        records = await self.call(self.services.query_audit, query, ctx.actor)
        more = len(records) > PAGE
        records = records[:PAGE]
        report = None
        if q.get("verify") == "1":  # the actor may read the whole trail (checked just above)
            report = await self.call(self.services.verify_audit)
        params = {k: v for k, v in (("action", action), ("account", account),
                                    ("manager", manager), ("operator", operator),
                                    ("dialect", dialect), ("from", since),
                                    ("to", until)) if v}  # fmt: skip
        next_url = (
            "/console/audit?" + urlencode({**params, "after": records[-1].id}) if more else None
        )
        return self.page(ctx.request, "audit.html", 200, ctx, title="Audit", records=records,
                         action=action or "", account=account or "", manager=manager or "",
                         operator=operator or "", dialect=dialect or "",
                         dialects=AUDIT_DIALECTS, since=since, until=until, report=report,
                         next_url=next_url,
                         verify_url="/console/audit?" + urlencode({**params, "verify": 1}),
                         )  # fmt: skip

    # ---- administration (admin with unlimited reach: the core checks) -----------------------

    async def admin(self, ctx: Ctx, issued: Any = None, notice: str | None = None,
                    password: tuple[int, str] | None = None) -> Response:  # fmt: skip
        """The administration page; `issued` a new key and `password` a manager's new
        password, each shown this once."""
        require_admin(ctx)
        s, actor = self.services, ctx.actor
        managers = await self.call(s.list_managers, actor)
        keys = await self.call(partial(s.list_api_keys, actor, None))
        groups = await self.call(s.list_groups, actor)
        symbols = await self.call(s.list_symbols, actor)
        thresholds = await self.call(s.list_approval_thresholds, actor)
        return self.page(ctx.request, "admin.html", 200, ctx, title="Administration",
                         managers=managers, keys=keys, groups=groups, symbols=symbols,
                         thresholds=thresholds, scopes=SCOPES, issued=issued,
                         notice=notice, password=password)  # fmt: skip

    async def admin_keys(self, ctx: Ctx) -> Response:
        """Create, rotate or revoke an API key; a new secret is shown once, on this page."""
        require_admin(ctx)
        form = ctx.request.state.form
        action = form.get("action")
        s, actor = self.services, ctx.actor
        if action == "create":
            login = _int(form.get("manager"))
            if login is None:
                raise ValidationError.field("manager", "must be a manager login")
            scopes = frozenset(v for k, v in ctx.request.state.pairs if k == "scope")
            cmd = CreateApiKey(login, scopes, (form.get("name") or "")[:MAX_TEXT])
            issued = await self.call(s.create_api_key, cmd, actor)
            return await self.admin(ctx, issued, f"Key {issued.key.id} created")
        key_id = (form.get("key_id") or "")[:64]
        if action == "rotate":
            issued, _old = await self.call(s.rotate_api_key, key_id, actor)
            return await self.admin(ctx, issued, f"Key {key_id} rotated")
        if action == "revoke":
            await self.call(s.revoke_api_key, key_id, actor)
            return await self.admin(ctx, None, f"Key {key_id} revoked")
        raise ValidationError.field("action", "must be create, rotate or revoke")

    async def admin_managers(self, ctx: Ctx) -> Response:
        """Disable or enable a manager (ending its sessions and keys' use), clear its sign-in
        lockout, or reset its second factor."""
        require_admin(ctx)
        form = ctx.request.state.form
        login = _int(form.get("login"))
        if login is None:
            raise ValidationError.field("login", "must be a manager login")
        action = form.get("action")
        s, actor = self.services, ctx.actor
        if action in ("disable", "enable"):
            await self.call(s.update_manager,
                            UpdateManager(login, enabled=action == "enable"), actor)  # fmt: skip
            return await self.admin(ctx, None, f"Manager {login} {action}d")
        if action == "unlock":
            cleared = await self.call(s.unlock_manager, login, actor)
            return await self.admin(ctx, None, f"Manager {login} unlocked "
                                    f"({cleared} failed sign-in counters cleared)")  # fmt: skip
        if action == "totp-reset":
            had = await self.call(s.reset_second_factor, login, actor)
            return await self.admin(
                ctx,
                None,
                f"Manager {login}: two-factor sign-in reset"
                if had
                else f"Manager {login} had no two-factor sign-in",
            )
        raise ValidationError.field("action", "must be disable, enable, unlock or totp-reset")

    async def admin_thresholds(self, ctx: Ctx) -> Response:
        """Set (or, with no amount, remove) an approval threshold."""
        require_admin(ctx)
        form = ctx.request.state.form
        currency = (form.get("currency") or "").strip().upper()[:8]
        group = (form.get("group") or "").strip()[:MAX_TEXT] or None
        amount = (form.get("amount") or "").strip()[:40] or None
        cmd = SetApprovalThreshold(currency=currency, amount=amount, group=group)
        await self.call(self.services.set_approval_threshold, cmd, ctx.actor)
        where = f" for {group}" if group else ""
        done = f"above {amount}" if amount else "removed"
        return await self.admin(ctx, None, f"{currency} threshold{where}: {done}")


def _changed(side: dict[str, Any] | None, other: dict[str, Any] | None) -> dict[str, Any]:
    """The members of a before/after snapshot that the other side does not hold alike (all of
    it when there is no other side): the audit trail shows what changed, not whole records."""
    if not side:
        return {}
    if not other:
        return side
    return {k: v for k, v in side.items() if other.get(k) != v}


def _stored(posting: Posting) -> StoredResponse:
    return StoredResponse(200, encode(_summary(posting)),
                          str(posting.entry.id) if posting.entry else None)  # fmt: skip


def _summary(p: Posting) -> dict[str, Any]:
    digits = p.currency.digits
    return {
        "status": p.status,
        "login": p.login,
        "kind": p.kind,
        "amount": format_units(_shown(p.kind, p.amount), digits),
        "currency": p.currency.code,
        "balance": format_units(p.balance, digits),
        "credit": format_units(p.credit, digits),
        "bonus": format_units(p.bonus, digits),
        "operation_id": p.entry.id if p.entry else None,
        "approval_id": p.approval.id if p.approval else None,
    }


def _shown(kind: str, amount: int) -> int:
    """A deposit or withdrawal reads as its size (the operation says the way); a credit, bonus
    or correction keeps its sign."""
    return abs(amount) if kind in ("deposit", "withdrawal", "charge") else amount


def chart(exposure: Any) -> dict[str, Any] | None:
    """Bars of net exposure by symbol, for an inline SVG (no script, no external asset)."""
    if exposure is None or not exposure.symbols:
        return None
    lines = sorted(exposure.symbols, key=lambda x: abs(x.net_notional), reverse=True)[:12]
    top = max((abs(x.net_notional) for x in lines), default=Decimal(0)) or Decimal(1)
    half, row = 200, 26
    bars = []
    for i, line in enumerate(lines):
        width = float(abs(line.net_notional) / top) * (half - 10)
        x = half if line.net_notional >= 0 else half - width
        bars.append({"y": i * row + 4, "x": round(x, 1), "w": round(max(width, 1.0), 1),
                     "symbol": line.symbol, "long": line.net_notional >= 0,
                     "value": f"{line.net_notional:,.0f}"})  # fmt: skip
    return {"bars": bars, "height": len(bars) * row + 8, "half": half,
            "currency": exposure.currency}  # fmt: skip


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path only (no other host, no scheme)."""
    if (
        not value or len(value) > 512 or "\\" in value or any(ord(c) < 32 for c in value)
        or not (value == "/console" or value.startswith(("/console/", "/console?")))
    ):  # fmt: skip
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
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                          max_num_fields=MAX_FIELDS)  # fmt: skip
    except (UnicodeDecodeError, ValueError):
        return None
    return pairs


def _int(value: object) -> int | None:
    text = value.strip() if isinstance(value, str) else ""
    if not (text.isascii() and text.isdigit()) or len(text) > 18:  # no superscripts: int() refuses
        return None
    return int(text)


def _moment(field: str, text: str) -> datetime | None:
    """A day (YYYY-MM-DD) or a minute (YYYY-MM-DDTHH:MM, as a browser's datetime field sends
    it), in UTC; None when empty."""
    if not text:
        return None
    for shape in ("%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, shape).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValidationError.field(field, "must be a date, YYYY-MM-DD, or YYYY-MM-DDTHH:MM (UTC)")


def _attributes(text: str) -> dict[str, str]:
    """Custom attributes typed one `name=value` a line (the core bounds names and values)."""
    out: dict[str, str] = {}
    lines = text[:MAX_ATTRIBUTES_TEXT].splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ValidationError.field("attributes", f"line {number}: write name=value")
        out[name.strip()] = value.strip()
    return out


def _path_login(request: Request) -> int:
    login = _int(request.path_params.get("login"))
    if login is None:
        raise ValidationError.field("login", "must be a number")
    return login


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
            me=None, csrf="", path=request.url.path, title="Not found",
            detail="There is no such page in the console.", fields=[],
        )  # fmt: skip
        return HTMLResponse(html, status_code=404, headers=SECURITY_HEADERS)

    app = Starlette(routes=routes, exception_handlers={404: not_found})
    app.state.console = c
    app.state.root = root
    return app
