"""Native four-eyes approvals: the queue, approve and reject, and the thresholds above which a
money operation is held; their wire shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from brokerplane.api.native.auth import current_actor
from brokerplane.api.native.money import BalanceOut, render_posting
from brokerplane.api.native.wire import (
    COMMON_ERRORS,
    CONFLICT,
    NOT_FOUND,
    Id,
    NativeRoute,
    decode_cursor,
    iso,
    next_cursor,
    scoped,
    services,
    write,
)
from brokerplane.core.actor import Actor
from brokerplane.core.approval.commands import DecideApproval, Decision, SetApprovalThreshold
from brokerplane.core.approval.model import Approval, ApprovalQuery, ApprovalThreshold
from brokerplane.core.errors import ValidationError
from brokerplane.core.ledger.commands import Posting
from brokerplane.core.money import Currency, format_minor


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str = Field("", description="why (up to 255 characters), kept in the audit trail")


class ApprovalOut(BaseModel):
    id: int
    state: str = Field(description="pending, approved, rejected or expired")
    login: int
    kind: str
    amount: str
    currency: str
    comment: str
    reference: str
    requested_by: int | None
    requested_operator: str | None
    request_id: str | None
    requested_at: datetime
    expires_at: datetime
    decided_by: int | None
    decided_operator: str | None
    decided_at: datetime | None
    decision_comment: str
    operation_id: int | None = Field(description="the ledger entry, once approved")
    operation: BalanceOut | None = Field(
        None, description="on approval: the applied operation, as the deposit answer shows it"
    )


class ApprovalPage(BaseModel):
    items: list[ApprovalOut]
    next_cursor: str | None


class ThresholdIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"currency": "USD", "amount": "10000.00"}},
    )
    currency: str = Field("", description="ISO code; may be omitted when `group` is given")
    group: str | None = Field(None, description="override for one group only")
    amount: StrictStr | StrictInt | StrictFloat | None = Field(
        description="operations moving more than this need approval; null removes the threshold",
    )


class ThresholdOut(BaseModel):
    currency: str
    group: str | None
    amount: str


class ThresholdRemoved(BaseModel):
    """The answer to a PUT with amount null: the threshold is gone."""

    removed: bool


class ThresholdList(BaseModel):
    items: list[ThresholdOut]


def render_approval(a: Approval, posting: Posting | None = None) -> dict[str, Any]:
    cur = Currency(a.currency, a.currency_digits)
    return {
        "id": a.id,
        "state": a.state,
        "login": a.login,
        "kind": a.kind,
        "amount": format_minor(a.amount, cur),
        "currency": a.currency,
        "comment": a.comment,
        "reference": a.reference,
        "requested_by": a.requested_by,
        "requested_operator": a.requested_operator,
        "request_id": a.request_id,
        "requested_at": iso(a.requested_at),
        "expires_at": iso(a.expires_at),
        "decided_by": a.decided_by,
        "decided_operator": a.decided_operator,
        "decided_at": iso(a.decided_at),
        "decision_comment": a.decision_comment,
        "operation_id": a.entry_id,
        "operation": render_posting(posting) if posting else None,
    }


def render_threshold(t: ApprovalThreshold) -> dict[str, Any]:
    return {
        "currency": t.currency,
        "group": t.group,
        "amount": format_minor(t.amount, Currency(t.currency, t.currency_digits)),
    }


router = APIRouter(route_class=NativeRoute, responses=COMMON_ERRORS)


@router.get(
    "/approvals",
    response_model=ApprovalPage,
    tags=["approvals"],
    summary="Held high-value operations and their decisions",
)
async def list_approvals(
    request: Request,
    actor: Actor = Depends(current_actor),
    state: str | None = Query(None, description="pending, approved, rejected or expired"),
    login: Id | None = Query(None),
    cursor: str | None = Query(None),
    limit: int = Query(100, description="1 to 1000"),
) -> Response:
    query = ApprovalQuery(
        state=state, login=login, after_id=decode_cursor("approval", cursor), limit=limit
    )
    page = await run_in_threadpool(services(request).list_approvals, query, actor)
    return JSONResponse(
        {
            "items": [render_approval(a) for a in page],
            "next_cursor": next_cursor("approval", page, limit, "id"),
        }
    )


@router.get(
    "/approval-thresholds",
    response_model=ThresholdList,
    tags=["approvals"],
    summary="Amounts above which money operations are held for approval",
)
async def list_thresholds(request: Request, actor: Actor = Depends(current_actor)) -> Response:
    items = await run_in_threadpool(services(request).list_approval_thresholds, actor)
    return JSONResponse({"items": [render_threshold(t) for t in items]})


def _threshold_answer(t: ApprovalThreshold | None) -> tuple[int, dict[str, Any]]:
    if t is None:
        return 200, {"removed": True}
    return 200, render_threshold(t)


@router.put(
    "/approval-thresholds",
    openapi_extra=scoped(SetApprovalThreshold),
    response_model=ThresholdOut | ThresholdRemoved,
    responses=NOT_FOUND,
    tags=["approvals"],
    summary="Set (or with amount null remove) a currency's threshold or a group's override (admin)",
)
async def put_threshold(
    body: ThresholdIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    cmd = SetApprovalThreshold(currency=body.currency, amount=body.amount, group=body.group)
    return await write(request, actor, cmd, _threshold_answer)


def _approval_id(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 18:  # not "²" nor "١"
        raise ValidationError.field("approval_id", "must be a positive integer")
    return int(value)


@router.get(
    "/approvals/{approval_id}",
    response_model=ApprovalOut,
    responses=NOT_FOUND,
    tags=["approvals"],
    summary="One approval",
)
async def get_approval(
    approval_id: str, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    found = await run_in_threadpool(
        services(request).get_approval, _approval_id(approval_id), actor
    )
    return JSONResponse(render_approval(found))


def _decided(d: Decision) -> tuple[int, dict[str, Any]]:
    return 200, render_approval(d.approval, d.posting)


async def _decide(
    request: Request, actor: Actor, approval_id: str, body: DecisionIn | None, approve: bool
) -> Response:
    cmd = DecideApproval(_approval_id(approval_id), approve, body.comment if body else "")
    return await write(
        request,
        actor,
        cmd,
        _decided,
    )


@router.post(
    "/approvals/{approval_id}/approve",
    openapi_extra=scoped(DecideApproval),
    response_model=ApprovalOut,
    responses={**NOT_FOUND, **CONFLICT},
    tags=["approvals"],
    summary="Approve and apply a held operation (another manager, balances:approve)",
    description="The rules are checked again now: a withdrawal the balance no longer covers "
    "is refused and the approval stays pending.",
)
async def approve(
    approval_id: str,
    request: Request,
    body: DecisionIn | None = None,
    actor: Actor = Depends(current_actor),
) -> Response:
    return await _decide(request, actor, approval_id, body, True)


@router.post(
    "/approvals/{approval_id}/reject",
    openapi_extra=scoped(DecideApproval),
    response_model=ApprovalOut,
    responses={**NOT_FOUND, **CONFLICT},
    tags=["approvals"],
    summary="Reject a held operation (another manager, balances:approve)",
)
async def reject(
    approval_id: str,
    request: Request,
    body: DecisionIn | None = None,
    actor: Actor = Depends(current_actor),
) -> Response:
    return await _decide(request, actor, approval_id, body, False)
