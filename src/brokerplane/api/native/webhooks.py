"""Native webhook subscriptions (`/webhooks`, admin keys of unlimited reach): create, list,
read, change, delete, replay, the delivery log and a test delivery; their wire shapes. The
worker that delivers is delivery.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from brokerplane.api.kit.appstate import app_state
from brokerplane.api.native.auth import current_actor
from brokerplane.api.native.wire import (
    COMMON_ERRORS,
    NOT_FOUND,
    NativeRoute,
    iso,
    scoped,
    services,
    write,
)
from brokerplane.core.actor import Actor
from brokerplane.core.errors import ValidationError
from brokerplane.core.events import commands as events
from brokerplane.core.events.model import Delivery, Subscription
from brokerplane.core.validate import MAX_ID

router = APIRouter(route_class=NativeRoute, responses=COMMON_ERRORS)


class WebhookIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "url": "https://crm.example.com/brokerplane",
                "types": ["ledger."],
                "group_mask": "real*",
                "secret": "a-long-random-shared-secret",
            }
        },
    )
    url: str | None = Field(None, max_length=events.URL_MAX, description="http(s) only")
    types: list[str] | None = Field(None, description="event types or prefixes; [] or omitted: all")
    group_mask: str | None = Field(None, max_length=1024, description="accounts' groups; * all")
    secret: str | None = Field(
        None,
        description="shared secret for the signature (16-128 chars); omitted: one is made "
        "and shown once",
    )
    personal_data: bool | None = Field(None, description="send contact details (default no)")
    description: str | None = Field(None, max_length=events.DESCRIPTION_MAX)
    state: str | None = Field(None, description="updates only: active (resume now) or paused")


class WebhookOut(BaseModel):
    id: int
    url: str
    types: list[str]
    group_mask: str
    personal_data: bool
    description: str
    state: str = Field(description="active, paused, or failed (parked after the retry window)")
    cursor: int = Field(description="the last event id delivered (or skipped by the filters)")
    attempts: int = Field(description="failures in a row of the batch being retried")
    next_attempt_at: datetime | None
    failing_since: datetime | None
    last_error: str
    created_at: datetime
    updated_at: datetime
    created_by: int | None
    secret: str | None = Field(description="only in the answer that created it")


class WebhookListOut(BaseModel):
    items: list[WebhookOut]


class DeliveryOut(BaseModel):
    id: int
    at: datetime
    first_event: int | None
    last_event: int | None
    events: int = Field(description="events in the batch (0: a test-send)")
    attempt: int = Field(description="1 for a batch's first attempt (0: a test-send)")
    ok: bool
    status: int | None = Field(description="the receiver's HTTP status (null: no answer)")
    error: str
    duration_ms: int


class DeliveryListOut(BaseModel):
    items: list[DeliveryOut]


class WebhookTestOut(BaseModel):
    ok: bool
    status: int | None
    error: str
    duration_ms: int


class WebhookDeletedOut(BaseModel):
    id: int
    deleted: bool


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_id: int = Field(alias="from", ge=1, le=MAX_ID, description="the first event to resend")


def render_webhook(sub: Subscription, *, secret: bool = False) -> dict[str, Any]:
    return {
        "id": sub.id,
        "url": sub.url,
        "types": list(sub.types),
        "group_mask": sub.group_mask,
        "personal_data": sub.personal_data,
        "description": sub.description,
        "state": sub.state,
        "cursor": sub.cursor,
        "attempts": sub.attempts,
        "next_attempt_at": iso(sub.next_attempt_at),
        "failing_since": iso(sub.failing_since),
        "last_error": sub.last_error,
        "created_at": iso(sub.created_at),
        "updated_at": iso(sub.updated_at),
        "created_by": sub.created_by,
        "secret": sub.secret if secret else None,
    }


def render_delivery(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "at": iso(d.at),
        "first_event": d.first_event,
        "last_event": d.last_event,
        "events": d.events,
        "attempt": d.attempt,
        "ok": d.ok,
        "status": d.status,
        "error": d.error,
        "duration_ms": d.duration_ms,
    }


def _save(body: WebhookIn) -> events.SaveSubscription:
    return events.SaveSubscription(
        url=body.url,
        types=tuple(body.types) if body.types is not None else None,
        group_mask=body.group_mask,
        secret=body.secret,
        personal_data=body.personal_data,
        description=body.description,
        state=body.state,
    )


@router.post(
    "/webhooks",
    openapi_extra=scoped(events.SaveSubscription),
    status_code=201,
    tags=["webhooks"],
    response_model=WebhookOut,
    summary="Subscribe a URL to events (admin); the secret is shown once",
)
async def create_webhook(
    body: WebhookIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    if body.state is not None:
        raise ValidationError.field("state", "is set by updates only")
    return await write(
        request,
        actor,
        _save(body),
        lambda s: (201, render_webhook(s, secret=True)),
        secret_fields=("secret",),
    )


@router.get(
    "/webhooks",
    tags=["webhooks"],
    response_model=WebhookListOut,
    summary="Every webhook subscription (admin)",
)
async def list_webhooks(request: Request, actor: Actor = Depends(current_actor)) -> Response:
    subs = await run_in_threadpool(services(request).list_webhooks, actor)
    return JSONResponse({"items": [render_webhook(s) for s in subs]})


@router.get(
    "/webhooks/{sub_id}",
    tags=["webhooks"],
    responses=NOT_FOUND,
    response_model=WebhookOut,
    summary="One subscription: its state, cursor and last error",
)
async def get_webhook(
    sub_id: int, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    sub = await run_in_threadpool(services(request).get_webhook, sub_id, actor)
    return JSONResponse(render_webhook(sub))


@router.patch(
    "/webhooks/{sub_id}",
    openapi_extra=scoped(events.ChangeSubscription),
    tags=["webhooks"],
    responses=NOT_FOUND,
    response_model=WebhookOut,
    summary="Change a subscription; state=active resumes a parked one now",
)
async def update_webhook(
    sub_id: int, body: WebhookIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    cmd = events.ChangeSubscription(sub_id, _save(body))
    return await write(request, actor, cmd, lambda s: (200, render_webhook(s)))


@router.delete(
    "/webhooks/{sub_id}",
    openapi_extra=scoped(events.DeleteSubscription),
    tags=["webhooks"],
    responses=NOT_FOUND,
    response_model=WebhookDeletedOut,
    summary="Delete a subscription and its delivery log",
)
async def delete_webhook(
    sub_id: int, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    cmd = events.DeleteSubscription(sub_id)
    return await write(request, actor, cmd, lambda _: (200, {"id": sub_id, "deleted": True}))


@router.post(
    "/webhooks/{sub_id}/replay",
    openapi_extra=scoped(events.ReplaySubscription),
    tags=["webhooks"],
    responses=NOT_FOUND,
    response_model=WebhookOut,
    summary="Deliver again from an event id on (resumes a parked one)",
)
async def replay_webhook(
    sub_id: int, body: ReplayIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    cmd = events.ReplaySubscription(sub_id, body.from_id)
    return await write(request, actor, cmd, lambda s: (200, render_webhook(s)))


@router.get(
    "/webhooks/{sub_id}/deliveries",
    tags=["webhooks"],
    responses=NOT_FOUND,
    response_model=DeliveryListOut,
    summary="The subscription's delivery log, oldest first",
)
async def webhook_deliveries(
    sub_id: int,
    request: Request,
    actor: Actor = Depends(current_actor),
    after: int = Query(0, ge=0, le=MAX_ID),
    limit: int = Query(100, ge=1, le=events.MAX_PAGE),
) -> Response:
    found = await run_in_threadpool(
        services(request).webhook_deliveries, sub_id, after, limit, actor
    )
    return JSONResponse({"items": [render_delivery(d) for d in found]})


@router.post(
    "/webhooks/{sub_id}/test",
    tags=["webhooks"],
    responses=NOT_FOUND,
    response_model=WebhookTestOut,
    summary="Send a signed `webhook.test` event now and report the answer",
)
async def test_webhook(
    sub_id: int, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    from brokerplane.api.native.delivery import send_test

    core = services(request)
    sub = await run_in_threadpool(core.get_webhook, sub_id, actor)
    settings = app_state(request).runtime.settings
    outcome = await run_in_threadpool(send_test, sub, core.clock(), settings, core.webhook_secret)
    await run_in_threadpool(core.log_webhook_test, sub.id, outcome)
    return JSONResponse(
        {
            "ok": outcome.ok,
            "status": outcome.status,
            "error": outcome.error,
            "duration_ms": outcome.duration_ms,
        }
    )
