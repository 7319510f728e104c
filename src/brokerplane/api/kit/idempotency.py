"""Idempotency wiring every dialect shares: the headers that carry a client's key, what makes
two requests the same, the request id handed to the application layer with the command, and
the refusal of a key reused for another request, named as the dialect names its operations.

A write that moves money accepts an optional key in `Idempotency-Key` (or, failing that,
`x-request-id`), scoped to the manager. The write's own transaction claims the key, applies
the operation and stores its result, so all three commit or none does (application.idempotency).
The dialect renders once, after the commit: the fresh result, or the stored one of a repeat of
the same request, marked `Idempotent-Replay: true`. With a different request the key is the
core's AlreadyApplied (nothing applied), which each dialect renders from its error table; while
the first is still running, the repeat waits for it and replays its answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, TypeVar

from brokerplane.application.idempotency import IdempotentRequest, Replay
from brokerplane.core.actor import Actor
from brokerplane.core.errors import AlreadyApplied
from brokerplane.core.idempotency import already_applied

T = TypeVar("T")

REPLAY_HEADER = "Idempotent-Replay"
MAX_REQUEST_ID = 127


@dataclass(frozen=True)
class SentKey:
    """An idempotency key a client sent, and the header it came in."""

    key: str
    header: str


def sent_key(headers: Mapping[str, str]) -> SentKey | None:
    """The key in `Idempotency-Key`, else in `x-request-id`; None when neither was sent. An
    empty `x-request-id` is no key (it is a correlation id first); an empty Idempotency-Key is
    sent on purpose and is refused as a bad key when claimed."""
    key = headers.get("idempotency-key")
    if key is not None:
        return SentKey(key, "Idempotency-Key")
    client_id = headers.get("x-request-id")
    return SentKey(client_id, "x-request-id") if client_id else None


def fingerprint(*parts: Any) -> str:
    """What makes two requests "the same": the dialect, the route and the request as the core
    will read it (so `10`, `"10"` and `10.00` are one amount)."""

    def canonical(value: Any) -> Any:
        if isinstance(value, Decimal):
            return f"{value.normalize():f}"
        if isinstance(value, Mapping):
            return {str(k): canonical(v) for k, v in sorted(value.items())}
        if isinstance(value, (list, tuple)):
            return [canonical(v) for v in value]
        if value is None or isinstance(value, (bool, int, str)):
            return value
        return str(value)

    text = json.dumps(canonical(list(parts)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def scope_of(actor: Actor) -> str:
    """Keys are the manager's: one key is one request whichever dialect or credential sent it."""
    return f"manager:{actor.manager_login}"


def request_of(
    actor: Actor, sent: SentKey | None, request_fingerprint: str, *, claim_first: bool = False
) -> IdempotentRequest | None:
    """The request id to run a write with (Application.run); None when no key was sent or no
    manager sent it (every such request applies)."""
    if sent is None or actor.manager_login is None:
        return None
    return IdempotentRequest(
        scope_of(actor), sent.key, request_fingerprint, sent.header, claim_first
    )


def keyed_actor(actor: Actor, request: IdempotentRequest | None) -> Actor:
    """The actor of a keyed write: the key is its request id in the audit trail."""
    if request is None:
        return actor
    return replace(actor, request_id=request.key[:MAX_REQUEST_ID])


def labelled(err: AlreadyApplied, label: Callable[[Any], tuple[int, str | None]]) -> AlreadyApplied:
    """A key reused for another request, naming the earlier operation as `label` names it
    from that request's stored result (its status and operation id as the dialect answered);
    unchanged when the earlier answer was stored as the dialect's response (older records)."""
    earlier = err.earlier
    if not isinstance(earlier, Replay):
        return err
    status, operation_id = label(earlier.result)
    return already_applied(str(err.context.get("key", "")), operation_id, status)


def run(
    call: Callable[[], T | Replay[T]], label: Callable[[Any], tuple[int, str | None]]
) -> T | Replay[T]:
    """Run a keyed write (in a worker thread): its result or the Replay of its earlier use; a
    key reused for another request is refused naming the earlier operation as `label` does."""
    try:
        return call()
    except AlreadyApplied as err:
        raise labelled(err, label) from None


def encode(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
