"""The console's account pages: search and CSV export, opening, an account's page, editing its
attributes, its state (disable, enable, move, passwords)."""

from __future__ import annotations

import secrets
from dataclasses import replace
from functools import partial
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from brokerplane.api.console.pages import (
    DIALECT,
    MAX_TEXT,
    PAGE,
    SECURITY_HEADERS,
    Ctx,
    Pages,
    path_login,
    whole,
)
from brokerplane.api.kit.idempotency import SentKey, fingerprint
from brokerplane.api.native.accounts import CSV_COLUMNS, EXPORT_COLUMNS, csv_chunks
from brokerplane.core.account.commands import (
    ChangePassword,
    DisableAccount,
    EnableAccount,
    ListAccounts,
    OpenAccount,
    UpdateAccount,
)
from brokerplane.core.account.model import PERSONAL_FIELDS
from brokerplane.core.audit.model import AuditRecord
from brokerplane.core.errors import PermissionDenied, ValidationError
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.ledger.model import LedgerEntry, LedgerQuery
from brokerplane.core.trading.model import Deal, DealQuery, PositionFigures, lots, price_of

OPERATIONS = {
    "deposit": "Deposit",
    "withdrawal": "Withdraw",
    "credit": "Credit",
    "bonus": "Bonus",
    "correction": "Correction",
}
EDIT_FIELDS = (
    ("name", "Full name"),
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("email", "Email"),
    ("phone", "Phone"),
    ("country", "Country"),
    ("city", "City"),
    ("address", "Address"),
    ("status", "Status"),
    ("comment", "Comment"),
    ("leverage", "Leverage"),
)
MAX_ATTRIBUTES_TEXT = 8 * 1024


class AccountPages(Pages):
    @staticmethod
    def _filter(request: Request) -> tuple[dict[str, str], ListAccounts]:
        """The search form's fields (as typed, for the links) and the core's filter."""
        q = request.query_params
        shown = {
            name: (q.get(name) or "").strip()[:MAX_TEXT]
            for name in ("login", "name", "email", "group", "label")
        }
        logins = None
        if shown["login"]:
            number = whole(shown["login"])
            if number is None:
                raise ValidationError.field("login", "must be a number")
            logins = (number,)
        cmd = ListAccounts(
            group_mask=shown["group"] or None,
            email=shown["email"] or None,
            logins=logins,
            name=shown["name"] or None,
            white_label=shown["label"] or None,
        )
        return {k: v for k, v in shown.items() if v}, cmd

    async def accounts_csv(self, ctx: Ctx) -> Response:
        """Every account of the current filter as CSV, the same rows the native export writes
        (formula-like text made safe, contacts blank without personal_data), streamed page by
        page."""
        _, cmd = self._filter(ctx.request)
        stream = self.services.export_accounts_csv(cmd, ctx.actor, CSV_COLUMNS, EXPORT_COLUMNS)
        first = await run_in_threadpool(next, stream, None)
        headers = {**SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="accounts.csv"'}
        return StreamingResponse(
            csv_chunks(first, stream), media_type="text/csv; charset=utf-8", headers=headers
        )

    async def accounts(self, ctx: Ctx) -> Response:
        params, cmd = self._filter(ctx.request)
        after = whole(ctx.request.query_params.get("after"))
        cmd = replace(cmd, after_login=after, limit=PAGE + 1)
        found = await self.call(self.services.list_accounts, cmd, ctx.actor)
        more = len(found) > PAGE
        found = found[:PAGE]
        next_url = None
        if more:
            next_url = "/console/accounts?" + urlencode({**params, "after": found[-1].login})
        return self.page(
            ctx.request,
            "accounts.html",
            200,
            ctx,
            title="Accounts",
            csv_url="/console/accounts.csv?" + urlencode(params),
            accounts=found,
            q=params,
            next_url=next_url,
            first_url="/console/accounts?" + urlencode(params) if after else None,
            personal=ctx.actor.has("personal_data"),
        )

    async def open_form(self, ctx: Ctx) -> Response:
        groups = await self.call(self.services.list_groups, ctx.actor)
        return self.page(
            ctx.request,
            "open.html",
            200,
            ctx,
            title="Open an account",
            groups=groups,
            personal=ctx.actor.has("personal_data"),
        )

    async def open_account(self, ctx: Ctx) -> Response:
        """Open an account (users:write, a group within reach); then its page."""
        form = ctx.request.state.form
        profile = {}
        for name in ("first_name", "last_name", "email", "country", "comment"):
            value = (form.get(name) or "").strip()[:MAX_TEXT]
            if value:
                profile[name] = value
        leverage = whole(form.get("leverage"))
        cmd = OpenAccount(
            group=(form.get("group") or "")[:MAX_TEXT],
            leverage=leverage,
            name=(form.get("name") or "").strip()[:MAX_TEXT],
            profile=profile,
        )
        opened = await self.call(self.services.open_account, cmd, ctx.actor)
        return RedirectResponse(f"/console/accounts/{opened.login}", 303)

    async def account(self, ctx: Ctx, notice: str | None = None) -> Response:
        login = path_login(ctx.request)
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
        return self.page(
            ctx.request,
            "account.html",
            200,
            ctx,
            title=f"Account {login}",
            acc=acc,
            state=state,
            ledger=ledger,
            trail=trail,
            positions=positions,
            deals=deals,
            lots=lots,
            price_of=price_of,
            notice=notice,
            profile=[f for f in EDIT_FIELDS if f[0] != "leverage"],
            operations=OPERATIONS,
            key=secrets.token_urlsafe(16),
            keys={k: secrets.token_urlsafe(16) for k in ("move", "password")},
            can_move=actor.may(PostLedgerEntry),
            can_edit=actor.may(UpdateAccount),
        )

    async def edit_form(self, ctx: Ctx) -> Response:
        """An account's attributes as a form (users:write; contacts with personal_data)."""
        login = path_login(ctx.request)
        ctx.actor.require_for(UpdateAccount)
        acc = await self.call(self.services.get_account, login, ctx.actor)
        return self.page(
            ctx.request,
            "edit.html",
            200,
            ctx,
            title=f"Edit account {login}",
            acc=acc,
            fields=self._edit_fields(ctx),
            attributes="\n".join(f"{k}={v}" for k, v in sorted(acc.attributes.items())),
        )

    @staticmethod
    def _edit_fields(ctx: Ctx) -> list[tuple[str, str]]:
        personal = ctx.actor.has("personal_data")
        return [(n, label) for n, label in EDIT_FIELDS if personal or n not in PERSONAL_FIELDS]

    async def edit_account(self, ctx: Ctx) -> Response:
        """The fields that differ from the account's, through the APIs' update command."""
        login = path_login(ctx.request)
        form = ctx.request.state.form
        acc = await self.call(self.services.get_account, login, ctx.actor)
        changes: dict[str, Any] = {}
        for name, _label in self._edit_fields(ctx):
            if name not in form:
                continue
            value: Any = form[name].strip()[:MAX_TEXT]
            if name == "leverage":
                value = whole(value)
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
        login = path_login(ctx.request)
        form = ctx.request.state.form
        if form.get("action") == "disable":
            reason = (form.get("reason") or "")[:MAX_TEXT]
            await self.call(self.services.disable_account, DisableAccount(login, reason), ctx.actor)
        elif form.get("action") == "enable":
            await self.call(self.services.enable_account, EnableAccount(login), ctx.actor)
        elif form.get("action") in ("move", "password"):
            return await self._confirmed_change(ctx, login, form)
        else:
            raise ValidationError.field("action", "must be disable, enable, move or password")
        return RedirectResponse(f"/console/accounts/{login}", 303)

    async def _confirmed_change(self, ctx: Ctx, login: int, form: dict[str, str]) -> Response:
        """Move to another group or set a password: a confirmation page first, then applied
        once per form key (claimed as the manager's Idempotency-Key with the change)."""
        acc = await self.call(self.services.get_account, login, ctx.actor)  # reach first: 404
        key = (form.get("key") or "")[:64]
        if not key:
            raise ValidationError.field("key", "the form has no submission key; reload it")
        if form.get("action") == "move":
            group = (form.get("group") or "").strip()[:MAX_TEXT]
            if not group:
                raise ValidationError.field("group", "name the group to move the account to")
            what = f"Move account {login} from group {acc.group} to group {group}"
            move = UpdateAccount(login, {"group": group})
            call: Any = partial(self.services.update_account, move)
            print_ = fingerprint(DIALECT, "account.move", login, group)
            done, kept = f"Moved to group {group}.", {"group": group}
        else:
            kind = form.get("kind") or "main"
            if kind not in ("main", "investor"):
                raise ValidationError.field("kind", "must be main or investor")
            password = (form.get("password") or "")[:64]
            what = f"Set a new {kind} password for account {login}"
            call = partial(self.services.change_password, ChangePassword(login, kind, password))
            print_ = fingerprint(DIALECT, "account.password", login, kind)  # no password in it
            done, kept = f"The {kind} password was changed.", {"kind": kind, "password": password}
        if form.get("step") != "apply":
            return self.page(
                ctx.request,
                "confirm_state.html",
                200,
                ctx,
                title="Confirm",
                acc=acc,
                what=what,
                action=form.get("action"),
                key=key,
                kept=kept,
            )
        _outcome, again = await self.once(call, ctx.actor, SentKey(key, "Idempotency-Key"), print_)
        if again:
            done = "This form had already been sent: it was applied once, nothing was done again."
        return await self.account(ctx, notice=done)


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
