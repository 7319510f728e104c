"""Native accounts (`/users`): open, read, change, disable and enable, list with filters, the
audit trail of one account, and the CSV report of many; the account's wire shapes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from brokerplane.api.csvcells import FORMULA_STARTS, CsvOut, safe_text
from brokerplane.api.native.audit import AuditPage, render_audit
from brokerplane.api.native.auth import current_actor
from brokerplane.api.native.wire import (
    COMMON_ERRORS,
    CONFLICT,
    NOT_FOUND,
    NativeRoute,
    decode_cursor,
    iso,
    next_cursor,
    parse_time,
    scoped,
    services,
    set_fields,
    wants_csv,
    write,
)
from brokerplane.core.account.commands import (
    ChangePassword,
    DisableAccount,
    EnableAccount,
    ListAccounts,
    OpenAccount,
    ReportAccounts,
    UpdateAccount,
)
from brokerplane.core.account.model import RIGHT_ENABLED, Account, CsvPage
from brokerplane.core.actor import Actor
from brokerplane.core.errors import ValidationError
from brokerplane.core.money import Currency, format_minor, format_units


class _Profile(BaseModel):
    """Account fields a manager may set; unknown names are refused with a field error."""

    # Extras reach the service, which names each unknown field; the document says they fail.
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})

    first_name: str | None = None
    last_name: str | None = None
    middle_name: str | None = None
    email: str | None = None
    phone: str | None = None
    country: str | None = None
    city: str | None = None
    state: str | None = None
    zip_code: str | None = None
    address: str | None = None
    company: str | None = None
    comment: str | None = None
    lead_source: str | None = None
    lead_campaign: str | None = None
    agent: int | None = Field(None, description="agent account login")
    rights: int | None = Field(None, description="MT5 EnUsersRights flags (sum of values)")
    status: str | None = None
    id_document: str | None = None
    language: int | None = None
    color: int | None = None
    mqid: str | None = None
    bank_account: str | None = None
    broker: str | None = Field(None, description="white label (cTrader brokerName)")
    description: str | None = None
    access_rights: str | None = Field(
        None, description="FULL_ACCESS, CLOSE_ONLY, NO_TRADING or NO_LOGIN"
    )
    account_type: str | None = Field(None, description="HEDGED, NETTED or SPREAD_BETTING")
    attributes: dict[str, str] | None = Field(
        None,
        description="name (1-64 characters) -> value (1-512): the whole set, replacing the one "
        "before; the same pairs cTrader's trader attribute calls read and write",
    )


class AccountCreate(_Profile):
    login: int | None = Field(None, description="0 or absent: allocated from the group's range")
    name: str
    group: str = Field(examples=["demo-usd"])
    leverage: int = Field(examples=[100])
    main_password: str | None = Field(
        None, description="8-16 characters with lower, upper, digit and special character"
    )
    investor_password: str | None = None
    phone_password: str | None = None

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "additionalProperties": False,
            "example": {"login": 910024, "name": "Demo User", "group": "demo-usd", "leverage": 100},
        },
    )


class AccountPatch(_Profile):
    name: str | None = None
    group: str | None = Field(None, description="a group in the same currency")
    leverage: int | None = Field(None, description="1 to the group's max_leverage")
    main_password: str | None = Field(
        None, description="new master password, under the group's password policy"
    )
    investor_password: str | None = Field(None, description="new investor password")


class DisableBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=255)


class AccountOut(BaseModel):
    login: int
    group: str
    name: str
    enabled: bool
    leverage: int
    currency: str
    balance: str = Field(description="decimal string in the account currency", examples=["0.00"])
    credit: str
    bonus: str
    rights: int
    access_rights: str
    account_type: str
    first_name: str
    last_name: str
    middle_name: str
    email: str
    phone: str
    country: str
    city: str
    state: str
    zip_code: str
    address: str
    company: str
    comment: str
    lead_source: str
    lead_campaign: str
    agent: int
    status: str
    id_document: str
    language: int
    color: int
    mqid: str
    bank_account: str
    broker: str
    description: str
    attributes: dict[str, str]
    user_id: int | None
    disabled_reason: str
    disabled_at: datetime | None
    registered_at: datetime
    updated_at: datetime
    last_access: datetime | None
    last_pass_change: datetime | None


class AccountPage(BaseModel):
    items: list[AccountOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at end")


ACCOUNT_OUT_FIELDS = tuple(AccountOut.model_fields)
_MONEY = ("balance", "credit", "bonus")
_TIMES = ("disabled_at", "registered_at", "updated_at", "last_access", "last_pass_change")


def render_account(acc: Account) -> dict[str, Any]:
    cur = Currency(acc.currency, acc.currency_digits)
    out: dict[str, Any] = {}
    for name in ACCOUNT_OUT_FIELDS:
        if name in _MONEY:
            out[name] = format_minor(getattr(acc, name), cur)
        elif name in _TIMES:
            out[name] = iso(getattr(acc, name))
        else:
            out[name] = getattr(acc, name)
    return out


router = APIRouter(route_class=NativeRoute, responses=COMMON_ERRORS)


def _ok_account(acc: Account) -> tuple[int, dict[str, Any]]:
    return 200, render_account(acc)


# ---- accounts -------------------------------------------------------------------------------


@router.post(
    "/users",
    openapi_extra=scoped(OpenAccount),
    status_code=201,
    response_model=AccountOut,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Create a trading account (user) in a group",
    tags=["users"],
)
async def create_user(
    body: AccountCreate, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    profile = set_fields(
        body,
        "login",
        "name",
        "group",
        "leverage",
        "main_password",
        "investor_password",
        "phone_password",
    )
    cmd = OpenAccount(
        group=body.group,
        leverage=body.leverage,
        name=body.name,
        login=body.login,
        main_password=body.main_password,
        investor_password=body.investor_password,
        phone_password=body.phone_password,
        profile={k: v for k, v in profile.items() if v is not None},
    )
    return await write(
        request,
        actor,
        partial(services(request).open_account, cmd),
        lambda acc: (201, render_account(acc)),
        claim_in_command=True,  # one transaction per opening, and grouped with others
    )


@router.get(
    "/users/{login}",
    response_model=AccountOut,
    responses=NOT_FOUND,
    summary="Read an account profile",
    tags=["users"],
)
async def get_user(login: int, request: Request, actor: Actor = Depends(current_actor)) -> Response:
    acc = await run_in_threadpool(services(request).get_account, login, actor)
    return JSONResponse(render_account(acc))


@router.patch(
    "/users/{login}",
    openapi_extra=scoped(UpdateAccount, ChangePassword),
    response_model=AccountOut,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Update leverage, group, names, contacts, comment, rights or passwords",
    tags=["users"],
)
async def update_user(
    login: int, body: AccountPatch, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    changes = set_fields(body)
    new_passwords = [
        ChangePassword(login, kind, changes.pop(f"{kind}_password"))
        for kind in ("main", "investor")
        if f"{kind}_password" in changes
    ]
    if new_passwords:  # the profile and the passwords in one transaction
        update = UpdateAccount(login, changes) if changes else None
        call = partial(services(request).set_account_passwords, new_passwords, update=update)
    else:
        call = partial(services(request).update_account, UpdateAccount(login, changes))
    return await write(request, actor, call, _ok_account)


@router.post(
    "/users/{login}/disable",
    openapi_extra=scoped(DisableAccount),
    response_model=AccountOut,
    responses=NOT_FOUND,
    summary="Suspend an account without deleting its history",
    tags=["users"],
)
async def disable_user(
    login: int,
    request: Request,
    body: DisableBody | None = None,
    actor: Actor = Depends(current_actor),
) -> Response:
    cmd = DisableAccount(login, body.reason if body else "")
    return await write(
        request,
        actor,
        partial(services(request).disable_account, cmd),
        _ok_account,
    )


@router.post(
    "/users/{login}/enable",
    openapi_extra=scoped(EnableAccount),
    response_model=AccountOut,
    responses=NOT_FOUND,
    summary="Re-enable a disabled account",
    tags=["users"],
)
async def enable_user(
    login: int, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    call = partial(services(request).enable_account, EnableAccount(login))
    return await write(request, actor, call, _ok_account)


@router.get(
    "/users/{login}/history",
    response_model=AuditPage,
    responses=NOT_FOUND,
    summary="The audit trail of an account: every change with before/after and who made it",
    tags=["users"],
)
async def user_history(
    login: int, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    records = await run_in_threadpool(services(request).account_history, login, actor)
    return JSONResponse({"items": [render_audit(r) for r in records]})


def _logins(value: str | None) -> tuple[int, ...] | None:
    if value is None or not value.strip():
        return None
    try:
        return tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise ValidationError.field("logins", "must be a comma list of logins") from None


class _Filters:
    """Query filters shared by the account list and the inventory report."""

    def __init__(
        self,
        group: str | None = Query(None, description="group mask, e.g. demo\\*,!demo\\vip"),
        email: str | None = Query(None),
        logins: str | None = Query(None, description="comma list, e.g. 910024,910025"),
        registered_from: str | None = Query(None, description="ISO 8601 or unix seconds"),
        registered_to: str | None = Query(None, description="exclusive upper bound"),
        cursor: str | None = Query(None, description="next_cursor of the previous page"),
        limit: int = Query(100, description="1 to 1000"),
    ) -> None:
        self.command = ListAccounts(
            group_mask=group,
            email=email,
            logins=_logins(logins),
            registered_from=parse_time("registered_from", registered_from),
            registered_to=parse_time("registered_to", registered_to),
            after_login=decode_cursor("login", cursor),
            limit=limit,
        )


@router.get(
    "/users",
    response_model=AccountPage,
    summary="List accounts by group mask, email, logins and registration time",
    tags=["users"],
)
async def list_users(
    request: Request, actor: Actor = Depends(current_actor), filters: _Filters = Depends()
) -> Response:
    cmd = filters.command
    page = await run_in_threadpool(services(request).list_accounts, cmd, actor)
    return JSONResponse(
        {
            "items": [render_account(a) for a in page],
            "next_cursor": next_cursor("login", page, cmd.limit, "login"),
        }
    )


# ---- reports --------------------------------------------------------------------------------

CSV_COLUMNS = (
    "login", "group", "name", "first_name", "last_name", "email", "phone", "country", "city",
    "state", "zip_code", "address", "company", "comment", "lead_source", "lead_campaign",
    "agent", "currency", "leverage", "balance", "credit", "bonus", "enabled", "rights",
    "broker", "registered_at", "updated_at",
)  # fmt: skip


# What the export reads for each CSV column, then the currency's digits for the money columns;
# `enabled` is derived from the rights. The export gives times already in the form of `iso`.
EXPORT_COLUMNS = (*("rights" if c == "enabled" else c for c in CSV_COLUMNS), "currency_digits")
_NOT_TEXT = frozenset(
    {
        "login",
        "leverage",
        "balance",
        "credit",
        "bonus",
        "enabled",
        "rights",
        "agent",
        "registered_at",
        "updated_at",
    }
)
_FORMULA_FIRST = frozenset(FORMULA_STARTS)
_BALANCE, _CREDIT, _BONUS = (CSV_COLUMNS.index(c) for c in ("balance", "credit", "bonus"))
_ENABLED = CSV_COLUMNS.index("enabled")
# The free-text columns: a cell starting like a formula gets a leading ' (api/csvcells.py),
# and so does a piece after a `;` in it.
_TEXT = tuple(i for i, c in enumerate(CSV_COLUMNS) if c not in _NOT_TEXT)
_CSV_CHUNK = 1000  # rows per piece of the response, when formatted here
_CSV_PIECE = 256 * 1024  # bytes per piece of a page the database wrote


def _csv_row(row: Sequence[Any]) -> list[Any]:
    """An exported row as render_account writes it: money as decimal text, `enabled` a bool,
    text that a spreadsheet would run as a formula made safe."""
    out = list(row)
    digits = out.pop()
    out[_BALANCE] = format_units(out[_BALANCE], digits)
    out[_CREDIT] = format_units(out[_CREDIT], digits)
    out[_BONUS] = format_units(out[_BONUS], digits)
    out[_ENABLED] = bool(out[_ENABLED] & RIGHT_ENABLED)
    for i in _TEXT:  # the first character of each text cell, and whether it holds a `;`
        if (cell := out[i]) and (cell[0] in _FORMULA_FIRST or ";" in cell):
            out[i] = safe_text(cell)
    return out


def csv_chunks(
    first: CsvPage | list[Sequence[Any]] | None,
    rest: Iterator[CsvPage | list[Sequence[Any]]],
) -> Iterator[bytes]:
    """The users CSV: the header, then each page, as the database wrote it (passed on in
    pieces of 256 KiB) or formatted here from plain rows."""
    writer = CsvOut()
    writer.writerow(CSV_COLUMNS)
    page, first = first, None  # one page in memory at a time
    while page:
        if isinstance(page, CsvPage):
            if head := writer.take():
                yield head.encode()
            data = page.data  # passed on in pieces, not copied whole
            yield from (data[at : at + _CSV_PIECE] for at in range(0, len(data), _CSV_PIECE))
        else:
            for start in range(0, len(page), _CSV_CHUNK):
                writer.writerows(map(_csv_row, page[start : start + _CSV_CHUNK]))
                yield writer.take().encode()
        page = None  # let it go before the next one is read
        page = next(rest, None)
    if tail := writer.take():  # the header alone, when nothing matched
        yield tail.encode()


@router.get(
    "/reports/users",
    response_model=AccountPage,
    summary="Account inventory for CRM sync: JSON pages, or the whole inventory as CSV",
    description="CSV with `Accept: text/csv` or `?format=csv`; streamed, so memory stays flat.",
    responses={200: {"content": {"text/csv": {}}}},
    tags=["reports"],
)
async def report_users(
    request: Request,
    actor: Actor = Depends(current_actor),
    format: str | None = Query(None, description="json (default) or csv"),
    filters: _Filters = Depends(),
) -> Response:
    csv_wanted = wants_csv(request, format)
    core = services(request)
    cmd = filters.command
    if not csv_wanted:
        page = await run_in_threadpool(core.list_accounts, ReportAccounts.of(cmd), actor)
        return JSONResponse(
            {
                "items": [render_account(a) for a in page],
                "next_cursor": next_cursor("login", page, cmd.limit, "login"),
            }
        )
    # Read the first page now, so a refused or failing report is still a clean error response.
    stream = core.export_accounts_csv(cmd, actor, CSV_COLUMNS, EXPORT_COLUMNS)
    first = await run_in_threadpool(next, stream, None)
    return StreamingResponse(
        csv_chunks(first, stream),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="users.csv"'},
    )


# ---- groups ---------------------------------------------------------------------------------
