"""Native money endpoints: balance operations, ledger history, approvals, thresholds, audit."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse

from brokerplane.api.csvcells import CsvOut, safe_cell
from brokerplane.api.native.auth import current_actor
from brokerplane.api.native.common import (
    COMMON_ERRORS,
    CONFLICT,
    NOT_FOUND,
    decode_cursor,
    next_cursor,
    parse_time,
    services,
    wants_csv,
)
from brokerplane.api.native.idempotency import write
from brokerplane.api.native.route import NativeRoute
from brokerplane.api.native.schemas import (
    ApprovalOut,
    ApprovalPage,
    AuditPage,
    BalanceIn,
    BalanceOut,
    DecisionIn,
    Id,
    LedgerPage,
    ThresholdIn,
    ThresholdList,
    ThresholdOut,
    ThresholdRemoved,
    render_approval,
    render_audit,
    render_entry,
    render_posting,
    render_threshold,
)
from brokerplane.core.actor import Actor
from brokerplane.core.approval.commands import DecideApproval, Decision, SetApprovalThreshold
from brokerplane.core.approval.model import ApprovalQuery, ApprovalThreshold
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.errors import ValidationError
from brokerplane.core.ledger.commands import Posting, PostLedgerEntry
from brokerplane.core.ledger.model import LedgerEntry, LedgerQuery

router = APIRouter(route_class=NativeRoute, responses=COMMON_ERRORS)

_POSTED: dict[int | str, dict[str, Any]] = {
    200: {"description": "applied: `status` is `applied` and `operation_id` names the entry"},
    202: {
        "model": BalanceOut,
        "description": "held: above the approval threshold, `status` is `pending_approval` and "
        "`approval_id` names the approval; nothing is applied until a second manager approves",
    },
    **NOT_FOUND,
    **CONFLICT,
}


def _posted(p: Posting) -> tuple[int, dict[str, Any]]:
    return (202 if p.status == "pending_approval" else 200), render_posting(p)


async def post_balance(request: Request, actor: Actor, operation: str, body: BalanceIn) -> Response:
    """Every money operation's endpoint, and the lean route's (api/native/lean.py)."""
    cmd = PostLedgerEntry(login=body.login, operation=operation, amount=body.amount,
                          comment=body.comment, reference=body.reference)  # fmt: skip
    return await write(
        request,
        actor,
        partial(services(request).post_ledger_entry, cmd),
        _posted,
        scopes=("balances:write",),
        claim_in_command=True,  # one transaction per deposit, and grouped with others
    )


@router.post("/balances/deposit", response_model=BalanceOut, responses=_POSTED,
             summary="Deposit: add to the balance", tags=["balances"])  # fmt: skip
async def deposit(
    body: BalanceIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    return await post_balance(request, actor, "deposit", body)


@router.post("/balances/withdraw", response_model=BalanceOut, responses=_POSTED,
             summary="Withdraw from the balance; never below zero", tags=["balances"])  # fmt: skip
async def withdraw(
    body: BalanceIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    return await post_balance(request, actor, "withdrawal", body)


@router.post("/balances/credit", response_model=BalanceOut, responses=_POSTED,
             summary="Credit: a positive amount adds broker credit, a negative one removes it",
             tags=["balances"])  # fmt: skip
async def credit(
    body: BalanceIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    return await post_balance(request, actor, "credit", body)


@router.post("/balances/bonus", response_model=BalanceOut, responses=_POSTED,
             summary="Bonus: a positive amount adds bonus, a negative one removes it",
             tags=["balances"])  # fmt: skip
async def bonus(
    body: BalanceIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    return await post_balance(request, actor, "bonus", body)


@router.post("/balances/correction", response_model=BalanceOut, responses=_POSTED,
             summary="Correction: a signed balance adjustment", tags=["balances"])  # fmt: skip
async def correction(
    body: BalanceIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    return await post_balance(request, actor, "correction", body)


@router.post("/balances/charge", response_model=BalanceOut, responses=_POSTED,
             summary="Charge: a fee taken from the balance; never below zero",
             tags=["balances"])  # fmt: skip
async def charge(
    body: BalanceIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    return await post_balance(request, actor, "charge", body)


# ---- history --------------------------------------------------------------------------------

HISTORY_COLUMNS = (
    "operation_id", "time", "login", "kind", "amount", "currency", "balance", "credit", "bonus",
    "comment", "reference", "manager_login", "operator_id", "request_id", "dialect",
    "approval_id", "approved_by",
)  # fmt: skip


def _kinds(value: str | None) -> tuple[str, ...] | None:
    if value is None or not value.strip():
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _history_csv(first: list[LedgerEntry], rest: Iterator[LedgerEntry]) -> Iterator[str]:
    writer = CsvOut()
    writer.writerow(HISTORY_COLUMNS)

    def rows() -> Iterator[LedgerEntry]:
        yield from first
        yield from rest

    for count, entry in enumerate(rows(), start=1):
        data = render_entry(entry)
        writer.writerow(["" if data[c] is None else safe_cell(data[c]) for c in HISTORY_COLUMNS])
        if count % 1000 == 0:
            yield writer.take()
    yield writer.take()


@router.get(
    "/balances/history",
    response_model=LedgerPage,
    responses={**NOT_FOUND, 200: {"content": {"text/csv": {}}}},
    summary="Ledger history: every money operation, oldest first; JSON pages or CSV",
    description="Filter by login, kind (comma list), time range and reference. CSV with "
    "`Accept: text/csv` or `?format=csv` streams every matching entry.",
    tags=["balances"],
)
async def history(
    request: Request,
    actor: Actor = Depends(current_actor),
    login: Id | None = Query(None),
    kind: str | None = Query(None, description="e.g. deposit,withdrawal"),
    time_from: str | None = Query(None, alias="from", description="ISO 8601 or unix seconds"),
    time_to: str | None = Query(None, alias="to", description="exclusive upper bound"),
    reference: str | None = Query(None, description="your reference id"),
    cursor: str | None = Query(None, description="next_cursor of the previous page"),
    limit: int = Query(100, description="1 to 1000"),
    format: str | None = Query(None, description="json (default) or csv"),
) -> Response:
    query = LedgerQuery(
        login=login, kinds=_kinds(kind), time_from=parse_time("from", time_from),
        time_to=parse_time("to", time_to), reference=reference,
        after_id=decode_cursor("entry", cursor), limit=limit,
    )  # fmt: skip
    core = services(request)
    if not wants_csv(request, format):
        page = await run_in_threadpool(core.list_ledger, query, actor)
        return JSONResponse(
            {
                "items": [render_entry(e) for e in page],
                "next_cursor": next_cursor("entry", page, limit, "id"),
            }
        )
    stream = core.iter_ledger(query, actor)
    first: list[LedgerEntry] = []
    head = await run_in_threadpool(lambda: next(stream, None))
    if head is not None:
        first.append(head)
    return StreamingResponse(
        _history_csv(first, stream),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="balance-history.csv"'},
    )


# ---- approvals ------------------------------------------------------------------------------


@router.get("/approvals", response_model=ApprovalPage, tags=["approvals"],
            summary="Held high-value operations and their decisions")  # fmt: skip
async def list_approvals(
    request: Request,
    actor: Actor = Depends(current_actor),
    state: str | None = Query(None, description="pending, approved, rejected or expired"),
    login: Id | None = Query(None),
    cursor: str | None = Query(None),
    limit: int = Query(100, description="1 to 1000"),
) -> Response:
    query = ApprovalQuery(state=state, login=login, after_id=decode_cursor("approval", cursor),
                          limit=limit)  # fmt: skip
    page = await run_in_threadpool(services(request).list_approvals, query, actor)
    return JSONResponse(
        {
            "items": [render_approval(a) for a in page],
            "next_cursor": next_cursor("approval", page, limit, "id"),
        }
    )


@router.get("/approval-thresholds", response_model=ThresholdList, tags=["approvals"],
            summary="Amounts above which money operations are held for approval")  # fmt: skip
async def list_thresholds(request: Request, actor: Actor = Depends(current_actor)) -> Response:
    items = await run_in_threadpool(services(request).list_approval_thresholds, actor)
    return JSONResponse({"items": [render_threshold(t) for t in items]})


def _threshold_answer(t: ApprovalThreshold | None) -> tuple[int, dict[str, Any]]:
    if t is None:
        return 200, {"removed": True}
    return 200, render_threshold(t)


@router.put(
    "/approval-thresholds",
    response_model=ThresholdOut | ThresholdRemoved,
    responses=NOT_FOUND,
    tags=["approvals"],
    summary="Set (or with amount null remove) a currency's threshold or a group's override (admin)",
)
async def put_threshold(
    body: ThresholdIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    cmd = SetApprovalThreshold(currency=body.currency, amount=body.amount, group=body.group)
    call = partial(services(request).set_approval_threshold, cmd)
    return await write(request, actor, call, _threshold_answer, scopes=("admin",))


def _approval_id(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 18:  # not "²" nor "١"
        raise ValidationError.field("approval_id", "must be a positive integer")
    return int(value)


@router.get("/approvals/{approval_id}", response_model=ApprovalOut, responses=NOT_FOUND,
            tags=["approvals"], summary="One approval")  # fmt: skip
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
        partial(services(request).decide_approval, cmd),
        _decided,
        scopes=("balances:approve",),
    )


@router.post(
    "/approvals/{approval_id}/approve",
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


# ---- audit ----------------------------------------------------------------------------------


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
        entity_type=entity_type, entity_id=entity_id, action=action, manager_login=manager,
        operator_id=operator_id, request_id=request_id,
        time_from=parse_time("from", time_from), time_to=parse_time("to", time_to),
        after_id=decode_cursor("audit", cursor), limit=limit,
    )  # fmt: skip
    page = await run_in_threadpool(services(request).query_audit, query, actor)
    return JSONResponse(
        {
            "items": [render_audit(r) for r in page],
            "next_cursor": next_cursor("audit", page, limit, "id"),
        }
    )
