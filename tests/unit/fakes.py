"""In-memory fakes of the core's ports (core/ports/) and its clock, for unit tests of the rules.

A unit of work works on a deep copy of the committed state: commit swaps the copy in, leaving
the with-block without commit discards it, as a database transaction would. Objects handed in
or out are copies too, so a caller mutating one changes nothing stored. Audit records are queued
and sealed onto the hash chain at commit, as SqlUnitOfWork does. Each repository answers as its
SQL twin in storage/repositories/ does: the same filters, id order, joined names and token checks.
"""

from __future__ import annotations

import builtins
import copy
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Any, TypeVar

from brokerplane.core import masks
from brokerplane.core.access.model import (
    ApiKey,
    Challenge,
    Manager,
    ManagerToken,
    SecondFactor,
    Strike,
)
from brokerplane.core.account.model import Account, AccountQuery
from brokerplane.core.approval.model import Approval, ApprovalQuery, ApprovalThreshold
from brokerplane.core.attribute.model import Attribute, AttributeQuery, AttributeSet
from brokerplane.core.audit.model import GENESIS_HASH, AuditQuery, AuditRecord
from brokerplane.core.backoffice.model import (
    AccountPreset,
    BackofficeToken,
    Plan,
    UserSearch,
    WebhookKey,
    WhiteLabel,
)
from brokerplane.core.errors import Conflict, EmailAlreadyExists, LoginAlreadyExists
from brokerplane.core.events.model import (
    Backlog,
    Delivery,
    Event,
    EventPage,
    EventQuery,
    Subscription,
)
from brokerplane.core.group.model import Group
from brokerplane.core.idempotency import Claim, IdempotencyRecord, StoredResponse
from brokerplane.core.ledger.model import (
    FIGURES,
    KINDS,
    CurrencyMismatch,
    EntryClaim,
    EntryFacts,
    FigureMismatch,
    LedgerEntry,
    LedgerQuery,
)
from brokerplane.core.symbol.model import Symbol
from brokerplane.core.trading.model import (
    Deal,
    DealQuery,
    ExposureFilter,
    ExposureSums,
    Position,
    PositionQuery,
    Quote,
)
from brokerplane.core.user.model import DELETED, User, UserLink, UserQuery
from tests.unit.fake_exposure import exposure_sums

T = TypeVar("T")


def _copy(obj: T) -> T:
    return copy.deepcopy(obj)


class FakeClock:
    """A clock that stands still until told to move; always timezone-aware UTC."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class FakeState:
    """Everything committed: what the database would hold."""

    groups: dict[int, Group] = field(default_factory=dict)
    accounts: dict[int, Account] = field(default_factory=dict)
    symbols: dict[int, Symbol] = field(default_factory=dict)
    managers: dict[int, Manager] = field(default_factory=dict)
    api_keys: dict[str, ApiKey] = field(default_factory=dict)
    audit: list[AuditRecord] = field(default_factory=list)
    ledger: list[LedgerEntry] = field(default_factory=list)
    approvals: dict[int, Approval] = field(default_factory=dict)
    # (currency, group_id) -> threshold; `group` is not stored, it is joined on the way out
    thresholds: dict[tuple[str, int], ApprovalThreshold] = field(default_factory=dict)
    # (scope, key) -> record
    idempotency: dict[tuple[str, str], IdempotencyRecord] = field(default_factory=dict)
    # token hash -> stored manager token
    tokens: dict[str, ManagerToken] = field(default_factory=dict)
    # sign-in lockout counters by key
    strikes: dict[str, Strike] = field(default_factory=dict)
    # sign-in lockout slots: (key, token) -> when the slot expires
    reservations: dict[tuple[str, str], datetime] = field(default_factory=dict)
    # (kind, entity id) -> name -> attribute
    attributes: dict[tuple[str, int], dict[str, Attribute]] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)
    # login -> link
    user_links: dict[int, UserLink] = field(default_factory=dict)
    next_user_id: int = 1
    next_link_id: int = 1
    next_group_id: int = 1
    next_symbol_id: int = 1
    next_ledger_id: int = 1
    next_approval_id: int = 1
    head_id: int = 0
    head_hash: str = GENESIS_HASH
    # the outbox, and webhook subscriptions with their delivery log
    events: list[Event] = field(default_factory=list)
    last_event_id: int = 0
    subscriptions: dict[int, Subscription] = field(default_factory=dict)
    leases: dict[int, tuple[str, datetime]] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    next_subscription_id: int = 1
    # the risk pass's margin states (login -> state; none: ok)
    margin_states: dict[int, str] = field(default_factory=dict)
    # the TraderEvolution back office
    brandings: dict[int, WhiteLabel] = field(default_factory=dict)
    plans: dict[int, Plan] = field(default_factory=dict)
    presets: dict[int, AccountPreset] = field(default_factory=dict)
    webhook_keys: dict[int, WebhookKey] = field(default_factory=dict)
    # token hash -> stored back-office token
    bo_tokens: dict[str, BackofficeToken] = field(default_factory=dict)
    next_branding_id: int = 1
    next_plan_id: int = 1
    next_preset_id: int = 1
    next_webhook_key_id: int = 1
    # trading
    quotes: dict[str, Quote] = field(default_factory=dict)
    positions: dict[int, Position] = field(default_factory=dict)
    deals: dict[int, Deal] = field(default_factory=dict)
    next_position_id: int = 1
    # managers' second factors: login -> factor; (login, code hash) -> used at; challenges
    second_factors: dict[int, SecondFactor] = field(default_factory=dict)
    recovery_codes: dict[tuple[int, str], datetime | None] = field(default_factory=dict)
    challenges: dict[str, Challenge] = field(default_factory=dict)


class ReadOnlyViolation(AssertionError):
    """The core wrote through a unit of work opened for reading."""


class _Repo:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    @property
    def _s(self) -> FakeState:
        return self._uow.work

    def _in_reach(
        self, login: int, group_ids: tuple[int, ...] | None, broker_mask: str | None
    ) -> bool:
        """Whether the account `login` passes a query's reach filters, as `_reach` in SQL:
        its group among `group_ids` (an empty tuple admits nothing) and its white label
        admitted by `broker_mask` (None: no limit)."""
        acc = self._s.accounts.get(login)
        if acc is None:
            return group_ids is None and broker_mask is None
        if group_ids is not None and acc.group_id not in group_ids:
            return False
        return broker_mask is None or masks.matches(broker_mask, acc.broker)

    def _writing(self) -> None:
        if not self._uow.write:
            raise ReadOnlyViolation("write through a read-only unit of work")


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


class FakeManagers(_Repo):
    def get(self, login: int) -> Manager | None:
        manager = self._s.managers.get(login)
        return _copy(manager) if manager else None

    def list(self) -> list[Manager]:
        return [_copy(self._s.managers[k]) for k in sorted(self._s.managers)]

    def add(self, manager: Manager) -> None:
        self._writing()
        if manager.login in self._s.managers:
            raise Conflict("unique constraint: managers.login")
        self._s.managers[manager.login] = _copy(manager)

    def update(self, manager: Manager) -> None:
        self._writing()
        if manager.login in self._s.managers:
            self._s.managers[manager.login] = _copy(manager)


class FakeApiKeys(_Repo):
    def get_by_prefix(self, prefix: str) -> ApiKey | None:
        return next((_copy(k) for k in self._s.api_keys.values() if k.prefix == prefix), None)

    def get(self, key_id: str) -> ApiKey | None:
        key = self._s.api_keys.get(key_id)
        return _copy(key) if key else None

    def with_manager(self, prefix: str) -> tuple[ApiKey, Manager | None] | None:
        key = self.get_by_prefix(prefix)
        if key is None:
            return None
        manager = self._s.managers.get(key.manager_login)
        return key, _copy(manager) if manager else None

    def list(self, manager_login: int | None = None) -> list[ApiKey]:
        keys = [k for k in self._s.api_keys.values()
                if manager_login is None or k.manager_login == manager_login]  # fmt: skip
        return [
            _copy(k)
            for k in sorted(keys, key=lambda k: k.created_at or datetime.min.replace(tzinfo=UTC))
        ]

    def children(self, key_id: str) -> builtins.list[ApiKey]:  # `list` is a method here
        return [_copy(k) for k in self._s.api_keys.values() if k.parent_key_id == key_id]

    def add(self, key: ApiKey) -> None:
        self._writing()
        if key.manager_login not in self._s.managers:
            raise Conflict("foreign key: api_keys.manager_login")
        if key.id in self._s.api_keys or any(
            k.prefix == key.prefix for k in self._s.api_keys.values()
        ):
            raise Conflict("unique constraint: api_keys")
        self._s.api_keys[key.id] = _copy(key)

    def touch(self, key_id: str, at: datetime) -> None:
        self._writing()
        if key_id in self._s.api_keys:
            self._s.api_keys[key_id].last_used_at = at

    def update(self, key: ApiKey) -> None:
        self._writing()
        if key.id in self._s.api_keys:
            self._s.api_keys[key.id] = _copy(key)


class FakeManagerTokens(_Repo):
    def get(self, token_hash: str) -> ManagerToken | None:
        return self._s.tokens.get(token_hash)  # frozen: no copy needed

    def with_manager(self, token_hash: str) -> tuple[ManagerToken, Manager | None] | None:
        token = self._s.tokens.get(token_hash)
        if token is None:
            return None
        manager = self._s.managers.get(token.manager_login)
        return token, _copy(manager) if manager else None

    def add(self, token: ManagerToken) -> None:
        self._writing()
        if token.manager_login not in self._s.managers:
            raise Conflict("foreign key: manager_tokens.manager_login")
        if token.token_hash in self._s.tokens:
            raise Conflict("unique constraint: manager_tokens")
        self._s.tokens[token.token_hash] = token

    def delete_for_manager(self, manager_login: int, dialect: str | None = None) -> None:
        self._writing()
        for key, tok in list(self._s.tokens.items()):
            if tok.manager_login == manager_login and dialect in (None, tok.dialect):
                del self._s.tokens[key]

    def for_manager(self, manager_login: int, dialect: str) -> list[ManagerToken]:
        found = [t for t in self._s.tokens.values()
                 if t.manager_login == manager_login and t.dialect == dialect]  # fmt: skip
        return sorted(found, key=lambda t: (-t.issued_at.timestamp(), t.token_hash))


class FakeLockouts(_Repo):
    def get(self, keys: Sequence[str]) -> list[Strike]:
        return [self._s.strikes[k] for k in keys if k in self._s.strikes]

    def strike(self, key: str, now: datetime, forget_before: datetime) -> Strike:
        self._writing()
        old = self._s.strikes.get(key)
        if old is not None and old.locked_until is not None and old.locked_until > now:
            return old
        forgotten = old is None or (
            old.last_failure_at < forget_before
            and (old.locked_until is None or old.locked_until < forget_before)
        )
        if forgotten or old is None:
            new = Strike(key, 1, now, None)
        else:
            new = replace(old, failures=old.failures + 1, last_failure_at=now)
        self._s.strikes[key] = new
        return new

    def hold(self, key: str, now: datetime, forget_before: datetime) -> Strike:
        self._writing()
        old = self._s.strikes.get(key)
        if old is None:
            new = Strike(key, 0, now, None)
        elif old.last_failure_at < forget_before and (
            old.locked_until is None or old.locked_until < forget_before
        ):
            new = replace(old, failures=0, locked_until=None)
        else:
            new = old
        self._s.strikes[key] = new
        return new

    def in_flight(self, key: str, now: datetime) -> int:
        self._writing()
        for slot in [s for s, ends in self._s.reservations.items() if s[0] == key and ends <= now]:
            del self._s.reservations[slot]
        return sum(1 for k, _ in self._s.reservations if k == key)

    def reserve(self, key: str, token: str, expires_at: datetime) -> None:
        self._writing()
        self._s.reservations[(key, token)] = expires_at

    def release(self, keys: Sequence[str], token: str) -> None:
        self._writing()
        for key in keys:
            self._s.reservations.pop((key, token), None)

    def clear_subject(self, subject: str) -> int:
        self._writing()
        gone = [k for k in self._s.strikes if k == subject or k.startswith(f"{subject}@")]
        for key in gone:
            del self._s.strikes[key]
        return len(gone)

    def lock(self, key: str, until: datetime) -> None:
        self._writing()
        old = self._s.strikes.get(key)
        if old is not None and (old.locked_until is None or old.locked_until < until):
            self._s.strikes[key] = replace(old, locked_until=until)

    def clear(self, keys: Sequence[str]) -> None:
        self._writing()
        for key in keys:
            self._s.strikes.pop(key, None)

    def purge(self, before: datetime) -> int:
        self._writing()
        gone = [k for k, s in self._s.strikes.items() if s.last_failure_at < before
                and (s.locked_until is None or s.locked_until < before)]  # fmt: skip
        for key in gone:
            del self._s.strikes[key]
        for slot in [s for s, ends in self._s.reservations.items() if ends < before]:
            del self._s.reservations[slot]
        return len(gone)


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


class FakeLedger(_Repo):
    def add(self, entry: LedgerEntry) -> LedgerEntry:
        self._writing()
        if entry.login not in self._s.accounts:
            raise Conflict("foreign key: ledger_entries.login")
        entry.id = self._s.next_ledger_id
        self._s.next_ledger_id += 1
        self._s.ledger.append(_copy(entry))
        return entry

    def mismatches(self) -> list[FigureMismatch]:
        """Per account in login order, each cached figure that is not the sum of its entries."""
        sums: dict[int, dict[str, int]] = {}
        for entry in self._s.ledger:
            totals = sums.setdefault(entry.login, dict.fromkeys(FIGURES, 0))
            totals[KINDS[entry.kind][0]] += entry.amount
        found = []
        for login in sorted(self._s.accounts):
            acc = self._s.accounts[login]
            totals = sums.get(login, dict.fromkeys(FIGURES, 0))
            for figure in FIGURES:
                cached = getattr(acc, figure)
                if cached != totals[figure]:
                    found.append(FigureMismatch(login, figure, cached, totals[figure],
                                                acc.currency, acc.currency_digits))  # fmt: skip
        return found

    def figures_of(self, login: int) -> tuple[int, int, int]:
        totals = dict.fromkeys(FIGURES, 0)
        for entry in self._s.ledger:
            if entry.login == login:
                totals[KINDS[entry.kind][0]] += entry.amount
        return totals["balance"], totals["credit"], totals["bonus"]

    def iter_facts(self) -> Iterator[EntryFacts]:
        for x in sorted(self._s.ledger, key=lambda e: e.id):
            yield EntryFacts(x.id, x.login, x.kind, x.amount, x.balance_after, x.credit_after,
                             x.bonus_after)  # fmt: skip

    def currency_mismatches(self) -> list[CurrencyMismatch]:
        found = []
        for x in sorted(self._s.ledger, key=lambda e: e.id):
            acc = self._s.accounts[x.login]
            if (x.currency, x.currency_digits) != (acc.currency, acc.currency_digits):
                found.append(
                    CurrencyMismatch(
                        acc.login,
                        acc.currency,
                        acc.currency_digits,
                        x.currency,
                        x.currency_digits,
                        f"entry {x.id}",
                    )
                )
        return found

    def accounts_count(self) -> int:
        return len(self._s.accounts)

    def totals(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for x in self._s.ledger:
            sums = out.setdefault(x.currency, {"entries": 0, **dict.fromkeys(FIGURES, 0)})
            sums["entries"] += 1
            sums[KINDS[x.kind][0]] += x.amount
        return dict(sorted(out.items()))

    def list(self, query: LedgerQuery) -> list[LedgerEntry]:
        out = []
        for entry in sorted(self._s.ledger, key=lambda e: e.id):
            if query.login is not None and entry.login != query.login:
                continue
            if query.logins is not None and entry.login not in query.logins:
                continue
            if query.ids is not None and entry.id not in query.ids:
                continue
            if query.kinds and entry.kind not in query.kinds:
                continue
            if query.time_from is not None and entry.at < query.time_from:
                continue
            if query.time_to is not None and entry.at >= query.time_to:
                continue
            if query.reference is not None and entry.reference != query.reference:
                continue
            if query.after_id is not None and entry.id <= query.after_id:
                continue
            if not self._in_reach(entry.login, query.group_ids, query.broker_mask):
                continue
            out.append(_copy(entry))
            if len(out) == query.limit:
                break
        return out


class FakeApprovals(_Repo):
    def add(self, approval: Approval) -> Approval:
        self._writing()
        if approval.login not in self._s.accounts:
            raise Conflict("foreign key: approvals.login")
        approval.id = self._s.next_approval_id
        self._s.next_approval_id += 1
        self._s.approvals[approval.id] = _copy(approval)
        return approval

    def get(self, approval_id: int, *, for_update: bool = False) -> Approval | None:
        found = self._s.approvals.get(approval_id)
        return _copy(found) if found else None

    def update(self, approval: Approval) -> None:
        self._writing()
        if approval.id in self._s.approvals:
            self._s.approvals[approval.id] = _copy(approval)

    def due(self, now: datetime) -> list[Approval]:
        return [_copy(self._s.approvals[i]) for i in sorted(self._s.approvals)
                if self._s.approvals[i].state == "pending"
                and self._s.approvals[i].expires_at <= now]  # fmt: skip

    def list(self, query: ApprovalQuery) -> list[Approval]:
        out = []
        for approval_id in sorted(self._s.approvals):
            held = self._s.approvals[approval_id]
            if query.state is not None and held.state != query.state:
                continue
            if query.login is not None and held.login != query.login:
                continue
            if query.after_id is not None and approval_id <= query.after_id:
                continue
            if not self._in_reach(held.login, query.group_ids, query.broker_mask):
                continue
            out.append(_copy(held))
            if len(out) == query.limit:
                break
        return out

    def count_pending(self) -> int:
        return sum(1 for held in self._s.approvals.values() if held.state == "pending")


class FakeThresholds(_Repo):
    def _out(self, threshold: ApprovalThreshold) -> ApprovalThreshold:
        out = _copy(threshold)
        group = self._s.groups.get(threshold.group_id)
        out.group = group.name if group else None  # the outer join the SQL repository makes
        return out

    def find(self, currency: str, group_id: int) -> ApprovalThreshold | None:
        found = self._s.thresholds.get((currency, group_id))
        return self._out(found) if found else None

    def applicable(self, currency: str, group_id: int) -> int | None:
        for key in ((currency, group_id), (currency, 0)):
            if key in self._s.thresholds:
                return self._s.thresholds[key].amount
        return None

    def list(self) -> list[ApprovalThreshold]:
        return [self._out(self._s.thresholds[k]) for k in sorted(self._s.thresholds)]

    def put(self, threshold: ApprovalThreshold) -> None:
        self._writing()
        stored = _copy(threshold)
        stored.group = None
        self._s.thresholds[(threshold.currency, threshold.group_id)] = stored

    def delete(self, currency: str, group_id: int) -> None:
        self._writing()
        self._s.thresholds.pop((currency, group_id), None)


class FakeIdempotency(_Repo):
    """The IdempotencyStore port (core/idempotency.py)."""

    def get(self, scope: str, key: str, *, for_update: bool = False) -> IdempotencyRecord | None:
        found = self._s.idempotency.get((scope, key))
        return _copy(found) if found else None

    def insert(self, record: IdempotencyRecord, *, lazy_commit: bool = True) -> bool:
        self._writing()
        if (record.scope, record.key) in self._s.idempotency:
            return False
        self._s.idempotency[(record.scope, record.key)] = _copy(record)
        return True

    def replace(self, record: IdempotencyRecord, *, lazy_commit: bool = True) -> None:
        self._writing()
        if (record.scope, record.key) in self._s.idempotency:
            self._s.idempotency[(record.scope, record.key)] = _copy(record)

    def _held(self, claim: Claim) -> IdempotencyRecord | None:
        found = self._s.idempotency.get((claim.scope, claim.key))
        if found is None or found.token != claim.token or found.state != "pending":
            return None
        return found

    def complete(self, claim: Claim, response: StoredResponse, at: datetime) -> bool:
        self._writing()
        held = self._held(claim)
        if held is None:
            return False
        held.state, held.status, held.body = "done", response.status, response.body
        held.operation_id, held.completed_at = response.operation_id, at
        return True

    def release(self, claim: Claim) -> None:
        self._writing()
        if self._held(claim) is not None:
            del self._s.idempotency[(claim.scope, claim.key)]

    def purge(self, now: datetime) -> int:
        self._writing()
        gone = [k for k, r in self._s.idempotency.items() if r.expires_at <= now]
        for k in gone:
            del self._s.idempotency[k]
        return len(gone)


class FakeAudit(_Repo):
    def __init__(self, uow: FakeUnitOfWork) -> None:
        super().__init__(uow)
        self.pending: list[AuditRecord] = []

    def append(self, record: AuditRecord) -> None:
        self._writing()
        self.pending.append(_copy(record))

    def for_entity(self, entity_type: str, entity_id: str) -> list[AuditRecord]:
        return [_copy(r) for r in self._s.audit
                if r.entity_type == entity_type and r.entity_id == entity_id]  # fmt: skip

    def query(self, query: AuditQuery) -> list[AuditRecord]:
        """Committed records only, oldest first; `action` ending in "." matches a prefix."""
        out = []
        for rec in sorted(self._s.audit, key=lambda r: r.id):
            if query.entity_type is not None and rec.entity_type != query.entity_type:
                continue
            if query.entity_id is not None and rec.entity_id != query.entity_id:
                continue
            if query.action is not None and not (
                rec.action.startswith(query.action)
                if query.action.endswith(".")
                else rec.action == query.action
            ):
                continue
            if query.manager_login is not None and rec.manager_login != query.manager_login:
                continue
            if query.operator_id is not None and rec.operator_id != query.operator_id:
                continue
            if query.request_id is not None and rec.request_id != query.request_id:
                continue
            if query.dialect is not None and rec.dialect != query.dialect:
                continue
            if query.time_from is not None and rec.at < query.time_from:
                continue
            if query.time_to is not None and rec.at >= query.time_to:
                continue
            if query.after_id is not None and rec.id <= query.after_id:
                continue
            out.append(_copy(rec))
            if len(out) == query.limit:
                break
        return out

    def iter_all(self) -> Iterator[AuditRecord]:
        for rec in sorted(self._s.audit, key=lambda r: r.id):
            yield _copy(rec)

    def iter_entry_claims(self) -> Iterator[EntryClaim]:
        """As the SQL twin reads them out of each money record's after snapshot."""
        for rec in sorted(self._s.audit, key=lambda r: r.id):
            after = rec.after or {}
            if rec.action == "trade.deal":
                deal = after.get("deal") or {}
                yield EntryClaim(rec.id, deal.get("id"), rec.entity_id, "trade",
                                 deal.get("profit"), after.get("balance"), None, None)  # fmt: skip
            elif rec.action == "ledger.entry_posted":
                x = after.get("entry") or {}
                yield EntryClaim(rec.id, x.get("id"), rec.entity_id, x.get("kind"),
                                 x.get("amount"), x.get("balance_after"), x.get("credit_after"),
                                 x.get("bonus_after"))  # fmt: skip

    def iter_snapshots(
        self, entity_types: Sequence[str]
    ) -> Iterator[tuple[int, str, str, str, dict[str, Any] | None, int | None]]:
        for rec in sorted(self._s.audit, key=lambda r: r.id):
            if rec.entity_type in entity_types:
                yield (rec.id, rec.action, rec.entity_type, rec.entity_id,
                       copy.deepcopy(rec.after), rec.manager_login)  # fmt: skip

    def head(self) -> tuple[int, str]:
        return self._s.head_id, self._s.head_hash

    def seal(self) -> None:
        """Chain the queued records after the head, as SqlAudit.flush does at commit."""
        for rec in self.pending:
            self._s.head_id += 1
            rec.id = self._s.head_id
            rec.seal(self._s.head_hash)
            self._s.head_hash = rec.hash
            self._s.audit.append(rec)
            for event in rec.events:  # numbered with the record, as SqlAudit.flush does
                self._s.last_event_id += 1
                event.id, event.audit_id, event.at = self._s.last_event_id, rec.id, rec.at
                event.manager_login, event.key_id = rec.manager_login, rec.key_id
                event.operator_id, event.request_id = rec.operator_id, rec.request_id
                event.dialect = rec.dialect
                acc = self._s.accounts.get(event.login) if event.login is not None else None
                if acc is not None:
                    event.group = event.group or acc.group
                    event.broker = event.broker if event.broker is not None else acc.broker
                self._s.events.append(_copy(event))
        self.pending = []


class FakeEvents(_Repo):
    """The EventRepository port in memory: the feed's filters and window as SqlEvents reads
    them, subscriptions with leases and their delivery log."""

    def bounds(self) -> tuple[int, int]:
        ids = [e.id for e in self._s.events]
        return (min(ids), max(ids)) if ids else (0, self._s.last_event_id)

    def _matches(self, e: Event, q: EventQuery) -> bool:
        if q.types and not any(e.type.startswith(t) if t.endswith(".") else e.type == t
                               for t in q.types):  # fmt: skip
            return False
        if not q.admin and e.login is None:
            return False
        for mask, value in ((q.group_mask, e.group), (q.group_filter, e.group),
                            (q.broker_mask, e.broker)):  # fmt: skip
            if mask is not None and (value is None or not masks.matches(mask, value)):
                return False
        return True

    def page(self, q: EventQuery) -> EventPage:
        oldest, head = self.bounds()
        start = max(q.after_id, oldest - 1)
        end = min(start + q.window, head)
        if start >= head:
            return EventPage([], q.after_id, head)
        found = [_copy(e) for e in self._s.events
                 if start < e.id <= end and self._matches(e, q)][: q.limit]  # fmt: skip
        return EventPage(found, found[-1].id if len(found) == q.limit else end, head)

    def purge(self, before: datetime) -> int:
        self._writing()
        kept = [e for e in self._s.events if e.at is None or e.at >= before]
        gone = len(self._s.events) - len(kept)
        self._s.events = kept
        self._s.deliveries = [d for d in self._s.deliveries if d.at >= before]
        return gone

    def add_subscription(self, sub: Subscription) -> Subscription:
        self._writing()
        sub.id = self._s.next_subscription_id
        self._s.next_subscription_id += 1
        self._s.subscriptions[sub.id] = _copy(sub)
        return sub

    def get_subscription(self, sub_id: int, *, for_update: bool = False) -> Subscription | None:
        found = self._s.subscriptions.get(sub_id)
        return _copy(found) if found else None

    def list_subscriptions(self) -> list[Subscription]:
        return [_copy(s) for _, s in sorted(self._s.subscriptions.items())]

    def count_subscriptions(self) -> int:
        return len(self._s.subscriptions)

    def update_subscription(self, sub: Subscription) -> None:
        self._writing()
        self._s.subscriptions[sub.id] = _copy(sub)

    def delete_subscription(self, sub_id: int) -> None:
        self._writing()
        self._s.subscriptions.pop(sub_id, None)
        self._s.deliveries = [d for d in self._s.deliveries if d.subscription_id != sub_id]

    def _due(self, sub: Subscription, now: datetime) -> bool:
        return sub.state == "active" and (sub.next_attempt_at is None or sub.next_attempt_at <= now)

    def any_due(self, now: datetime) -> bool:
        return any(self._due(s, now) for s in self._s.subscriptions.values())

    def claim_due(
        self, owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[Subscription]:
        self._writing()
        claimed: list[Subscription] = []
        for sub_id, sub in sorted(self._s.subscriptions.items()):
            held = self._s.leases.get(sub_id)
            free = held is None or held[1] < now or held[0] == owner
            if free and self._due(sub, now) and len(claimed) < limit:
                self._s.leases[sub_id] = (owner, lease_until)
                claimed.append(_copy(sub))
        return claimed

    def holds(
        self, sub_id: int, owner: str, now: datetime, *, lock: bool = True
    ) -> Subscription | None:
        held = self._s.leases.get(sub_id)
        if held is None or held[0] != owner or held[1] < now:
            return None
        return self.get_subscription(sub_id)

    def release(self, sub_id: int, owner: str) -> None:
        self._writing()
        if self._s.leases.get(sub_id, ("", None))[0] == owner:
            del self._s.leases[sub_id]

    def log_delivery(self, delivery: Delivery) -> None:
        self._writing()
        delivery.id = len(self._s.deliveries) + 1
        self._s.deliveries.append(_copy(delivery))

    def deliveries(self, sub_id: int, after_id: int, limit: int) -> list[Delivery]:
        return [_copy(d) for d in self._s.deliveries
                if d.subscription_id == sub_id and d.id > after_id][:limit]  # fmt: skip

    def watched_logins(self, after_login: int, limit: int) -> list[int]:
        held = {p.login for p in self._s.positions.values()} | set(self._s.margin_states)
        return sorted(x for x in held if x > after_login)[:limit]

    def margin_states(self, logins: Sequence[int]) -> dict[int, str]:
        return {x: self._s.margin_states[x] for x in logins if x in self._s.margin_states}

    def set_margin_state(
        self, login: int, before: str, after: str, level: Decimal, now: datetime
    ) -> bool:
        if self._s.margin_states.get(login, "ok") != before:
            return False
        if after == "ok":
            self._s.margin_states.pop(login, None)
        else:
            self._s.margin_states[login] = after
        return True

    def backlog(self) -> Backlog:
        states: dict[str, int] = {}
        for sub in self._s.subscriptions.values():
            states[sub.state] = states.get(sub.state, 0) + 1
        cursors = [s.cursor for s in self._s.subscriptions.values() if s.state != "paused"]
        head = self.bounds()[1]
        if not cursors or min(cursors) >= head:
            return Backlog(states, 0, None)
        behind = min(cursors)
        oldest = min((e.id, e.at) for e in self._s.events if e.id > behind)[1]
        return Backlog(states, head - behind, oldest)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _folded(text: str) -> str:
    """ASCII letters lowered and nothing else, as the SQL repository compares names."""
    return text.translate(_ASCII_LOWER)


class FakeBackoffice(_Repo):
    """The BackofficeRepository port: unique names, ids counting up, tokens by hash, and the
    user search and accounts of a user as the SQL twin answers them."""

    def _unique(self, table: str, items: Iterator[tuple[int, str]], item_id: int,
                value: str) -> None:  # fmt: skip
        if any(name == value and i != item_id for i, name in items):
            raise Conflict(f"unique constraint: {table}")

    def add_white_label(self, branding: WhiteLabel) -> WhiteLabel:
        self._writing()
        self._unique("brokers.name", ((b.id, b.name) for b in self._s.brandings.values()), 0,
                     branding.name)  # fmt: skip
        branding.id = self._s.next_branding_id
        self._s.next_branding_id += 1
        self._s.brandings[branding.id] = _copy(branding)
        return branding

    def get_white_label(self, branding_id: int) -> WhiteLabel | None:
        found = self._s.brandings.get(branding_id)
        return _copy(found) if found else None

    def white_label_by_name(self, name: str) -> WhiteLabel | None:
        return next((_copy(b) for _, b in sorted(self._s.brandings.items())
                     if _folded(b.name) == _folded(name)), None)  # fmt: skip

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
        return next((_copy(p) for _, p in sorted(self._s.plans.items())
                     if _folded(p.name) == _folded(name)), None)  # fmt: skip

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
        return next((_copy(p) for _, p in sorted(self._s.presets.items())
                     if _folded(p.name) == _folded(name)), None)  # fmt: skip

    def list_presets(self) -> list[AccountPreset]:
        return [_copy(p) for _, p in sorted(self._s.presets.items())]

    def add_webhook_key(self, key: WebhookKey) -> WebhookKey:
        self._writing()
        if key.user_id not in self._s.users:
            raise Conflict("foreign key: webhook_keys.user_id")
        self._unique("webhook_keys.api_key",
                     ((k.id, k.api_key) for k in self._s.webhook_keys.values()), 0,
                     key.api_key)  # fmt: skip
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
        return [_copy(k) for _, k in sorted(self._s.webhook_keys.items())
                if user_ids is None or k.user_id in user_ids]  # fmt: skip

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
        return next((_copy(u) for _, u in sorted(self._s.users.items())
                     if u.login and _folded(u.login) == _folded(login)), None)  # fmt: skip

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
        return [accounts._out(a) for _, a in sorted(self._s.accounts.items())
                if a.user_id == user_id and a.deleted_at is None]  # fmt: skip


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


class FakeTrading(_Repo):
    """The TradingRepository port: newest quote per symbol, positions by id, deals by the id of
    their ledger entry, and the exposure sums the SQL aggregate gives."""

    def put_quotes(self, quotes: Sequence[Quote]) -> int:
        self._writing()
        stored = 0
        for q in quotes:
            held = self._s.quotes.get(q.symbol)
            if held is None or q.at >= held.at:
                self._s.quotes[q.symbol] = q
                stored += 1
        return stored

    def quotes(self, symbols: Sequence[str] | None = None) -> dict[str, Quote]:
        return {k: q for k, q in self._s.quotes.items() if symbols is None or k in symbols}

    def positions_of(self, login: int) -> list[Position]:
        return [_copy(p) for _, p in sorted(self._s.positions.items()) if p.login == login]

    def get_position(self, position_id: int) -> Position | None:
        found = self._s.positions.get(position_id)
        return _copy(found) if found else None

    def add_position(self, position: Position) -> Position:
        self._writing()
        if position.login not in self._s.accounts:
            raise Conflict("foreign key: positions.login")
        position.id = self._s.next_position_id
        self._s.next_position_id += 1
        self._s.positions[position.id] = _copy(position)
        return position

    def update_position(self, position: Position) -> None:
        self._writing()
        self._s.positions[position.id] = _copy(position)

    def delete_position(self, position_id: int) -> None:
        self._writing()
        self._s.positions.pop(position_id, None)

    def list_positions(self, query: PositionQuery) -> list[Position]:
        out = []
        for pid, pos in sorted(self._s.positions.items()):
            if query.logins is not None and pos.login not in query.logins:
                continue
            if query.symbol is not None and pos.symbol != query.symbol:
                continue
            if query.after_id is not None and pid <= query.after_id:
                continue
            if not self._in_reach(pos.login, query.group_ids, query.broker_mask):
                continue
            out.append(_copy(pos))
        return out[: query.limit]

    def add_deal(self, deal: Deal) -> None:
        self._writing()
        if deal.id in self._s.deals or all(e.id != deal.id for e in self._s.ledger):
            raise Conflict("deals.id must be a new ledger entry's id")
        self._s.deals[deal.id] = _copy(deal)

    def get_deal(self, deal_id: int) -> Deal | None:
        found = self._s.deals.get(deal_id)
        return _copy(found) if found else None

    def list_deals(self, query: DealQuery) -> list[Deal]:
        out = []
        for did, deal in sorted(self._s.deals.items()):
            checks = (
                query.login is None or deal.login == query.login,
                query.position_id is None or deal.position_id == query.position_id,
                query.logins is None or deal.login in query.logins,
                query.ids is None or did in query.ids,
                not query.entries or deal.entry in query.entries,
                query.time_from is None or deal.at >= query.time_from,
                query.time_to is None or deal.at < query.time_to,
                query.opened_from is None or deal.opened_at >= query.opened_from,
                query.opened_to is None or deal.opened_at < query.opened_to,
                query.after_id is None or did > query.after_id,
                self._in_reach(deal.login, query.group_ids, query.broker_mask),
            )
            if all(checks):
                out.append(_copy(deal))
        return out[: query.limit]

    def exposure(self, query: ExposureFilter) -> ExposureSums:
        if query.group_ids == () or query.symbols == ():
            return ExposureSums([], {}, 0)
        s = self._s
        return exposure_sums(s.positions, s.accounts, s.quotes, query, self._in_reach)


class FakeSecondFactor(_Repo):
    def get(self, login: int) -> SecondFactor | None:
        found = self._s.second_factors.get(login)
        return replace(found) if found is not None else None

    def put(self, factor: SecondFactor) -> None:
        self._writing()
        if factor.manager_login not in self._s.managers:
            raise Conflict("foreign key: manager_second_factors.manager_login")
        self._s.second_factors[factor.manager_login] = replace(factor)

    def delete(self, login: int) -> bool:
        self._writing()
        return self._s.second_factors.pop(login, None) is not None

    def use_step(self, login: int, step: int) -> bool:
        self._writing()
        found = self._s.second_factors.get(login)
        if found is None or not found.enabled or (found.last_step or -1) >= step:
            return False
        found.last_step = step
        return True

    def set_recovery_codes(self, login: int, hashes: Sequence[str], at: datetime | None) -> None:
        self._writing()
        for key in [k for k in self._s.recovery_codes if k[0] == login]:
            del self._s.recovery_codes[key]
        for code_hash in hashes:
            self._s.recovery_codes[(login, code_hash)] = None

    def use_recovery_code(self, login: int, code_hash: str, at: datetime) -> bool:
        self._writing()
        key = (login, code_hash)
        if key not in self._s.recovery_codes or self._s.recovery_codes[key] is not None:
            return False
        self._s.recovery_codes[key] = at
        return True

    def unused_recovery_hashes(self, login: int) -> list[str]:
        return sorted(h for (who, h), used in self._s.recovery_codes.items()
                      if who == login and used is None)  # fmt: skip

    def recovery_codes_left(self, login: int) -> int:
        return sum(1 for (who, _), used in self._s.recovery_codes.items()
                   if who == login and used is None)  # fmt: skip

    def add_challenge(self, challenge: Challenge) -> None:
        self._writing()
        self._s.challenges[challenge.token_hash] = challenge

    def get_challenge(self, token_hash: str) -> Challenge | None:
        return self._s.challenges.get(token_hash)

    def count_attempt(self, token_hash: str) -> int:
        self._writing()
        found = self._s.challenges.get(token_hash)
        if found is None:
            return 0
        self._s.challenges[token_hash] = replace(found, attempts=found.attempts + 1)
        return found.attempts + 1

    def delete_challenge(self, token_hash: str) -> bool:
        self._writing()
        return self._s.challenges.pop(token_hash, None) is not None

    def delete_challenges_of(self, login: int) -> None:
        self._writing()
        for key in [k for k, c in self._s.challenges.items() if c.manager_login == login]:
            del self._s.challenges[key]

    def purge_challenges(self, now: datetime) -> int:
        self._writing()
        gone = [k for k, c in self._s.challenges.items() if c.expires_at <= now]
        for key in gone:
            del self._s.challenges[key]
        return len(gone)


class FakeUnitOfWork:
    def __init__(self, factory: FakeUowFactory, write: bool) -> None:
        self._factory = factory
        self.write = write
        self.work = FakeState()
        self.committed = False
        self.groups = FakeGroups(self)
        self.accounts = FakeAccounts(self)
        self.symbols = FakeSymbols(self)
        self.managers = FakeManagers(self)
        self.api_keys = FakeApiKeys(self)
        self.audit = FakeAudit(self)
        self.ledger = FakeLedger(self)
        self.approvals = FakeApprovals(self)
        self.thresholds = FakeThresholds(self)
        self.idempotency = FakeIdempotency(self)
        self.tokens = FakeManagerTokens(self)
        self.lockouts = FakeLockouts(self)
        self.attributes = FakeAttributes(self)
        self.users = FakeUsers(self)
        self.backoffice = FakeBackoffice(self)
        self.trading = FakeTrading(self)
        self.exports = FakeExports(self)
        self.events = FakeEvents(self)
        self.second_factor = FakeSecondFactor(self)

    def __enter__(self) -> FakeUnitOfWork:
        if self.write:
            self._factory.write_lock.acquire()  # writers take turns, like BEGIN IMMEDIATE
        self.work = _copy(self._factory.state)
        self._factory.opened += 1
        return self

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        self._factory.savepoints += 1
        saved, mark = _copy(self.work), len(self.audit.pending)
        try:
            yield
        except BaseException:
            self.work = saved
            del self.audit.pending[mark:]
            raise

    def commit(self) -> None:
        if self._factory.fail_next_commit is not None:
            error, self._factory.fail_next_commit = self._factory.fail_next_commit, None
            raise error
        self.audit.seal()
        self._factory.state = self.work
        self._factory.commits += 1
        self.committed = True
        self.work = _copy(self.work)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.work = FakeState()  # whatever was not committed is gone
        self.audit.pending = []
        if self.write:
            self._factory.write_lock.release()


class FakeUowFactory:
    """The UnitOfWorkFactory port over one in-memory state; tests may inspect `state`."""

    def __init__(self) -> None:
        self.state = FakeState()
        self.write_lock = threading.RLock()
        self.opened = 0
        self.commits = 0
        self.fail_next_commit: BaseException | None = None
        self.savepoints = 0  # savepoints opened, by every unit of work

    def __call__(self, *, write: bool = True) -> FakeUnitOfWork:
        return FakeUnitOfWork(self, write)
