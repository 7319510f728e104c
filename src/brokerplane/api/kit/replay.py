"""A replayed answer over HTTP: the stored response, marked `Idempotent-Replay: true`."""

from __future__ import annotations

from fastapi.responses import Response

from brokerplane.api.kit.idempotency import REPLAY_HEADER
from brokerplane.core.idempotency import StoredResponse


def replay_response(stored: StoredResponse) -> Response:
    assert stored.status is not None  # a dialect's rendered answer
    return Response(
        content=stored.body.encode(),
        status_code=stored.status,
        media_type="application/json",
        headers={REPLAY_HEADER: "true"},
    )
