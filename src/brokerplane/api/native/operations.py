"""Native account operations MT4-style planes have beside the profile: passwords (set and
check), the soft delete, transfers between two accounts, and the trade state of many accounts
in one call."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from brokerplane.api.csvcells import CsvOut
from brokerplane.api.native.accounts import render_account
from brokerplane.api.native.auth import current_actor
from brokerplane.api.native.money import BalanceOut, render_posting
from brokerplane.api.native.trading import TradeStateOut, render_state
from brokerplane.api.native.wire import (
    COMMON_ERRORS,
    CONFLICT,
    NOT_FOUND,
    NativeRoute,
    decode_cursor,
    encode_cursor,
    iso,
    scoped,
    services,
    wants_csv,
    write,
)
from brokerplane.core.account.commands import (
    MAX_PAGE,
    ChangePassword,
    CheckPassword,
    DeleteAccount,
    ListAccounts,
)
from brokerplane.core.account.model import Account, TradeState
from brokerplane.core.actor import Actor
from brokerplane.core.errors import ValidationError
from brokerplane.core.ledger.commands import Transfer, TransferFunds
from brokerplane.core.money import format_minor
from brokerplane.core.validate import MAX_ID

router = APIRouter(route_class=NativeRoute, responses=COMMON_ERRORS)

MAX_LOGINS = 1000  # logins one trade-state call may name
PASSWORD_TYPES = ("main", "investor")


# ---- passwords ------------------------------------------------------------------------------


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["main", "investor"] = Field(description="main (master) or investor")
    password: StrictStr = Field(max_length=255)


class PasswordCheckOut(BaseModel):
    login: int
    type: str
    valid: bool = Field(
        description="false for a wrong password, and for every password "
        "while the account's sign-in is locked out"
    )


@router.put(
    "/users/{login}/password",
    openapi_extra=scoped(ChangePassword),
    response_model=None,
    responses={**NOT_FOUND, **CONFLICT, 200: {"description": "the account profile"}},
    summary="Set the master (main) or investor password under the group's password policy",
    tags=["users"],
)
async def set_password(
    body: PasswordIn,
    request: Request,
    login: int = Path(ge=1, le=MAX_ID),
    actor: Actor = Depends(current_actor),
) -> Response:
    cmd = ChangePassword(login, body.type, body.password)
    return await write(
        request,
        actor,
        partial(services(request).set_account_passwords, [cmd]),
        lambda acc: (200, render_account(acc)),
    )


@router.post(
    "/users/{login}/password/check",
    response_model=PasswordCheckOut,
    responses=NOT_FOUND,
    summary="Check the master (main) or investor password, under the sign-in lockout",
    tags=["users"],
)
async def check_password(
    body: PasswordIn,
    request: Request,
    login: int = Path(ge=1, le=MAX_ID),
    actor: Actor = Depends(current_actor),
) -> Response:
    cmd = CheckPassword(login, body.type, body.password)
    valid = await run_in_threadpool(services(request).check_password, cmd, actor)
    return JSONResponse({"login": login, "type": body.type, "valid": valid})


# ---- delete ---------------------------------------------------------------------------------


class DeletedOut(BaseModel):
    login: int
    deleted: bool
    deleted_at: str | None


def _deleted(acc: Account) -> tuple[int, dict[str, Any]]:
    return 200, {"login": acc.login, "deleted": True, "deleted_at": iso(acc.deleted_at)}


@router.delete(
    "/users/{login}",
    openapi_extra=scoped(DeleteAccount),
    response_model=DeletedOut,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Delete an account (soft): it reads as not found; its ledger and audit stay",
    tags=["users"],
)
async def delete_user(
    request: Request, login: int = Path(ge=1, le=MAX_ID), actor: Actor = Depends(current_actor)
) -> Response:
    call = partial(services(request).delete_account, DeleteAccount(login))
    return await write(request, actor, call, _deleted)


# ---- transfers ------------------------------------------------------------------------------


class TransferIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "from_login": 910024,
                "to_login": 910025,
                "amount": "250.00",
                "reference": "crm-tr-1001",
            }
        },
    )
    from_login: int = Field(strict=True)
    to_login: int = Field(strict=True)
    amount: StrictStr | StrictInt | StrictFloat = Field(
        description="positive, in the accounts' common currency", examples=["250.00"]
    )
    comment: str = Field("", description="up to 255; default: `transfer to/from <login>`")
    reference: str = Field("", description="your reference id (up to 127), on both legs")


class TransferOut(BaseModel):
    amount: str
    currency: str
    status: str = Field(description="applied")
    source: BalanceOut = Field(alias="from")
    target: BalanceOut = Field(alias="to")


def _transferred(t: Transfer) -> tuple[int, dict[str, Any]]:
    cur = t.target.currency
    return 200, {
        "amount": format_minor(t.amount, cur),
        "currency": cur.code,
        "status": "applied",
        "from": render_posting(t.source),
        "to": render_posting(t.target),
    }


@router.post(
    "/balances/transfer",
    openapi_extra=scoped(TransferFunds),
    response_model=TransferOut,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Move money from one account's balance to another's: both legs, one audit record",
    tags=["balances"],
)
async def transfer(
    body: TransferIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    cmd = TransferFunds(body.from_login, body.to_login, body.amount, body.comment, body.reference)
    return await write(request, actor, cmd, _transferred)


# ---- trade state of many accounts ------------------------------------------------------------


class TradeStatePage(BaseModel):
    items: list[TradeStateOut]
    next_cursor: str | None


STATE_COLUMNS = (
    "login",
    "currency",
    "leverage",
    "balance",
    "credit",
    "bonus",
    "profit",
    "equity",
    "margin",
    "free_margin",
    "margin_level",
)


def _bounded_logins(value: str | None) -> tuple[int, ...] | None:
    if value is None or not value.strip():
        return None
    parts = value.split(",", MAX_LOGINS + 1)
    if len(parts) > MAX_LOGINS:
        raise ValidationError.field("logins", f"names more than {MAX_LOGINS} logins")
    try:
        logins = tuple(int(part) for part in parts if part.strip())
    except ValueError:
        raise ValidationError.field("logins", "must be a comma list of logins") from None
    return logins


def _csv(states: list[TradeState]) -> Iterator[str]:
    writer = CsvOut()
    writer.writerow(STATE_COLUMNS)
    for state in states:
        row = render_state(state)
        writer.writerow([row[c] for c in STATE_COLUMNS])  # codes and numbers only
    yield writer.take()


@router.get(
    "/trade-states",
    response_model=TradeStatePage,
    responses={200: {"content": {"text/csv": {}}}},
    summary="Equity, margin and free margin of many accounts: by logins or a group mask, paged",
    description="Needs users:read. `logins` (up to 1000) or `group` (a mask); neither: every "
    "account within reach. Pages of `limit` (1 to 1000) in login order; `next_cursor` for the "
    "next. CSV with `Accept: text/csv` or `?format=csv` (one page, same cursor rules).",
    tags=["trading"],
)
async def trade_states(
    request: Request,
    actor: Actor = Depends(current_actor),
    logins: str | None = Query(None, description="comma list, e.g. 910024,910025"),
    group: str | None = Query(None, description="group mask, e.g. demo\\*,!demo\\vip"),
    cursor: str | None = Query(None, description="next_cursor of the previous page"),
    limit: int = Query(100, description=f"1 to {MAX_PAGE}"),
    format: str | None = Query(None, description="json (default) or csv"),
) -> Response:
    csv_wanted = wants_csv(request, format)
    cmd = ListAccounts(
        group_mask=group,
        logins=_bounded_logins(logins),
        after_login=decode_cursor("login", cursor),
        limit=limit,
    )
    states = await run_in_threadpool(services(request).trade_states, cmd, actor)
    following = encode_cursor("login", states[-1].login) if len(states) == limit else None
    if csv_wanted:
        headers = {"Content-Disposition": 'attachment; filename="trade-states.csv"'}
        if following:
            headers["X-Next-Cursor"] = following
        return Response(
            "".join(_csv(states)), media_type="text/csv; charset=utf-8", headers=headers
        )
    return JSONResponse({"items": [render_state(s) for s in states], "next_cursor": following})
