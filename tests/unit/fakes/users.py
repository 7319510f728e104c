"""Fake users and attributes."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from brokerplane.core import masks
from brokerplane.core.attribute.model import Attribute, AttributeQuery, AttributeSet
from brokerplane.core.errors import Conflict, EmailAlreadyExists
from brokerplane.core.user.model import DELETED, User, UserLink, UserQuery
from tests.unit.fakes.base import _copy, _Repo


class FakeUsers(_Repo):
    """The UserRepository port: emails stored in lower case and unique when set."""

    def get(self, user_id: int, *, for_update: bool = False) -> User | None:
        user = self._s.users.get(user_id)
        return _copy(user) if user else None

    def find_by_email(self, email: str) -> User | None:
        folded = email.lower()
        return next((_copy(u) for u in self._s.users.values() if u.email == folded), None)

    def nickname_taken(self, nickname: str) -> bool:
        return any(u.nickname.lower() == nickname.lower() for u in self._s.users.values())

    def _check_email(self, user: User) -> None:
        if user.email and any(
            u.email == user.email and u.id != user.id for u in self._s.users.values()
        ):
            raise Conflict("unique constraint: users.email")

    def add(self, user: User) -> User:
        self._writing()
        user.email = user.email.lower()
        if user.email and self.find_by_email(user.email) is not None:
            raise EmailAlreadyExists(user.email)  # as SqlUsers.add on the unique index
        user.id = self._s.next_user_id
        self._s.next_user_id += 1
        self._s.users[user.id] = _copy(user)
        return user

    def update(self, user: User) -> None:
        self._writing()
        user = _copy(user)
        user.email = user.email.lower()
        self._check_email(user)
        if user.id in self._s.users:
            self._s.users[user.id] = user

    def list(self, query: UserQuery) -> list[User]:
        out: list[User] = []
        for user_id in sorted(self._s.users):
            u = self._s.users[user_id]
            if query.email is not None and u.email != query.email.lower():
                continue
            if query.nickname is not None and u.nickname.lower() != query.nickname.lower():
                continue
            if query.ids is not None and user_id not in query.ids:
                continue
            if (
                query.group_ids is not None
                and u.group_id is not None
                and u.group_id not in query.group_ids
            ):
                continue
            if (
                query.broker_mask is not None
                and u.broker
                and not masks.matches(query.broker_mask, u.broker)
            ):
                continue
            if query.after_id is not None and user_id <= query.after_id:
                continue
            if u.status == DELETED:
                continue
            out.append(_copy(u))
            if len(out) >= query.limit:
                break
        return out

    def link(self, link: UserLink) -> UserLink:
        self._writing()
        if link.login in self._s.user_links:
            raise Conflict("unique constraint: user_links.login")
        if link.login not in self._s.accounts or link.user_id not in self._s.users:
            raise Conflict("foreign key: user_links")
        link.id = self._s.next_link_id
        self._s.next_link_id += 1
        self._s.user_links[link.login] = _copy(link)
        return link

    def link_of(self, login: int) -> UserLink | None:
        link = self._s.user_links.get(login)
        return _copy(link) if link else None

    def unlink(self, login: int) -> None:
        self._writing()
        self._s.user_links.pop(login, None)

    def links_of(self, user_id: int) -> builtins.list[UserLink]:  # `list` is a method here
        return [_copy(v) for k, v in sorted(self._s.user_links.items()) if v.user_id == user_id]

    def link_by_id(self, link_id: int, *, for_update: bool = False) -> UserLink | None:
        link = next((x for x in self._s.user_links.values() if x.id == link_id), None)
        return _copy(link) if link else None

    def set_link_partner(self, link_id: int, partner_id: str) -> None:
        self._writing()
        for link in self._s.user_links.values():
            if link.id == link_id:
                link.partner_id = partner_id


class FakeAttributes(_Repo):
    """The AttributeRepository port: rows keyed by (kind, entity id), as the three SQL tables."""

    def _parent_exists(self, kind: str, entity_id: int) -> bool:
        if kind == "account":
            return entity_id in self._s.accounts
        if kind == "group":
            return entity_id in self._s.groups
        return entity_id in self._s.managers

    def list(self, query: AttributeQuery) -> list[AttributeSet]:
        if query.ids is not None and not query.ids:
            return []
        out: list[AttributeSet] = []
        for (kind, entity_id), rows in sorted(self._s.attributes.items()):
            if kind != query.kind or not rows:
                continue
            if query.ids is not None and entity_id not in query.ids:
                continue
            if query.after_id is not None and entity_id <= query.after_id:
                continue
            if kind == "account":
                acc = self._s.accounts.get(entity_id)
                if acc is None or acc.deleted_at is not None:
                    continue
                if not self._in_reach(entity_id, query.group_ids, query.broker_mask):
                    continue
            found = [
                rows[n]
                for n in sorted(rows)
                if not query.name_contains or query.name_contains in n.casefold()
            ]
            if not found:
                continue
            if query.since is not None and max(a.updated_at for a in found) < query.since:
                continue
            out.append(AttributeSet(entity_id, tuple(found)))
            if query.limit is not None and len(out) == query.limit:
                break
        return out

    def put(self, kind: str, entity_id: int, attributes: Sequence[Attribute]) -> None:
        self._writing()
        if not self._parent_exists(kind, entity_id):
            raise Conflict(f"foreign key: {kind}_attributes")
        rows = self._s.attributes.setdefault((kind, entity_id), {})
        for attr in attributes:
            rows[attr.name] = attr  # frozen: no copy needed

    def delete(self, kind: str, entity_id: int, names: Sequence[str] | None) -> None:
        self._writing()
        rows = self._s.attributes.get((kind, entity_id), {})
        for name in list(rows):
            if names is None or name in names:
                del rows[name]

    def lock(self, kind: str, ids: Sequence[int]) -> None:
        """Writers already take turns on the fake's write lock."""
