"""The asynchronous client's account-side resources: accounts, money, approvals and reports."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from typing_extensions import Unpack

from brokerplane.client import _calls as calls
from brokerplane.client._async_base import AsyncCsvExport, _Resource
from brokerplane.client._calls import Amount
from brokerplane.client.models import (
    Account,
    Approval,
    AuditRecord,
    LedgerEntry,
    Operation,
    Profile,
    Threshold,
    Transfer,
)


class Accounts(_Resource):
    async def open(
        self,
        *,
        group: str,
        leverage: int,
        name: str,
        login: int | None = None,
        main_password: str | None = None,
        investor_password: str | None = None,
        phone_password: str | None = None,
        idempotency_key: str | None = None,
        **profile: Unpack[Profile],
    ) -> Account:
        """Open an account in `group`; `login` None lets the group's range pick one."""
        fields = {
            "login": login,
            "name": name,
            "group": group,
            "leverage": leverage,
            "main_password": main_password,
            "investor_password": investor_password,
            "phone_password": phone_password,
            **profile,
        }
        return await self._client._send(calls.open_account(fields, idempotency_key))

    async def get(self, login: int) -> Account:
        return await self._client._send(calls.get_account(login))

    async def update(
        self,
        login: int,
        *,
        name: str | None = None,
        group: str | None = None,
        leverage: int | None = None,
        main_password: str | None = None,
        investor_password: str | None = None,
        idempotency_key: str | None = None,
        **profile: Unpack[Profile],
    ) -> Account:
        """Change the fields given (others stay as they are); the passwords are set, never
        read back."""
        changes: dict[str, Any] = dict(profile)
        given = (
            ("name", name),
            ("group", group),
            ("leverage", leverage),
            ("main_password", main_password),
            ("investor_password", investor_password),
        )
        changes.update({k: v for k, v in given if v is not None})
        return await self._client._send(calls.update_account(login, changes, idempotency_key))

    async def disable(
        self, login: int, reason: str = "", *, idempotency_key: str | None = None
    ) -> Account:
        return await self._client._send(calls.disable_account(login, reason, idempotency_key))

    async def enable(self, login: int, *, idempotency_key: str | None = None) -> Account:
        return await self._client._send(calls.enable_account(login, idempotency_key))

    async def history(self, login: int) -> builtins.list[AuditRecord]:
        """The account's audit trail: every change, with before/after and who made it."""
        return await self._client._send(calls.account_history(login))

    def list(
        self,
        *,
        group: str | None = None,
        email: str | None = None,
        logins: builtins.list[int] | tuple[int, ...] | None = None,
        registered_from: datetime | str | None = None,
        registered_to: datetime | str | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[Account]:
        """Every matching account, fetched a page at a time as you iterate."""
        params = calls.account_filters(group, email, logins, registered_from, registered_to)
        return self._client._items("/users", Account, params, page_size)


class Money(_Resource):
    async def _post(
        self,
        operation: str,
        login: int,
        amount: Amount,
        comment: str,
        reference: str,
        idempotency_key: str | None,
        require_applied: bool,
    ) -> Operation:
        call = calls.balance(operation, login, amount, comment, reference, idempotency_key)
        return calls.applied(await self._client._send(call), require_applied)

    async def deposit(
        self,
        login: int,
        amount: Amount,
        *,
        comment: str = "",
        reference: str = "",
        idempotency_key: str | None = None,
        require_applied: bool = False,
    ) -> Operation:
        """Add to the balance. Sent with an idempotency key (yours, or a new one), so a retry
        after a lost answer applies it once. Above the approval threshold the operation is held:
        `status` is `pending_approval` (or PendingApproval is raised with require_applied)."""
        return await self._post(
            "deposit", login, amount, comment, reference, idempotency_key, require_applied
        )

    async def withdraw(
        self,
        login: int,
        amount: Amount,
        *,
        comment: str = "",
        reference: str = "",
        idempotency_key: str | None = None,
        require_applied: bool = False,
    ) -> Operation:
        """Take from the balance; never below zero (ValidationError otherwise)."""
        return await self._post(
            "withdraw", login, amount, comment, reference, idempotency_key, require_applied
        )

    async def credit(
        self,
        login: int,
        amount: Amount,
        *,
        comment: str = "",
        reference: str = "",
        idempotency_key: str | None = None,
        require_applied: bool = False,
    ) -> Operation:
        """A positive amount adds broker credit, a negative one removes it."""
        return await self._post(
            "credit", login, amount, comment, reference, idempotency_key, require_applied
        )

    async def bonus(
        self,
        login: int,
        amount: Amount,
        *,
        comment: str = "",
        reference: str = "",
        idempotency_key: str | None = None,
        require_applied: bool = False,
    ) -> Operation:
        """A positive amount adds bonus, a negative one removes it."""
        return await self._post(
            "bonus", login, amount, comment, reference, idempotency_key, require_applied
        )

    async def correction(
        self,
        login: int,
        amount: Amount,
        *,
        comment: str = "",
        reference: str = "",
        idempotency_key: str | None = None,
        require_applied: bool = False,
    ) -> Operation:
        """A signed balance adjustment."""
        return await self._post(
            "correction", login, amount, comment, reference, idempotency_key, require_applied
        )

    async def charge(
        self,
        login: int,
        amount: Amount,
        *,
        comment: str = "",
        reference: str = "",
        idempotency_key: str | None = None,
        require_applied: bool = False,
    ) -> Operation:
        """A fee taken from the balance; never below zero."""
        return await self._post(
            "charge", login, amount, comment, reference, idempotency_key, require_applied
        )

    async def transfer(
        self,
        from_login: int,
        to_login: int,
        amount: Amount,
        *,
        comment: str = "",
        reference: str = "",
        idempotency_key: str | None = None,
    ) -> Transfer:
        """Move money from one account's balance to another's (same currency): both legs in
        one transaction, or neither. Above either account's approval threshold it is refused,
        not held (ValidationError naming the threshold)."""
        call = calls.transfer(from_login, to_login, amount, comment, reference, idempotency_key)
        return await self._client._send(call)

    def history(
        self,
        *,
        login: int | None = None,
        kinds: builtins.list[str] | tuple[str, ...] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        reference: str | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[LedgerEntry]:
        """Ledger entries, oldest first, fetched a page at a time as you iterate."""
        params = calls.history_filters(login, kinds, since, until, reference)
        return self._client._items("/balances/history", LedgerEntry, params, page_size)


class Approvals(_Resource):
    def list(
        self, *, state: str | None = None, login: int | None = None, page_size: int = 100
    ) -> AsyncIterator[Approval]:
        """Held operations and their decisions (state: pending, approved, rejected, expired)."""
        params = {"state": state, "login": login}
        return self._client._items("/approvals", Approval, params, page_size)

    async def get(self, approval_id: int) -> Approval:
        return await self._client._send(calls.get_approval(approval_id))

    async def approve(
        self, approval_id: int, comment: str = "", *, idempotency_key: str | None = None
    ) -> Approval:
        """Approve and apply (another manager's key, with balances:approve); `operation` is the
        applied operation."""
        return await self._client._send(calls.decide(approval_id, True, comment, idempotency_key))

    async def reject(
        self, approval_id: int, comment: str = "", *, idempotency_key: str | None = None
    ) -> Approval:
        return await self._client._send(calls.decide(approval_id, False, comment, idempotency_key))

    async def thresholds(self) -> builtins.list[Threshold]:
        return await self._client._send(calls.list_thresholds())

    async def set_threshold(
        self,
        currency: str,
        amount: Amount | None,
        *,
        group: str | None = None,
        idempotency_key: str | None = None,
    ) -> Threshold | None:
        """Hold operations above `amount` (admin); `amount` None removes it (answers None)."""
        return await self._client._send(
            calls.set_threshold(currency, amount, group, idempotency_key)
        )


class Reports(_Resource):
    def accounts(
        self,
        *,
        group: str | None = None,
        email: str | None = None,
        logins: builtins.list[int] | tuple[int, ...] | None = None,
        registered_from: datetime | str | None = None,
        registered_to: datetime | str | None = None,
        page_size: int = 1000,
    ) -> AsyncIterator[Account]:
        """The account inventory (reports:read), a page at a time."""
        params = calls.account_filters(group, email, logins, registered_from, registered_to)
        return self._client._items("/reports/users", Account, params, page_size)

    def accounts_csv(
        self,
        *,
        group: str | None = None,
        email: str | None = None,
        logins: builtins.list[int] | tuple[int, ...] | None = None,
        registered_from: datetime | str | None = None,
        registered_to: datetime | str | None = None,
    ) -> AsyncCsvExport:
        """The whole inventory as streamed CSV: `with bp.reports.accounts_csv() as rows:`."""
        params = calls.account_filters(group, email, logins, registered_from, registered_to)
        return self._client._export("/reports/users", params)

    def ledger_csv(
        self,
        *,
        login: int | None = None,
        kinds: builtins.list[str] | tuple[str, ...] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        reference: str | None = None,
    ) -> AsyncCsvExport:
        """Every matching ledger entry as streamed CSV."""
        params = calls.history_filters(login, kinds, since, until, reference)
        return self._client._export("/balances/history", params)
