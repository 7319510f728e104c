"""Request ids around a command, as data: claimed, the command's result stored, replayed.

The rules of a request id (what a claim is, when a repeat replays, conflicts or waits) are the
core's (core.idempotency); this module applies them at the transaction boundary. A keyed write
arrives as an `IdempotentRequest` beside its command (Application.run): the key is claimed
first thing in the command's own transaction (or, `claim_first`, in a transaction of its own
before it), the command runs, and its result is stored as the key's answer
(application.answers) in that same transaction, so the change and its memory commit together
or not at all. A repeat gets a `Replay` of the stored result; the dialect renders either one
once, after the commit. No dialect code runs inside the transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from brokerplane.application import answers
from brokerplane.core.clock import Clock
from brokerplane.core.errors import AlreadyApplied, RequestInFlight
from brokerplane.core.idempotency import (
    Claim,
    ClaimRequest,
    IdempotencyStore,
    Replayed,
    StoredResponse,
    claim,
)
from brokerplane.core.ports import UnitOfWork

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    """A client's request id on a write: whose it is (`scope`), the key, what makes a repeat
    the same request (`fingerprint`), and where the client sent it (`field`, named in errors).
    `claim_first`: claim it in a transaction of its own before the command, so a concurrent
    repeat is told it is in flight (RequestInFlight); otherwise the command's transaction
    claims it, and a concurrent repeat waits for the first to commit and replays it."""

    scope: str
    key: str
    fingerprint: str
    field: str = "x-request-id"
    claim_first: bool = False

    def wanted(self) -> ClaimRequest:
        return ClaimRequest(self.scope, self.key, self.fingerprint, self.field)


@dataclass(frozen=True, slots=True)
class Replay(Generic[R]):
    """The answer of the key's earlier use for the same request: the command's `result` as
    stored, for the dialect to render as it rendered the first; or, for a record stored before
    answers were data, the dialect's own `response` then, to send as it is (`result` is then
    None)."""

    result: R
    response: StoredResponse | None = None


def replay_of(stored: StoredResponse) -> Replay[Any]:
    if stored.is_data:
        return Replay(answers.load(stored.body))
    return Replay(None, stored)


def read_earlier(err: AlreadyApplied) -> None:
    """A refusal whose earlier answer is data: that answer read back (a Replay), so the dialect
    can name the earlier operation as it named it then (api.kit.idempotency.labelled)."""
    earlier = err.earlier
    if isinstance(earlier, StoredResponse):
        err.earlier = replay_of(earlier) if earlier.is_data else None


@dataclass(frozen=True)
class Terms:
    """How long a request id is remembered, and how long a claim holds it unanswered."""

    retention: timedelta
    lease: timedelta


@dataclass(slots=True)
class Keyed:
    """The request id of the keyed call running in this context; the first write for an actor
    takes it (`used`). `held`: its claim, when claimed before the command."""

    request: IdempotentRequest
    held: Claim | None = None
    used: bool = False


# The keyed call running in this thread (set by Application.run, taken by its write).
PENDING: ContextVar[Keyed | None] = ContextVar("brokerplane_keyed_request", default=None)


def claim_alone(
    store: IdempotencyStore, wanted: ClaimRequest, clock: Clock, terms: Terms
) -> Claim | StoredResponse:
    """Claim a request id in a transaction of its own (committed lazily: the command's own
    durable commit comes later), or the stored answer of its earlier use."""
    return claim(
        store,
        wanted.scope,
        wanted.key,
        wanted.fingerprint,
        clock(),
        retention=terms.retention,
        lease=terms.lease,
        field=wanted.field,
    )


def claim_in_command(
    store: IdempotencyStore, wanted: ClaimRequest, clock: Clock, terms: Terms
) -> Claim:
    """Claim the request id in the command's own transaction (durable with it); an earlier
    use of it for the same request raises Replayed with its answer."""
    outcome = claim(
        store,
        wanted.scope,
        wanted.key,
        wanted.fingerprint,
        clock(),
        retention=terms.retention,
        lease=terms.lease,
        field=wanted.field,
        lazy_commit=False,
    )
    if isinstance(outcome, StoredResponse):
        raise Replayed(outcome)
    return outcome


def keyed(
    work: Callable[[UnitOfWork], T], state: Keyed, clock: Clock, terms: Terms
) -> Callable[[UnitOfWork], T]:
    """`work` as one keyed command: claim (unless claimed before), run, store the result as
    the key's answer; a claim taken over meanwhile fails the command (RequestInFlight)."""

    def command(uow: UnitOfWork) -> T:
        held = state.held
        if held is None:
            held = claim_in_command(uow.idempotency, state.request.wanted(), clock, terms)
        result = work(uow)
        if not uow.idempotency.complete(held, StoredResponse(None, answers.dump(result)), clock()):
            raise RequestInFlight(held.key)  # our claim was taken over
        return result

    return command
