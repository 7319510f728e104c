"""Native group templates (`/groups`): list, read, create, change; their wire shapes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from brokerplane.api.native.auth import current_actor
from brokerplane.api.native.wire import (
    COMMON_ERRORS,
    CONFLICT,
    NOT_FOUND,
    NativeRoute,
    iso,
    scoped,
    services,
    set_fields,
    settings_of,
    write,
)
from brokerplane.core.actor import Actor
from brokerplane.core.group.commands import CreateGroup, UpdateGroup
from brokerplane.core.group.model import Group


class GroupIn(BaseModel):
    # Whole numbers are StrictInt here and in SymbolIn: JSON true is not a setting of 1.
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})

    name: str = Field(examples=["real\\standard"])
    currency: str = Field(examples=["USD"])
    description: str | None = None
    company: str | None = None
    broker: str | None = None
    default_leverage: StrictInt | None = None
    max_leverage: StrictInt | None = None
    margin_mode: str | None = Field(None, description="MAX, SUM or NET")
    default_account_type: str | None = None
    default_rights: StrictInt | None = None
    password_min_length: StrictInt | None = Field(None, description="8 to 16")
    login_range_from: StrictInt | None = None
    login_range_to: StrictInt | None = None
    margin_call: Decimal | None = Field(None, description="margin level %, decimal")
    stop_out: Decimal | None = None
    permissions: StrictInt | None = None
    plan_id: StrictInt | None = None
    attributes: dict[str, str] | None = None


class GroupPatch(GroupIn):
    name: str | None = None  # type: ignore[assignment]
    currency: str | None = None  # type: ignore[assignment]


class GroupOut(BaseModel):
    id: int
    name: str
    currency: str
    currency_digits: int
    description: str
    company: str
    broker: str
    default_leverage: int
    max_leverage: int
    margin_mode: str
    default_account_type: str
    default_rights: int
    password_min_length: int
    login_range_from: int | None
    login_range_to: int | None
    margin_call: str
    stop_out: str
    permissions: int
    plan_id: int | None
    attributes: dict[str, str]
    created_at: datetime | None
    updated_at: datetime | None


class GroupList(BaseModel):
    items: list[GroupOut]


def render_group(group: Group) -> dict[str, Any]:
    data = group.snapshot()
    data["created_at"], data["updated_at"] = iso(group.created_at), iso(group.updated_at)
    return data


router = APIRouter(route_class=NativeRoute, responses=COMMON_ERRORS)


@router.get("/groups", response_model=GroupList, summary="List group templates", tags=["groups"])
async def list_groups(
    request: Request,
    name: str | None = Query(None, description="name mask, e.g. demo\\*,!demo\\vip"),
    actor: Actor = Depends(current_actor),
) -> Response:
    groups = await run_in_threadpool(services(request).list_groups, actor, name)
    return JSONResponse({"items": [render_group(g) for g in groups]})


@router.get(
    "/groups/{name}",
    response_model=GroupOut,
    responses=NOT_FOUND,
    summary="Read one group (encode a backslash as %5C)",
    tags=["groups"],
)
async def get_group(name: str, request: Request, actor: Actor = Depends(current_actor)) -> Response:
    group = await run_in_threadpool(services(request).get_group, name, actor)
    return JSONResponse(render_group(group))


@router.post(
    "/groups",
    openapi_extra=scoped(CreateGroup),
    status_code=201,
    response_model=GroupOut,
    responses=CONFLICT,
    summary="Create a group (admin)",
    tags=["groups"],
)
async def create_group(
    body: GroupIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    settings = settings_of(body, "name", "currency")
    cmd = CreateGroup(name=body.name, currency=body.currency, settings=settings)
    return await write(
        request,
        actor,
        partial(services(request).create_group, cmd),
        lambda group: (201, render_group(group)),
    )


@router.patch(
    "/groups/{name}",
    openapi_extra=scoped(UpdateGroup),
    response_model=GroupOut,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Update a group (admin)",
    tags=["groups"],
)
async def update_group(
    name: str, body: GroupPatch, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    cmd = UpdateGroup(name=name, changes=set_fields(body))
    return await write(
        request,
        actor,
        partial(services(request).update_group, cmd),
        lambda group: (200, render_group(group)),
    )


# ---- symbols --------------------------------------------------------------------------------
