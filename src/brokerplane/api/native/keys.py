"""Native API keys: create (secret shown once), list with last use, rotate with overlap, revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from brokerplane.api.native.auth import current_actor
from brokerplane.api.native.wire import (
    COMMON_ERRORS,
    CONFLICT,
    NOT_FOUND,
    NativeRoute,
    StrictId,
    iso,
    scoped,
    services,
    write,
)
from brokerplane.core.access.commands import CreateApiKey, IssuedKey, RevokeApiKey, RotateApiKey
from brokerplane.core.access.model import ApiKey
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.errors import ValidationError
from brokerplane.core.validate import MAX_LOGIN

router = APIRouter(route_class=NativeRoute, responses=COMMON_ERRORS)


class KeyIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "scopes": ["balances:write"],
                "name": "finance-worker",
                "expires_at": "2027-06-30T00:00:00Z",
            }
        },
    )
    scopes: list[str] = Field(description="a subset of the manager's rights: " + ", ".join(SCOPES))
    name: str = Field("", description="what the key is for (up to 127 characters)")
    expires_at: datetime | None = Field(None, description="ISO 8601; null: never expires")
    manager_login: StrictId | None = Field(
        None, description="admins only: the manager the key is for (default: the caller's)"
    )


class IssuedKeyOut(BaseModel):
    id: str
    key: str | None = Field(
        description="the secret: shown in this answer only (null in a replayed answer)"
    )
    prefix: str = Field(description="the public part of the secret, which names the key later")
    manager_login: int
    scopes: list[str]
    name: str
    expires_at: datetime | None
    previous: dict[str, Any] | None = Field(
        None, description="on rotation: the old key's id and when its secret stops working"
    )


class KeyOut(BaseModel):
    id: str
    prefix: str
    manager_login: int
    scopes: list[str]
    name: str
    state: str = Field(description="active, expired or revoked")
    created_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="to within a minute")


class KeyList(BaseModel):
    items: list[KeyOut]


def render_key(key: ApiKey, now: datetime) -> dict[str, Any]:
    if key.revoked_at is not None and key.revoked_at <= now:
        state = "revoked"
    elif key.expires_at is not None and key.expires_at <= now:
        state = "expired"
    else:
        state = "active"
    return {
        "id": key.id,
        "prefix": key.prefix,
        "manager_login": key.manager_login,
        "scopes": sorted(key.scopes),
        "name": key.name,
        "state": state,
        "created_at": iso(key.created_at),
        "expires_at": iso(key.expires_at),
        "revoked_at": iso(key.revoked_at),
        "last_used_at": iso(key.last_used_at),
    }


def _issued(issued: IssuedKey, previous: ApiKey | None = None) -> tuple[int, dict[str, Any]]:
    key = issued.key
    return 201, {
        "id": key.id,
        "key": issued.secret,
        "prefix": key.prefix,
        "manager_login": key.manager_login,
        "scopes": sorted(key.scopes),
        "name": key.name,
        "expires_at": iso(key.expires_at),
        "previous": {"id": previous.id, "expires_at": iso(previous.expires_at)}
        if previous
        else None,
    }


@router.post(
    "/keys",
    openapi_extra=scoped(CreateApiKey),
    status_code=201,
    response_model=IssuedKeyOut,
    responses={**NOT_FOUND, **CONFLICT},
    tags=["keys"],
    summary="Create an API key; the secret `key` is shown in this answer only",
    description="Scopes must be held by the manager and by the calling key, and the new key "
    "must expire no later than the calling key (400 on `expires_at` otherwise). The new key "
    "is revoked with the calling key. The old secret of a rotated key cannot create keys "
    "(403). Store the secret at once: brokerplane keeps only its hash and names the key by "
    "`id` and `prefix`.",
)
async def create_key(
    body: KeyIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    if actor.manager_login is None:  # pragma: no cover - native actors are managers
        raise ValidationError.field("manager_login", "is required")
    cmd = CreateApiKey(
        manager_login=body.manager_login if body.manager_login is not None else actor.manager_login,
        scopes=frozenset(body.scopes),
        name=body.name,
        expires_at=body.expires_at,
    )
    return await write(request, actor, cmd, _issued, secret_fields=("key",))


@router.get(
    "/keys",
    response_model=KeyList,
    tags=["keys"],
    summary="The caller's manager's keys (admins: any manager's, or all)",
)
async def list_keys(
    request: Request,
    actor: Actor = Depends(current_actor),
    manager: int | None = Query(
        None, ge=1, le=MAX_LOGIN, description="admins only: this manager's keys"
    ),
) -> Response:
    core = services(request)
    keys = await run_in_threadpool(core.list_api_keys, actor, manager)
    now = core.clock()
    return JSONResponse({"items": [render_key(k, now) for k in keys]})


def _rotated(result: tuple[IssuedKey, ApiKey]) -> tuple[int, dict[str, Any]]:
    issued, previous = result
    return _issued(issued, previous)


@router.post(
    "/keys/{key_id}/rotate",
    openapi_extra=scoped(RotateApiKey),
    status_code=201,
    response_model=IssuedKeyOut,
    responses={**NOT_FOUND, **CONFLICT},
    tags=["keys"],
    summary="Rotate a key: a new secret now, the old one valid for the overlap window",
    description="The new key has the old one's scopes, name and expiry. The old secret keeps "
    "working for BROKERPLANE_KEY_ROTATION_OVERLAP_HOURS (24 by default), then expires, and the "
    "keys it created are revoked then. The calling key must expire no later than the key.",
)
async def rotate_key(
    key_id: str, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    return await write(request, actor, RotateApiKey(key_id), _rotated, secret_fields=("key",))


@router.delete(
    "/keys/{key_id}",
    openapi_extra=scoped(RevokeApiKey),
    response_model=KeyOut,
    responses=NOT_FOUND,
    tags=["keys"],
    summary="Revoke a key, and every key it created, at once",
)
async def revoke_key(
    key_id: str, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    clock = services(request).clock
    return await write(
        request, actor, RevokeApiKey(key_id), lambda key: (200, render_key(key, clock()))
    )
