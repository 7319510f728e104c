"""Account presets: GET /accountPresets with filters and offset/limit paging, POST (admin) to
create one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from brokerplane.api.traderevolution.auth import manager_of
from brokerplane.api.traderevolution.errors import invalid
from brokerplane.api.traderevolution.wire import Body, answer, paging, query_text, services_of
from brokerplane.core.backoffice.commands import CreatePreset
from brokerplane.core.backoffice.model import AccountPreset

router = APIRouter()


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
