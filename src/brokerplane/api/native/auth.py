"""Native authentication: a bearer API key plus x-operator-id becomes the request's Actor."""

from __future__ import annotations

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from brokerplane.bootstrap import Runtime
from brokerplane.core.actor import Actor
from brokerplane.core.errors import Unauthorized, ValidationError

MAX_OPERATOR_ID = 127


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def current_actor(request: Request) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if not header:
        raise Unauthorized("send the manager key as 'Authorization: Bearer <key>'")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <key>'")
    operator_id = request.headers.get("x-operator-id")
    if operator_id is not None and len(operator_id) > MAX_OPERATOR_ID:
        raise ValidationError.field("x-operator-id", f"is longer than {MAX_OPERATOR_ID} characters")
    services = runtime_of(request).services
    identity = await run_in_threadpool(services.authenticate_key, presented.strip())
    return Actor(
        manager_login=identity.manager.login,
        scopes=identity.scopes,
        key_id=identity.key.id,
        group_mask=identity.manager.group_mask,
        white_labels=identity.manager.white_labels,
        operator_id=operator_id,
        request_id=getattr(request.state, "request_id", None),
        dialect="native",
        ip=request.client.host if request.client else None,
    )
