"""Native endpoints: authenticate, parse, build a core command, call the core, render."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse

from brokerplane.api.csvcells import FORMULA_STARTS, CsvOut, safe_text
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
    SymbolIn,
    SymbolList,
    SymbolOut,
    SymbolPatch,
    render_account,
    render_audit,
    render_group,
    render_symbol,
)
from brokerplane.core.account.commands import (
    ChangePassword,
    DisableAccount,
    EnableAccount,
    ListAccounts,
    OpenAccount,
    UpdateAccount,
)
from brokerplane.core.account.model import RIGHT_ENABLED, Account
from brokerplane.core.actor import Actor
from brokerplane.core.errors import ValidationError
from brokerplane.core.group.commands import CreateGroup, UpdateGroup
from brokerplane.core.money import format_units
from brokerplane.core.symbol.commands import CreateSymbol, UpdateSymbol

router = APIRouter(route_class=NativeRoute, responses=COMMON_ERRORS)


def _set_fields(body: Any, *exclude: str) -> dict[str, Any]:
    data: dict[str, Any] = body.model_dump(exclude_unset=True)
    for name in exclude:
        data.pop(name, None)
    return data


def _settings(body: Any, *exclude: str) -> dict[str, Any]:
    """The settings sent: declared fields left null mean "the default"; any other name stays,
    null or not, so the core refuses it as unknown instead of it passing unseen."""
    declared = type(body).model_fields
    return {k: v for k, v in _set_fields(body, *exclude).items()
            if v is not None or k not in declared}  # fmt: skip


def _ok_account(acc: Account) -> tuple[int, dict[str, Any]]:
    return 200, render_account(acc)


# ---- accounts -------------------------------------------------------------------------------


@router.post(
    "/users",
    status_code=201,
    response_model=AccountOut,
    responses={**NOT_FOUND, **CONFLICT},
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
    return await write(request, actor, partial(services(request).open_account, cmd),
                       lambda acc: (201, render_account(acc)), scopes=("users:write",))  # fmt: skip


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
    response_model=AccountOut,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Update leverage, group, names, contacts, comment, rights or passwords",
    tags=["users"],
)
async def update_user(
    login: int, body: AccountPatch, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    changes = _set_fields(body)
    new_passwords = [ChangePassword(login, kind, changes.pop(f"{kind}_password"))
                     for kind in ("main", "investor") if f"{kind}_password" in changes]  # fmt: skip
    if new_passwords:  # the profile and the passwords in one transaction
        update = UpdateAccount(login, changes) if changes else None
        call = partial(services(request).set_account_passwords, new_passwords, update=update)
    else:
        call = partial(services(request).update_account, UpdateAccount(login, changes))
    return await write(request, actor, call, _ok_account, scopes=("users:write",))


@router.post(
    "/users/{login}/disable",
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
        scopes=("users:write",),
    )


@router.post(
    "/users/{login}/enable",
    response_model=AccountOut,
    responses=NOT_FOUND,
    summary="Re-enable a disabled account",
    tags=["users"],
)
async def enable_user(
    login: int, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    call = partial(services(request).enable_account, EnableAccount(login))
    return await write(request, actor, call, _ok_account, scopes=("users:write",))


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
_EXPORT_COLUMNS = (*("rights" if c == "enabled" else c for c in CSV_COLUMNS), "currency_digits")
_NOT_TEXT = frozenset({"login", "leverage", "balance", "credit", "bonus", "enabled", "rights",
                       "agent", "registered_at", "updated_at"})  # fmt: skip
_FORMULA_FIRST = frozenset(FORMULA_STARTS)
_BALANCE, _CREDIT, _BONUS = (CSV_COLUMNS.index(c) for c in ("balance", "credit", "bonus"))
_ENABLED = CSV_COLUMNS.index("enabled")
# The free-text columns: a cell starting like a formula gets a leading ' (api/csvcells.py),
# and so does a piece after a `;` in it.
_TEXT = tuple(i for i, c in enumerate(CSV_COLUMNS) if c not in _NOT_TEXT)
_CSV_CHUNK = 1000  # rows per piece of the response


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


def _csv_chunks(
    first: list[Sequence[Any]] | None, rest: Iterator[list[Sequence[Any]]]
) -> Iterator[str]:
    writer = CsvOut()
    writer.writerow(CSV_COLUMNS)
    page, first = first, None  # one page in memory at a time
    while page:
        for start in range(0, len(page), _CSV_CHUNK):
            writer.writerows(map(_csv_row, page[start : start + _CSV_CHUNK]))
            yield writer.take()
        page = None  # let it go before the next one is read
        page = next(rest, None)
    if tail := writer.take():  # the header alone, when nothing matched
        yield tail


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
        page = await run_in_threadpool(core.list_accounts, cmd, actor, "reports:read")
        return JSONResponse(
            {
                "items": [render_account(a) for a in page],
                "next_cursor": next_cursor("login", page, cmd.limit, "login"),
            }
        )
    # Read the first page now, so a refused or failing report is still a clean error response.
    stream = core.export_accounts(cmd, actor, _EXPORT_COLUMNS)
    first = await run_in_threadpool(next, stream, None)
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
    groups = await run_in_threadpool(services(request).list_groups, actor, name)
    return JSONResponse({"items": [render_group(g) for g in groups]})


@router.get(
    "/groups/{name}",
    response_model=GroupOut,
    responses=NOT_FOUND,
    summary="Read one group (encode a backslash as %5C)",
    tags=["groups"],
)
async def get_group(name: str, request: Request, actor: Actor = Depends(current_actor)) -> Response:
    group = await run_in_threadpool(services(request).get_group, name, actor)
    return JSONResponse(render_group(group))


@router.post(
    "/groups",
    status_code=201,
    response_model=GroupOut,
    responses=CONFLICT,
    summary="Create a group (admin)",
    tags=["groups"],
)
async def create_group(
    body: GroupIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    settings = _settings(body, "name", "currency")
    cmd = CreateGroup(name=body.name, currency=body.currency, settings=settings)
    return await write(request, actor, partial(services(request).create_group, cmd),
                       lambda group: (201, render_group(group)), scopes=("admin",))  # fmt: skip


@router.patch(
    "/groups/{name}",
    response_model=GroupOut,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Update a group (admin)",
    tags=["groups"],
)
async def update_group(
    name: str, body: GroupPatch, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    cmd = UpdateGroup(name=name, changes=_set_fields(body))
    return await write(request, actor, partial(services(request).update_group, cmd),
                       lambda group: (200, render_group(group)), scopes=("admin",))  # fmt: skip


# ---- symbols --------------------------------------------------------------------------------


@router.get("/symbols", response_model=SymbolList, summary="List symbols", tags=["symbols"])
async def list_symbols(
    request: Request,
    name: str | None = Query(None, description="name or path mask, e.g. Forex\\*,!*JPY"),
    actor: Actor = Depends(current_actor),
) -> Response:
    symbols = await run_in_threadpool(services(request).list_symbols, actor, name)
    return JSONResponse({"items": [render_symbol(s) for s in symbols]})


@router.get(
    "/symbols/{name}",
    response_model=SymbolOut,
    responses=NOT_FOUND,
    summary="Read one symbol",
    tags=["symbols"],
)
async def get_symbol(
    name: str, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    symbol = await run_in_threadpool(services(request).get_symbol, name, actor)
    return JSONResponse(render_symbol(symbol))


@router.post(
    "/symbols",
    status_code=201,
    response_model=SymbolOut,
    responses=CONFLICT,
    summary="Create a symbol (admin)",
    tags=["symbols"],
)
async def create_symbol(
    body: SymbolIn, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    settings = _settings(body, "name")
    cmd = CreateSymbol(name=body.name, settings=settings)
    return await write(request, actor, partial(services(request).create_symbol, cmd),
                       lambda symbol: (201, render_symbol(symbol)), scopes=("admin",))  # fmt: skip


@router.patch(
    "/symbols/{name}",
    response_model=SymbolOut,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Update a symbol (admin)",
    tags=["symbols"],
)
async def update_symbol(
    name: str, body: SymbolPatch, request: Request, actor: Actor = Depends(current_actor)
) -> Response:
    cmd = UpdateSymbol(name=name, changes=_set_fields(body))
    return await write(request, actor, partial(services(request).update_symbol, cmd),
                       lambda symbol: (200, render_symbol(symbol)), scopes=("admin",))  # fmt: skip
