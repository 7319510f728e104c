"""Money: ledger entries, transfers, held operations and approvals, balance checks, maintenance."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING

from brokerplane.application.base import LazySlice, ServiceBase
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor, system_actor
from brokerplane.core.approval.model import Approval, ApprovalQuery, ApprovalThreshold
from brokerplane.core.kinds import Dialect
from brokerplane.core.ledger.model import FigureMismatch, LedgerEntry, LedgerQuery
from brokerplane.core.ports import UnitOfWork

if TYPE_CHECKING:
    from brokerplane.core.access import lockout
    from brokerplane.core.account import service as accounts
    from brokerplane.core.approval import service as approvals
    from brokerplane.core.ledger import check as ledger_check
    from brokerplane.core.ledger import service as ledger
    from brokerplane.core.ledger import transfer as transfers
    from brokerplane.core.trading import batch
else:
    lockout = LazySlice("brokerplane.core.access.lockout")
    accounts = LazySlice("brokerplane.core.account.service")
    approvals = LazySlice("brokerplane.core.approval.service")
    ledger_check = LazySlice("brokerplane.core.ledger.check")
    ledger = LazySlice("brokerplane.core.ledger.service")
    transfers = LazySlice("brokerplane.core.ledger.transfer")
    batch = LazySlice("brokerplane.core.trading.batch")


class MoneyServices(ServiceBase):
    """Ledger writes and reads, approvals of held operations, and the ledger's own checks."""

    def run_maintenance(self) -> tuple[int, int]:
        """Purge expired request ids and expire overdue approvals: (purged, expired)."""
        now = self.clock()
        purged = self._write(lambda u: u.idempotency.purge(now))
        expired = self._write(
            lambda u: approvals.expire_due(u, system_actor("maintenance", Dialect.SYSTEM), now)
        )
        self._write(lambda u: lockout.purge(u.lockouts, self.config.lockout, now))
        return purged, expired

    def post_ledger_entry(self, cmd: ledger.PostLedgerEntry, actor: Actor) -> ledger.Posting:
        return self._write(
            lambda u: ledger.post_entry(u, cmd, actor, self.clock, self.config),
            actor,
            grouped=True,
        )

    def transfer_funds(self, cmd: transfers.TransferFunds, actor: Actor) -> transfers.Transfer:
        """Both legs of a transfer in one transaction, with one audit record."""
        return self._command_configured(transfers.transfer, cmd, actor)

    def list_ledger(self, query: LedgerQuery, actor: Actor) -> list[LedgerEntry]:
        return self._listing(ledger.list_entries, query, actor)

    def iter_ledger(self, query: LedgerQuery, actor: Actor) -> Iterator[LedgerEntry]:
        """Every matching entry, page by page."""
        after = query.after_id
        while True:
            page_query = LedgerQuery(
                login=query.login,
                kinds=query.kinds,
                time_from=query.time_from,
                time_to=query.time_to,
                reference=query.reference,
                after_id=after,
                limit=ledger.MAX_PAGE,
            )
            page = self.list_ledger(page_query, actor)
            yield from page
            if len(page) < ledger.MAX_PAGE:
                return
            after = page[-1].id

    def verify_ledger(self) -> list[FigureMismatch]:
        return self._read(ledger.verify)

    def audit_ledger(self) -> ledger.LedgerReport:
        """Every figure recomputed from the entries, every entry tied to its audit record."""
        return self._read(ledger.audit_ledger)

    def _expire_due(self) -> None:
        now = self.clock()
        self._write(
            lambda u: approvals.expire_due(u, system_actor("maintenance", Dialect.SYSTEM), now)
        )

    def decide_approval(self, cmd: approvals.DecideApproval, actor: Actor) -> approvals.Decision:
        self._expire_due()
        return self._command_configured(approvals.decide, cmd, actor)

    def get_approval(self, approval_id: int, actor: Actor) -> Approval:
        self._expire_due()
        return self._query(approvals.get_approval, approval_id, actor)

    def list_approvals(self, query: ApprovalQuery, actor: Actor) -> list[Approval]:
        self._expire_due()
        return self._query(approvals.list_approvals, query, actor)

    def count_pending_approvals(self) -> int:
        """Approvals waiting for a decision, across every group (for the server's metrics)."""
        return self._read(lambda u: u.approvals.count_pending())

    def set_approval_threshold(
        self, cmd: approvals.SetApprovalThreshold, actor: Actor
    ) -> ApprovalThreshold | None:
        return self._command(approvals.set_threshold, cmd, actor)

    def list_approval_thresholds(self, actor: Actor) -> list[ApprovalThreshold]:
        return self._view(approvals.list_thresholds, actor)

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
            first = ledger.PostLedgerEntry(
                acc.login, "deposit", amount, comment=comment, on_threshold="refuse"
            )
            ledger.post_entry(u, first, actor, self.clock, self.config)
            return accounts.get_account(u, acc.login, actor)

        return self._write(run, actor, grouped=True)  # as an opening and a deposit are

    def check_balance(self, login: int, actor: Actor) -> ledger_check.BalanceCheck:
        return self._query(ledger_check.check_balance, login, actor)

    def fix_balance(self, login: int, actor: Actor) -> ledger_check.BalanceCheck:
        return self._command(ledger_check.fix_balance, login, actor)

    def batch_ledger(self, sel: batch.BatchSelection, actor: Actor) -> batch.Batch[LedgerEntry]:
        return self._listing(batch.batch_entries, sel, actor)
