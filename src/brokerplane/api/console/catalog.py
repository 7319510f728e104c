"""The console's catalog administration (admin of unlimited reach): groups and symbols added,
changed and deleted through the same core commands as the APIs (`create_group`,
`update_group`, `delete_group`, `create_symbol`, `update_symbol`, `delete_symbol`), which check
rights and reach and audit each change with dialect `console`. Every change is shown for review
first and applied only when confirmed (the form posts again with `step=apply`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from brokerplane.api.console.admin import MAX_FIELD, AdminPages, require_admin
from brokerplane.api.console.pages import Ctx
from brokerplane.core.errors import ValidationError
from brokerplane.core.group.commands import CreateGroup, DeleteGroup, UpdateGroup
from brokerplane.core.group.model import ACCOUNT_TYPES, MARGIN_MODES, Group
from brokerplane.core.symbol.commands import CreateSymbol, DeleteSymbol, UpdateSymbol
from brokerplane.core.symbol.model import TRADE_MODES, Symbol


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
# Only when a symbol is added (empty: the core takes them from the name, EURUSD: EUR and USD).
SYMBOL_NEW_FIELDS = (
    Field("currency_base", "Base currency"),
    Field("currency_profit", "Profit currency"),
    Field("currency_margin", "Margin currency"),
)


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
        else:
            out[f.name] = text  # a decimal: the core parses and bounds it
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
    return [
        [labels.get(k, k), _shown(getattr(current, k, "")) if current else "", _shown(v)]
        for k, v in changes.items()
    ]


def _name(form: dict[str, str]) -> str:
    name = (form.get("name") or "").strip()[:MAX_FIELD]
    if not name:
        raise ValidationError.field("name", "name it")
    return name


class CatalogPages(AdminPages):
    """Groups and symbols, mixed into the Console."""

    # ---- groups -------------------------------------------------------------------------

    async def group_form(self, ctx: Ctx) -> Response:
        """A group's settings (?name=), or a new group's form (no name)."""
        require_admin(ctx)
        name = (ctx.request.query_params.get("name") or "")[:MAX_FIELD]
        group = await self.call(self.services.get_group, name, ctx.actor) if name else None
        return self.page(
            ctx.request,
            "group.html",
            200,
            ctx,
            title=f"Group {name}" if group else "Add a group",
            g=group,
            blank=Group(name="", currency="USD"),
            fields=GROUP_FIELDS,
            value=_shown,
            notice=_notice(ctx.request, f"Group {name}"),
        )

    async def group_save(self, ctx: Ctx) -> Response:
        require_admin(ctx)
        form = ctx.request.state.form
        name = _name(form)
        apply = form.get("step") == "apply"
        s = self.services
        action = form.get("action")
        if action == "delete":
            group: Group = await self.call(s.get_group, name, ctx.actor)
            if not apply:
                return self._review(
                    ctx,
                    f"Delete group {name}?",
                    "/console/admin/group",
                    [["Group", name, "deleted"]],
                    "A group that holds any account (closed ones too) or user cannot be deleted.",
                )
            await self.call(s.delete_group, DeleteGroup(group.name), ctx.actor)
            return await self.admin(ctx, None, f"Group {name} deleted")
        settings = read_settings(form, GROUP_FIELDS)
        if action == "create":
            currency = (form.get("currency") or "").strip().upper()[:8]
            table = [
                ["Name", "", name],
                ["Currency", "", currency],
                *rows(None, settings, GROUP_FIELDS),
            ]
            if not apply:
                return self._review(ctx, f"Add group {name}?", "/console/admin/group", table)
            await self.call(s.create_group, CreateGroup(name, currency, settings), ctx.actor)
            return RedirectResponse(_url("group", name, "added"), 303)
        group = await self.call(s.get_group, name, ctx.actor)
        changes = changed(group, settings)
        if not changes:
            return RedirectResponse(_url("group", name, "unchanged"), 303)
        if not apply:
            return self._review(
                ctx,
                f"Change group {name}?",
                "/console/admin/group",
                rows(group, changes, GROUP_FIELDS),
            )
        await self.call(s.update_group, UpdateGroup(name, changes), ctx.actor)
        return RedirectResponse(_url("group", name, "changed"), 303)

    # ---- symbols ------------------------------------------------------------------------

    async def symbol_form(self, ctx: Ctx) -> Response:
        """A symbol's settings (?name=), or a new symbol's form (no name)."""
        require_admin(ctx)
        name = (ctx.request.query_params.get("name") or "")[:MAX_FIELD]
        symbol = await self.call(self.services.get_symbol, name, ctx.actor) if name else None
        return self.page(
            ctx.request,
            "symbol.html",
            200,
            ctx,
            title=f"Symbol {name}" if symbol else "Add a symbol",
            sym=symbol,
            blank=Symbol(name="", currency_base="", currency_profit="", currency_margin=""),
            fields=SYMBOL_FIELDS,
            new_fields=SYMBOL_NEW_FIELDS,
            value=_shown,
            notice=_notice(ctx.request, f"Symbol {name}"),
        )

    async def symbol_save(self, ctx: Ctx) -> Response:
        require_admin(ctx)
        form = ctx.request.state.form
        name = _name(form)
        apply = form.get("step") == "apply"
        s = self.services
        action = form.get("action")
        if action == "create":
            settings = read_settings(form, SYMBOL_FIELDS)
            settings.update(
                {k: v.upper() for k, v in read_settings(form, SYMBOL_NEW_FIELDS).items() if v}
            )
            if not apply:
                return self._review(
                    ctx,
                    f"Add symbol {name}?",
                    "/console/admin/symbol",
                    [["Name", "", name], *rows(None, settings, SYMBOL_NEW_FIELDS + SYMBOL_FIELDS)],
                    "A symbol is traded in every group.",
                )
            await self.call(s.create_symbol, CreateSymbol(name, settings), ctx.actor)
            return RedirectResponse(_url("symbol", name, "added"), 303)
        symbol: Symbol = await self.call(s.get_symbol, name, ctx.actor)
        if action == "delete":
            if not apply:
                return self._review(
                    ctx,
                    f"Delete symbol {name}?",
                    "/console/admin/symbol",
                    [["Symbol", name, "deleted"]],
                    "No group can trade it afterwards; a symbol with open "
                    "positions cannot be deleted. Closed deals keep its "
                    "name.",
                )
            await self.call(s.delete_symbol, DeleteSymbol(symbol.name), ctx.actor)
            return await self.admin(ctx, None, f"Symbol {name} deleted")
        changes = changed(symbol, read_settings(form, SYMBOL_FIELDS))
        if not changes:
            return RedirectResponse(_url("symbol", name, "unchanged"), 303)
        if not apply:
            return self._review(
                ctx,
                f"Change symbol {name}?",
                "/console/admin/symbol",
                rows(symbol, changes, SYMBOL_FIELDS),
                "A symbol's settings apply to every group.",
            )
        await self.call(s.update_symbol, UpdateSymbol(name, changes), ctx.actor)
        return RedirectResponse(_url("symbol", name, "changed"), 303)


DONE = {"added": "added", "changed": "changed", "unchanged": "unchanged: nothing differed"}


def _notice(request: Request, what: str) -> str | None:
    done = DONE.get(request.query_params.get("done") or "")
    return f"{what} {done}" if done else None


def _url(page: str, name: str, done: str) -> str:
    return f"/console/admin/{page}?" + urlencode({"name": name, "done": done})
