"""SqlBackoffice: TraderEvolution's back-office nouns: brandings, plans, account presets,
webhook keys, session tokens, and the users and accounts it looks up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from brokerplane.core.account.model import Account
from brokerplane.core.backoffice.model import (
    AccountPreset,
    BackofficeToken,
    Plan,
    UserSearch,
    WebhookKey,
    WhiteLabel,
)
from brokerplane.core.user.model import DELETED, User
from brokerplane.storage import tables as t
from brokerplane.storage.repositories.accounts import _ACCOUNT_SELECT
from brokerplane.storage.sql.conditions import TO_LOWER as _TO_LOWER
from brokerplane.storage.sql.conditions import ascii_folded as _ascii_folded
from brokerplane.storage.sql.conditions import mask_condition
from brokerplane.storage.sql.rows import row_dict as _row


class SqlBackoffice:
    """TraderEvolution's back-office nouns (see the BackofficeRepository port)."""

    def __init__(self, conn: Connection) -> None:
        self.c = conn

    def _folded_equals(self, column: Any, value: str) -> ColumnElement[bool]:
        folded: ColumnElement[bool] = _ascii_folded(column, self.c.dialect.name) == value.translate(
            _TO_LOWER
        )
        return folded

    def _insert(self, table: Any, values: dict[str, Any]) -> int:
        key = self.c.execute(insert(table).values(values)).inserted_primary_key
        assert key is not None
        return int(key[0])

    # brandings: rows of `brokers`
    def add_white_label(self, branding: WhiteLabel) -> WhiteLabel:
        values = {k: v for k, v in asdict(branding).items() if k != "id"}
        branding.id = self._insert(t.brokers, values)
        return branding

    def get_white_label(self, branding_id: int) -> WhiteLabel | None:
        row = self.c.execute(select(t.brokers).where(t.brokers.c.id == branding_id)).first()
        return WhiteLabel(**_row(row)) if row else None

    def white_label_by_name(self, name: str) -> WhiteLabel | None:
        q = select(t.brokers).where(self._folded_equals(t.brokers.c.name, name))
        row = self.c.execute(q.order_by(t.brokers.c.id)).first()
        return WhiteLabel(**_row(row)) if row else None

    def list_white_labels(self) -> list[WhiteLabel]:
        rows = self.c.execute(select(t.brokers).order_by(t.brokers.c.id))
        return [WhiteLabel(**_row(r)) for r in rows]

    # plans
    def add_plan(self, plan: Plan) -> Plan:
        plan.id = self._insert(t.plans, {k: v for k, v in asdict(plan).items() if k != "id"})
        return plan

    def get_plan(self, plan_id: int) -> Plan | None:
        row = self.c.execute(select(t.plans).where(t.plans.c.id == plan_id)).first()
        return Plan(**_row(row)) if row else None

    def plan_by_name(self, name: str) -> Plan | None:
        q = select(t.plans).where(self._folded_equals(t.plans.c.name, name))
        row = self.c.execute(q.order_by(t.plans.c.id)).first()
        return Plan(**_row(row)) if row else None

    def list_plans(self) -> list[Plan]:
        return [Plan(**_row(r)) for r in self.c.execute(select(t.plans).order_by(t.plans.c.id))]

    # account presets
    def add_preset(self, preset: AccountPreset) -> AccountPreset:
        values = {k: v for k, v in asdict(preset).items() if k != "id"}
        preset.id = self._insert(t.account_presets, values)
        return preset

    def get_preset(self, preset_id: int) -> AccountPreset | None:
        p = t.account_presets
        row = self.c.execute(select(p).where(p.c.id == preset_id)).first()
        return AccountPreset(**_row(row)) if row else None

    def preset_by_name(self, name: str) -> AccountPreset | None:
        p = t.account_presets
        row = self.c.execute(
            select(p).where(self._folded_equals(p.c.name, name)).order_by(p.c.id)
        ).first()
        return AccountPreset(**_row(row)) if row else None

    def list_presets(self) -> list[AccountPreset]:
        p = t.account_presets
        return [AccountPreset(**_row(r)) for r in self.c.execute(select(p).order_by(p.c.id))]

    # webhook keys
    def add_webhook_key(self, key: WebhookKey) -> WebhookKey:
        key.id = self._insert(t.webhook_keys, {k: v for k, v in asdict(key).items() if k != "id"})
        return key

    def get_webhook_key(self, key_id: int) -> WebhookKey | None:
        w = t.webhook_keys
        row = self.c.execute(select(w).where(w.c.id == key_id)).first()
        return WebhookKey(**_row(row)) if row else None

    def webhook_key_by_api_key(self, api_key: str) -> WebhookKey | None:
        w = t.webhook_keys
        row = self.c.execute(select(w).where(w.c.api_key == api_key)).first()
        return WebhookKey(**_row(row)) if row else None

    def list_webhook_keys(self, user_ids: Sequence[int] | None) -> list[WebhookKey]:
        w = t.webhook_keys
        q = select(w).order_by(w.c.id)
        if user_ids is not None:
            if not user_ids:
                return []
            q = q.where(w.c.user_id.in_(list(user_ids)))
        return [WebhookKey(**_row(r)) for r in self.c.execute(q)]

    def count_webhook_keys(self, user_id: int) -> int:
        w = t.webhook_keys
        q = select(func.count()).select_from(w).where(w.c.user_id == user_id)
        return int(self.c.execute(q).scalar_one())

    def delete_webhook_key(self, key_id: int) -> None:
        self.c.execute(delete(t.webhook_keys).where(t.webhook_keys.c.id == key_id))

    def touch_webhook_key(self, key_id: int, at: datetime) -> None:
        w = t.webhook_keys
        self.c.execute(update(w).where(w.c.id == key_id).values(last_used_at=at))

    # session tokens
    def add_token(self, token: BackofficeToken) -> None:
        self.c.execute(insert(t.backoffice_tokens).values(**asdict(token)))

    def get_token(self, token_hash: str) -> BackofficeToken | None:
        b = t.backoffice_tokens
        row = self.c.execute(select(b).where(b.c.token_hash == token_hash)).first()
        return BackofficeToken(**_row(row)) if row else None

    def consume_token(self, token_hash: str) -> bool:
        b = t.backoffice_tokens
        result = self.c.execute(delete(b).where(b.c.token_hash == token_hash))
        return bool(result.rowcount)

    def delete_session(self, session_id: str) -> None:
        b = t.backoffice_tokens
        self.c.execute(delete(b).where(b.c.session_id == session_id))

    def delete_tokens_of(self, principal: str, principal_id: int) -> None:
        b = t.backoffice_tokens
        self.c.execute(
            delete(b).where(b.c.principal == principal, b.c.principal_id == principal_id)
        )

    def purge_tokens(self, now: datetime) -> int:
        b = t.backoffice_tokens
        result = self.c.execute(delete(b).where(b.c.expires_at <= now))
        return int(result.rowcount or 0)

    # users
    def user_by_login(self, login: str) -> User | None:
        if not login:
            return None
        u = t.users.c
        q = select(t.users).where(u.login != "", self._folded_equals(u.login, login))
        row = self.c.execute(q.order_by(u.id)).first()
        return User(**_row(row)) if row else None

    def search_users(self, search: UserSearch) -> list[User]:
        u = t.users.c
        dialect = self.c.dialect.name
        conds: list[ColumnElement[bool]] = []
        if search.logins is not None:
            if not search.logins:
                return []
            folded = [name.translate(_TO_LOWER) for name in search.logins]
            conds.append(and_(u.login != "", _ascii_folded(u.login, dialect).in_(folded)))
        if search.email is not None:
            conds.append(u.email == search.email.lower())
        if search.group_ids is not None:
            if not search.group_ids:
                return []
            conds.append(u.group_id.in_(search.group_ids))
        if search.broker is not None:
            conds.append(self._folded_equals(u.broker, search.broker))
        if search.reach_group_ids is not None:
            conds.append(or_(u.group_id.is_(None), u.group_id.in_(search.reach_group_ids)))
        if search.broker_mask is not None:
            conds.append(or_(u.broker == "", mask_condition(u.broker, search.broker_mask, dialect)))
        conds.append(u.status != DELETED)
        q = (
            select(t.users)
            .where(and_(True, *conds))
            .order_by(u.id)
            .offset(search.offset)
            .limit(search.limit)
        )
        return [User(**_row(r)) for r in self.c.execute(q)]

    def accounts_of_user(self, user_id: int) -> list[Account]:
        q = _ACCOUNT_SELECT.where(t.accounts.c.user_id == user_id).order_by(t.accounts.c.login)
        return [Account(**_row(r)) for r in self.c.execute(q)]
