"""One account's cached balance and credit against its ledger (MT5's user/check_balance).

Every ledger entry and the account's cached figures change in one transaction, so they only
differ when the database was changed outside brokerplane. Checking reads both; fixing sets
the cached figures (balance, credit, bonus) to what the ledger adds up to, never the reverse
(the ledger is the record), and only with the `admin` right; the fix is audited as
`account.figures_fixed` with the figures before and after. Nothing differs: nothing written.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from brokerplane.core.access import reach
from brokerplane.core.account.checks import check_login
from brokerplane.core.actor import Actor
from brokerplane.core.audit.service import record
from brokerplane.core.clock import Clock
from brokerplane.core.errors import AccountNotFound
from brokerplane.core.ledger.commands import CheckBalance
from brokerplane.core.ports import UnitOfWork


@dataclass(frozen=True)
class BalanceCheck:
    """Figures in minor units: cached on the account, and summed from its ledger."""

    login: int
    currency: str
    currency_digits: int
    balance: int
    credit: int
    bonus: int
    ledger_balance: int
    ledger_credit: int
    ledger_bonus: int
    fixed: bool = False

    @property
    def agrees(self) -> bool:
        return (self.balance, self.credit, self.bonus) == (
            self.ledger_balance,
            self.ledger_credit,
            self.ledger_bonus,
        )


def _check(uow: UnitOfWork, login: int, actor: Actor, *, for_update: bool) -> BalanceCheck:
    acc = uow.accounts.get(check_login(login), for_update=for_update)
    if acc is None:
        raise AccountNotFound(login)
    reach.check_account(actor, acc)
    balance, credit, bonus = uow.ledger.figures_of(acc.login)
    return BalanceCheck(
        acc.login,
        acc.currency,
        acc.currency_digits,
        acc.balance,
        acc.credit,
        acc.bonus,
        balance,
        credit,
        bonus,
    )


def check_balance(uow: UnitOfWork, login: int, actor: Actor) -> BalanceCheck:
    actor.require_for(CheckBalance)
    return _check(uow, login, actor, for_update=False)


def fix_balance(uow: UnitOfWork, login: int, actor: Actor, clock: Clock) -> BalanceCheck:
    """Check, and set the cached figures to the ledger's where they differ; the answer holds
    the figures as they were before the fix."""
    actor.require("admin")
    found = _check(uow, login, actor, for_update=True)
    if found.agrees:
        return found
    now = clock()
    uow.accounts.set_figures(
        found.login, found.ledger_balance, found.ledger_credit, found.ledger_bonus, now
    )
    before = {"balance": found.balance, "credit": found.credit, "bonus": found.bonus}
    after = {
        "balance": found.ledger_balance,
        "credit": found.ledger_credit,
        "bonus": found.ledger_bonus,
    }
    record(uow, actor, now, "account.figures_fixed", "account", found.login, before, after)
    return replace(found, fixed=True)
