"""Services: the core's front door; each call runs one command or read in one unit of work."""

from __future__ import annotations

import importlib
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from brokerplane.core.access.keycache import VerifiedKeys
from brokerplane.core.access.model import ApiKey, LockoutPolicy, Manager
from brokerplane.core.account.model import Account, TradeState
from brokerplane.core.actor import Actor, system_actor
from brokerplane.core.approval.model import Approval, ApprovalQuery, ApprovalThreshold
from brokerplane.core.audit.model import AuditQuery, AuditRecord
from brokerplane.core.backoffice.model import AccountPreset, Branding, Plan, WebhookKey
from brokerplane.core.clock import Clock, utc_now
from brokerplane.core.commit import GroupCommit
from brokerplane.core.config import CoreConfig
from brokerplane.core.errors import (
    CoreError,
    RequestInFlight,
    Unauthorized,
    ValidationError,
    WrongPassword,
)
from brokerplane.core.events.model import Backlog, Delivery, EventPage, Subscription
from brokerplane.core.group.model import Group
from brokerplane.core.ledger.model import FigureMismatch, LedgerEntry, LedgerQuery
from brokerplane.core.ports import CredentialWatch, LaggingReads, UnitOfWork, UnitOfWorkFactory
from brokerplane.core.symbol.model import Symbol
from brokerplane.core.trading.model import Deal, DealQuery, Market, PositionFigures, Quote, Risk
from brokerplane.core.user.model import User, UserQuery


class _Slice:
    """A core slice's module, imported when a Services call first uses it: a command that
    reads API keys does not pay for importing the ledger, trading, reports and the rest."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attribute)


if TYPE_CHECKING:
    from brokerplane.core import idempotency
    from brokerplane.core.access import lockout, second_factor, tokens, totp
    from brokerplane.core.access import service as access
    from brokerplane.core.account import archive
    from brokerplane.core.account import service as accounts
    from brokerplane.core.approval import service as approvals
    from brokerplane.core.attribute import service as attributes
    from brokerplane.core.audit import service as audit
    from brokerplane.core.backoffice import catalog as bo_catalog
    from brokerplane.core.backoffice import reports as bo_reports
    from brokerplane.core.backoffice import sessions as bo_sessions
    from brokerplane.core.backoffice import users as bo_users
    from brokerplane.core.backoffice import webhooks as bo_webhooks
    from brokerplane.core.events import delivery
    from brokerplane.core.events import service as events
    from brokerplane.core.group import service as groups
    from brokerplane.core.ledger import check as ledger_check
    from brokerplane.core.ledger import service as ledger
    from brokerplane.core.ledger import transfer as transfers
    from brokerplane.core.symbol import service as symbols
    from brokerplane.core.trading import batch, records, watch, whatif
    from brokerplane.core.trading import service as trading
    from brokerplane.core.user import cid as user_cid
    from brokerplane.core.user import service as users
else:
    attributes = _Slice("brokerplane.core.attribute.service")
    idempotency = _Slice("brokerplane.core.idempotency")
    lockout = _Slice("brokerplane.core.access.lockout")
    tokens = _Slice("brokerplane.core.access.tokens")
    second_factor = _Slice("brokerplane.core.access.second_factor")
    totp = _Slice("brokerplane.core.access.totp")
    access = _Slice("brokerplane.core.access.service")
    archive = _Slice("brokerplane.core.account.archive")
    accounts = _Slice("brokerplane.core.account.service")
    approvals = _Slice("brokerplane.core.approval.service")
    audit = _Slice("brokerplane.core.audit.service")
    bo_catalog = _Slice("brokerplane.core.backoffice.catalog")
    bo_reports = _Slice("brokerplane.core.backoffice.reports")
    bo_sessions = _Slice("brokerplane.core.backoffice.sessions")
    bo_users = _Slice("brokerplane.core.backoffice.users")
    bo_webhooks = _Slice("brokerplane.core.backoffice.webhooks")
    delivery = _Slice("brokerplane.core.events.delivery")
    events = _Slice("brokerplane.core.events.service")
    groups = _Slice("brokerplane.core.group.service")
    ledger_check = _Slice("brokerplane.core.ledger.check")
    ledger = _Slice("brokerplane.core.ledger.service")
    transfers = _Slice("brokerplane.core.ledger.transfer")
    symbols = _Slice("brokerplane.core.symbol.service")
    batch = _Slice("brokerplane.core.trading.batch")
    records = _Slice("brokerplane.core.trading.records")
    whatif = _Slice("brokerplane.core.trading.whatif")
    watch = _Slice("brokerplane.core.trading.watch")
    trading = _Slice("brokerplane.core.trading.service")
    user_cid = _Slice("brokerplane.core.user.cid")
    users = _Slice("brokerplane.core.user.service")

T = TypeVar("T")

# an attempt waiting for a lockout slot polls the database this often (doubling, jittered)
_FIRST_PAUSE = 0.02
_LONGEST_PAUSE = 0.25
_BUSY_RETRY = timedelta(seconds=1)  # what a refused waiting attempt is told


def _admit(uow: UnitOfWork, attempt: lockout.Attempt, policy: LockoutPolicy, now: datetime) -> None:
    lockout.admit(uow.lockouts, attempt, policy, now)


class Services:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        config: CoreConfig | None = None,
        clock: Clock = utc_now,
        *,
        credentials: CredentialWatch | None = None,
    ) -> None:
        self._uow = uow
        # API keys verified here, kept while no process changes a key or a manager (None:
        # every check reads the database)
        self.verified_keys: VerifiedKeys[tuple[ApiKey, Manager | None]] | None = None
        self.verified_tokens: VerifiedKeys[tuple[tokens.ManagerToken, Manager | None]] | None = None
        if credentials is not None:
            self.verified_keys = VerifiedKeys(credentials)
            self.verified_tokens = VerifiedKeys(credentials)  # cTrader's manager tokens
        self.config = config or CoreConfig()
        self.clock = clock
        self._checks_ended = threading.Condition()  # a sign-in's slot given back here
        batch = self.config.group_commit_max
        self.group_commit = GroupCommit(uow, batch) if batch > 1 else None
        # Where lists, reports, exports and exposure are read (a replica); None: the primary.
        self.lagging: LaggingReads | None = None

    def _write(
        self, fn: Callable[[UnitOfWork], T], actor: Actor | None = None, *, grouped: bool = False
    ) -> T:
        """Run a command in one transaction; with a claimed request id, its response is stored
        in the same transaction, so the change and its memory commit together. `grouped`
        commands may share their transaction and commit with concurrent ones (core.commit),
        each in a savepoint of its own."""
        completion = actor.idempotency if actor is not None else None

        def command(uow: UnitOfWork) -> T:
            held = completion.claim if completion is not None else None
            if completion is not None and held is None and completion.request is not None:
                held = self._claim_here(uow, completion.request)
            result = fn(uow)
            if completion is not None:
                if completion.render is None or held is None:  # pragma: no cover - a bug
                    raise RuntimeError("a write with a request id has no claim or renderer")
                response = completion.render(result)
                if not uow.idempotency.complete(held, response, self.clock()):
                    raise RequestInFlight(held.key)  # our claim was taken over
            return result

        try:
            if grouped and self.group_commit is not None:
                return self.group_commit.run(command)
            with self._uow(write=True) as uow:
                result = command(uow)
                uow.commit()
                return result
        finally:
            # Even a failed write may have committed (a commit whose answer was lost): the
            # caller's next lag-tolerant reads wait for the replica to pass it either way.
            if self.lagging is not None and actor is not None:
                self.lagging.wrote(caller_of(actor))

    # idempotency
    def claim_request(
        self, scope: str, key: str, fingerprint: str, field: str = "x-request-id"
    ) -> idempotency.Claim | idempotency.StoredResponse:
        """Claim a client request id, or get the stored response of its earlier use."""
        return self._write(
            lambda u: idempotency.claim(
                u.idempotency, scope, key, fingerprint, self.clock(),
                retention=self.config.idempotency_retention, lease=self.config.idempotency_lease,
                field=field,
            )
        )  # fmt: skip

    def _claim_here(self, uow: UnitOfWork, req: idempotency.ClaimRequest) -> idempotency.Claim:
        """Claim the request id in the command's own transaction (durable with it); an
        earlier use of it for the same request raises Replayed with its answer."""
        outcome = idempotency.claim(
            uow.idempotency, req.scope, req.key, req.fingerprint, self.clock(),
            retention=self.config.idempotency_retention, lease=self.config.idempotency_lease,
            field=req.field, lazy_commit=False,
        )  # fmt: skip
        if isinstance(outcome, idempotency.StoredResponse):
            raise idempotency.Replayed(outcome)
        return outcome

    def release_request(self, claim: idempotency.Claim) -> None:
        """Forget a claim whose command failed, so the id may be used again."""
        self._write(lambda u: u.idempotency.release(claim))

    def run_maintenance(self) -> tuple[int, int]:
        """Purge expired request ids and expire overdue approvals: (purged, expired)."""
        now = self.clock()
        purged = self._write(lambda u: u.idempotency.purge(now))
        expired = self._write(
            lambda u: approvals.expire_due(u, system_actor("maintenance", "system"), now)
        )
        self._write(lambda u: lockout.purge(u.lockouts, self.config.lockout, now))
        return purged, expired

    # ledger
    def post_ledger_entry(self, cmd: ledger.PostLedgerEntry, actor: Actor) -> ledger.Posting:
        return self._write(
            lambda u: ledger.post_entry(u, cmd, actor, self.clock, self.config),
            actor,
            grouped=True,
        )

    def transfer_funds(self, cmd: transfers.TransferFunds, actor: Actor) -> transfers.Transfer:
        """Both legs of a transfer in one transaction, with one audit record."""
        return self._write(
            lambda u: transfers.transfer(u, cmd, actor, self.clock, self.config), actor
        )

    def list_ledger(self, query: LedgerQuery, actor: Actor) -> list[LedgerEntry]:
        return self._lagging_read(lambda u: ledger.list_entries(u, query, actor), actor)

    def iter_ledger(self, query: LedgerQuery, actor: Actor) -> Iterator[LedgerEntry]:
        """Every matching entry, page by page."""
        after = query.after_id
        while True:
            page_query = LedgerQuery(
                login=query.login, kinds=query.kinds, time_from=query.time_from,
                time_to=query.time_to, reference=query.reference, after_id=after,
                limit=ledger.MAX_PAGE,
            )  # fmt: skip
            page = self.list_ledger(page_query, actor)
            yield from page
            if len(page) < ledger.MAX_PAGE:
                return
            after = page[-1].id

    def verify_ledger(self) -> list[FigureMismatch]:
        return self._read(ledger.verify)

    # approvals
    def _expire_due(self) -> None:
        now = self.clock()
        self._write(lambda u: approvals.expire_due(u, system_actor("maintenance", "system"), now))

    def decide_approval(self, cmd: approvals.DecideApproval, actor: Actor) -> approvals.Decision:
        self._expire_due()
        return self._write(
            lambda u: approvals.decide(u, cmd, actor, self.clock, self.config), actor
        )

    def get_approval(self, approval_id: int, actor: Actor) -> Approval:
        self._expire_due()
        return self._read(lambda u: approvals.get_approval(u, approval_id, actor))

    def list_approvals(self, query: ApprovalQuery, actor: Actor) -> list[Approval]:
        self._expire_due()
        return self._read(lambda u: approvals.list_approvals(u, query, actor))

    def count_pending_approvals(self) -> int:
        """Approvals waiting for a decision, across every group (for the server's metrics)."""
        return self._read(lambda u: u.approvals.count_pending())

    def set_approval_threshold(
        self, cmd: approvals.SetApprovalThreshold, actor: Actor
    ) -> ApprovalThreshold | None:
        return self._write(lambda u: approvals.set_threshold(u, cmd, actor, self.clock), actor)

    def list_approval_thresholds(self, actor: Actor) -> list[ApprovalThreshold]:
        return self._read(lambda u: approvals.list_thresholds(u, actor))

    def _read(self, fn: Callable[[UnitOfWork], T]) -> T:
        with self._uow(write=False) as uow:
            return fn(uow)

    def _lagging_read(self, fn: Callable[[UnitOfWork], T], actor: Actor) -> T:
        """A list, report, export or exposure read: served by the read replica when one is
        configured (within its lag bound, and never missing the actor's own writes)."""
        if self.lagging is None:
            return self._read(fn)
        return self.lagging.read(caller_of(actor), fn)

    # accounts
    def open_account(self, cmd: accounts.OpenAccount, actor: Actor) -> Account:
        return self._write(
            lambda u: accounts.open_account(u, cmd, actor, self.clock, self.config), actor
        )

    def open_accounts(self, cmds: list[accounts.OpenAccount], actor: Actor) -> list[Account]:
        """Open a batch of accounts in one transaction, each checked and audited as
        `open_account` does; any refusal opens none of them."""
        return self._write(
            lambda u: accounts.open_accounts(u, cmds, actor, self.clock, self.config), actor
        )

    def open_funded_account(
        self, cmd: accounts.OpenAccount, balance_minor: int, comment: str, actor: Actor
    ) -> Account:
        """Open an account with a starting balance (minor units of its currency) posted as a
        deposit in the same transaction: both or neither. Above the approval threshold it is
        refused for everyone (an opening cannot wait for a second manager)."""

        def run(u: UnitOfWork) -> Account:
            acc = accounts.open_account(u, cmd, actor, self.clock, self.config)
            if not balance_minor:
                return acc
            amount = Decimal(balance_minor).scaleb(-acc.currency_digits)
            first = ledger.PostLedgerEntry(acc.login, "deposit", amount, comment=comment,
                                           on_threshold="refuse")  # fmt: skip
            ledger.post_entry(u, first, actor, self.clock, self.config)
            return accounts.get_account(u, acc.login, actor)

        return self._write(run, actor)

    def update_account(self, cmd: accounts.UpdateAccount, actor: Actor) -> Account:
        return self._write(lambda u: accounts.update_account(u, cmd, actor, self.clock), actor)

    def disable_account(self, cmd: accounts.DisableAccount, actor: Actor) -> Account:
        return self._write(lambda u: accounts.disable_account(u, cmd, actor, self.clock), actor)

    def enable_account(self, cmd: accounts.EnableAccount, actor: Actor) -> Account:
        return self._write(lambda u: accounts.enable_account(u, cmd, actor, self.clock), actor)

    def delete_account(self, cmd: accounts.DeleteAccount, actor: Actor) -> Account:
        return self._write(lambda u: accounts.delete_account(u, cmd, actor, self.clock), actor)

    def check_password(self, cmd: accounts.CheckPassword, actor: Actor) -> bool:
        """Whether the password matches, under the sign-in lockout of the account: while it
        is locked every password is answered as wrong, without being checked."""
        actor.require("users:read")
        attempt = lockout.account(cmd.login, actor.ip)
        if self.admit_login(attempt) is not None:
            return False
        try:
            matches = self._read(lambda u: accounts.check_password(u, cmd, actor))
        except CoreError:  # no such account in reach, a malformed password: nothing was checked
            self.login_not_checked(attempt)
            raise
        except BaseException:  # the check broke: counted, as a wrong password would be
            self.login_failed(attempt)
            raise
        if matches:
            self.login_succeeded(attempt)
        else:
            self.login_failed(attempt)
        return matches

    def change_password(self, cmd: accounts.ChangePassword, actor: Actor) -> Account:
        return self._write(lambda u: accounts.change_password(u, cmd, actor, self.clock), actor)

    def set_account_passwords(
        self,
        changes: Sequence[accounts.ChangePassword],
        actor: Actor,
        update: accounts.UpdateAccount | None = None,
    ) -> Account:
        """A profile change and new passwords in one transaction: all or none, each password
        under the group's policy and audited as `account.password_changed`."""

        def run(u: UnitOfWork) -> Account:
            acc = accounts.update_account(u, update, actor, self.clock) if update else None
            for cmd in changes:
                acc = accounts.change_password(u, cmd, actor, self.clock)
            if acc is None:
                raise ValidationError("nothing to change: the body names no field")
            return acc

        return self._write(run, actor)

    def trade_states(self, cmd: accounts.ListAccounts, actor: Actor) -> list[TradeState]:
        """A page of accounts (by logins or group mask, in login order) with equity, margin
        and free margin at the latest quotes, read in one snapshot."""

        def run(u: UnitOfWork) -> list[TradeState]:
            page = accounts.list_accounts(u, cmd, actor)
            found = trading.risks(u, page, actor)
            return [found[a.login].state() for a in page]

        return self._read(run)

    def get_trade_state(self, login: int, actor: Actor) -> TradeState:
        """Balance, credit, bonus, floating profit, margin and equity at the latest quotes."""
        return self.get_risk(login, actor).state()

    # trading: quotes, market orders, positions, deals, exposure, margin calls
    def set_quotes(self, items: Sequence[trading.QuoteInput], actor: Actor) -> list[Quote]:
        return self._write(lambda u: trading.set_quotes(u, items, actor, self.clock()), actor)

    def list_quotes(self, actor: Actor, symbols: Sequence[str] | None = None) -> list[Quote]:
        return self._read(lambda u: trading.list_quotes(u, actor, symbols))

    def get_market(self, actor: Actor) -> Market:
        """The symbols and their latest quotes (currency conversions in reports)."""
        return self._read(lambda u: trading.market(u, actor))

    def open_position(self, cmd: trading.OpenPosition, actor: Actor) -> trading.Execution:
        return self._write(lambda u: trading.open_position(u, cmd, actor, self.clock), actor)

    def close_position(self, cmd: trading.ClosePosition, actor: Actor) -> trading.Execution:
        return self._write(lambda u: trading.close_position(u, cmd, actor, self.clock), actor)

    def get_risk(self, login: int, actor: Actor) -> Risk:
        """The account's figures with its positions priced."""
        return self._read(lambda u: trading.trade_state(u, login, actor))

    def get_risks(self, accounts: Sequence[Account], actor: Actor) -> dict[int, Risk]:
        """Figures of accounts a listing read, by login (one query for all their positions)."""
        return self._read(lambda u: trading.risks(u, accounts, actor))

    def list_positions(
        self,
        actor: Actor,
        *,
        logins: Sequence[int] | None = None,
        group: str | None = None,
        symbol: str | None = None,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[PositionFigures]:
        """Open positions, `limit` (default trading.MAX_PAGE) at a time."""
        page = trading.MAX_PAGE if limit is None else limit
        return self._lagging_read(lambda u: trading.list_positions(
            u, actor, logins=logins, group=group, symbol=symbol, after_id=after_id, limit=page
        ), actor)  # fmt: skip

    def get_position(self, position_id: int, actor: Actor) -> PositionFigures:
        return self._read(lambda u: trading.get_position(u, position_id, actor))

    def list_deals(self, query: DealQuery, actor: Actor) -> list[Deal]:
        return self._lagging_read(lambda u: trading.list_deals(u, query, actor), actor)

    def iter_deals(self, query: DealQuery, actor: Actor) -> Iterator[Deal]:
        """Every matching deal, page by page."""
        after = query.after_id
        while True:
            page = self.list_deals(replace(query, after_id=after, limit=trading.MAX_PAGE), actor)
            yield from page
            if len(page) < trading.MAX_PAGE:
                return
            after = page[-1].id

    def change_trade_record(self, cmd: records.ChangeTradeRecord, actor: Actor) -> None:
        """Always refused (core.trading.records); answers which refusal."""
        self._read(lambda u: records.change_trade_record(u, cmd, actor))

    def get_deal(self, deal_id: int, actor: Actor) -> Deal:
        return self._read(lambda u: trading.get_deal(u, deal_id, actor))

    def exposure(
        self, actor: Actor, *, group: str | None = None, symbol: str | None = None,
        currency: str = "USD",
    ) -> trading.ExposureReport:  # fmt: skip
        return self._lagging_read(lambda u: trading.exposure(
            u, actor, group=group, symbol=symbol, report_currency=currency
        ), actor)  # fmt: skip

    def margin_calls(self, actor: Actor) -> list[trading.MarginStatus]:
        return self._lagging_read(lambda u: trading.margin_calls(u, actor), actor)

    def get_account(self, login: int, actor: Actor) -> Account:
        return self._read(lambda u: accounts.get_account(u, login, actor))

    def account_history(self, login: int, actor: Actor) -> list[AuditRecord]:
        return self._read(lambda u: accounts.account_history(u, login, actor))

    def list_accounts(
        self, cmd: accounts.ListAccounts, actor: Actor, scope: str = "users:read"
    ) -> list[Account]:
        return self._lagging_read(
            lambda u: accounts.list_accounts(u, cmd, actor, scope=scope), actor
        )

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

    def export_accounts(
        self,
        cmd: accounts.ListAccounts,
        actor: Actor,
        columns: Sequence[str],
        scope: str = "reports:read",
    ) -> Iterator[list[Sequence[Any]]]:
        """What `iter_accounts` lists, as pages of plain rows of `columns` (which must include
        `login`): one short read per page, so memory stays flat and no snapshot is held while
        a slow client reads. Nothing is read before the first `next()`."""
        at = list(columns).index("login")
        after = cmd.after_login
        while True:
            limit = accounts.EXPORT_PAGE
            page = self._lagging_read(
                partial(accounts.export_accounts, cmd=cmd, actor=actor, columns=columns,
                        after_login=after, limit=limit, scope=scope), actor,
            )  # fmt: skip
            count = len(page)
            if count:
                after = page[-1][at]
                yield page
            del page  # one page in memory at a time: not this one while reading the next
            if count < limit:
                return

    # groups
    def create_group(self, cmd: groups.CreateGroup, actor: Actor) -> Group:
        return self._write(lambda u: groups.create_group(u, cmd, actor, self.clock), actor)

    def update_group(self, cmd: groups.UpdateGroup, actor: Actor) -> Group:
        return self._write(lambda u: groups.update_group(u, cmd, actor, self.clock), actor)

    def delete_group(self, cmd: groups.DeleteGroup, actor: Actor) -> Group:
        return self._write(lambda u: groups.delete_group(u, cmd, actor, self.clock), actor)

    def get_group(self, name: str, actor: Actor) -> Group:
        return self._read(lambda u: groups.get_group(u, name, actor))

    def list_groups(self, actor: Actor, mask: str | None = None) -> list[Group]:
        return self._read(lambda u: groups.list_groups(u, actor, mask))

    # symbols
    def create_symbol(self, cmd: symbols.CreateSymbol, actor: Actor) -> Symbol:
        return self._write(lambda u: symbols.create_symbol(u, cmd, actor, self.clock), actor)

    def update_symbol(self, cmd: symbols.UpdateSymbol, actor: Actor) -> Symbol:
        return self._write(lambda u: symbols.update_symbol(u, cmd, actor, self.clock), actor)

    def delete_symbol(self, cmd: symbols.DeleteSymbol, actor: Actor) -> Symbol:
        return self._write(lambda u: symbols.delete_symbol(u, cmd, actor, self.clock), actor)

    def get_symbol(self, name: str, actor: Actor) -> Symbol:
        return self._read(lambda u: symbols.get_symbol(u, name, actor))

    def list_symbols(self, actor: Actor, mask: str | None = None) -> list[Symbol]:
        return self._read(lambda u: symbols.list_symbols(u, actor, mask))

    # access
    def create_manager(self, cmd: access.CreateManager, actor: Actor) -> Manager:
        return self._write(lambda u: access.create_manager(u, cmd, actor, self.clock), actor)

    def update_manager(self, cmd: access.UpdateManager, actor: Actor) -> Manager:
        try:
            return self._write(lambda u: access.update_manager(u, cmd, actor, self.clock), actor)
        finally:
            self._forget_keys()

    def list_managers(self, actor: Actor) -> list[Manager]:
        return self._read(lambda u: access.list_managers(u, actor))

    def list_api_keys(self, actor: Actor, manager_login: int | None = None) -> list[ApiKey]:
        return self._read(lambda u: access.list_api_keys(u, actor, manager_login))

    def rotate_api_key(self, key_id: str, actor: Actor) -> tuple[access.IssuedKey, ApiKey]:
        overlap = self.config.key_rotation_overlap
        try:
            return self._write(
                lambda u: access.rotate_api_key(u, key_id, actor, self.clock, overlap), actor
            )
        finally:
            self._forget_keys()

    def get_manager(self, login: int) -> Manager | None:
        return self._read(lambda u: u.managers.get(login))

    def create_api_key(self, cmd: access.CreateApiKey, actor: Actor) -> access.IssuedKey:
        return self._write(lambda u: access.create_api_key(u, cmd, actor, self.clock), actor)

    def revoke_api_key(self, key_id: str, actor: Actor) -> ApiKey:
        try:
            return self._write(lambda u: access.revoke_api_key(u, key_id, actor, self.clock), actor)
        finally:
            self._forget_keys()

    def _forget_keys(self) -> None:
        """A key or manager changed here: forget the kept keys now (other processes hear of
        it from the database's triggers, see storage.credentials)."""
        if self.verified_keys is not None:
            self.verified_keys.forget()
        if self.verified_tokens is not None:
            self.verified_tokens.forget()

    def authenticate_key(self, presented: str) -> access.KeyIdentity:
        now = self.clock()
        prefix = access.key_prefix(presented)
        kept = self.verified_keys
        found = kept.get(prefix) if kept is not None else None
        if found is None:
            token = kept.token() if kept is not None else None  # before the read
            found = self._read(lambda u: u.api_keys.with_manager(prefix))
            if found is not None and kept is not None:
                kept.keep(prefix, token, found)
        identity = access.verify_key(found, presented, now)
        if identity.needs_touch:
            self._write(lambda u: u.api_keys.touch(identity.key.id, now))
            self._forget_keys()  # the stamp changed the row kept
        return identity

    def authenticate_kept_key(self, presented: str) -> access.KeyIdentity | None:
        """The key's check on rows kept in memory, without a database read (so it may run on
        the event loop); the same rules as `authenticate_key`. None: the database must be
        read (not kept, changed since, or the key is due its last-used stamp)."""
        kept = self.verified_keys
        if kept is None:
            return None
        try:
            prefix = access.key_prefix(presented)
        except Unauthorized:
            return None  # the full check says so
        found = kept.get(prefix)
        if found is None:
            return None
        identity = access.verify_key(found, presented, self.clock())
        return None if identity.needs_touch else identity

    # audit
    def query_audit(self, query: AuditQuery, actor: Actor) -> list[AuditRecord]:
        return self._lagging_read(lambda u: audit.query_audit(u, query, actor), actor)

    def verify_audit(self, pin: tuple[int, str] | None = None) -> audit.ChainReport:
        """Re-hash the chain under the audit keys; with `pin` (a checkpoint's record id and
        hash), the chain must still hold that record unchanged."""

        def verify(u: UnitOfWork) -> audit.ChainReport:
            head = u.audit.head()  # first: records committed after it are not judged
            return audit.verify_chain(u.audit.iter_all(), head, self.config.audit_keys, pin)

        return self._read(verify)

    def audit_ledger(self) -> ledger.LedgerReport:
        """Every figure recomputed from the entries, every entry tied to its audit record."""
        return self._read(ledger.audit_ledger)

    def chain_statement(self) -> tuple[audit.ChainReport, dict[str, dict[str, int]]]:
        """The verified chain's head and the ledger's totals, read in one snapshot (what a
        checkpoint states)."""

        def read(u: UnitOfWork) -> tuple[audit.ChainReport, dict[str, dict[str, int]]]:
            head = u.audit.head()
            report = audit.verify_chain(u.audit.iter_all(), head, self.config.audit_keys)
            return report, u.ledger.totals()

        return self._read(read)

    def is_empty(self) -> bool:
        return self._read(lambda u: not u.managers.list())

    # the sign-in lockout (core.access.lockout)
    def _guarded(
        self, attempt: lockout.Attempt, check: Callable[[UnitOfWork], T | None],
        clears: Callable[[T], bool] | None = None,
    ) -> T:  # fmt: skip
        """Run a password check under the lockout: the attempt is admitted first (a locked one
        is refused before the check), then checked; a failed one (`check` answers None, or
        raises) is counted, a good one clears the subject's counters in the check's own
        transaction (unless `clears` says the sign-in is not over: a second factor is due,
        then its slot is only given back)."""
        until = self.admit_login(attempt)
        if until is not None:
            raise Unauthorized(lockout.locked_message(until, self.clock()))
        policy = self.config.lockout

        def run(u: UnitOfWork) -> T | None:
            result = check(u)
            if result is not None and (clears is None or clears(result)):
                lockout.record_success(u.lockouts, attempt, policy)
            elif result is not None:
                lockout.refund(u.lockouts, attempt, policy)
            return result

        try:
            outcome = self._write(run)
        except BaseException:
            self.login_failed(attempt)
            raise
        if outcome is None:
            self.login_failed(attempt)
            raise Unauthorized(lockout.WRONG_CREDENTIALS)
        self._settled()
        return outcome

    def login_locked_until(self, attempt: lockout.Attempt) -> datetime | None:
        """When a locked attempt may be made again (None: it is not locked)."""
        now = self.clock()
        policy = self.config.lockout
        return self._read(lambda u: lockout.locked_until(u.lockouts, attempt, policy, now))

    def admit_login(self, attempt: lockout.Attempt) -> datetime | None:
        """Admit an attempt before its password is checked: None when it may be checked (it
        holds a slot until `login_failed`, `login_succeeded` or `login_not_checked`), else
        when it may be made again (a refused attempt holds and counts nothing). While the
        slots are all held by attempts still being checked it waits for one, up to the
        policy's `admission_wait`, woken at once by a check ending in this process and
        polling for the others' (which share the database)."""
        policy = self.config.lockout
        deadline = time.monotonic() + policy.admission_wait.total_seconds()
        pause = _FIRST_PAUSE
        while True:
            now = self.clock()
            try:
                self._write(partial(_admit, attempt=attempt, policy=policy, now=now))
            except lockout.Refused as refused:
                return refused.until
            except lockout.Busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return now + _BUSY_RETRY
                with self._checks_ended:
                    self._checks_ended.wait(min(left, pause * (0.5 + random.random())))
                pause = min(pause * 2, _LONGEST_PAUSE)
                continue
            return None

    def _settled(self) -> None:
        """A check ended here: wake the attempts waiting for a slot."""
        with self._checks_ended:
            self._checks_ended.notify_all()

    def login_failed(self, attempt: lockout.Attempt) -> None:
        """The admitted attempt's password was wrong: it counts as a failure."""
        policy = self.config.lockout
        now = self.clock()
        try:
            self._write(lambda u: lockout.record_failure(u.lockouts, attempt, policy, now))
        finally:
            self._settled()

    def login_succeeded(self, attempt: lockout.Attempt) -> None:
        """The admitted attempt's password was right: its subject's counters start again."""
        policy = self.config.lockout
        try:
            self._write(lambda u: lockout.record_success(u.lockouts, attempt, policy))
        finally:
            self._settled()

    def login_not_checked(self, attempt: lockout.Attempt) -> None:
        """The admitted attempt was refused before its password was looked at: it counts
        nowhere."""
        policy = self.config.lockout
        try:
            self._write(lambda u: lockout.refund(u.lockouts, attempt, policy))
        finally:
            self._settled()

    def unlock_manager(self, login: int, actor: Actor) -> int:
        """Forget a manager's failed sign-ins and end its locks (audited); the counters
        deleted."""
        return self._write(lambda u: access.unlock_manager(u, login, actor, self.clock), actor)

    # manager tokens (cTrader's webservToken)
    def issue_manager_token(self, cmd: tokens.IssueToken, actor: Actor) -> str:
        ttl = self.config.manager_token_ttl

        def check(u: UnitOfWork) -> str | None:
            try:
                return tokens.issue_token(u, cmd, actor, self.clock, ttl)
            except Unauthorized:
                return None

        try:
            return self._guarded(lockout.manager(cmd.login, actor.ip), check)
        finally:
            self._forget_keys()  # issuing may delete the manager's older tokens

    def authenticate_manager_token(self, token: str, dialect: str) -> Manager:
        now, ttl = self.clock(), self.config.manager_token_ttl
        hashed = tokens.token_hash_of(token)
        kept = self.verified_tokens
        found = kept.get(hashed) if kept is not None else None
        if found is None:
            taken = kept.token() if kept is not None else None  # before the read
            found = self._read(lambda u: u.tokens.with_manager(hashed))
            if found is not None and kept is not None:
                kept.keep(hashed, taken, found)
        return tokens.verify_token(found, dialect, now, ttl)

    # attributes of accounts, groups and managers (cTrader Web Services 4.14-4.22)
    def list_attributes(
        self, cmd: attributes.ListAttributes, actor: Actor
    ) -> attributes.AttributePage:
        return self._read(lambda u: attributes.list_attributes(u, cmd, actor))

    def set_attributes(self, cmd: attributes.SetAttributes, actor: Actor) -> tuple[int, ...]:
        return self._write(lambda u: attributes.set_attributes(u, cmd, actor, self.clock), actor)

    def delete_attributes(self, cmd: attributes.DeleteAttributes, actor: Actor) -> tuple[int, ...]:
        return self._write(lambda u: attributes.delete_attributes(u, cmd, actor, self.clock), actor)

    # users (cTID users, TraderEvolution users) and the accounts linked to them
    def create_user(self, cmd: users.CreateUser, actor: Actor) -> users.CreatedUser:
        return self._write(lambda u: users.create_user(u, cmd, actor, self.clock), actor)

    def get_user(self, user_id: int, actor: Actor) -> User:
        return self._read(lambda u: users.get_user(u, user_id, actor))

    def find_user_by_email(self, email: str, actor: Actor) -> User | None:
        return self._read(lambda u: users.find_user_by_email(u, email, actor))

    def list_users(self, query: UserQuery, actor: Actor) -> list[User]:
        return self._lagging_read(lambda u: users.list_users(u, query, actor), actor)

    def change_user_email(self, cmd: users.ChangeEmail, actor: Actor) -> User:
        return self._write(lambda u: users.change_email(u, cmd, actor, self.clock), actor)

    def link_account(self, cmd: users.LinkAccount, actor: Actor) -> users.Linked:
        """Link an account to a user once its password is proven, under the account's
        sign-in lockout: while it is locked the password is answered as wrong, unchecked."""
        actor.require("users:write")
        attempt = lockout.account(cmd.login, actor.ip)
        if self.admit_login(attempt) is not None:
            raise WrongPassword("the password does not match the account's")
        try:
            linked = self._write(lambda u: users.link_account(u, cmd, actor, self.clock), actor)
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
        return self._write(lambda u: users.update_profile(u, cmd, actor, self.clock), actor)

    def delete_user(self, user_id: int, actor: Actor) -> None:
        self._write(lambda u: users.delete_user(u, user_id, actor, self.clock), actor)

    def assign_account(self, cmd: users.AssignAccount, actor: Actor) -> users.Linked:
        return self._write(lambda u: users.assign_account(u, cmd, actor, self.clock), actor)

    def release_account(self, cmd: users.AssignAccount, actor: Actor) -> bool:
        return self._write(lambda u: users.release_account(u, cmd, actor, self.clock), actor)

    def user_history(self, user_id: int, actor: Actor) -> list[AuditRecord]:
        return self._read(lambda u: users.user_history(u, user_id, actor))

    def accept_user_agreement(self, user_id: int, actor: Actor) -> User:
        return self._write(lambda u: users.accept_agreement(u, user_id, actor, self.clock), actor)

    def log_out_user(self, user_id: int, actor: Actor) -> User:
        return self._write(lambda u: users.log_out(u, user_id, actor, self.clock), actor)

    def set_in_app_controls(self, cmd: user_cid.SetInAppControls, actor: Actor) -> User:
        return self._write(lambda u: user_cid.set_in_app_controls(u, cmd, actor, self.clock),
                           actor)  # fmt: skip

    def get_in_app_controls(self, user_id: int, actor: Actor) -> dict[str, Any] | None:
        return self._read(lambda u: user_cid.get_in_app_controls(u, user_id, actor))

    def set_partner(self, cmd: user_cid.SetPartner, actor: Actor) -> user_cid.Partner:
        return self._write(lambda u: user_cid.set_partner(u, cmd, actor, self.clock), actor)

    def get_partner(
        self, user_id: int | None, link_id: int | None, actor: Actor
    ) -> user_cid.Partner:
        return self._read(lambda u: user_cid.get_partner(u, user_id, link_id, actor))

    # the TraderEvolution back office: sessions, catalogue, users with accounts, webhook keys
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
        return self._read(lambda u: bo_catalog.list_assets(u, actor))

    def create_branding(self, cmd: bo_catalog.CreateBranding, actor: Actor) -> Branding:
        return self._write(lambda u: bo_catalog.create_branding(u, cmd, actor, self.clock), actor)

    def list_brandings(self, actor: Actor) -> list[Branding]:
        return self._read(lambda u: bo_catalog.list_brandings(u, actor))

    def get_branding(self, branding_id: int, actor: Actor) -> Branding:
        return self._read(lambda u: bo_catalog.get_branding(u, branding_id, actor))

    def create_plan(self, cmd: bo_catalog.CreatePlan, actor: Actor) -> Plan:
        return self._write(lambda u: bo_catalog.create_plan(u, cmd, actor, self.clock), actor)

    def list_plans(self, actor: Actor, kind: str | None = None) -> list[Plan]:
        return self._read(lambda u: bo_catalog.list_plans(u, actor, kind))

    def create_account_preset(self, cmd: bo_catalog.CreatePreset, actor: Actor) -> AccountPreset:
        return self._write(lambda u: bo_catalog.create_preset(u, cmd, actor, self.clock), actor)

    def list_account_presets(
        self, actor: Actor, currency: str | None = None, name: str | None = None
    ) -> list[AccountPreset]:
        return self._read(lambda u: bo_catalog.list_presets(u, actor, currency, name))

    def create_user_group(self, cmd: bo_catalog.CreateUserGroup, actor: Actor) -> Group:
        return self._write(
            lambda u: bo_catalog.create_user_group(u, cmd, actor, self.clock, self.config), actor
        )

    def list_user_groups(self, query: bo_catalog.GroupFilter, actor: Actor) -> list[Group]:
        return self._read(lambda u: bo_catalog.list_user_groups(u, query, actor))

    def get_user_group(self, group_id: int, actor: Actor) -> Group:
        def read(u: UnitOfWork) -> Group:
            actor.require("users:read")
            return bo_catalog.group_by_id(u, group_id, actor)

        return self._read(read)

    def open_user_with_accounts(
        self, cmd: bo_users.OpenUser, actor: Actor
    ) -> bo_users.UserWithAccounts:
        return self._write(
            lambda u: bo_users.open_user(u, cmd, actor, self.clock, self.config), actor
        )

    def open_user_account(self, cmd: bo_users.AddAccount, actor: Actor) -> Account:
        return self._write(
            lambda u: bo_users.add_account(u, cmd, actor, self.clock, self.config), actor
        )

    def search_users(self, query: bo_users.UserFilter, actor: Actor) -> list[User]:
        return self._lagging_read(lambda u: bo_users.search_users(u, query, actor), actor)

    def get_user_with_accounts(self, user_id: int, actor: Actor) -> bo_users.UserWithAccounts:
        return self._read(lambda u: bo_users.get_user(u, user_id, actor))

    def update_user_settings(self, cmd: bo_users.UpdateUser, actor: Actor) -> User:
        return self._write(lambda u: bo_users.update_user(u, cmd, actor, self.clock), actor)

    def change_user_password(self, cmd: bo_users.ChangeUserPassword, actor: Actor) -> User:
        return self._write(lambda u: bo_users.change_password(u, cmd, actor, self.clock), actor)

    def reset_user_password(
        self, cmd: bo_users.ResetUserPassword, actor: Actor
    ) -> bo_users.PasswordReset:
        return self._write(lambda u: bo_users.reset_password(u, cmd, actor, self.clock), actor)

    def delete_backoffice_user(self, cmd: bo_users.DeleteUser, actor: Actor) -> User:
        return self._write(lambda u: bo_users.delete_user(u, cmd, actor, self.clock), actor)

    def account_usable(self, login: int) -> bool:
        """Whether the account's owner (if any) lets it be used (an Unlocked TE user)."""

        def read(u: UnitOfWork) -> bool:
            acc = u.accounts.get(login)
            return acc is not None and bo_users.account_usable(u, acc)

        return self._read(read)

    def create_webhook_key(
        self, cmd: bo_webhooks.CreateWebhookKey, actor: Actor
    ) -> bo_webhooks.IssuedWebhookKey:
        return self._write(lambda u: bo_webhooks.create_key(u, cmd, actor, self.clock), actor)

    def list_webhook_keys(
        self, query: bo_webhooks.ListWebhookKeys, actor: Actor
    ) -> list[WebhookKey]:
        return self._read(lambda u: bo_webhooks.list_keys(u, query, actor))

    def delete_webhook_key(self, cmd: bo_webhooks.DeleteWebhookKey, actor: Actor) -> WebhookKey:
        return self._write(lambda u: bo_webhooks.delete_key(u, cmd, actor, self.clock), actor)

    def authenticate_webhook_key(self, api_key: str) -> bo_webhooks.WebhookIdentity:
        """The key and its user for an inbound webhook (its secret or signature is the
        caller's to check with core.backoffice.webhooks.verify_secret / verify_signature)."""
        now = self.clock()
        identity = self._read(lambda u: bo_webhooks.authenticate_key(u, api_key, now))
        if identity.needs_touch:
            self._write(lambda u: u.backoffice.touch_webhook_key(identity.key.id, now))
        return identity

    def trade_by_webhook(
        self, order: bo_webhooks.WebhookOrder, actor: Actor
    ) -> bo_webhooks.WebhookFill:
        """A webhook's order on its key's user's account (the key checked again in the same
        transaction); `actor` is the request's, reduced to the key's trades:write."""
        return self._write(lambda u: bo_webhooks.trade(u, order, actor, self.clock), actor)

    # the back office's reports (core.backoffice.reports)
    def report_catalogue(self, actor: Actor) -> list[bo_reports.ReportSpec]:
        return bo_reports.catalogue(actor)

    def run_report(self, cmd: bo_reports.RunReport, actor: Actor) -> bo_reports.ReportTable:
        now = self.clock()
        return self._lagging_read(lambda u: bo_reports.run_report(u, cmd, actor, now), actor)

    # batch reads, what-if, the balance check and the archive (MT5's CRM calls)
    def batch_ledger(self, sel: batch.BatchSelection, actor: Actor) -> batch.Batch[LedgerEntry]:
        return self._lagging_read(lambda u: batch.batch_entries(u, sel, actor), actor)

    def batch_deals(self, sel: batch.BatchSelection, actor: Actor) -> batch.Batch[Deal]:
        return self._lagging_read(lambda u: batch.batch_deals(u, sel, actor), actor)

    def deals_by_ids(self, ids: Sequence[int], actor: Actor) -> dict[int, Deal]:
        return self._read(lambda u: batch.deals_by_ids(u, ids, actor))

    def check_margin(self, cmd: whatif.CheckMargin, actor: Actor) -> whatif.MarginOutlook:
        now = self.clock()
        return self._read(lambda u: whatif.check_margin(u, cmd, actor, now))

    def calc_profit(self, cmd: whatif.CalcProfit, actor: Actor) -> whatif.ProfitOutlook:
        return self._read(lambda u: whatif.calc_profit(u, cmd, actor))

    def check_balance(self, login: int, actor: Actor) -> ledger_check.BalanceCheck:
        return self._read(lambda u: ledger_check.check_balance(u, login, actor))

    def fix_balance(self, login: int, actor: Actor) -> ledger_check.BalanceCheck:
        return self._write(lambda u: ledger_check.fix_balance(u, login, actor, self.clock), actor)

    def list_archived(self, cmd: accounts.ListAccounts, actor: Actor) -> list[Account]:
        return self._lagging_read(lambda u: archive.list_archived(u, cmd, actor), actor)

    def iter_archived(self, cmd: accounts.ListAccounts, actor: Actor) -> Iterator[Account]:
        """Every matching archived account, page by page."""
        after = cmd.after_login
        while True:
            page = self.list_archived(
                replace(cmd, after_login=after, limit=accounts.MAX_PAGE), actor
            )
            yield from page
            if len(page) < accounts.MAX_PAGE:
                return
            after = page[-1].login

    def get_archived(self, login: int, actor: Actor) -> Account:
        return self._read(lambda u: archive.get_archived(u, login, actor))

    def restore_account(self, cmd: archive.RestoreAccount, actor: Actor) -> Account:
        return self._write(lambda u: archive.restore_account(u, cmd, actor, self.clock), actor)

    # events (the outbox's feed) and webhook subscriptions
    def read_events(self, cmd: events.ReadEvents, actor: Actor) -> EventPage:
        return self._read(lambda u: events.read_events(u, cmd, actor))

    def purge_events(self) -> int:
        """Forget events older than the retention (maintenance); how many were purged."""
        now = self.clock()
        return self._write(lambda u: events.purge(u, now, self.config))

    def create_webhook(self, cmd: events.SaveSubscription, actor: Actor) -> Subscription:
        return self._write(
            lambda u: events.create_subscription(u, cmd, actor, self.clock, self.config), actor
        )

    def update_webhook(
        self, sub_id: int, cmd: events.SaveSubscription, actor: Actor
    ) -> Subscription:
        return self._write(
            lambda u: events.update_subscription(u, sub_id, cmd, actor, self.clock, self.config),
            actor,
        )

    def delete_webhook(self, sub_id: int, actor: Actor) -> None:
        self._write(lambda u: events.delete_subscription(u, sub_id, actor, self.clock), actor)

    def replay_webhook(self, sub_id: int, from_id: int, actor: Actor) -> Subscription:
        return self._write(lambda u: events.replay(u, sub_id, from_id, actor, self.clock), actor)

    def get_webhook(self, sub_id: int, actor: Actor) -> Subscription:
        return self._read(lambda u: events.get_subscription(u, sub_id, actor))

    def list_webhooks(self, actor: Actor) -> list[Subscription]:
        return self._read(lambda u: events.list_subscriptions(u, actor))

    def webhook_deliveries(
        self, sub_id: int, after_id: int, limit: int, actor: Actor
    ) -> list[Delivery]:
        return self._read(lambda u: events.list_deliveries(u, sub_id, after_id, limit, actor))

    def log_webhook_test(self, sub_id: int, outcome: delivery.Outcome) -> None:
        """Record a test-send in the subscription's delivery log."""
        now = self.clock()
        self._write(
            lambda u: u.events.log_delivery(
                Delivery(
                    subscription_id=sub_id,
                    at=now,
                    events=0,
                    attempt=0,
                    ok=outcome.ok,
                    duration_ms=outcome.duration_ms,
                    status=outcome.status,
                    error=outcome.error,
                )
            )
        )

    # the delivery worker's steps (each its own short transaction; no HTTP inside one)
    def claim_webhooks(self, owner: str, lease: timedelta, limit: int) -> list[Subscription]:
        now = self.clock()
        if not self._read(lambda u: u.events.any_due(now)):  # no write while idle
            return []
        return self._write(lambda u: delivery.claim(u, owner, now, lease, limit))

    def webhook_batch(self, sub_id: int, owner: str, limit: int) -> delivery.Batch | None:
        now = self.clock()
        return self._read(lambda u: delivery.next_batch(u, sub_id, owner, now, limit))

    def settle_webhook(
        self, batch: delivery.Batch, owner: str, outcome: delivery.Outcome
    ) -> Subscription | None:
        now = self.clock()
        return self._write(lambda u: delivery.settle(u, batch, owner, outcome, now, self.config))

    def webhook_backlog(self) -> Backlog:
        """Subscriptions by state and the events they still owe (for the server's metrics)."""
        return self._read(lambda u: u.events.backlog())

    def release_webhook(self, sub_id: int, owner: str) -> None:
        self._write(lambda u: delivery.release(u, sub_id, owner))

    # the console's second factor (core.access.second_factor)
    def sign_in_console(self, cmd: bo_sessions.SignIn, actor: Actor) -> second_factor.FirstStep:
        """A manager's password for the console, under the sign-in lockout: a session, or a
        challenge when its second factor is on (the lockout's counters are cleared only once
        the second step is passed)."""

        def check(u: UnitOfWork) -> second_factor.FirstStep | None:
            step = second_factor.password_step(u, cmd, actor, self.clock)
            return step if step.pair is not None or step.challenge is not None else None

        return self._guarded(second_factor.attempt_of(cmd, actor.ip), check,
                             clears=lambda step: step.pair is not None)  # fmt: skip

    def sign_in_second_step(
        self, cmd: second_factor.SecondStep, actor: Actor
    ) -> bo_sessions.TokenPair:
        """The second step of a console sign-in, under the same lockout as the password: a
        wrong code is a failed sign-in of the manager from this address."""
        now = self.clock()
        login = self._read(lambda u: second_factor.challenge_login(u, cmd.challenge, now))
        if login is None:
            raise Unauthorized(second_factor.EXPIRED)
        attempt = lockout.manager(login, actor.ip)
        until = self.admit_login(attempt)
        if until is not None:
            raise Unauthorized(lockout.locked_message(until, self.clock()))
        policy, keys = self.config.lockout, self.config.audit_keys

        def run(u: UnitOfWork) -> second_factor.StepOutcome:
            outcome = second_factor.second_step(u, cmd, actor, self.clock, keys)
            if outcome.pair is not None:
                lockout.record_success(u.lockouts, attempt, policy)
            return outcome

        try:
            outcome = self._write(run)
        except BaseException:
            self.login_failed(attempt)
            raise
        if outcome.pair is None:
            if outcome.counted:
                self.login_failed(attempt)
            else:
                self.login_not_checked(attempt)
            raise Unauthorized(outcome.reason)
        self._settled()
        return outcome.pair

    def second_factor_status(self, actor: Actor) -> second_factor.Status:
        keys, now = self.config.audit_keys, self.clock()
        return self._read(lambda u: second_factor.status(u, actor, keys, now))

    def start_second_factor(self, actor: Actor, password: str) -> totp.Enrolment:
        """A new TOTP secret for the actor, for its current password (re-authentication: a
        wrong one counts toward the sign-in lockout)."""
        keys = self.config.audit_keys
        self._read(lambda u: second_factor.require_off(u, actor))  # no lockout strike
        return self._guarded(lockout.manager(actor.manager_login, actor.ip), lambda u: (
            second_factor.start(u, actor, password, self.clock, keys)))  # fmt: skip

    def confirm_second_factor(self, actor: Actor, code: str, password: str) -> list[str]:
        """Switch TOTP on with a first code, for the current password (a wrong one counts
        toward the sign-in lockout, a wrong code toward the enrolment's own attempts)."""
        keys = self.config.audit_keys
        self._read(lambda u: second_factor.require_pending(u, actor, self.clock()))
        done = self._guarded(lockout.manager(actor.manager_login, actor.ip), lambda u: (
            second_factor.confirm(u, actor, code, password, self.clock, keys)))  # fmt: skip
        if done.problem is not None:
            raise done.problem
        assert done.codes is not None
        return done.codes

    def _proved(self, actor: Actor, change: Callable[[UnitOfWork], T | None]) -> T:
        """A change to one's own second factor that needs a proof of it (a code or a recovery
        code), counted by the sign-in lockout when the proof is wrong."""
        self._read(lambda u: second_factor.require_enabled(u, actor))  # no lockout strike
        return self._guarded(lockout.manager(actor.manager_login, actor.ip), change)

    def disable_second_factor(self, actor: Actor, proof: str) -> bool:
        keys = self.config.audit_keys
        return self._proved(actor, lambda u: second_factor.disable(
            u, actor, proof, self.clock, keys) or None)  # fmt: skip

    def regenerate_recovery_codes(self, actor: Actor, proof: str) -> list[str]:
        keys = self.config.audit_keys
        return self._proved(actor, lambda u: second_factor.regenerate(
            u, actor, proof, self.clock, keys))  # fmt: skip

    def reset_second_factor(self, login: int, actor: Actor) -> bool:
        """An administrator removes a manager's second factor (audited); False: it had none."""
        return self._write(lambda u: second_factor.reset(u, login, actor, self.clock), actor)

    # the risk pass (core.trading.watch): margin-call and stop-out crossings, recorded once
    def risk_pass(self, after_login: int = 0, limit: int = 500) -> watch.PassResult:
        """Class one batch of accounts after `after_login` (a read) and record the crossings
        (one write, only when there are any)."""
        found = self._read(lambda u: watch.scan(u, after_login, limit))
        if not found.crossings:
            return found
        now = self.clock()
        done = self._write(lambda u: watch.record_crossings(u, found.crossings, now))
        return replace(found, recorded=done)


def caller_of(actor: Actor) -> str:
    """Whose writes a read must see: the manager (through any key or session), else the API
    key, else the operator (the command line, the server's own jobs)."""
    if actor.manager_login is not None:
        return f"manager:{actor.manager_login}"
    if actor.key_id is not None:
        return f"key:{actor.key_id}"
    return f"operator:{actor.operator_id or ''}"
