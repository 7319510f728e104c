"""Fake groups, accounts and symbols."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from brokerplane.core import masks
from brokerplane.core.account.model import Account, AccountQuery
from brokerplane.core.errors import Conflict, LoginAlreadyExists
from brokerplane.core.group.model import Group
from brokerplane.core.symbol.model import Symbol
from tests.unit.fakes.base import _copy, _Repo


class FakeGroups(_Repo):
    def get(self, name: str) -> Group | None:
        return next((_copy(g) for g in self._s.groups.values() if g.name == name), None)

    def get_by_id(self, group_id: int) -> Group | None:
        group = self._s.groups.get(group_id)
        return _copy(group) if group else None

    def list(self) -> list[Group]:
        return [_copy(g) for g in sorted(self._s.groups.values(), key=lambda g: g.name)]

    def add(self, group: Group) -> Group:
        self._writing()
        if any(g.name == group.name for g in self._s.groups.values()):
            raise Conflict("unique constraint: groups.name")
        group.id = self._s.next_group_id
        self._s.next_group_id += 1
        self._s.groups[group.id] = _copy(group)
        return group

    def update(self, group: Group) -> None:
        self._writing()
        if group.id in self._s.groups:
            self._s.groups[group.id] = _copy(group)

    def count_accounts(self, group_id: int) -> int:
        return sum(1 for a in self._s.accounts.values() if a.group_id == group_id)

    def count_users(self, group_id: int) -> int:
        return sum(1 for u in self._s.users.values() if u.group_id == group_id)

    def delete(self, group_id: int) -> None:
        self._writing()
        self._s.groups.pop(group_id, None)


class FakeAccounts(_Repo):
    def _out(self, acc: Account) -> Account:
        out = _copy(acc)
        out.group = self._s.groups[acc.group_id].name  # the join the SQL repository makes
        return out

    def get(self, login: int, *, for_update: bool = False) -> Account | None:
        acc = self._s.accounts.get(login)
        return self._out(acc) if acc and acc.deleted_at is None else None

    def exists(self, login: int) -> bool:
        """Deleted accounts keep their login taken, as in SQL."""
        return login in self._s.accounts

    def add(self, account: Account) -> None:
        self._writing()
        if account.login in self._s.accounts:
            raise LoginAlreadyExists(account.login)
        if account.group_id not in self._s.groups:
            raise Conflict("foreign key: accounts.group_id")
        self._s.accounts[account.login] = _copy(account)

    def add_many(self, accounts: Sequence[Account]) -> None:
        for account in accounts:
            self.add(account)

    def update(self, account: Account) -> None:
        self._writing()
        if account.login in self._s.accounts:
            if account.group_id not in self._s.groups:
                raise Conflict("foreign key: accounts.group_id")
            self._s.accounts[account.login] = _copy(account)

    def set_figures(self, login: int, balance: int, credit: int, bonus: int, at: datetime) -> None:
        self._writing()
        acc = self._s.accounts.get(login)
        if acc is not None:
            acc.balance, acc.credit, acc.bonus, acc.updated_at = balance, credit, bonus, at

    def allocate_login(self, low: int, high: int) -> int | None:
        """The same answer as the SQL repository: after the highest used, else the lowest gap."""
        used = sorted(login for login in self._s.accounts if low <= login <= high)
        if not used:
            return low
        if used[-1] < high:
            return used[-1] + 1
        expected = low
        for login in used:
            if login != expected:
                return expected
            expected += 1
        return None

    def list(self, query: AccountQuery) -> list[Account]:
        out = []
        for login in sorted(self._s.accounts):
            acc = self._s.accounts[login]
            if (acc.deleted_at is not None) != query.archived:
                continue
            if not self._in_reach(login, query.group_ids, query.broker_mask):
                continue
            if query.email and acc.email.lower() != query.email.lower():
                continue
            if query.name_contains and (
                masks.fold(query.name_contains) not in masks.fold(acc.name)
            ):
                continue
            if query.white_label_mask is not None and not masks.matches(
                query.white_label_mask, acc.broker
            ):
                continue
            if query.logins is not None and login not in query.logins:
                continue
            registered = acc.registered_at
            assert registered is not None
            if query.registered_from is not None and registered < query.registered_from:
                continue
            if query.registered_to is not None and registered >= query.registered_to:
                continue
            if query.after_login is not None and login <= query.after_login:
                continue
            out.append(self._out(acc))
            if len(out) == query.limit:
                break
        return out


class FakeSymbols(_Repo):
    def get(self, name: str) -> Symbol | None:
        return next((_copy(s) for s in self._s.symbols.values() if s.name == name), None)

    def list(self) -> list[Symbol]:
        return [_copy(s) for s in sorted(self._s.symbols.values(), key=lambda s: s.name)]

    def add(self, symbol: Symbol) -> Symbol:
        self._writing()
        if any(s.name == symbol.name for s in self._s.symbols.values()):
            raise Conflict("unique constraint: symbols.name")
        symbol.id = self._s.next_symbol_id
        self._s.next_symbol_id += 1
        self._s.symbols[symbol.id] = _copy(symbol)
        return symbol

    def update(self, symbol: Symbol) -> None:
        self._writing()
        if symbol.id in self._s.symbols:
            self._s.symbols[symbol.id] = _copy(symbol)

    def delete(self, symbol_id: int) -> None:
        self._writing()
        symbol = self._s.symbols.pop(symbol_id, None)
        if symbol is not None:
            self._s.quotes.pop(symbol.name, None)
