"""Users and their accounts (seed 004): POST/GET /users, GET/PATCH /users/{id} (group moves and
status), PATCH /users/{id}/changePassword, POST (or PATCH) /users/{id}/resetPassword, DELETE
/users/{id}, GET /users/{id}/accounts, POST /accounts and GET /accounts/{id}.

Accounts read back carry their equity, usedMargin and freeMargin priced from their open
positions at the latest quotes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from brokerplane.api.traderevolution.auth import manager_of
from brokerplane.api.traderevolution.errors import invalid
from brokerplane.api.traderevolution.wire import (
    Body,
    answer,
    millis,
    no_content,
    paging,
    path_id,
    query_int,
    query_list,
    query_text,
    services_of,
)
from brokerplane.application.app import Application
from brokerplane.core.account.model import Account, TradeState
from brokerplane.core.actor import Actor
from brokerplane.core.backoffice.commands import (
    AddAccount,
    ChangeUserPassword,
    DeleteUser,
    NewAccount,
    OpenUser,
    ResetUserPassword,
    UpdateUser,
    UserFilter,
)
from brokerplane.core.backoffice.model import STATUS_NAMES
from brokerplane.core.user.model import User

router = APIRouter()

# Account statuses as answered: an enabled account is Active (0), a disabled one Blocked (1).
ACCOUNT_ACTIVE = 0
ACCOUNT_BLOCKED = 1


def branding_ids(services: Application, actor: Actor) -> dict[str, int]:
    """White label ids by folded name, for the brandingId of users and groups."""
    return {b.name.casefold(): b.id for b in services.list_white_labels(actor)}


def user_json(user: User, brandings: dict[str, int]) -> dict[str, Any]:
    return {
        "id": user.id,
        "login": user.login,
        "email": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "userGroupId": user.group_id,
        "brandingId": brandings.get(user.broker.casefold()) if user.broker else None,
        "status": user.status,
        "statusName": STATUS_NAMES.get(user.status, str(user.status)),
        "createdAt": millis(user.created_at),
    }


def account_json(acc: Account, state: TradeState | None = None) -> dict[str, Any]:
    """An account with its figures: `state` priced from its positions (Application.get_risk or
    get_risks); without it, as an account without positions."""
    state = state or TradeState.of(acc)
    return {
        "id": acc.login,
        "accountName": acc.name,
        "userId": acc.user_id,
        "userGroupId": acc.group_id,
        "currency": acc.currency,
        "leverage": acc.leverage,
        "accountType": acc.account_type,
        "status": ACCOUNT_ACTIVE if acc.enabled else ACCOUNT_BLOCKED,
        "statusName": "Active" if acc.enabled else "Blocked",
        "balance": state.balance,
        "credit": state.credit,
        "bonus": state.bonus,
        "equity": state.equity,
        "usedMargin": state.margin,
        "freeMargin": state.margin_free,
        "createdAt": millis(acc.registered_at),
    }


def accounts_json(
    services: Application, accounts: list[Account], actor: Actor
) -> list[dict[str, Any]]:
    """Accounts with their figures priced at the latest quotes (one read for all)."""
    risks = services.get_risks(accounts, actor)
    return [account_json(a, risks[a.login].state()) for a in accounts]


def _new_account(item: Any, where: str) -> NewAccount:
    if not isinstance(item, dict):
        raise invalid(f"{where} must be an object with accountName")
    spec = Body(item)
    name = spec.text("accountName", "name")
    if name is None or not name.strip():
        raise invalid(f"{where}.accountName is required")
    return NewAccount(name=name, preset_id=spec.integer("presetId", "accountPresetId"))


def _accounts_section(body: Body) -> tuple[NewAccount, ...]:
    """The nested accounts section: one object, or a list of them."""
    _, section = body.pick("accounts", "account")
    if section is None:
        raise invalid("accounts is required: a section with at least the accountName")
    if isinstance(section, dict):
        return (_new_account(section, "accounts"),)
    if isinstance(section, list):
        return tuple(_new_account(item, f"accounts[{n}]") for n, item in enumerate(section))
    raise invalid("accounts must be an object or a list of objects")


@router.post("/users")
async def create_user(request: Request) -> Response:
    actor = await manager_of(request)
    body = await Body.of(request)
    group_id = body.integer("userGroup", "userGroupId")
    if group_id is None:
        raise invalid("userGroup is required: the id of the user group")
    cmd = OpenUser(
        login=body.require_text("login"),
        password=body.require_text("password"),
        email=body.require_text("email"),
        group_id=group_id,
        first_name=body.text("firstName") or "",
        last_name=body.text("lastName") or "",
        accounts=_accounts_section(body),
    )
    services = services_of(request)

    def run() -> dict[str, Any]:
        made = services.open_user_with_accounts(cmd, actor)
        data = user_json(made.user, branding_ids(services, actor))
        return {**data, "accounts": [account_json(a) for a in made.accounts]}

    return answer(await run_in_threadpool(run))


def _unquoted(logins: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """Logins as some TE clients send them, in single quotes (`login='jsmith'`): a TE login
    never holds a quote, so the quotes are read as wrapping."""
    if logins is None:
        return None
    return tuple(x[1:-1] if len(x) >= 2 and x[0] == x[-1] == "'" else x for x in logins)


@router.get("/users")
async def find_users(request: Request) -> Response:
    actor = await manager_of(request)
    offset, limit = paging(request)
    query = UserFilter(
        branding_id=query_int(request, "brandingId"),
        email=query_text(request, "email"),
        logins=_unquoted(query_list(request, "login")),
        plan_id=query_int(request, "planId"),
        group_id=query_int(request, "userGroupId"),
        offset=offset,
        limit=limit,
    )
    services = services_of(request)

    def run() -> list[dict[str, Any]]:
        found = services.search_users(query, actor)
        brandings = branding_ids(services, actor)
        return [user_json(u, brandings) for u in found]

    return answer(await run_in_threadpool(run))


@router.get("/users/{user_id}")
async def get_user(request: Request, user_id: str) -> Response:
    actor = await manager_of(request)
    uid = path_id(user_id)
    services = services_of(request)

    def run() -> dict[str, Any]:
        found = services.get_user_with_accounts(uid, actor)
        data = user_json(found.user, branding_ids(services, actor))
        return {**data, "accounts": accounts_json(services, found.accounts, actor)}

    return answer(await run_in_threadpool(run))


@router.get("/users/{user_id}/accounts")
async def user_accounts(request: Request, user_id: str) -> Response:
    actor = await manager_of(request)
    uid = path_id(user_id)
    services = services_of(request)

    def run() -> list[dict[str, Any]]:
        found = services.get_user_with_accounts(uid, actor)
        return accounts_json(services, found.accounts, actor)

    return answer(await run_in_threadpool(run))


_PATCHABLE = {"userGroup", "userGroupId", "ruleValue", "ruleName", "status", "id", "userId"}
_STATUS_RULES = {"status", "userstatus", "user_status", "state"}


@router.patch("/users/{user_id}")
async def patch_user(request: Request, user_id: str) -> Response:
    """A group move (`userGroup`) and/or a status (`ruleValue`: 0 Unlocked, 1 Locked, 2 Locked
    after brute force, 3 Need activation, 4 Expired); 204 when done."""
    actor = await manager_of(request)
    uid = path_id(user_id)
    body = await Body.of(request)
    unknown = body.unknown(_PATCHABLE)
    if unknown:
        raise invalid(
            "PATCH /users/{id} changes userGroup and ruleValue (the status); "
            f"not: {', '.join(unknown)}"
        )
    rule = body.text("ruleName")
    if rule is not None and rule.strip().replace(" ", "").lower() not in _STATUS_RULES:
        raise invalid(f"ruleName {rule!r} is not supported; the status rule takes ruleValue")
    named = body.integer("id", "userId")
    if named is not None and named != uid:
        raise invalid("the body names another user than the path")
    status = body.integer("ruleValue", "status")
    cmd = UpdateUser(uid, group_id=body.integer("userGroup", "userGroupId"), status=status)
    await run_in_threadpool(services_of(request).update_user_settings, cmd, actor)
    return no_content()


@router.patch("/users/{user_id}/changePassword")
async def change_password(request: Request, user_id: str) -> Response:
    """The user's new password (its accounts' too); 200 with the user."""
    actor = await manager_of(request)
    uid = path_id(user_id)
    body = await Body.of(request)
    password = body.text("password", "newPassword")
    if password is None or not password:
        raise invalid("password is required: the new password")
    services = services_of(request)

    def run() -> dict[str, Any]:
        user = services.change_user_password(ChangeUserPassword(uid, password), actor)
        return user_json(user, branding_ids(services, actor))

    return answer(await run_in_threadpool(run))


@router.post("/accounts")
async def create_account(request: Request) -> Response:
    actor = await manager_of(request)
    body = await Body.of(request)
    user_id = body.integer("userId")
    if user_id is None:
        raise invalid("userId is required: the user the account is for")
    spec = _new_account(body.data, "the body")
    services = services_of(request)
    acc = await run_in_threadpool(services.open_user_account, AddAccount(user_id, spec), actor)
    return answer(account_json(acc))


@router.get("/accounts/{account_id}")
async def get_account(request: Request, account_id: str) -> Response:
    actor = await manager_of(request)
    login = path_id(account_id, "accountId")
    risk = await run_in_threadpool(services_of(request).get_risk, login, actor)
    return answer(account_json(risk.account, risk.state()))


async def reset_password(request: Request, user_id: str) -> Response:
    """A new random password for the user and its accounts, answered once; its sessions
    end."""
    actor = await manager_of(request)
    uid = path_id(user_id)
    await Body.of(request, required=False)  # a body, if any, must still be JSON
    done = await run_in_threadpool(
        services_of(request).reset_user_password, ResetUserPassword(uid), actor
    )
    return answer({"userId": done.user.id, "login": done.user.login, "password": done.password})


for _method in ("POST", "PATCH", "PUT"):
    router.add_api_route("/users/{user_id}/resetPassword", reset_password, methods=[_method])


@router.delete("/users/{user_id}")
async def delete_user(request: Request, user_id: str) -> Response:
    """Delete the user and its (empty) accounts; 200 with the user as it was."""
    actor = await manager_of(request)
    uid = path_id(user_id)
    services = services_of(request)

    def run() -> dict[str, Any]:
        gone = services.delete_backoffice_user(DeleteUser(uid), actor)
        # users:delete alone may delete; naming the branding needs users:read
        brandings = branding_ids(services, actor) if actor.has("users:read") else {}
        return user_json(gone, brandings)

    return answer(await run_in_threadpool(run))
