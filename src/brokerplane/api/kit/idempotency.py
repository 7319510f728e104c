"""Idempotency wiring every dialect shares: the headers that carry a client's key, what makes
two requests the same, arming a write to claim its key in its own transaction, the replay.

A write that moves money accepts an optional key in `Idempotency-Key` (or, failing that,
`x-request-id`), scoped to the manager. The write's own transaction claims the key, applies
the operation and stores the dialect's answer, so all three commit or none does. The same key
with the same request replays that answer, marked `Idempotent-Replay: true`; with a different
request it is the core's AlreadyApplied (nothing applied), which each dialect renders from its
error table; while the first is still running, the repeat waits for it and replays its answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, TypeVar

from brokerplane.core.actor import Actor
from brokerplane.core.idempotency import ClaimRequest, Completion, Replayed, StoredResponse

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


def arm(
    actor: Actor,
    sent: SentKey | None,
    request_fingerprint: str,
    render: Callable[[Any], StoredResponse],
) -> Actor:
    """The actor for a write that claims `sent` in its own transaction and stores `render` of
    its result with it; unchanged when no key was sent (every request then applies)."""
    if sent is None or actor.manager_login is None:
        return actor
    wanted = ClaimRequest(scope_of(actor), sent.key, request_fingerprint, sent.header)
    return replace(
        actor,
        idempotency=Completion(None, render, wanted),
        request_id=sent.key[:MAX_REQUEST_ID],
    )


def run(call: Callable[[Actor], T], actor: Actor) -> T | StoredResponse:
    """Run an armed write (in a worker thread): its result, or the stored answer of the key's
    earlier use of it for the same request."""
    try:
        return call(actor)
    except Replayed as earlier:
        return earlier.stored


def encode(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
