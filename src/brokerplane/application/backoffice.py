"""The TraderEvolution back office: sessions, catalogue, users with accounts, webhook keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from brokerplane.application.base import LazySlice
from brokerplane.application.lockout import SignInLockout
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.backoffice.commands import WebhookProof
from brokerplane.core.backoffice.model import AccountPreset, Plan, WebhookKey, WhiteLabel
from brokerplane.core.errors import Unauthorized
from brokerplane.core.group.commands import ReadGroup
from brokerplane.core.group.model import Group
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.user.model import User

if TYPE_CHECKING:
    from brokerplane.core.backoffice import catalog as bo_catalog
    from brokerplane.core.backoffice import sessions as bo_sessions
    from brokerplane.core.backoffice import users as bo_users
    from brokerplane.core.backoffice import webhooks as bo_webhooks
else:
    bo_catalog = LazySlice("brokerplane.core.backoffice.catalog")
    bo_sessions = LazySlice("brokerplane.core.backoffice.sessions")
    bo_users = LazySlice("brokerplane.core.backoffice.users")
    bo_webhooks = LazySlice("brokerplane.core.backoffice.webhooks")


class BackofficeServices(SignInLockout):
    """Back-office sessions, brandings, plans, presets, user groups, users and webhook keys."""

    def sign_in_backoffice(self, cmd: bo_sessions.SignIn, actor: Actor) -> bo_sessions.TokenPair:
        """A session for a back-office user or a TE user, under the sign-in lockout: a
        failure is committed (it counts) and then raised as Unauthorized."""
        reason: list[str] = []

        def check(u: UnitOfWork) -> bo_sessions.TokenPair | None:
            outcome = bo_sessions.sign_in(u, cmd, actor, self.clock)
            reason.append(outcome.reason)
            return outcome.pair

        try:
            return self._guarded(bo_sessions.attempt_of(cmd, actor.ip), check)
        except Unauthorized:
            if reason:  # the check ran and failed: say why
                raise Unauthorized(reason[0]) from None
            raise

    def refresh_backoffice_session(
        self, cmd: bo_sessions.RefreshSession, actor: Actor
    ) -> bo_sessions.TokenPair:
        return self._write(lambda u: bo_sessions.refresh(u, cmd, actor, self.clock))

    def authenticate_backoffice_token(self, token: str) -> bo_sessions.Principal:
        now = self.clock()
        return self._read(lambda u: bo_sessions.authenticate(u, token, now))

    def verify_backoffice_session(self, token: str) -> bo_sessions.SessionCheck:
        now = self.clock()
        return self._read(lambda u: bo_sessions.verify_session(u, token, now))

    def list_assets(self, actor: Actor) -> list[bo_catalog.Asset]:
        return self._view(bo_catalog.list_assets, actor)

    def create_white_label(self, cmd: bo_catalog.CreateWhiteLabel, actor: Actor) -> WhiteLabel:
        return self._command(bo_catalog.create_white_label, cmd, actor)

    def list_white_labels(self, actor: Actor) -> list[WhiteLabel]:
        return self._view(bo_catalog.list_white_labels, actor)

    def get_white_label(self, branding_id: int, actor: Actor) -> WhiteLabel:
        return self._query(bo_catalog.get_white_label, branding_id, actor)

    def create_plan(self, cmd: bo_catalog.CreatePlan, actor: Actor) -> Plan:
        return self._command(bo_catalog.create_plan, cmd, actor)

    def list_plans(self, actor: Actor, kind: str | None = None) -> list[Plan]:
        return self._read(lambda u: bo_catalog.list_plans(u, actor, kind))

    def create_account_preset(self, cmd: bo_catalog.CreatePreset, actor: Actor) -> AccountPreset:
        return self._command(bo_catalog.create_preset, cmd, actor)

    def list_account_presets(
        self, actor: Actor, currency: str | None = None, name: str | None = None
    ) -> list[AccountPreset]:
        return self._read(lambda u: bo_catalog.list_presets(u, actor, currency, name))

    def create_user_group(self, cmd: bo_catalog.CreateUserGroup, actor: Actor) -> Group:
        return self._command_configured(bo_catalog.create_user_group, cmd, actor)

    def list_user_groups(self, query: bo_catalog.GroupFilter, actor: Actor) -> list[Group]:
        return self._query(bo_catalog.list_user_groups, query, actor)

    def get_user_group(self, group_id: int, actor: Actor) -> Group:
        def read(u: UnitOfWork) -> Group:
            actor.require_for(ReadGroup)
            return bo_catalog.group_by_id(u, group_id, actor)

        return self._read(read)

    def open_user_with_accounts(
        self, cmd: bo_users.OpenUser, actor: Actor
    ) -> bo_users.UserWithAccounts:
        return self._command_configured(bo_users.open_user, cmd, actor)

    def open_user_account(self, cmd: bo_users.AddAccount, actor: Actor) -> Account:
        return self._command_configured(bo_users.add_account, cmd, actor)

    def search_users(self, query: bo_users.UserFilter, actor: Actor) -> list[User]:
        return self._listing(bo_users.search_users, query, actor)

    def get_user_with_accounts(self, user_id: int, actor: Actor) -> bo_users.UserWithAccounts:
        return self._query(bo_users.get_user, user_id, actor)

    def update_user_settings(self, cmd: bo_users.UpdateUser, actor: Actor) -> User:
        return self._command(bo_users.update_user, cmd, actor)

    def change_user_password(self, cmd: bo_users.ChangeUserPassword, actor: Actor) -> User:
        return self._command(bo_users.change_password, cmd, actor)

    def reset_user_password(
        self, cmd: bo_users.ResetUserPassword, actor: Actor
    ) -> bo_users.PasswordReset:
        return self._command(bo_users.reset_password, cmd, actor)

    def delete_backoffice_user(self, cmd: bo_users.DeleteUser, actor: Actor) -> User:
        return self._command(bo_users.delete_user, cmd, actor)

    def account_usable(self, login: int) -> bool:
        """Whether the account's owner (if any) lets it be used (an Unlocked TE user)."""

        def read(u: UnitOfWork) -> bool:
            acc = u.accounts.get(login)
            return acc is not None and bo_users.account_usable(u, acc)

        return self._read(read)

    def create_webhook_key(
        self, cmd: bo_webhooks.CreateWebhookKey, actor: Actor
    ) -> bo_webhooks.IssuedWebhookKey:
        return self._command(bo_webhooks.create_key, cmd, actor)

    def list_webhook_keys(
        self, query: bo_webhooks.ListWebhookKeys, actor: Actor
    ) -> list[WebhookKey]:
        return self._query(bo_webhooks.list_keys, query, actor)

    def delete_webhook_key(self, cmd: bo_webhooks.DeleteWebhookKey, actor: Actor) -> WebhookKey:
        return self._command(bo_webhooks.delete_key, cmd, actor)

    def authenticate_webhook_key(self, api_key: str) -> bo_webhooks.WebhookIdentity:
        """The key and its user for an inbound webhook (its proof is checked next, with
        `prove_webhook`)."""
        now = self.clock()
        identity = self._read(lambda u: bo_webhooks.authenticate_key(u, api_key, now))
        if identity.needs_touch:
            self._write(lambda u: u.backoffice.touch_webhook_key(identity.key.id, now))
        return identity

    def prove_webhook(self, key: WebhookKey, proof: WebhookProof) -> None:
        """The webhook's signature or secret, checked against its key: Unauthorized when
        neither holds (nothing read or written)."""
        bo_webhooks.prove(key, proof)

    def trade_by_webhook(
        self, order: bo_webhooks.WebhookOrder, actor: Actor
    ) -> bo_webhooks.WebhookFill:
        """A webhook's order on its key's user's account (the key checked again in the same
        transaction); `actor` is the request's, reduced to the key's trades:write."""
        return self._command(bo_webhooks.trade, order, actor)
