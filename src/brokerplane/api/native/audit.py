"""The native audit trail (`/audit`): hash-chained records, oldest first, with filters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from brokerplane.api.native.auth import current_actor
from brokerplane.api.native.wire import (
    COMMON_ERRORS,
    Id,
    NativeRoute,
    decode_cursor,
    iso,
    next_cursor,
    parse_time,
    services,
)
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import AuditQuery, AuditRecord


class AuditOut(BaseModel):
    id: int
    at: datetime
    action: str
    entity_type: str = Field(examples=["account"])
    entity_id: str = Field(examples=["910024"])
    manager_login: int | None
    key_id: str | None
    operator_id: str | None
    request_id: str | None
    dialect: str
    ip: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    hash: str


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None = Field(None, description="for the next page; null at the end")


def render_audit(rec: AuditRecord) -> dict[str, Any]:
    return {
        "id": rec.id,
        "at": iso(rec.at),
        "action": rec.action,
        "entity_type": rec.entity_type,
        "entity_id": rec.entity_id,
        "manager_login": rec.manager_login,
        "key_id": rec.key_id,
        "operator_id": rec.operator_id,
        "request_id": rec.request_id,
        "dialect": rec.dialect,
        "ip": rec.ip,
        "before": rec.before,
        "after": rec.after,
        "hash": rec.hash,
    }


# ---- money ----------------------------------------------------------------------------------


router = APIRouter(route_class=NativeRoute, responses=COMMON_ERRORS)


@router.get(
    "/audit",
    response_model=AuditPage,
    tags=["audit"],
    summary="The hash-chained audit trail, oldest first, with filters",
    description="`action` ending in `.` matches a prefix (`ledger.`, `approval.`).",
)
async def audit(
    request: Request,
    actor: Actor = Depends(current_actor),
    entity_type: str | None = Query(None, description="account, approval, group, ..."),
    entity_id: str | None = Query(None, description="e.g. the login"),
    action: str | None = Query(None, description="e.g. ledger.entry_posted or ledger."),
    manager: Id | None = Query(None, description="manager login"),
    operator_id: str | None = Query(None),
    request_id: str | None = Query(None),
    time_from: str | None = Query(None, alias="from"),
    time_to: str | None = Query(None, alias="to"),
    cursor: str | None = Query(None),
    limit: int = Query(100, description="1 to 1000"),
) -> Response:
    query = AuditQuery(
        entity_type=entity_type,
        entity_id=entity_id,
        action=action,
        manager_login=manager,
        operator_id=operator_id,
        request_id=request_id,
        time_from=parse_time("from", time_from),
        time_to=parse_time("to", time_to),
        after_id=decode_cursor("audit", cursor),
        limit=limit,
    )
    page = await run_in_threadpool(services(request).query_audit, query, actor)
    return JSONResponse(
        {
            "items": [render_audit(r) for r in page],
            "next_cursor": next_cursor("audit", page, limit, "id"),
        }
    )
