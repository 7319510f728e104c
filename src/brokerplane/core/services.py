"""Services: the core's front door; each call runs one command or read in one unit of work."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from brokerplane.core.access import service as access
from brokerplane.core.access.model import ApiKey, Manager
from brokerplane.core.account import service as accounts
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.audit import service as audit
from brokerplane.core.audit.model import AuditRecord
from brokerplane.core.clock import Clock, utc_now
from brokerplane.core.config import CoreConfig
from brokerplane.core.group import service as groups
from brokerplane.core.group.model import Group
from brokerplane.core.ports import UnitOfWork, UnitOfWorkFactory
from brokerplane.core.symbol import service as symbols
from brokerplane.core.symbol.model import Symbol

T = TypeVar("T")


class Services:
    def __init__(
        self, uow: UnitOfWorkFactory, config: CoreConfig | None = None, clock: Clock = utc_now
    ) -> None:
        self._uow = uow
        self.config = config or CoreConfig()
        self.clock = clock

    def _write(self, fn: Callable[[UnitOfWork], T]) -> T:
        with self._uow(write=True) as uow:
            result = fn(uow)
            uow.commit()
            return result

    def _read(self, fn: Callable[[UnitOfWork], T]) -> T:
        with self._uow(write=False) as uow:
            return fn(uow)

    # accounts
    def open_account(self, cmd: accounts.OpenAccount, actor: Actor) -> Account:
        return self._write(lambda u: accounts.open_account(u, cmd, actor, self.clock, self.config))

    def update_account(self, cmd: accounts.UpdateAccount, actor: Actor) -> Account:
        return self._write(lambda u: accounts.update_account(u, cmd, actor, self.clock))

    def disable_account(self, cmd: accounts.DisableAccount, actor: Actor) -> Account:
        return self._write(lambda u: accounts.disable_account(u, cmd, actor, self.clock))

    def enable_account(self, cmd: accounts.EnableAccount, actor: Actor) -> Account:
        return self._write(lambda u: accounts.enable_account(u, cmd, actor, self.clock))

    def get_account(self, login: int, actor: Actor) -> Account:
        return self._read(lambda u: accounts.get_account(u, login, actor))

    def account_history(self, login: int, actor: Actor) -> list[AuditRecord]:
        return self._read(lambda u: accounts.account_history(u, login, actor))

    def list_accounts(
        self, cmd: accounts.ListAccounts, actor: Actor, scope: str = "users:read"
    ) -> list[Account]:
        return self._read(lambda u: accounts.list_accounts(u, cmd, actor, scope=scope))

    def iter_accounts(
        self, cmd: accounts.ListAccounts, actor: Actor, scope: str = "reports:read"
    ) -> Iterator[Account]:
        """Every matching account, page by page: memory stays flat however many there are."""
        after = cmd.after_login
        while True:
            page_cmd = accounts.ListAccounts(
                group_mask=cmd.group_mask, email=cmd.email, logins=cmd.logins,
                registered_from=cmd.registered_from, registered_to=cmd.registered_to,
                after_login=after, limit=accounts.MAX_PAGE,
            )  # fmt: skip
            page = self.list_accounts(page_cmd, actor, scope)
            yield from page
            if len(page) < accounts.MAX_PAGE:
                return
            after = page[-1].login

    # groups
    def create_group(self, cmd: groups.CreateGroup, actor: Actor) -> Group:
        return self._write(lambda u: groups.create_group(u, cmd, actor, self.clock))

    def update_group(self, cmd: groups.UpdateGroup, actor: Actor) -> Group:
        return self._write(lambda u: groups.update_group(u, cmd, actor, self.clock))

    def get_group(self, name: str, actor: Actor) -> Group:
        return self._read(lambda u: groups.get_group(u, name, actor))

    def list_groups(self, actor: Actor, mask: str | None = None) -> list[Group]:
        return self._read(lambda u: groups.list_groups(u, actor, mask))

    # symbols
    def create_symbol(self, cmd: symbols.CreateSymbol, actor: Actor) -> Symbol:
        return self._write(lambda u: symbols.create_symbol(u, cmd, actor, self.clock))

    def update_symbol(self, cmd: symbols.UpdateSymbol, actor: Actor) -> Symbol:
        return self._write(lambda u: symbols.update_symbol(u, cmd, actor, self.clock))

    def get_symbol(self, name: str, actor: Actor) -> Symbol:
        return self._read(lambda u: symbols.get_symbol(u, name, actor))

    def list_symbols(self, actor: Actor, mask: str | None = None) -> list[Symbol]:
        return self._read(lambda u: symbols.list_symbols(u, actor, mask))

    # access
    def create_manager(self, cmd: access.CreateManager, actor: Actor) -> Manager:
        return self._write(lambda u: access.create_manager(u, cmd, actor, self.clock))

    def get_manager(self, login: int) -> Manager | None:
        return self._read(lambda u: u.managers.get(login))

    def create_api_key(self, cmd: access.CreateApiKey, actor: Actor) -> access.IssuedKey:
        return self._write(lambda u: access.create_api_key(u, cmd, actor, self.clock))

    def revoke_api_key(self, key_id: str, actor: Actor) -> ApiKey:
        return self._write(lambda u: access.revoke_api_key(u, key_id, actor, self.clock))

    def authenticate_key(self, presented: str) -> access.KeyIdentity:
        now = self.clock()
        identity = self._read(lambda u: access.authenticate_key(u, presented, now))
        if identity.needs_touch:
            self._write(lambda u: u.api_keys.touch(identity.key.id, now))
        return identity

    # audit
    def verify_audit(self) -> audit.ChainReport:
        def verify(u: UnitOfWork) -> audit.ChainReport:
            head = u.audit.head()  # first: records committed after it are not judged
            return audit.verify_chain(u.audit.iter_all(), head)

        return self._read(verify)

    def is_empty(self) -> bool:
        return self._read(lambda u: not u.managers.list())
