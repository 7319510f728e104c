"""Fake TraderEvolution back office and exports."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

from brokerplane.core import masks
from brokerplane.core.account.model import Account, AccountQuery
from brokerplane.core.backoffice.model import (
    AccountPreset,
    BackofficeToken,
    Plan,
    UserSearch,
    WebhookKey,
    WhiteLabel,
)
from brokerplane.core.errors import Conflict
from brokerplane.core.user.model import DELETED, User
from tests.unit.fakes.accounts import FakeAccounts
from tests.unit.fakes.base import _copy, _Repo

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _folded(text: str) -> str:
    """ASCII letters lowered and nothing else, as the SQL repository compares names."""
    return text.translate(_ASCII_LOWER)


class FakeBackoffice(_Repo):
    """The BackofficeRepository port: unique names, ids counting up, tokens by hash, and the
    user search and accounts of a user as the SQL twin answers them."""

    def _unique(
        self, table: str, items: Iterator[tuple[int, str]], item_id: int, value: str
    ) -> None:
        if any(name == value and i != item_id for i, name in items):
            raise Conflict(f"unique constraint: {table}")

    def add_white_label(self, branding: WhiteLabel) -> WhiteLabel:
        self._writing()
        self._unique(
            "brokers.name", ((b.id, b.name) for b in self._s.brandings.values()), 0, branding.name
        )
        branding.id = self._s.next_branding_id
        self._s.next_branding_id += 1
        self._s.brandings[branding.id] = _copy(branding)
        return branding

    def get_white_label(self, branding_id: int) -> WhiteLabel | None:
        found = self._s.brandings.get(branding_id)
        return _copy(found) if found else None

    def white_label_by_name(self, name: str) -> WhiteLabel | None:
        return next(
            (
                _copy(b)
                for _, b in sorted(self._s.brandings.items())
                if _folded(b.name) == _folded(name)
            ),
            None,
        )

    def list_white_labels(self) -> list[WhiteLabel]:
        return [_copy(b) for _, b in sorted(self._s.brandings.items())]

    def add_plan(self, plan: Plan) -> Plan:
        self._writing()
        self._unique("plans.name", ((p.id, p.name) for p in self._s.plans.values()), 0, plan.name)
        plan.id = self._s.next_plan_id
        self._s.next_plan_id += 1
        self._s.plans[plan.id] = _copy(plan)
        return plan

    def get_plan(self, plan_id: int) -> Plan | None:
        found = self._s.plans.get(plan_id)
        return _copy(found) if found else None

    def plan_by_name(self, name: str) -> Plan | None:
        return next(
            (
                _copy(p)
                for _, p in sorted(self._s.plans.items())
                if _folded(p.name) == _folded(name)
            ),
            None,
        )

    def list_plans(self) -> list[Plan]:
        return [_copy(p) for _, p in sorted(self._s.plans.items())]

    def add_preset(self, preset: AccountPreset) -> AccountPreset:
        self._writing()
        names = ((p.id, p.name) for p in self._s.presets.values())
        self._unique("account_presets.name", names, 0, preset.name)
        preset.id = self._s.next_preset_id
        self._s.next_preset_id += 1
        self._s.presets[preset.id] = _copy(preset)
        return preset

    def get_preset(self, preset_id: int) -> AccountPreset | None:
        found = self._s.presets.get(preset_id)
        return _copy(found) if found else None

    def preset_by_name(self, name: str) -> AccountPreset | None:
        return next(
            (
                _copy(p)
                for _, p in sorted(self._s.presets.items())
                if _folded(p.name) == _folded(name)
            ),
            None,
        )

    def list_presets(self) -> list[AccountPreset]:
        return [_copy(p) for _, p in sorted(self._s.presets.items())]

    def add_webhook_key(self, key: WebhookKey) -> WebhookKey:
        self._writing()
        if key.user_id not in self._s.users:
            raise Conflict("foreign key: webhook_keys.user_id")
        self._unique(
            "webhook_keys.api_key",
            ((k.id, k.api_key) for k in self._s.webhook_keys.values()),
            0,
            key.api_key,
        )
        key.id = self._s.next_webhook_key_id
        self._s.next_webhook_key_id += 1
        self._s.webhook_keys[key.id] = _copy(key)
        return key

    def get_webhook_key(self, key_id: int) -> WebhookKey | None:
        found = self._s.webhook_keys.get(key_id)
        return _copy(found) if found else None

    def webhook_key_by_api_key(self, api_key: str) -> WebhookKey | None:
        return next((_copy(k) for k in self._s.webhook_keys.values() if k.api_key == api_key), None)

    def list_webhook_keys(self, user_ids: Sequence[int] | None) -> list[WebhookKey]:
        return [
            _copy(k)
            for _, k in sorted(self._s.webhook_keys.items())
            if user_ids is None or k.user_id in user_ids
        ]

    def count_webhook_keys(self, user_id: int) -> int:
        return sum(1 for k in self._s.webhook_keys.values() if k.user_id == user_id)

    def delete_webhook_key(self, key_id: int) -> None:
        self._writing()
        self._s.webhook_keys.pop(key_id, None)

    def touch_webhook_key(self, key_id: int, at: datetime) -> None:
        self._writing()
        key = self._s.webhook_keys.get(key_id)
        if key is not None:
            key.last_used_at = at

    def add_token(self, token: BackofficeToken) -> None:
        self._writing()
        if token.token_hash in self._s.bo_tokens:
            raise Conflict("unique constraint: backoffice_tokens")
        self._s.bo_tokens[token.token_hash] = token  # frozen: no copy needed

    def get_token(self, token_hash: str) -> BackofficeToken | None:
        return self._s.bo_tokens.get(token_hash)

    def _drop_tokens(self, keep: Callable[[BackofficeToken], bool]) -> int:
        self._writing()
        gone = [h for h, tok in self._s.bo_tokens.items() if not keep(tok)]
        for token_hash in gone:
            del self._s.bo_tokens[token_hash]
        return len(gone)

    def consume_token(self, token_hash: str) -> bool:
        return self._drop_tokens(lambda tok: tok.token_hash != token_hash) == 1

    def delete_session(self, session_id: str) -> None:
        self._drop_tokens(lambda tok: tok.session_id != session_id)

    def delete_tokens_of(self, principal: str, principal_id: int) -> None:
        self._drop_tokens(
            lambda tok: (tok.principal, tok.principal_id) != (principal, principal_id)
        )

    def purge_tokens(self, now: datetime) -> int:
        return self._drop_tokens(lambda tok: tok.expires_at > now)

    def user_by_login(self, login: str) -> User | None:
        if not login:
            return None
        return next(
            (
                _copy(u)
                for _, u in sorted(self._s.users.items())
                if u.login and _folded(u.login) == _folded(login)
            ),
            None,
        )

    def search_users(self, search: UserSearch) -> list[User]:
        logins = None if search.logins is None else {_folded(n) for n in search.logins}
        found: list[User] = []
        for _, u in sorted(self._s.users.items()):
            if logins is not None and not (u.login and _folded(u.login) in logins):
                continue
            if search.email is not None and u.email != search.email.lower():
                continue
            if search.group_ids is not None and u.group_id not in search.group_ids:
                continue
            if search.broker is not None and _folded(u.broker) != _folded(search.broker):
                continue
            if (
                search.reach_group_ids is not None
                and u.group_id is not None
                and u.group_id not in search.reach_group_ids
            ):
                continue
            if (
                search.broker_mask is not None
                and u.broker
                and not masks.matches(search.broker_mask, u.broker)
            ):
                continue
            if u.status == DELETED:
                continue
            found.append(_copy(u))
        return found[search.offset : search.offset + search.limit]

    def accounts_of_user(self, user_id: int) -> list[Account]:
        accounts = FakeAccounts(self._uow)
        return [
            accounts._out(a)
            for _, a in sorted(self._s.accounts.items())
            if a.user_id == user_id and a.deleted_at is None
        ]


class FakeExports(_Repo):
    """The ExportRepository port: the accounts FakeAccounts.list gives, as rows of the asked
    columns with times as ISO text ending in Z, as SqlExports writes them."""

    def account_rows(
        self, query: AccountQuery, columns: Sequence[str], blank: Collection[str] = ()
    ) -> list[Sequence[Any]]:
        def value(acc: Account, column: str) -> Any:
            found = "" if column in blank else getattr(acc, column)
            if isinstance(found, datetime):
                return found.isoformat().replace("+00:00", "Z")
            return found

        return [tuple(value(a, c) for c in columns) for a in FakeAccounts(self._uow).list(query)]

    def account_csv(
        self, query: AccountQuery, columns: Sequence[str], blank: Collection[str] = ()
    ) -> None:
        return None  # as SqlExports on SQLite: the caller formats account_rows
