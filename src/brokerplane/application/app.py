"""Application: the front door of the application layer, composed of one part per core slice.

Each call runs one command or read of the core in one unit of work (application.base). The
parts live beside this module, one per slice: accounts, catalog (groups and symbols), money
(ledger and approvals), trading, access (managers, keys, tokens, console sign-in), users,
backoffice (TraderEvolution), events, reports (audit and reports); the sign-in lockout they
share is application.lockout. Bootstrap builds one Application; dialects, the CLI and the server
call it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from brokerplane.application.access import AccessServices
from brokerplane.application.accounts import AccountServices
from brokerplane.application.backoffice import BackofficeServices
from brokerplane.application.base import caller_of
from brokerplane.application.catalog import CatalogServices
from brokerplane.application.events import EventServices
from brokerplane.application.idempotency import (
    PENDING,
    IdempotentRequest,
    Keyed,
    Replay,
    claim_alone,
    read_earlier,
    replay_of,
)
from brokerplane.application.money import MoneyServices
from brokerplane.application.reports import ReportServices
from brokerplane.application.trading import TradingServices
from brokerplane.application.users import UserServices
from brokerplane.core.actor import Actor, declares_scopes
from brokerplane.core.errors import AlreadyApplied
from brokerplane.core.idempotency import Claim, Replayed, StoredResponse

if TYPE_CHECKING:
    from brokerplane.core.account.commands import OpenFundedAccount
    from brokerplane.core.account.model import Account
    from brokerplane.core.approval.commands import (
        DecideApproval,
        Decision,
        SetApprovalThreshold,
    )
    from brokerplane.core.approval.model import ApprovalThreshold
    from brokerplane.core.backoffice.commands import WebhookFill, WebhookOrder
    from brokerplane.core.ledger.commands import Posting, PostLedgerEntry, Transfer, TransferFunds

R = TypeVar("R")
Handler = Callable[["Application", Any, Actor], Any]

__all__ = ["Application", "caller_of", "commands_in", "require_declared"]


class Application(
    AccountServices,
    CatalogServices,
    MoneyServices,
    TradingServices,
    AccessServices,
    UserServices,
    BackofficeServices,
    EventServices,
    ReportServices,
):
    """Every command and read of the core, each in one unit of work (see the module's
    docstring); built once by bootstrap with the storage's unit-of-work factory."""

    # ---- one typed way to run a command -------------------------------------------------

    @overload
    def run(
        self, command: PostLedgerEntry, actor: Actor, request: IdempotentRequest | None = None
    ) -> Posting | Replay[Posting]: ...
    @overload
    def run(
        self, command: TransferFunds, actor: Actor, request: IdempotentRequest | None = None
    ) -> Transfer | Replay[Transfer]: ...
    @overload
    def run(
        self, command: OpenFundedAccount, actor: Actor, request: IdempotentRequest | None = None
    ) -> Account | Replay[Account]: ...
    @overload
    def run(
        self, command: DecideApproval, actor: Actor, request: IdempotentRequest | None = None
    ) -> Decision | Replay[Decision]: ...
    @overload
    def run(
        self,
        command: SetApprovalThreshold,
        actor: Actor,
        request: IdempotentRequest | None = None,
    ) -> ApprovalThreshold | Replay[ApprovalThreshold | None] | None: ...
    @overload
    def run(
        self, command: WebhookOrder, actor: Actor, request: IdempotentRequest | None = None
    ) -> WebhookFill | Replay[WebhookFill]: ...
    def run(self, command: Any, actor: Actor, request: IdempotentRequest | None = None) -> Any:
        """Run `command` for `actor` by its type (the handlers table below). With a `request`
        id: applied at most once; a repeat of the same request gets a Replay of the stored
        result, a different request with the key is AlreadyApplied."""
        try:
            handler = _handlers()[type(command)]
        except KeyError:
            raise TypeError(f"no handler runs a {type(command).__name__}") from None
        actor.require_for(command)  # before a stored answer is replayed, too
        if request is None:
            return handler(self, command, actor)
        outcome = self.run_call(lambda a: handler(self, command, a), actor, request)
        check = getattr(command, "check_replay", None)
        if isinstance(outcome, Replay) and outcome.response is None and check is not None:
            check(outcome.result, actor)  # what the rule checks of the thing it acted on
        return outcome

    def run_call(
        self, call: Callable[[Actor], R], actor: Actor, request: IdempotentRequest | None = None
    ) -> R | Replay[R]:
        """`call(actor)` (one front-door command) with `request`'s id, as `run` does: for the
        commands no handler names yet (the native API's other writes)."""
        if request is None:
            return call(actor)
        held: Claim | None = None
        try:
            if request.claim_first:
                wanted = request.wanted()
                first = self._write(
                    lambda u: claim_alone(u.idempotency, wanted, self.clock, self._terms)
                )
                if isinstance(first, StoredResponse):
                    return replay_of(first)
                held = first
            return self._keyed_call(call, actor, Keyed(request, held))
        except Replayed as earlier:
            return replay_of(earlier.stored)
        except AlreadyApplied as err:
            read_earlier(err)
            raise

    def _keyed_call(self, call: Callable[[Actor], R], actor: Actor, state: Keyed) -> R:
        token = PENDING.set(state)
        try:
            result = call(actor)
        except BaseException:
            PENDING.reset(token)
            if state.held is not None:
                self._let_go(state.held)
            raise
        PENDING.reset(token)
        if state.held is not None and not state.used:  # nothing was written: nothing to keep
            self._let_go(state.held)
        return result

    def _let_go(self, held: Claim) -> None:
        """Forget the claim of a call that failed, so the key may be used again (the lease
        runs out anyway if this fails too; the call's own error is what matters)."""
        try:
            self.release_request(held)
        except Exception:
            return


def commands_in(call: object) -> list[object]:
    """The commands a write runs: `call` itself when it is a command, or those a front-door
    call is bound to (functools.partial: among its arguments, in lists too). A lambda or a call
    bound to no command names none."""
    if declares_scopes(call) and not isinstance(call, type):
        return [call]
    if not isinstance(call, functools.partial):
        return []
    found: list[object] = []
    for arg in (*call.args, *call.keywords.values()):
        items = arg if isinstance(arg, list | tuple) else (arg,)
        found += [a for a in items if declares_scopes(a) and not isinstance(a, type)]
    return found


def require_declared(call: object, actor: Actor) -> None:
    """The scopes declared by the commands of `call` (commands_in), for `actor`: a dialect
    checks them before it replays a stored answer, so a credential that may not make the
    request cannot read its answer either. The commands' rules check them again."""
    for kind in dict.fromkeys(type(c) for c in commands_in(call)):  # a batch: once per class
        actor.require_for(kind)


@functools.cache
def _handlers() -> dict[type, Handler]:
    """Which front-door method runs each command (imported on first use: the command line's
    start-up does not pay for the ledger's modules)."""
    from brokerplane.core.access.commands import CreateApiKey, RevokeApiKey, RotateApiKey
    from brokerplane.core.account.commands import OpenFundedAccount
    from brokerplane.core.approval.commands import DecideApproval, SetApprovalThreshold
    from brokerplane.core.backoffice.commands import WebhookOrder
    from brokerplane.core.events import commands as events
    from brokerplane.core.ledger.commands import PostLedgerEntry, TransferFunds

    def open_funded(app: Application, cmd: OpenFundedAccount, actor: Actor) -> Account:
        return app.open_funded_account(cmd.account, cmd.balance_minor, cmd.comment, actor)

    return {
        PostLedgerEntry: Application.post_ledger_entry,
        TransferFunds: Application.transfer_funds,
        OpenFundedAccount: open_funded,
        DecideApproval: Application.decide_approval,
        SetApprovalThreshold: Application.set_approval_threshold,
        WebhookOrder: Application.trade_by_webhook,
        events.SaveSubscription: Application.create_webhook,
        events.ChangeSubscription: Application.update_webhook,
        events.DeleteSubscription: Application.delete_webhook,
        events.ReplaySubscription: Application.replay_webhook,
        CreateApiKey: Application.create_api_key,
        RotateApiKey: Application.rotate_api_key,
        RevokeApiKey: Application.revoke_api_key,
    }
