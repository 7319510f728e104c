"""The application layer's base: one transaction per command or read, idempotency, replica reads.

Every front-door call of the application layer (application.app.Application) runs here: a
command in one unit of work (or in a shared one, application.commit), with its request id's
claim and answer in the same transaction (application.idempotency); a read in a snapshot of
its own, or on the read replica for lists and reports. The rules themselves are the core's;
this layer owns the transaction.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from brokerplane.application.commit import GroupCommit
from brokerplane.application.idempotency import PENDING, Terms, claim_alone, keyed
from brokerplane.application.keycache import VerifiedKeys
from brokerplane.core.access.model import ApiKey, Manager
from brokerplane.core.actor import Actor
from brokerplane.core.clock import Clock, utc_now
from brokerplane.core.config import CoreConfig
from brokerplane.core.idempotency import Claim, ClaimRequest, StoredResponse
from brokerplane.core.ports import CredentialWatch, LaggingReads, UnitOfWork, UnitOfWorkFactory


class LazySlice:
    """A core slice's module, imported when an Application call first uses it: a command that
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
    from brokerplane.core.access import tokens
else:
    tokens = LazySlice("brokerplane.core.access.tokens")

T = TypeVar("T")
C = TypeVar("C")
R = TypeVar("R")


class ServiceBase:
    """The transaction boundary every slice's services share (see the module's docstring)."""

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
        """Run a command in one transaction. The first write for an actor inside a keyed call
        (Application.run with a request id) claims the id and stores the result as its answer
        in the same transaction, so the change and its memory commit together. `grouped`
        commands may share their transaction and commit with concurrent ones (application.commit),
        each in a savepoint of its own."""
        command = fn
        if actor is not None:
            state = PENDING.get()
            if state is not None and not state.used:
                state.used = True
                command = keyed(fn, state, self.clock, self._terms)
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

    def _read(self, fn: Callable[[UnitOfWork], T]) -> T:
        with self._uow(write=False) as uow:
            return fn(uow)

    def _lagging_read(self, fn: Callable[[UnitOfWork], T], actor: Actor) -> T:
        """A list, report, export or exposure read: served by the read replica when one is
        configured (within its lag bound, and never missing the actor's own writes)."""
        if self.lagging is None:
            return self._read(fn)
        return self.lagging.read(caller_of(actor), fn)

    # Typed shorthands for the usual shapes of a core rule, so each front-door method names
    # the rule it runs and what it is given (the clock and config are this layer's to hand in).
    def _command(self, rule: Callable[[UnitOfWork, C, Actor, Clock], R], cmd: C, actor: Actor) -> R:
        """A command rule `(uow, command, actor, clock)` in one transaction for `actor`."""
        return self._write(lambda u: rule(u, cmd, actor, self.clock), actor)

    def _command_configured(
        self, rule: Callable[[UnitOfWork, C, Actor, Clock, CoreConfig], R], cmd: C, actor: Actor
    ) -> R:
        """A command rule that also reads the core's settings `(uow, cmd, actor, clock, config)`."""
        return self._write(lambda u: rule(u, cmd, actor, self.clock, self.config), actor)

    def _query(self, rule: Callable[[UnitOfWork, C, Actor], R], arg: C, actor: Actor) -> R:
        """A read rule `(uow, what, actor)` in a snapshot of the primary."""
        return self._read(lambda u: rule(u, arg, actor))

    def _view(self, rule: Callable[[UnitOfWork, Actor], R], actor: Actor) -> R:
        """A read rule `(uow, actor)` in a snapshot of the primary."""
        return self._read(lambda u: rule(u, actor))

    def _listing(self, rule: Callable[[UnitOfWork, C, Actor], R], arg: C, actor: Actor) -> R:
        """A list or report rule `(uow, what, actor)`, read where lagging reads go."""
        return self._lagging_read(lambda u: rule(u, arg, actor), actor)

    @property
    def _terms(self) -> Terms:
        return Terms(self.config.idempotency_retention, self.config.idempotency_lease)

    def claim_request(
        self, scope: str, key: str, fingerprint: str, field: str = "x-request-id"
    ) -> Claim | StoredResponse:
        """Claim a client request id, or get the stored response of its earlier use."""
        wanted = ClaimRequest(scope, key, fingerprint, field)
        return self._write(lambda u: claim_alone(u.idempotency, wanted, self.clock, self._terms))

    def release_request(self, claim: Claim) -> None:
        """Forget a claim whose command failed, so the id may be used again."""
        self._write(lambda u: u.idempotency.release(claim))

    def _forget_keys(self) -> None:
        """A key or manager changed here: forget the kept keys now (other processes hear of
        it from the database's triggers, see storage.credentials)."""
        if self.verified_keys is not None:
            self.verified_keys.forget()
        if self.verified_tokens is not None:
            self.verified_tokens.forget()


def caller_of(actor: Actor) -> str:
    """Whose writes a read must see: the manager (through any key or session), else the API
    key, else the operator (the command line, the server's own jobs)."""
    if actor.manager_login is not None:
        return f"manager:{actor.manager_login}"
    if actor.key_id is not None:
        return f"key:{actor.key_id}"
    return f"operator:{actor.operator_id or ''}"
