"""Brandings and plans: GET /brandings, /brandings/{id} and /plans with offset/limit paging,
POST (admin) to create them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from brokerplane.api.traderevolution.auth import manager_of
from brokerplane.api.traderevolution.wire import (
    Body,
    answer,
    paging,
    path_id,
    query_text,
    services_of,
)
from brokerplane.core.backoffice.commands import CreatePlan, CreateWhiteLabel
from brokerplane.core.backoffice.model import Plan, WhiteLabel

router = APIRouter()


def branding_json(branding: WhiteLabel) -> dict[str, Any]:
    return {"id": branding.id, "name": branding.name, "description": branding.description}


def plan_json(plan: Plan) -> dict[str, Any]:
    return {"id": plan.id, "name": plan.name, "type": plan.kind, "description": plan.description}


@router.get("/brandings")
async def list_brandings(request: Request) -> Response:
    actor = await manager_of(request)
    offset, limit = paging(request)
    found = await run_in_threadpool(services_of(request).list_white_labels, actor)
    return answer([branding_json(b) for b in found[offset : offset + limit]])


@router.get("/brandings/{branding_id}")
async def get_branding(request: Request, branding_id: str) -> Response:
    actor = await manager_of(request)
    bid = path_id(branding_id)
    found = await run_in_threadpool(services_of(request).get_white_label, bid, actor)
    return answer(branding_json(found))


@router.post("/brandings")
async def create_branding(request: Request) -> Response:
    actor = await manager_of(request)
    body = await Body.of(request)
    cmd = CreateWhiteLabel(body.require_text("name"), body.text("description") or "")
    made = await run_in_threadpool(services_of(request).create_white_label, cmd, actor)
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
    cmd = CreatePlan(
        body.require_text("name"),
        body.text("type", "kind") or "risk",
        body.text("description") or "",
    )
    made = await run_in_threadpool(services_of(request).create_plan, cmd, actor)
    return answer(plan_json(made))
