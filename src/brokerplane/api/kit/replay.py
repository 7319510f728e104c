"""What a dialect does with a claimed idempotency key over HTTP: answer a replay with the stored
response (marked `Idempotent-Replay: true`), and release the claim of a write that failed."""

from __future__ import annotations

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from brokerplane.api.kit.idempotency import REPLAY_HEADER
from brokerplane.core.idempotency import Claim, StoredResponse


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


def replay_response(stored: StoredResponse) -> Response:
    return Response(
        content=stored.body.encode(),
        status_code=stored.status,
        media_type="application/json",
        headers={REPLAY_HEADER: "true"},
    )
