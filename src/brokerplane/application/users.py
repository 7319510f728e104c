"""Users (cTID users, TraderEvolution users) and the accounts linked to them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from brokerplane.application.base import LazySlice
from brokerplane.application.lockout import SignInLockout
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import AuditRecord
from brokerplane.core.errors import CoreError, WrongPassword
from brokerplane.core.user.model import User, UserQuery

if TYPE_CHECKING:
    from brokerplane.core import idempotency
    from brokerplane.core.access import lockout
    from brokerplane.core.user import cid as user_cid
    from brokerplane.core.user import service as users
else:
    idempotency = LazySlice("brokerplane.core.idempotency")
    lockout = LazySlice("brokerplane.core.access.lockout")
    user_cid = LazySlice("brokerplane.core.user.cid")
    users = LazySlice("brokerplane.core.user.service")


class UserServices(SignInLockout):
    """Users, their links to accounts (under the account's sign-in lockout) and cID settings."""

    def create_user(self, cmd: users.CreateUser, actor: Actor) -> users.CreatedUser:
        return self._command(users.create_user, cmd, actor)

    def get_user(self, user_id: int, actor: Actor) -> User:
        return self._query(users.get_user, user_id, actor)

    def find_user_by_email(self, email: str, actor: Actor) -> User | None:
        return self._query(users.find_user_by_email, email, actor)

    def list_users(self, query: UserQuery, actor: Actor) -> list[User]:
        return self._listing(users.list_users, query, actor)

    def change_user_email(self, cmd: users.ChangeEmail, actor: Actor) -> User:
        return self._command(users.change_email, cmd, actor)

    def link_account(self, cmd: users.LinkAccount, actor: Actor) -> users.Linked:
        """Link an account to a user once its password is proven, under the account's
        sign-in lockout: while it is locked the password is answered as wrong, unchecked."""
        actor.require_for(cmd)
        attempt = lockout.account(cmd.login, actor.ip)
        if self.admit_login(attempt) is not None:
            raise WrongPassword("the password does not match the account's")
        try:
            linked = self._command(users.link_account, cmd, actor)
        except idempotency.Replayed:  # done before: its password was right
            self.login_succeeded(attempt)
            raise
        except WrongPassword:  # the password was checked and is wrong: it counts
            self.login_failed(attempt)
            raise
        except CoreError:  # refused before the password was looked at: it counts nowhere
            self.login_not_checked(attempt)
            raise
        except BaseException:  # the check broke: counted, as a wrong password would be
            self.login_failed(attempt)
            raise
        self.login_succeeded(attempt)
        return linked

    def update_user_profile(self, cmd: users.UpdateProfile, actor: Actor) -> User:
        return self._command(users.update_profile, cmd, actor)

    def delete_user(self, cmd: users.DeleteUser, actor: Actor) -> None:
        self._command(users.delete_user, cmd, actor)

    def assign_account(self, cmd: users.AssignAccount, actor: Actor) -> users.Linked:
        return self._command(users.assign_account, cmd, actor)

    def release_account(self, cmd: users.AssignAccount, actor: Actor) -> bool:
        return self._command(users.release_account, cmd, actor)

    def user_history(self, user_id: int, actor: Actor) -> list[AuditRecord]:
        return self._query(users.user_history, user_id, actor)

    def accept_user_agreement(self, user_id: int, actor: Actor) -> User:
        return self._command(users.accept_agreement, user_id, actor)

    def log_out_user(self, user_id: int, actor: Actor) -> User:
        return self._command(users.log_out, user_id, actor)

    def set_in_app_controls(self, cmd: user_cid.SetInAppControls, actor: Actor) -> User:
        return self._command(user_cid.set_in_app_controls, cmd, actor)

    def get_in_app_controls(self, user_id: int, actor: Actor) -> dict[str, Any] | None:
        return self._query(user_cid.get_in_app_controls, user_id, actor)

    def set_partner(self, cmd: user_cid.SetPartner, actor: Actor) -> user_cid.Partner:
        return self._command(user_cid.set_partner, cmd, actor)

    def get_partner(
        self, user_id: int | None, link_id: int | None, actor: Actor
    ) -> user_cid.Partner:
        return self._read(lambda u: user_cid.get_partner(u, user_id, link_id, actor))
