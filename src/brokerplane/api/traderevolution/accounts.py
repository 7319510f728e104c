"""Accounts beyond seed 004: the paged list, account details, assets (currencies), changes,
deletion and closing.

GET /accounts?userId=&userGroupId=&offset=&limit= answers a JSON array of accounts in id
order (limit 1 to 1000, default 1000). GET /accountDetails?accountId= is one account's state.
GET /assets lists the currencies in use, `{id, name, description, precision}` (the id is the
ISO 4217 numeric code where there is one). PATCH /accounts/{accountId} renames an account
(accountName), sets its leverage, or its status (0 Active, 1 Blocked). DELETE
/accounts/{accountId} deletes it (users:delete; it reads as absent from then on; its ledger
stays). POST /closeAccount/{accountId} closes it: blocked, with the reason "closed".
"""

from __future__ import annotations

from decimal import Decimal
from itertools import islice
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from brokerplane.api.traderevolution.auth import manager_of
from brokerplane.api.traderevolution.errors import invalid
from brokerplane.api.traderevolution.users import (
    ACCOUNT_ACTIVE,
    ACCOUNT_BLOCKED,
    account_json,
    accounts_json,
)
from brokerplane.api.traderevolution.wire import (
    Body,
    answer,
    path_id,
    query_int,
    query_text,
    services_of,
)
from brokerplane.application.app import Application
from brokerplane.core.account import commands as accounts
from brokerplane.core.actor import Actor
from brokerplane.core.backoffice.model import Asset

router = APIRouter()
MAX_OFFSET = 100_000
CLOSED_REASON = "closed"


def asset_json(asset: Asset) -> dict[str, Any]:
    return {
        "id": asset.id,
        "name": asset.name,
        "description": asset.name,
        "precision": asset.digits,
    }


def _page(request: Request) -> tuple[int, int]:
    offset = query_int(request, "offset", 0, MAX_OFFSET) or 0
    limit = query_int(request, "limit", 1, 1000)
    return offset, 1000 if limit is None else limit


@router.get("/accounts")
async def list_accounts(request: Request) -> Response:
    actor = await manager_of(request)
    offset, limit = _page(request)
    user_id = query_int(request, "userId", 1)
    group_id = query_int(request, "userGroupId", 1)
    services = services_of(request)

    def run() -> list[dict[str, Any]]:
        if user_id is not None:
            found = services.get_user_with_accounts(user_id, actor).accounts
            if group_id is not None:
                found = [a for a in found if a.group_id == group_id]
            page = found[offset : offset + limit]
        else:
            mask = None
            if group_id is not None:
                group = services.get_user_group(group_id, actor)
                mask = group.name
            listed = services.iter_accounts(accounts.ListAccounts(group_mask=mask), actor)
            if group_id is not None:
                listed = (a for a in listed if a.group_id == group_id)
            page = list(islice(listed, offset, offset + limit))
        return accounts_json(services, page, actor)

    return answer(await run_in_threadpool(run))


def _details(services: Application, login: int, actor: Actor) -> dict[str, Any]:
    risk = services.get_risk(login, actor)
    state = risk.state()
    acc = risk.account
    data = account_json(acc, state)
    level = None
    if state.margin > 0:
        level = (state.equity / state.margin * 100).quantize(Decimal("0.01"))
    withdrawable = max(min(state.balance, state.margin_free), Decimal(0))
    data.update(
        {
            "login": acc.login,
            "groupName": acc.group,
            "profit": state.profit,
            "marginLevel": level,
            "positions": len(risk.positions),
            "blockedBalance": Decimal(0),
            "availableFunds": state.margin_free,
            "withdrawalAvailable": withdrawable,
        }
    )
    return data


@router.get("/accountDetails")
async def account_details(request: Request) -> Response:
    actor = await manager_of(request)
    login = query_int(request, "accountId", 1)
    if login is None:
        raise invalid("accountId is required")
    return answer(await run_in_threadpool(_details, services_of(request), login, actor))


@router.get("/assets")
async def list_assets(request: Request) -> Response:
    actor = await manager_of(request)
    offset, limit = _page(request)
    name = query_text(request, "name")
    found = await run_in_threadpool(services_of(request).list_assets, actor)
    if name is not None:
        found = [a for a in found if a.name.casefold() == name.casefold()]
    return answer([asset_json(a) for a in found[offset : offset + limit]])


_PATCHABLE = {"accountName", "name", "leverage", "status", "id", "accountId"}


@router.patch("/accounts/{account_id}")
async def patch_account(request: Request, account_id: str) -> Response:
    actor = await manager_of(request)
    login = path_id(account_id, "accountId")
    body = await Body.of(request)
    unknown = body.unknown(_PATCHABLE)
    if unknown:
        raise invalid(
            "PATCH /accounts/{id} changes accountName, leverage and status; "
            f"not: {', '.join(unknown)}"
        )
    named = body.integer("id", "accountId")
    if named is not None and named != login:
        raise invalid("the body names another account than the path")
    changes: dict[str, Any] = {}
    name = body.text("accountName", "name")
    if name is not None:
        if not name.strip():
            raise invalid("accountName must not be empty")
        changes["name"] = name.strip()
    leverage = body.integer("leverage")
    if leverage is not None:
        changes["leverage"] = leverage
    status = body.integer("status")
    if status is not None and status not in (ACCOUNT_ACTIVE, ACCOUNT_BLOCKED):
        raise invalid("status must be 0 (Active) or 1 (Blocked)")
    if not changes and status is None:
        raise invalid("nothing to change: name accountName, leverage or status")
    services = services_of(request)

    def run() -> dict[str, Any]:
        # The fields first (what a bad value refuses), then the status: both need users:write
        # on the same account, so the second cannot be refused where the first was applied.
        acc = None
        if changes:
            acc = services.update_account(accounts.UpdateAccount(login, changes), actor)
        if status == ACCOUNT_BLOCKED:
            acc = services.disable_account(accounts.DisableAccount(login, "blocked"), actor)
        elif status == ACCOUNT_ACTIVE:
            acc = services.enable_account(accounts.EnableAccount(login), actor)
        assert acc is not None
        return account_json(acc)

    return answer(await run_in_threadpool(run))


@router.delete("/accounts/{account_id}")
async def delete_account(request: Request, account_id: str) -> Response:
    actor = await manager_of(request)
    login = path_id(account_id, "accountId")
    gone = await run_in_threadpool(
        services_of(request).delete_account, accounts.DeleteAccount(login), actor
    )
    return answer(account_json(gone))


@router.post("/closeAccount/{account_id}")
async def close_account(request: Request, account_id: str) -> Response:
    actor = await manager_of(request)
    login = path_id(account_id, "accountId")
    closed = await run_in_threadpool(
        services_of(request).disable_account, accounts.DisableAccount(login, CLOSED_REASON), actor
    )
    return answer(account_json(closed))
