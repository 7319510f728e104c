"""Native endpoints: authenticate, parse, build a core command, call the core, render."""

from __future__ import annotations

import base64
import binascii
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse

from brokerplane.api.native.auth import current_actor, runtime_of
from brokerplane.api.native.errors import PROBLEM_MEDIA_TYPE
from brokerplane.api.native.route import NativeRoute
from brokerplane.api.native.schemas import (
    AccountCreate,
    AccountOut,
    AccountPage,
    AccountPatch,
    AuditPage,
    DisableBody,
    GroupIn,
    GroupList,
    GroupOut,
    GroupPatch,
    Problem,
    SymbolIn,
    SymbolList,
    SymbolOut,
    SymbolPatch,
    render_account,
    render_audit,
    render_group,
    render_symbol,
)
from brokerplane.core.account.model import Account
from brokerplane.core.account.service import (
    DisableAccount,
    EnableAccount,
    ListAccounts,
    OpenAccount,
    UpdateAccount,
)
from brokerplane.core.actor import Actor
from brokerplane.core.errors import ValidationError
from brokerplane.core.group.service import CreateGroup, UpdateGroup
from brokerplane.core.services import Services
from brokerplane.core.symbol.service import CreateSymbol, UpdateSymbol

_PROBLEM = {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}}
_COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {**_PROBLEM, "description": "ValidationError: the input is invalid (fields named)"},
    401: {**_PROBLEM, "description": "Unauthorized: missing or invalid bearer key"},
    403: {**_PROBLEM, "description": "PermissionDenied: the key lacks the scope"},
    503: {**_PROBLEM, "description": "ManagerOffline: the database is unreachable"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {**_PROBLEM, "description": "NotFound"}}
_CONFLICT: dict[int | str, dict[str, Any]] = {409: {**_PROBLEM, "description": "Conflict"}}

router = APIRouter(route_class=NativeRoute, responses=_COMMON_ERRORS)


def _services(request: Request) -> Services:
    return runtime_of(request).services


def _set_fields(body: Any, *exclude: str) -> dict[str, Any]:
    data: dict[str, Any] = body.model_dump(exclude_unset=True)
    for name in exclude:
        data.pop(name, None)
    return data


# ---- accounts -------------------------------------------------------------------------------


@router.post(
    "/users",
    status_code=201,
    response_model=AccountOut,
    responses={**_NOT_FOUND, **_CONFLICT},
    summary="Create a trading account (user) in a group",
    tags=["users"],
)
async def create_user(
    body: AccountCreate, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    profile = _set_fields(
        body, "login", "name", "group", "leverage", "main_password", "investor_password",
        "phone_password",
    )  # fmt: skip
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
    acc = await run_in_threadpool(_services(request).open_account, cmd, actor)
    return JSONResponse(render_account(acc), status_code=201)


@router.get(
    "/users/{login}",
    response_model=AccountOut,
    responses=_NOT_FOUND,
    summary="Read an account profile",
    tags=["users"],
)
async def get_user(login: int, request: Request, actor: Actor = Depends(current_actor)) -> Response:
    acc = await run_in_threadpool(_services(request).get_account, login, actor)
    return JSONResponse(render_account(acc))


@router.patch(
    "/users/{login}",
    response_model=AccountOut,
    responses={**_NOT_FOUND, **_CONFLICT},
    summary="Update leverage, group, names, contacts, comment or rights",
    tags=["users"],
)
async def update_user(
    login: int, body: AccountPatch, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    cmd = UpdateAccount(login, _set_fields(body))
    acc = await run_in_threadpool(_services(request).update_account, cmd, actor)
    return JSONResponse(render_account(acc))


@router.post(
    "/users/{login}/disable",
    response_model=AccountOut,
    responses=_NOT_FOUND,
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
    acc = await run_in_threadpool(_services(request).disable_account, cmd, actor)
    return JSONResponse(render_account(acc))


@router.post(
    "/users/{login}/enable",
    response_model=AccountOut,
    responses=_NOT_FOUND,
    summary="Re-enable a disabled account",
    tags=["users"],
)
async def enable_user(
    login: int, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    acc = await run_in_threadpool(_services(request).enable_account, EnableAccount(login), actor)
    return JSONResponse(render_account(acc))


@router.get(
    "/users/{login}/history",
    response_model=AuditPage,
    responses=_NOT_FOUND,
    summary="The audit trail of an account: every change with before/after and who made it",
    tags=["users"],
)
async def user_history(
    login: int, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    records = await run_in_threadpool(_services(request).account_history, login, actor)
    return JSONResponse({"items": [render_audit(r) for r in records]})


def _cursor_out(page: list[Account], limit: int) -> str | None:
    if len(page) < limit:
        return None
    return base64.urlsafe_b64encode(f"login:{page[-1].login}".encode()).decode().rstrip("=")


def _cursor_in(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "login":
            raise ValueError(kind)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError.field("cursor", "is not a cursor this API returned") from None


def _logins(value: str | None) -> tuple[int, ...] | None:
    if value is None or not value.strip():
        return None
    try:
        return tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise ValidationError.field("logins", "must be a comma list of logins") from None


def _when(name: str, value: str | None) -> datetime | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise ValidationError.field(name, "must be an ISO 8601 time or unix seconds") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


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
            registered_from=_when("registered_from", registered_from),
            registered_to=_when("registered_to", registered_to),
            after_login=_cursor_in(cursor),
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
    page = await run_in_threadpool(_services(request).list_accounts, cmd, actor)
    return JSONResponse(
        {"items": [render_account(a) for a in page], "next_cursor": _cursor_out(page, cmd.limit)}
    )


# ---- reports --------------------------------------------------------------------------------

CSV_COLUMNS = (
    "login", "group", "name", "first_name", "last_name", "email", "phone", "country", "city",
    "state", "zip_code", "address", "company", "comment", "lead_source", "lead_campaign",
    "agent", "currency", "leverage", "balance", "credit", "bonus", "enabled", "rights",
    "broker", "registered_at", "updated_at",
)  # fmt: skip


def _csv_chunks(first: list[Account], rest: Iterator[Account]) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def rows() -> Iterator[Account]:
        yield from first
        yield from rest

    for count, acc in enumerate(rows(), start=1):
        data = render_account(acc)
        writer.writerow([data[c] if data[c] is not None else "" for c in CSV_COLUMNS])
        if count % 1000 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


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
    wants_csv = format == "csv" or (
        format is None and "text/csv" in request.headers.get("accept", "")
    )
    if format not in (None, "json", "csv"):
        raise ValidationError.field("format", "must be json or csv")
    services = _services(request)
    cmd = filters.command
    if not wants_csv:
        page = await run_in_threadpool(services.list_accounts, cmd, actor, "reports:read")
        return JSONResponse(
            {
                "items": [render_account(a) for a in page],
                "next_cursor": _cursor_out(page, cmd.limit),
            }
        )
    # Read the first page now, so a refused or failing report is still a clean error response.
    stream = services.iter_accounts(cmd, actor)
    first: list[Account] = []
    head = await run_in_threadpool(lambda: next(stream, None))
    if head is not None:
        first.append(head)
    return StreamingResponse(
        _csv_chunks(first, stream),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="users.csv"'},
    )


# ---- groups ---------------------------------------------------------------------------------


@router.get("/groups", response_model=GroupList, summary="List group templates", tags=["groups"])
async def list_groups(
    request: Request,
    name: str | None = Query(None, description="name mask, e.g. demo\\*,!demo\\vip"),
    actor: Actor = Depends(current_actor),
) -> Response:
    groups = await run_in_threadpool(_services(request).list_groups, actor, name)
    return JSONResponse({"items": [render_group(g) for g in groups]})


@router.get(
    "/groups/{name}",
    response_model=GroupOut,
    responses=_NOT_FOUND,
    summary="Read one group (encode a backslash as %5C)",
    tags=["groups"],
)
async def get_group(name: str, request: Request, actor: Actor = Depends(current_actor)) -> Response:
    group = await run_in_threadpool(_services(request).get_group, name, actor)
    return JSONResponse(render_group(group))


@router.post(
    "/groups",
    status_code=201,
    response_model=GroupOut,
    responses=_CONFLICT,
    summary="Create a group (admin)",
    tags=["groups"],
)
async def create_group(
    body: GroupIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    settings = {k: v for k, v in _set_fields(body, "name", "currency").items() if v is not None}
    cmd = CreateGroup(name=body.name, currency=body.currency, settings=settings)
    group = await run_in_threadpool(_services(request).create_group, cmd, actor)
    return JSONResponse(render_group(group), status_code=201)


@router.patch(
    "/groups/{name}",
    response_model=GroupOut,
    responses={**_NOT_FOUND, **_CONFLICT},
    summary="Update a group (admin)",
    tags=["groups"],
)
async def update_group(
    name: str, body: GroupPatch, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    cmd = UpdateGroup(name=name, changes=_set_fields(body))
    group = await run_in_threadpool(_services(request).update_group, cmd, actor)
    return JSONResponse(render_group(group))


# ---- symbols --------------------------------------------------------------------------------


@router.get("/symbols", response_model=SymbolList, summary="List symbols", tags=["symbols"])
async def list_symbols(
    request: Request,
    name: str | None = Query(None, description="name or path mask, e.g. Forex\\*,!*JPY"),
    actor: Actor = Depends(current_actor),
) -> Response:
    symbols = await run_in_threadpool(_services(request).list_symbols, actor, name)
    return JSONResponse({"items": [render_symbol(s) for s in symbols]})


@router.get(
    "/symbols/{name}",
    response_model=SymbolOut,
    responses=_NOT_FOUND,
    summary="Read one symbol",
    tags=["symbols"],
)
async def get_symbol(
    name: str, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    symbol = await run_in_threadpool(_services(request).get_symbol, name, actor)
    return JSONResponse(render_symbol(symbol))


@router.post(
    "/symbols",
    status_code=201,
    response_model=SymbolOut,
    responses=_CONFLICT,
    summary="Create a symbol (admin)",
    tags=["symbols"],
)
async def create_symbol(
    body: SymbolIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    settings = {k: v for k, v in _set_fields(body, "name").items() if v is not None}
    cmd = CreateSymbol(name=body.name, settings=settings)
    symbol = await run_in_threadpool(_services(request).create_symbol, cmd, actor)
    return JSONResponse(render_symbol(symbol), status_code=201)


@router.patch(
    "/symbols/{name}",
    response_model=SymbolOut,
    responses={**_NOT_FOUND, **_CONFLICT},
    summary="Update a symbol (admin)",
    tags=["symbols"],
)
async def update_symbol(
    name: str, body: SymbolPatch, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    cmd = UpdateSymbol(name=name, changes=_set_fields(body))
    symbol = await run_in_threadpool(_services(request).update_symbol, cmd, actor)
    return JSONResponse(render_symbol(symbol))
