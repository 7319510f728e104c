"""SqlUsers: users (people and CRM identities) and their links to accounts (see the
UserRepository port)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, exists, func, insert, or_, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql.elements import ColumnElement

from brokerplane.core.errors import EmailAlreadyExists
from brokerplane.core.user.model import DELETED, User, UserLink, UserQuery
from brokerplane.storage import tables as t
from brokerplane.storage.sql.conditions import mask_condition
from brokerplane.storage.sql.rows import row_dict as _row


class SqlUsers:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    @staticmethod
    def _to(row: Row[Any]) -> User:
        return User(**_row(row))

    def get(self, user_id: int, *, for_update: bool = False) -> User | None:
        q = select(t.users).where(t.users.c.id == user_id)
        if for_update and self.c.dialect.name == "postgresql":
            q = q.with_for_update()
        row = self.c.execute(q).first()
        return self._to(row) if row else None

    def find_by_email(self, email: str) -> User | None:
        row = self.c.execute(select(t.users).where(t.users.c.email == email.lower())).first()
        return self._to(row) if row else None

    def nickname_taken(self, nickname: str) -> bool:
        q = select(exists().where(func.lower(t.users.c.nickname) == nickname.lower()))
        return bool(self.c.execute(q).scalar())

    def add(self, user: User) -> User:
        values = {k: v for k, v in asdict(user).items() if k != "id"}
        values["email"] = user.email.lower()
        try:
            with self.c.begin_nested():
                key = self.c.execute(insert(t.users).values(values)).inserted_primary_key
        except sa_exc.IntegrityError as err:
            # A concurrent request inserted the same email first (unique index).
            if values["email"] and self.find_by_email(values["email"]) is not None:
                raise EmailAlreadyExists(values["email"]) from err
            raise
        assert key is not None
        user.id = int(key[0])
        user.email = values["email"]
        return user

    def update(self, user: User) -> None:
        values = {k: v for k, v in asdict(user).items() if k != "id"}
        values["email"] = user.email.lower()
        self.c.execute(update(t.users).where(t.users.c.id == user.id).values(values))

    def list(self, query: UserQuery) -> list[User]:
        u = t.users.c
        conds: list[ColumnElement[bool]] = []
        if query.email is not None:
            conds.append(u.email == query.email.lower())
        if query.nickname is not None:
            conds.append(func.lower(u.nickname) == query.nickname.lower())
        if query.ids is not None:
            if not query.ids:
                return []
            conds.append(u.id.in_(query.ids))
        if query.group_ids is not None:
            conds.append(or_(u.group_id.is_(None), u.group_id.in_(query.group_ids)))
        if query.broker_mask is not None:
            dialect = self.c.dialect.name
            conds.append(or_(u.broker == "", mask_condition(u.broker, query.broker_mask, dialect)))
        if query.after_id is not None:
            conds.append(u.id > query.after_id)
        conds.append(u.status != DELETED)
        q = select(t.users).where(and_(True, *conds)).order_by(u.id).limit(query.limit)
        return [self._to(r) for r in self.c.execute(q)]

    def link(self, link: UserLink) -> UserLink:
        values = {k: v for k, v in asdict(link).items() if k != "id"}
        key = self.c.execute(insert(t.user_links).values(values)).inserted_primary_key
        assert key is not None
        link.id = int(key[0])
        return link

    def link_of(self, login: int) -> UserLink | None:
        row = self.c.execute(select(t.user_links).where(t.user_links.c.login == login)).first()
        return UserLink(**_row(row)) if row else None

    def unlink(self, login: int) -> None:
        self.c.execute(delete(t.user_links).where(t.user_links.c.login == login))

    def links_of(self, user_id: int) -> Sequence[UserLink]:
        q = select(t.user_links).where(t.user_links.c.user_id == user_id)
        return [UserLink(**_row(r)) for r in self.c.execute(q.order_by(t.user_links.c.login))]

    def link_by_id(self, link_id: int, *, for_update: bool = False) -> UserLink | None:
        q = select(t.user_links).where(t.user_links.c.id == link_id)
        row = self.c.execute(q.with_for_update() if for_update else q).first()
        return UserLink(**_row(row)) if row else None

    def set_link_partner(self, link_id: int, partner_id: str) -> None:
        q = update(t.user_links).where(t.user_links.c.id == link_id)
        self.c.execute(q.values(partner_id=partner_id))
