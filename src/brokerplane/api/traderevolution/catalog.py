"""User groups, account presets, brandings and plans: GET with TraderEvolution's filters and
offset/limit paging; POST (admin) to create them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from brokerplane.api.traderevolution.errors import invalid
from brokerplane.api.traderevolution.protocol import (
    Body,
    answer,
    manager_of,
    paging,
    path_id,
    query_int,
    query_text,
    services_of,
)
from brokerplane.api.traderevolution.users import branding_ids
from brokerplane.core.backoffice.commands import (
    CreateBranding,
    CreatePlan,
    CreatePreset,
    CreateUserGroup,
    GroupFilter,
)
from brokerplane.core.backoffice.model import SERVER_ID, AccountPreset, Branding, Plan
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


def preset_json(preset: AccountPreset) -> dict[str, Any]:
    return {
        "presetId": preset.id,
        "presetName": preset.name,
        "currency": preset.currency,
        "leverage": preset.leverage,
        "accountType": preset.account_type,
        "swapFree": preset.swap_free,
        "description": preset.description,
    }


def branding_json(branding: Branding) -> dict[str, Any]:
    return {"id": branding.id, "name": branding.name, "description": branding.description}


def plan_json(plan: Plan) -> dict[str, Any]:
    return {"id": plan.id, "name": plan.name, "type": plan.kind, "description": plan.description}


# ---- user groups ----------------------------------------------------------------------------


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


# ---- account presets ------------------------------------------------------------------------


@router.get("/accountPresets")
async def list_presets(request: Request) -> Response:
    """Presets by currency (`presetCurrency` or `currency`: a code such as USD) and name
    (`presetName` or `name`)."""
    actor = await manager_of(request)
    offset, limit = paging(request)
    code = query_text(request, "presetCurrency") or query_text(request, "currency")
    if code is not None and code.isdigit():
        raise invalid("presetCurrency must be a currency code such as USD")
    name = query_text(request, "presetName") or query_text(request, "name")
    services = services_of(request)
    found = await run_in_threadpool(services.list_account_presets, actor, code, name)
    return answer([preset_json(p) for p in found[offset : offset + limit]])


@router.post("/accountPresets")
async def create_preset(request: Request) -> Response:
    actor = await manager_of(request)
    body = await Body.of(request)
    cmd = CreatePreset(
        name=body.require_text("presetName", "name"),
        currency=body.text("presetCurrency", "currency"),
        leverage=body.integer("leverage"),
        account_type=body.text("accountType"),
        swap_free=body.boolean("swapFree"),
        description=body.text("description") or "",
    )
    preset = await run_in_threadpool(services_of(request).create_account_preset, cmd, actor)
    return answer(preset_json(preset))


# ---- brandings and plans --------------------------------------------------------------------


@router.get("/brandings")
async def list_brandings(request: Request) -> Response:
    actor = await manager_of(request)
    offset, limit = paging(request)
    found = await run_in_threadpool(services_of(request).list_brandings, actor)
    return answer([branding_json(b) for b in found[offset : offset + limit]])


@router.get("/brandings/{branding_id}")
async def get_branding(request: Request, branding_id: str) -> Response:
    actor = await manager_of(request)
    bid = path_id(branding_id)
    found = await run_in_threadpool(services_of(request).get_branding, bid, actor)
    return answer(branding_json(found))


@router.post("/brandings")
async def create_branding(request: Request) -> Response:
    actor = await manager_of(request)
    body = await Body.of(request)
    cmd = CreateBranding(body.require_text("name"), body.text("description") or "")
    made = await run_in_threadpool(services_of(request).create_branding, cmd, actor)
    return answer(branding_json(made))


@router.get("/plans")
async def list_plans(request: Request) -> Response:
    actor = await manager_of(request)
    offset, limit = paging(request)
    kind = query_text(request, "type")
    found = await run_in_threadpool(services_of(request).list_plans, actor, kind)
    return answer([plan_json(p) for p in found[offset : offset + limit]])


@router.post("/plans")
async def create_plan(request: Request) -> Response:
    actor = await manager_of(request)
    body = await Body.of(request)
    cmd = CreatePlan(body.require_text("name"), body.text("type", "kind") or "risk",
                     body.text("description") or "")  # fmt: skip
    made = await run_in_threadpool(services_of(request).create_plan, cmd, actor)
    return answer(plan_json(made))
