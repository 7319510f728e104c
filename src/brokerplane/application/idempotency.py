"""Request ids around a command: claimed before it, its answer stored in its own transaction.

The rules of a request id (what a claim is, when a repeat replays, conflicts or waits) are the
core's (core.idempotency); this module applies them at the transaction boundary. A keyed write
arrives with a `Completion` (on its Actor, from the dialect): a claim made beforehand in a
transaction of its own, or a `ClaimRequest` to claim first thing in the command's transaction,
and the dialect's rendering of the result, stored as the answer in that same transaction, so
the change and its memory commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from brokerplane.core.clock import Clock
from brokerplane.core.errors import RequestInFlight
from brokerplane.core.idempotency import (
    Claim,
    ClaimRequest,
    Completion,
    IdempotencyStore,
    Replayed,
    StoredResponse,
    claim,
)
from brokerplane.core.ports import UnitOfWork

T = TypeVar("T")


@dataclass(frozen=True)
class Terms:
    """How long a request id is remembered, and how long a claim holds it unanswered."""

    retention: timedelta
    lease: timedelta


def claim_alone(
    store: IdempotencyStore, wanted: ClaimRequest, clock: Clock, terms: Terms
) -> Claim | StoredResponse:
    """Claim a request id in a transaction of its own (committed lazily: the command's own
    durable commit comes later), or the stored answer of its earlier use."""
    return claim(
        store, wanted.scope, wanted.key, wanted.fingerprint, clock(),
        retention=terms.retention, lease=terms.lease, field=wanted.field,
    )  # fmt: skip


def claim_in_command(
    store: IdempotencyStore, wanted: ClaimRequest, clock: Clock, terms: Terms
) -> Claim:
    """Claim the request id in the command's own transaction (durable with it); an earlier
    use of it for the same request raises Replayed with its answer."""
    outcome = claim(
        store, wanted.scope, wanted.key, wanted.fingerprint, clock(),
        retention=terms.retention, lease=terms.lease, field=wanted.field, lazy_commit=False,
    )  # fmt: skip
    if isinstance(outcome, StoredResponse):
        raise Replayed(outcome)
    return outcome


def keyed(
    work: Callable[[UnitOfWork], T], completion: Completion, clock: Clock, terms: Terms
) -> Callable[[UnitOfWork], T]:
    """`work` as one keyed command: claim (unless claimed before), run, store the rendered
    answer with the claim; a claim taken over meanwhile fails the command (RequestInFlight)."""

    def command(uow: UnitOfWork) -> T:
        held = completion.claim
        if held is None and completion.request is not None:
            held = claim_in_command(uow.idempotency, completion.request, clock, terms)
        result = work(uow)
        if completion.render is None or held is None:  # pragma: no cover - a bug
            raise RuntimeError("a write with a request id has no claim or renderer")
        response = completion.render(result)
        if not uow.idempotency.complete(held, response, clock()):
            raise RequestInFlight(held.key)  # our claim was taken over
        return result

    return command
