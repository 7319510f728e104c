"""Native idempotency: writes with `Idempotency-Key` or `x-request-id` apply at most once.

The key is scoped to the credential's manager. A repeat with the same method, path, query and
JSON body replays the stored answer with `Idempotent-Replay: true`; anything else with the
same key is `409 AlreadyApplied`; a repeat while the first is still running is
`409 RequestInFlight` with `Retry-After`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from brokerplane.api import jsonbody
from brokerplane.api.kit import idempotency as keyed
from brokerplane.core.access.reach import PERSONAL_FIELDS
from brokerplane.core.actor import Actor
from brokerplane.core.idempotency import (
    Claim,
    ClaimRequest,
    Completion,
    Replayed,
    StoredResponse,
)

T = TypeVar("T")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NATIVE_PREFIXES = ("/v1", "/mt4/manager")
REPLAY_HEADER = keyed.REPLAY_HEADER


def client_key(request: Request) -> tuple[str, str] | None:
    """The idempotency key the client sent and its header: Idempotency-Key, else x-request-id
    (read as every dialect reads it, api.kit.idempotency)."""
    sent = keyed.sent_key(request.headers)
    return (sent.key, sent.header) if sent is not None else None


def _path(request: Request) -> str:
    path = request.url.path
    for prefix in NATIVE_PREFIXES:
        if path.startswith(prefix + "/"):
            return path[len(prefix) :]
    return path


async def fingerprint(request: Request) -> str:
    """What makes two requests "the same": method, path under the mount, query and body."""
    raw = await request.body()
    try:
        body = json.dumps(jsonbody.loads(raw), sort_keys=True, separators=(",", ":"))
    except ValueError:
        body = raw.hex()
    query = "&".join(sorted(request.url.query.split("&"))) if request.url.query else ""
    text = "\n".join((request.method, _path(request), query, body))
    return hashlib.sha256(text.encode()).hexdigest()


async def _wanted(request: Request, actor: Actor) -> ClaimRequest | None:
    """The key a write sent and what makes it this request; None for unkeyed requests."""
    if request.method not in WRITE_METHODS or actor.manager_login is None:
        return None
    sent = client_key(request)
    if sent is None:
        return None
    key, header = sent
    return ClaimRequest(keyed.scope_of(actor), key, await fingerprint(request), header)


def _armed(request: Request, actor: Actor, completion: Completion, key: str) -> Actor:
    request_id = actor.request_id if request.headers.get("x-request-id") else key[:127]
    return replace(actor, idempotency=completion, request_id=request_id)


async def claim(request: Request, actor: Actor) -> Actor | StoredResponse:
    """For a keyed write: claim the key, arming the actor to store the response with the
    command, or get the stored response of the key's earlier use. Others pass unchanged."""
    wanted = await _wanted(request, actor)
    if wanted is None:
        return actor
    services = request.app.state.runtime.services
    outcome = await run_in_threadpool(
        services.claim_request, wanted.scope, wanted.key, wanted.fingerprint, wanted.field
    )
    if isinstance(outcome, StoredResponse):
        return outcome
    request.state.idempotency_claim = outcome
    return _armed(request, actor, Completion(outcome), wanted.key)


async def claim_with_command(request: Request, actor: Actor) -> Actor:
    """For a keyed write whose command claims the key in its own transaction: the actor,
    armed with what to claim. Nothing is read or written here."""
    wanted = await _wanted(request, actor)
    if wanted is None:
        return actor
    return _armed(request, actor, Completion(None, request=wanted), wanted.key)


async def release(request: Request) -> None:
    """After a failed write: forget its claim so the key may be used again."""
    held: Claim | None = getattr(request.state, "idempotency_claim", None)
    if held is None:
        return
    request.state.idempotency_claim = None
    try:
        await run_in_threadpool(request.app.state.runtime.services.release_request, held)
    except Exception:  # the lease runs out anyway; the original error is what matters
        return


def _encode(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _operation_id(body: Any) -> str | None:
    if isinstance(body, dict):
        for name in ("operation_id", "approval_id", "id", "login", "name"):
            value = body.get(name)
            if value is not None:
                return (str(value) if name == "operation_id" else f"{name} {value}")[:40]
    return None


def _as_seen_by(stored: StoredResponse, actor: Actor) -> StoredResponse:
    """A stored answer as this key may see it: another key of the same manager without
    `personal_data` gets the contact fields empty, as a read would show them."""
    if actor.has("personal_data"):
        return stored
    body = json.loads(stored.body)
    if not isinstance(body, dict) or not any(body.get(f) for f in PERSONAL_FIELDS):
        return stored
    redacted = {k: ("" if k in PERSONAL_FIELDS and v else v) for k, v in body.items()}
    return replace(stored, body=_encode(redacted))


def replay_response(stored: StoredResponse) -> Response:
    return Response(
        content=stored.body.encode(),
        status_code=stored.status,
        media_type="application/json",
        headers={REPLAY_HEADER: "true"},
    )


async def write(
    request: Request,
    actor: Actor,
    call: Callable[[Actor], T],
    render: Callable[[T], tuple[int, Any]],
    *,
    scopes: tuple[str, ...] = (),
    secret_fields: tuple[str, ...] = (),
    claim_in_command: bool = False,
) -> Response:
    """Run a write command and answer with its rendering; with a claimed key, the rendering
    is stored in the command's own transaction.

    `scopes` (any one of them) are checked before a stored answer is replayed, so a key that
    may not make the request cannot read its answer either; the command checks them again.
    `secret_fields` are shown once: the stored copy (and so any replay) has them null."""
    if scopes:
        actor.require_any(*scopes)
    if claim_in_command:
        actor = await claim_with_command(request, actor)
    else:
        claimed = await claim(request, actor)
        if isinstance(claimed, StoredResponse):
            return replay_response(_as_seen_by(claimed, actor))
        actor = claimed

    def stored(result: Any) -> StoredResponse:
        status, body = render(result)
        if secret_fields and isinstance(body, dict):
            body = {k: (None if k in secret_fields else v) for k, v in body.items()}
        return StoredResponse(status, _encode(body), _operation_id(body))

    if actor.idempotency is not None:
        actor = replace(actor, idempotency=replace(actor.idempotency, render=stored))
    try:
        result = await run_in_threadpool(call, actor)
    except Replayed as earlier:
        return replay_response(_as_seen_by(earlier.stored, actor))
    status, body = render(result)
    return JSONResponse(body, status_code=status)
