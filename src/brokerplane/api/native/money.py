"""Native money endpoints: balance operations (`/balances/*`) and the ledger history; their
wire shapes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from brokerplane.api.csvcells import CsvOut, safe_cell
from brokerplane.api.native.auth import current_actor
from brokerplane.api.native.wire import (
    COMMON_ERRORS,
    CONFLICT,
    NOT_FOUND,
    Id,
    NativeRoute,
    decode_cursor,
    iso,
    next_cursor,
    parse_time,
    scoped,
    services,
    wants_csv,
    write,
)
from brokerplane.core.actor import Actor
from brokerplane.core.kinds import Operation
from brokerplane.core.ledger.commands import Posting, PostLedgerEntry
from brokerplane.core.ledger.model import LedgerEntry, LedgerQuery
from brokerplane.core.money import Currency, format_minor

_AMOUNT_DOC = (
    "a decimal string in the account currency (a JSON number is accepted too); at most the "
    "currency's digits"
)


class BalanceIn(BaseModel):
    """A money operation on one account; `reference` is your own id for reconciliation."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "login": 910024,
                "amount": "100.00",
                "comment": "Deposit via card",
                "reference": "crm-pay-88213",
            }
        },
    )

    login: int = Field(strict=True, description="the account's login")
    amount: StrictStr | StrictInt | StrictFloat = Field(
        description=_AMOUNT_DOC, examples=["100.00"]
    )
    comment: str = Field("", description="up to 255 characters, kept in the ledger")
    reference: str = Field("", description="your reference id (up to 127), kept in the ledger")


class BalanceOut(BaseModel):
    operation_id: int | None = Field(
        description="the ledger entry id; null while the operation awaits approval"
    )
    approval_id: int | None = Field(None, description="set when status is pending_approval")
    login: int
    kind: str = Field(
        description="deposit, withdrawal, credit_in, credit_out, bonus_in, bonus_out, "
        "correction or charge"
    )
    amount: str = Field(
        description="signed change to the figure the kind moves", examples=["100.00"]
    )
    balance: str = Field(description="the account's balance after the operation")
    credit: str
    bonus: str
    currency: str
    status: str = Field(description="applied or pending_approval")
    comment: str
    reference: str


class LedgerEntryOut(BaseModel):
    operation_id: int
    login: int
    kind: str
    amount: str = Field(description="signed change to the figure the kind moves")
    balance: str = Field(description="balance after this entry")
    credit: str = Field(description="credit after this entry")
    bonus: str = Field(description="bonus after this entry")
    currency: str
    comment: str
    reference: str
    time: datetime
    manager_login: int | None
    operator_id: str | None
    request_id: str | None
    dialect: str
    approval_id: int | None
    approved_by: int | None


class LedgerPage(BaseModel):
    items: list[LedgerEntryOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at end")


def render_posting(p: Posting) -> dict[str, Any]:
    cur = p.currency
    return {
        "operation_id": p.operation_id,
        "approval_id": p.approval.id if p.approval else (p.entry.approval_id if p.entry else None),
        "login": p.login,
        "kind": p.kind,
        "amount": format_minor(p.amount, cur),
        "balance": format_minor(p.balance, cur),
        "credit": format_minor(p.credit, cur),
        "bonus": format_minor(p.bonus, cur),
        "currency": cur.code,
        "status": p.status,
        "comment": p.comment,
        "reference": p.reference,
    }


def render_entry(e: LedgerEntry) -> dict[str, Any]:
    cur = Currency(e.currency, e.currency_digits)
    return {
        "operation_id": e.id,
        "login": e.login,
        "kind": e.kind,
        "amount": format_minor(e.amount, cur),
        "balance": format_minor(e.balance_after, cur),
        "credit": format_minor(e.credit_after, cur),
        "bonus": format_minor(e.bonus_after, cur),
        "currency": e.currency,
        "comment": e.comment,
        "reference": e.reference,
        "time": iso(e.at),
        "manager_login": e.manager_login,
        "operator_id": e.operator_id,
        "request_id": e.request_id,
        "dialect": e.dialect,
        "approval_id": e.approval_id,
        "approved_by": e.approved_by,
    }


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


async def post_balance(
    request: Request, actor: Actor, operation: Operation, body: BalanceIn
) -> Response:
    """Every money operation's endpoint, and the lean route's (api/native/lean.py)."""
    cmd = PostLedgerEntry(
        login=body.login,
        operation=operation,
        amount=body.amount,
        comment=body.comment,
        reference=body.reference,
    )
    return await write(
        request,
        actor,
        cmd,
        _posted,
        claim_in_command=True,  # one transaction per deposit, and grouped with others
    )


@router.post(
    "/balances/deposit",
    openapi_extra=scoped(PostLedgerEntry),
    response_model=BalanceOut,
    responses=_POSTED,
    summary="Deposit: add to the balance",
    tags=["balances"],
)
async def deposit(
    body: BalanceIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    return await post_balance(request, actor, Operation.DEPOSIT, body)


@router.post(
    "/balances/withdraw",
    openapi_extra=scoped(PostLedgerEntry),
    response_model=BalanceOut,
    responses=_POSTED,
    summary="Withdraw from the balance; never below zero",
    tags=["balances"],
)
async def withdraw(
    body: BalanceIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    return await post_balance(request, actor, Operation.WITHDRAWAL, body)


@router.post(
    "/balances/credit",
    openapi_extra=scoped(PostLedgerEntry),
    response_model=BalanceOut,
    responses=_POSTED,
    summary="Credit: a positive amount adds broker credit, a negative one removes it",
    tags=["balances"],
)
async def credit(
    body: BalanceIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    return await post_balance(request, actor, Operation.CREDIT, body)


@router.post(
    "/balances/bonus",
    openapi_extra=scoped(PostLedgerEntry),
    response_model=BalanceOut,
    responses=_POSTED,
    summary="Bonus: a positive amount adds bonus, a negative one removes it",
    tags=["balances"],
)
async def bonus(
    body: BalanceIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    return await post_balance(request, actor, Operation.BONUS, body)


@router.post(
    "/balances/correction",
    openapi_extra=scoped(PostLedgerEntry),
    response_model=BalanceOut,
    responses=_POSTED,
    summary="Correction: a signed balance adjustment",
    tags=["balances"],
)
async def correction(
    body: BalanceIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    return await post_balance(request, actor, Operation.CORRECTION, body)


@router.post(
    "/balances/charge",
    openapi_extra=scoped(PostLedgerEntry),
    response_model=BalanceOut,
    responses=_POSTED,
    summary="Charge: a fee taken from the balance; never below zero",
    tags=["balances"],
)
async def charge(
    body: BalanceIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    return await post_balance(request, actor, Operation.CHARGE, body)


# ---- history --------------------------------------------------------------------------------

HISTORY_COLUMNS = (
    "operation_id",
    "time",
    "login",
    "kind",
    "amount",
    "currency",
    "balance",
    "credit",
    "bonus",
    "comment",
    "reference",
    "manager_login",
    "operator_id",
    "request_id",
    "dialect",
    "approval_id",
    "approved_by",
)


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
        login=login,
        kinds=_kinds(kind),
        time_from=parse_time("from", time_from),
        time_to=parse_time("to", time_to),
        reference=reference,
        after_id=decode_cursor("entry", cursor),
        limit=limit,
    )
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
