"""The console's administration pages (admin of unlimited reach): managers with their rights
and reach, groups and symbols, each changed through the same core commands as the APIs and
audited there. A change of rights, reach or a group's or symbol's trading settings is shown
for review first and applied only when confirmed (the form posts again with `step=apply`)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from brokerplane.api.console.pages import MAX_TEXT, Ctx, Pages, whole
from brokerplane.core.access.commands import CreateApiKey, CreateManager, UpdateManager
from brokerplane.core.access.model import Manager
from brokerplane.core.actor import SCOPES
from brokerplane.core.approval.commands import SetApprovalThreshold
from brokerplane.core.errors import ManagerNotFound, ValidationError
from brokerplane.core.group.commands import CreateGroup, UpdateGroup
from brokerplane.core.group.model import ACCOUNT_TYPES, MARGIN_MODES, Group
from brokerplane.core.symbol.commands import UpdateSymbol
from brokerplane.core.symbol.model import TRADE_MODES, Symbol

MAX_FIELD = 255


@dataclass(frozen=True)
class Field:
    """One setting on an edit form: `kind` is text, int, decimal or one of `choices`."""

    name: str
    label: str
    kind: str = "text"
    choices: tuple[str, ...] = ()


GROUP_FIELDS = (
    Field("description", "Description"),
    Field("broker", "White label"),
    Field("company", "Company"),
    Field("default_leverage", "Default leverage", "int"),
    Field("max_leverage", "Maximum leverage", "int"),
    Field("margin_call", "Margin call level (%)", "decimal"),
    Field("stop_out", "Stop-out level (%)", "decimal"),
    Field("margin_mode", "Margin mode", "choice", MARGIN_MODES),
    Field("default_account_type", "Account type", "choice", ACCOUNT_TYPES),
    Field("password_min_length", "Shortest password", "int"),
)
SYMBOL_FIELDS = (
    Field("description", "Description"),
    Field("trade_mode", "Trade mode", "choice", TRADE_MODES),
    Field("digits", "Digits", "int"),
    Field("contract_size", "Contract size", "decimal"),
    Field("volume_min", "Smallest volume (lots)", "decimal"),
    Field("volume_max", "Largest volume (lots)", "decimal"),
    Field("volume_step", "Volume step (lots)", "decimal"),
    Field("spread", "Fixed spread (points, 0: floating)", "int"),
    Field("stops_level", "Stops level (points)", "int"),
    Field("swap_long", "Swap long", "decimal"),
    Field("swap_short", "Swap short", "decimal"),
)


def new_password() -> str:
    """A manager's initial or reset password: 20 random URL-safe characters (120 bits), shown
    once to the admin who set it and never stored (the core keeps verifiers only)."""
    return secrets.token_urlsafe(15)


def require_admin(ctx: Ctx) -> None:
    """The administration pages are for admins of unlimited reach, as the core's commands
    behind them are: refused before anything is read."""
    ctx.actor.require("admin")
    ctx.actor.require_unlimited("administration")


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    return str(value)


def read_settings(form: dict[str, str], fields: Sequence[Field]) -> dict[str, Any]:
    """The posted settings, typed for the core (which checks ranges and choices); a field
    left out of the form stays as it is."""
    out: dict[str, Any] = {}
    for f in fields:
        raw = form.get(f.name)
        if raw is None:
            continue
        text = raw.strip()[:MAX_FIELD]
        if f.kind == "int":
            if not (text.isascii() and text.isdigit() and len(text) <= 12):
                raise ValidationError.field(f.name, "must be a whole number")
            out[f.name] = int(text)
        elif f.kind == "decimal":
            out[f.name] = text  # the core parses and bounds it
        else:
            out[f.name] = text
    return out


def changed(current: Any, wanted: dict[str, Any]) -> dict[str, Any]:
    """The settings that differ from the stored ones: numbers by value (`100.0` is `100`),
    the rest as shown."""
    return {k: v for k, v in wanted.items() if not _same(getattr(current, k), v)}


def _same(stored: Any, given: Any) -> bool:
    if isinstance(stored, Decimal) and isinstance(given, str):
        try:
            return stored == Decimal(given)
        except ArithmeticError:
            return False  # not a number: the core names the field
    return _shown(stored) == _shown(given)


def rows(current: Any, changes: dict[str, Any], fields: Sequence[Field]) -> list[list[str]]:
    labels = {f.name: f.label for f in fields}
    return [[labels.get(k, k), _shown(getattr(current, k, "")) if current else "", _shown(v)]
            for k, v in changes.items()]  # fmt: skip


class AdminPages(Pages):
    """Administration pages, mixed into the Console."""

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
            login = whole(form.get("manager"))
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
        login = whole(form.get("login"))
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

    def _review(self, ctx: Ctx, title: str, action: str, table: list[list[str]],
                warning: str | None = None) -> Response:  # fmt: skip
        """The change as a table (setting, now, after) and a form posting it again to apply."""
        kept = [(k, v) for k, v in ctx.request.state.pairs if k not in ("csrf", "step")]
        return self.page(ctx.request, "review.html", 200, ctx, title=title, action=action,
                         table=table, pairs=kept, warning=warning)  # fmt: skip

    async def _manager(self, ctx: Ctx, login: int) -> Manager:
        managers: list[Manager] = await self.call(self.services.list_managers, ctx.actor)
        for m in managers:
            if m.login == login:
                return m
        raise ManagerNotFound(login)

    # ---- managers ------------------------------------------------------------------------

    async def manager_form(self, ctx: Ctx) -> Response:
        """A manager's rights and reach (?login=), or a new manager's form (no login)."""
        require_admin(ctx)
        login = whole(ctx.request.query_params.get("login"))
        manager = await self._manager(ctx, login) if login is not None else None
        return self.page(ctx.request, "manager.html", 200, ctx,
                         title=f"Manager {login}" if manager else "Add a manager",
                         m=manager, scopes=SCOPES)  # fmt: skip

    async def manager_save(self, ctx: Ctx) -> Response:
        require_admin(ctx)
        form, pairs = ctx.request.state.form, ctx.request.state.pairs
        rights = frozenset(v for k, v in pairs if k == "right")
        group_mask = (form.get("group_mask") or "").strip()[:MAX_FIELD]
        white_labels = (form.get("white_labels") or "").strip()[:MAX_FIELD]
        name = (form.get("name") or "").strip()[:MAX_FIELD]
        login = whole(form.get("login"))
        if login is None:
            raise ValidationError.field("login", "must be a manager login (a number)")
        apply = form.get("step") == "apply"
        if form.get("action") == "create":
            signs_in = form.get("with_password") == "1"
            table = [["Login", "", str(login)], ["Name", "", name],
                     ["Rights", "", ", ".join(sorted(rights)) or "none"],
                     ["Groups", "", group_mask], ["White labels", "", white_labels],
                     ["Password", "", "generated, shown once" if signs_in
                      else "none (API keys only)"]]  # fmt: skip
            if not apply:
                return self._review(ctx, f"Add manager {login}?", "/console/admin/manager",
                                    table)  # fmt: skip
            password = new_password() if signs_in else None
            cmd = CreateManager(login, name, password, rights, group_mask or "*",
                                white_labels or "*")  # fmt: skip
            await self.call(self.services.create_manager, cmd, ctx.actor)
            return await self.admin(ctx, None, f"Manager {login} added",
                                    (login, password) if password else None)  # fmt: skip
        if form.get("action") == "password":
            await self._manager(ctx, login)  # exists, and the actor may manage managers
            if not apply:
                return self._review(ctx, f"Reset the password of manager {login}?",
                                    "/console/admin/manager",
                                    [["Password", "kept as a verifier", "generated, shown once"]],
                                    "The manager's console, TraderEvolution and MT5 sessions "
                                    "end at once; its API keys keep working.")  # fmt: skip
            password = new_password()
            await self.call(self.services.update_manager,
                            UpdateManager(login, password=password), ctx.actor)  # fmt: skip
            return await self.admin(ctx, None, f"Manager {login}: password reset",
                                    (login, password))  # fmt: skip
        current = await self._manager(ctx, login)
        grant, revoke = rights - current.rights, current.rights - rights
        update = UpdateManager(login, name=name if name != current.name else None,
                               grant=grant, revoke=revoke,
                               group_mask=group_mask if group_mask != current.group_mask
                               else None,
                               white_labels=white_labels if white_labels != current.white_labels
                               else None)  # fmt: skip
        table = []
        if update.name is not None:
            table.append(["Name", current.name, name])
        if grant or revoke:
            table.append(["Rights", ", ".join(sorted(current.rights)) or "none",
                          ", ".join(sorted(rights)) or "none"])  # fmt: skip
        if update.group_mask is not None:
            table.append(["Groups", current.group_mask, group_mask])
        if update.white_labels is not None:
            table.append(["White labels", current.white_labels, white_labels])
        if not table:
            return await self.admin(ctx, None, f"Manager {login}: nothing to change")
        if not apply:
            warning = None
            if login == ctx.actor.manager_login:
                warning = "These are your own rights: you may lose the right to undo this."
            return self._review(ctx, f"Change manager {login}?", "/console/admin/manager",
                                table, warning)  # fmt: skip
        await self.call(self.services.update_manager, update, ctx.actor)
        return await self.admin(ctx, None, f"Manager {login} changed")

    # ---- groups -------------------------------------------------------------------------

    async def group_form(self, ctx: Ctx) -> Response:
        """A group's settings (?name=), or a new group's form (no name)."""
        require_admin(ctx)
        name = (ctx.request.query_params.get("name") or "")[:MAX_FIELD]
        group = await self.call(self.services.get_group, name, ctx.actor) if name else None
        return self.page(ctx.request, "group.html", 200, ctx,
                         title=f"Group {name}" if group else "Add a group", g=group,
                         blank=Group(name="", currency="USD"),
                         fields=GROUP_FIELDS, value=_shown,
                         notice=_notice(ctx.request, f"Group {name}"))  # fmt: skip

    async def group_save(self, ctx: Ctx) -> Response:
        require_admin(ctx)
        form = ctx.request.state.form
        name = (form.get("name") or "").strip()[:MAX_FIELD]
        settings = read_settings(form, GROUP_FIELDS)
        apply = form.get("step") == "apply"
        s = self.services
        if form.get("action") == "create":
            currency = (form.get("currency") or "").strip().upper()[:8]
            table = [["Name", "", name], ["Currency", "", currency],
                     *rows(None, settings, GROUP_FIELDS)]  # fmt: skip
            if not apply:
                return self._review(ctx, f"Add group {name}?", "/console/admin/group", table)
            await self.call(s.create_group, CreateGroup(name, currency, settings), ctx.actor)
            return RedirectResponse(_group_url(name, "added"), 303)
        group: Group = await self.call(s.get_group, name, ctx.actor)
        changes = changed(group, settings)
        if not changes:
            return RedirectResponse(_group_url(name, "unchanged"), 303)
        if not apply:
            return self._review(ctx, f"Change group {name}?", "/console/admin/group",
                                rows(group, changes, GROUP_FIELDS))  # fmt: skip
        await self.call(s.update_group, UpdateGroup(name, changes), ctx.actor)
        return RedirectResponse(_group_url(name, "changed"), 303)

    # ---- symbols ------------------------------------------------------------------------

    async def symbol_form(self, ctx: Ctx) -> Response:
        require_admin(ctx)
        name = (ctx.request.query_params.get("name") or "")[:MAX_FIELD]
        if not name:
            raise ValidationError.field("name", "name the symbol")
        symbol = await self.call(self.services.get_symbol, name, ctx.actor)
        return self.page(ctx.request, "symbol.html", 200, ctx, title=f"Symbol {name}",
                         sym=symbol, fields=SYMBOL_FIELDS, value=_shown,
                         notice=_notice(ctx.request, f"Symbol {name}"))  # fmt: skip

    async def symbol_save(self, ctx: Ctx) -> Response:
        require_admin(ctx)
        form = ctx.request.state.form
        name = (form.get("name") or "").strip()[:MAX_FIELD]
        symbol: Symbol = await self.call(self.services.get_symbol, name, ctx.actor)
        changes = changed(symbol, read_settings(form, SYMBOL_FIELDS))
        url = "/console/admin/symbol?" + _query(name=name)
        if not changes:
            return RedirectResponse(url + "&done=unchanged", 303)
        if form.get("step") != "apply":
            return self._review(ctx, f"Change symbol {name}?", "/console/admin/symbol",
                                rows(symbol, changes, SYMBOL_FIELDS),
                                "A symbol's settings apply to every group.")  # fmt: skip
        await self.call(self.services.update_symbol, UpdateSymbol(name, changes), ctx.actor)
        return RedirectResponse(url + "&done=changed", 303)


DONE = {"added": "added", "changed": "changed", "unchanged": "unchanged: nothing differed"}


def _notice(request: Request, what: str) -> str | None:
    done = DONE.get(request.query_params.get("done") or "")
    return f"{what} {done}" if done else None


def _query(**params: str) -> str:
    return urlencode(params)


def _group_url(name: str, done: str) -> str:
    return "/console/admin/group?" + _query(name=name, done=done)
