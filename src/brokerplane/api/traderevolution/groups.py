"""User groups: GET /userGroups with TraderEvolution's filters and offset/limit paging, GET
/userGroups/{id}, POST (admin) to create one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from brokerplane.api.traderevolution.auth import manager_of
from brokerplane.api.traderevolution.users import branding_ids
from brokerplane.api.traderevolution.wire import (
    Body,
    answer,
    paging,
    path_id,
    query_int,
    query_text,
    services_of,
)
from brokerplane.core.backoffice.commands import CreateUserGroup, GroupFilter
from brokerplane.core.backoffice.model import SERVER_ID
from brokerplane.core.group.model import Group

router = APIRouter()


def group_json(group: Group, brandings: dict[str, int]) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "currency": group.currency,
        "brandingId": brandings.get(group.broker.casefold()) if group.broker else None,
        "planId": group.plan_id,
        "serverId": SERVER_ID,
        "defaultLeverage": group.default_leverage,
        "maxLeverage": group.max_leverage,
    }


@router.get("/userGroups")
async def list_user_groups(request: Request) -> Response:
    actor = await manager_of(request)
    offset, limit = paging(request)
    query = GroupFilter(
        branding_id=query_int(request, "brandingId"),
        name=query_text(request, "name"),
        plan_id=query_int(request, "planId"),
        server_id=query_int(request, "serverId"),
        offset=offset,
        limit=limit,
    )
    services = services_of(request)

    def run() -> list[dict[str, Any]]:
        found = services.list_user_groups(query, actor)
        brandings = branding_ids(services, actor)
        return [group_json(g, brandings) for g in found]

    return answer(await run_in_threadpool(run))


@router.get("/userGroups/{group_id}")
async def get_user_group(request: Request, group_id: str) -> Response:
    actor = await manager_of(request)
    gid = path_id(group_id)
    services = services_of(request)

    def run() -> dict[str, Any]:
        return group_json(services.get_user_group(gid, actor), branding_ids(services, actor))

    return answer(await run_in_threadpool(run))


@router.post("/userGroups")
async def create_user_group(request: Request) -> Response:
    actor = await manager_of(request)
    body = await Body.of(request)
    cmd = CreateUserGroup(
        name=body.require_text("name"),
        currency=body.text("currency"),
        branding_id=body.integer("brandingId"),
        plan_id=body.integer("planId"),
        description=body.text("description") or "",
        default_leverage=body.integer("defaultLeverage", "leverage"),
        max_leverage=body.integer("maxLeverage"),
    )
    services = services_of(request)

    def run() -> dict[str, Any]:
        group = services.create_user_group(cmd, actor)
        return group_json(group, branding_ids(services, actor))

    return answer(await run_in_threadpool(run))
