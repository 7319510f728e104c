"""The console's administration pages (admin of unlimited reach): managers with their rights
and reach, API keys and approval thresholds, each changed through the same core commands as the
APIs and audited there (groups and symbols: catalog.py). A change of rights or reach is shown
for review first and applied only when confirmed (the form posts again with `step=apply`).

Adding a manager, resetting its password and creating a key are idempotent per form
submission, as the money forms are: the form carries a key drawn when it is rendered, and the
write claims it as the admin's `Idempotency-Key` in its own transaction. A second post of the
same form (a double click, a reload, back-and-resubmit) applies nothing and says so; the
stored answer holds no secret, so the password or key secret is still shown only once."""

from __future__ import annotations

import secrets
from functools import partial
from typing import Any

from starlette.responses import Response

from brokerplane.api.console.pages import DIALECT, MAX_TEXT, Ctx, Pages, whole
from brokerplane.api.kit.idempotency import SentKey, fingerprint
from brokerplane.core.access.commands import (
    Administration,
    CreateApiKey,
    CreateManager,
    IssuedKey,
    RevokeApiKey,
    RotateApiKey,
    UpdateManager,
)
from brokerplane.core.access.model import Manager
from brokerplane.core.actor import SCOPES
from brokerplane.core.approval.commands import SetApprovalThreshold
from brokerplane.core.errors import ManagerNotFound, ValidationError

MAX_FIELD = 255


def new_password() -> str:
    """A manager's initial or reset password: 20 random URL-safe characters (120 bits), shown
    once to the admin who set it and never stored (the core keeps verifiers only)."""
    return secrets.token_urlsafe(15)


def form_key() -> str:
    """A form's submission key, drawn when the form is rendered."""
    return secrets.token_urlsafe(16)


def sent_form_key(form: dict[str, str]) -> SentKey:
    key = (form.get("key") or "")[:64]
    if not key:
        raise ValidationError.field("key", "the form has no submission key; reload it")
    return SentKey(key, "Idempotency-Key")


ONCE = "This form had already been sent: it was applied once, nothing was done again"


def require_admin(ctx: Ctx) -> None:
    """The administration pages are for admins of unlimited reach, as the core's commands
    behind them are: refused before anything is read."""
    ctx.actor.require_for(Administration)
    ctx.actor.require_unlimited("administration")


class AdminPages(Pages):
    """Administration pages, mixed into the Console."""

    # ---- administration (admin with unlimited reach: the core checks) -----------------------

    async def admin(
        self,
        ctx: Ctx,
        issued: Any = None,
        notice: str | None = None,
        password: tuple[int, str] | None = None,
    ) -> Response:
        """The administration page; `issued` a new key and `password` a manager's new
        password, each shown this once."""
        require_admin(ctx)
        s, actor = self.services, ctx.actor
        managers = await self.call(s.list_managers, actor)
        keys = await self.call(partial(s.list_api_keys, actor, None))
        groups = await self.call(s.list_groups, actor)
        symbols = await self.call(s.list_symbols, actor)
        thresholds = await self.call(s.list_approval_thresholds, actor)
        return self.page(
            ctx.request,
            "admin.html",
            200,
            ctx,
            title="Administration",
            managers=managers,
            keys=keys,
            groups=groups,
            symbols=symbols,
            thresholds=thresholds,
            scopes=SCOPES,
            issued=issued,
            notice=notice,
            password=password,
            key=form_key(),
        )

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
            name = (form.get("name") or "")[:MAX_TEXT]
            cmd = CreateApiKey(login, scopes, name)
            print_ = fingerprint(DIALECT, "admin.key.create", login, sorted(scopes), name)
            issued, again = await self.once(
                partial(s.create_api_key, cmd), actor, sent_form_key(form), print_
            )
            if again:  # the stored result: no secret in it
                key_id = issued.key.id if isinstance(issued, IssuedKey) else None
                return await self.admin(
                    ctx,
                    None,
                    f"{ONCE}: key {key_id} was created then, and its secret shown then only.",
                )
            return await self.admin(ctx, issued, f"Key {issued.key.id} created")
        key_id = (form.get("key_id") or "")[:64]
        if action == "rotate":
            issued, _old = await self.call(s.rotate_api_key, RotateApiKey(key_id), actor)
            return await self.admin(ctx, issued, f"Key {key_id} rotated")
        if action == "revoke":
            await self.call(s.revoke_api_key, RevokeApiKey(key_id), actor)
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
            await self.call(
                s.update_manager, UpdateManager(login, enabled=action == "enable"), actor
            )
            return await self.admin(ctx, None, f"Manager {login} {action}d")
        if action == "unlock":
            cleared = await self.call(s.unlock_manager, login, actor)
            return await self.admin(
                ctx, None, f"Manager {login} unlocked ({cleared} failed sign-in counters cleared)"
            )
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

    def _review(
        self, ctx: Ctx, title: str, action: str, table: list[list[str]], warning: str | None = None
    ) -> Response:
        """The change as a table (setting, now, after) and a form posting it again to apply."""
        kept = [(k, v) for k, v in ctx.request.state.pairs if k not in ("csrf", "step")]
        return self.page(
            ctx.request,
            "review.html",
            200,
            ctx,
            title=title,
            action=action,
            table=table,
            pairs=kept,
            warning=warning,
        )

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
        return self.page(
            ctx.request,
            "manager.html",
            200,
            ctx,
            title=f"Manager {login}" if manager else "Add a manager",
            m=manager,
            scopes=SCOPES,
            key=form_key(),
        )

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
            table = [
                ["Login", "", str(login)],
                ["Name", "", name],
                ["Rights", "", ", ".join(sorted(rights)) or "none"],
                ["Groups", "", group_mask],
                ["White labels", "", white_labels],
                ["Password", "", "generated, shown once" if signs_in else "none (API keys only)"],
            ]
            if not apply:
                return self._review(ctx, f"Add manager {login}?", "/console/admin/manager", table)
            password = new_password() if signs_in else None
            cmd = CreateManager(
                login, name, password, rights, group_mask or "*", white_labels or "*"
            )
            print_ = fingerprint(
                DIALECT,
                "admin.manager.create",
                login,
                name,
                sorted(rights),
                group_mask,
                white_labels,
                signs_in,
            )
            _added, again = await self.once(
                partial(self.services.create_manager, cmd), ctx.actor, sent_form_key(form), print_
            )
            if again:
                return await self.admin(
                    ctx,
                    None,
                    f"{ONCE}: manager {login} was added then"
                    + (", and its password shown then only." if signs_in else "."),
                )
            return await self.admin(
                ctx, None, f"Manager {login} added", (login, password) if password else None
            )
        if form.get("action") == "password":
            await self._manager(ctx, login)  # exists, and the actor may manage managers
            if not apply:
                return self._review(
                    ctx,
                    f"Reset the password of manager {login}?",
                    "/console/admin/manager",
                    [["Password", "kept as a verifier", "generated, shown once"]],
                    "The manager's console, TraderEvolution and MT5 sessions "
                    "end at once; its API keys keep working.",
                )
            password = new_password()
            print_ = fingerprint(DIALECT, "admin.manager.password", login)
            change = partial(self.services.update_manager, UpdateManager(login, password=password))
            _reset, again = await self.once(change, ctx.actor, sent_form_key(form), print_)
            if again:
                return await self.admin(
                    ctx,
                    None,
                    f"{ONCE}: the password of manager {login} was reset then, and shown then only.",
                )
            return await self.admin(
                ctx, None, f"Manager {login}: password reset", (login, password)
            )
        current = await self._manager(ctx, login)
        grant, revoke = rights - current.rights, current.rights - rights
        update = UpdateManager(
            login,
            name=name if name != current.name else None,
            grant=grant,
            revoke=revoke,
            group_mask=group_mask if group_mask != current.group_mask else None,
            white_labels=white_labels if white_labels != current.white_labels else None,
        )
        table = []
        if update.name is not None:
            table.append(["Name", current.name, name])
        if grant or revoke:
            table.append(
                [
                    "Rights",
                    ", ".join(sorted(current.rights)) or "none",
                    ", ".join(sorted(rights)) or "none",
                ]
            )
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
            return self._review(
                ctx, f"Change manager {login}?", "/console/admin/manager", table, warning
            )
        await self.call(self.services.update_manager, update, ctx.actor)
        return await self.admin(ctx, None, f"Manager {login} changed")
