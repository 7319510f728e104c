"""Traders (cTrader's trading accounts): create, read, list, full and partial update, delete,
and the trader groups, translated onto the core's accounts; their money is money.py."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from brokerplane.api.ctrader.auth import actor_of
from brokerplane.api.ctrader.errors import CTraderError, invalid
from brokerplane.api.ctrader.wire import (
    Body,
    answer,
    millis,
    no_content,
    parse_time,
    services_of,
    to_int,
)
from brokerplane.api.kit import idempotency as keyed
from brokerplane.application.app import Application
from brokerplane.application.idempotency import Replay
from brokerplane.core.account.commands import (
    ChangePassword,
    CheckPassword,
    DeleteAccount,
    ListAccounts,
    OpenAccount,
    OpenFundedAccount,
    UpdateAccount,
)
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.errors import GroupNotFound, WrongPassword
from brokerplane.core.group.model import Group
from brokerplane.core.idempotency import StoredResponse
from brokerplane.core.trading.model import Risk

router = APIRouter()
# changebalance and changebonus, the calls made most: mounted ahead of the other routers so a
# request for them is matched without trying every other route first.


MAX_CHUNK = 100_000

_KEEP = object()  # a field a full update leaves alone when omitted

# cTrader name -> (core account field, how it is read, value a full update resets it to)
TOP_FIELDS: dict[str, tuple[str, str, Any]] = {
    "accessRights": ("access_rights", "enum", "FULL_ACCESS"),
    "accountType": ("account_type", "enum", "HEDGED"),
    "brokerName": ("broker", "text", _KEEP),  # the white label stays: a reset would leave reach
    "description": ("description", "text", ""),
    "isLimitedRisk": ("limited_risk", "bool", False),
    "name": ("first_name", "text", ""),
    "lastName": ("last_name", "text", ""),
    "limitedRiskMarginCalculationStrategy": (
        "limited_risk_strategy",
        "enum",
        "ACCORDING_TO_LEVERAGE",
    ),
    "maxLeverage": ("max_leverage", "int", None),
    "sendOwnStatement": ("send_own_statement", "bool", False),
    "sendStatementToBroker": ("send_statement_to_broker", "bool", False),
    "swapFree": ("swap_free", "bool", False),
    "totalMarginCalculationType": ("margin_mode", "enum", None),
}
CONTACT_FIELDS: dict[str, tuple[str, str, Any]] = {
    "address": ("address", "text", ""),
    "city": ("city", "text", ""),
    "countryId": ("country_id", "int", None),
    "documentId": ("id_document", "text", ""),
    "email": ("email", "text", ""),
    "phone": ("phone", "text", ""),
    "state": ("state", "text", ""),
    "zipCode": ("zip_code", "text", ""),
    "introducingBroker1": ("introducing_broker1", "text", ""),
    "introducingBroker2": ("introducing_broker2", "text", ""),
}
_CONTACT_CORE = {name: core for name, (core, _kind, _reset) in CONTACT_FIELDS.items()}
CREATE_REQUIRED = (
    "accessRights",
    "accountType",
    "balance",
    "depositCurrency",
    "groupName",
    "hashedPassword",
    "leverageInCents",
)
UPDATE_REQUIRED = ("groupName", "leverageInCents")
# TraderTO keys priced from the account's open positions.
FIGURES = frozenset(
    {"cashEquity", "equity", "usedMargin", "freeMargin", "minEquityDaily", "maxEquityDaily"}
)

# Rates and flags strict clients (the Rust connector's TraderModel) require in every TraderTO.
_IB_DEFAULTS: dict[str, Any] = {
    "introducingBroker": False,
    "introducingBrokerCommissionRate": 0.0,
    "pocketCommissionRate": 0.0,
    "pocketMarkupRate": 0.0,
    "defaultIntroducingBrokerCommissionRate": 0.0,
    "defaultPocketCommissionRate": 0.0,
    "defaultPocketMarkupRate": 0.0,
    "defaultRebateRate": 0.0,
    "defaultSplitRevenue": False,
    "splitRevenue": False,
    "frenchRisk": False,
    "defaultIbCommissionsType": "USD_PER_LOT",
    "ibCommissionsType": "USD_PER_LOT",
}


def _read(body: Body, name: str, kind: str) -> Any:
    if kind == "enum":
        return body.enum(name)
    if kind == "bool":
        return body.boolean(name)
    if kind == "int":
        return body.integer(name)
    return body.text(name)


def _fields(body: Body, table: dict[str, tuple[str, str, Any]], full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (core, kind, reset) in table.items():
        if body.has(name):
            out[core] = _read(body, name, kind)
        elif full and reset is not _KEEP:
            out[core] = reset
    return out


def profile_changes(body: Body, *, full: bool, blank: str = "") -> dict[str, Any]:
    """The account fields a trader body sets (a full update also resets those omitted).

    Contact fields sent as "" are remembered (`blank_fields`, from the account's `blank`), so
    contactDetails reads them back as sent; a field never sent (or reset) stays out of it."""
    changes = _fields(body, TOP_FIELDS, full)
    if full or body.has("contactDetails"):
        contact = body.sub("contactDetails")
        changes.update(_fields(contact, CONTACT_FIELDS, full))
        kept = set(filter(None, blank.split(",")))
        for name, (core, kind, _reset) in CONTACT_FIELDS.items():
            if kind != "text" or core not in changes:
                continue
            if contact.has(name) and changes[core] == "":
                kept.add(core)
            else:
                kept.discard(core)
        if ",".join(sorted(kept)) != blank:
            changes["blank_fields"] = ",".join(sorted(kept))
    return changes


def leverage_of(cents: int) -> int:
    """cTrader's leverageInCents (1:100 is 10000) as the core's leverage (100)."""
    if cents <= 0 or cents % 100:
        raise CTraderError(
            400, "WRONG_LEVERAGE", "leverageInCents must be a positive multiple of 100"
        )
    return cents // 100


def _missing(body: Body, names: tuple[str, ...]) -> None:
    absent = [n for n in names if body.text(n) is None or not body.text(n).strip()]  # type: ignore[union-attr]
    if absent:
        raise invalid(", ".join(absent) + (" is" if len(absent) == 1 else " are") + " required")


def _full_name(first: str, last: str) -> str:
    return f"{first} {last}".strip()


def trader_to(acc: Account, group: Group | None, risk: Risk | None = None) -> dict[str, Any]:
    """The TraderTO of spec §3.2: integer money in minor units with moneyDigits, ms times.
    The figures are the account's positions priced at the latest quotes (`risk`; None for an
    account that holds none): equity = balance + credit + bonus + floating P/L, cashEquity =
    balance + floating P/L; brokerplane keeps no equity history, so today's minimum and
    maximum are the equity now."""
    profit, margin = (risk.profit, risk.margin) if risk is not None else (0, 0)
    blank = set(acc.blank_fields.split(",")) if acc.blank_fields else set()
    equity = acc.balance + acc.credit + acc.bonus + profit
    contact = {
        "address": acc.address,
        "city": acc.city,
        "countryId": acc.country_id,
        "documentId": acc.id_document,
        "email": acc.email,
        "phone": acc.phone,
        "state": acc.state,
        "zipCode": acc.zip_code,
        "introducingBroker1": acc.introducing_broker1,
        "introducingBroker2": acc.introducing_broker2,
    }
    margin_mode = acc.margin_mode or (group.margin_mode if group else "MAX")
    out: dict[str, Any] = {
        "login": acc.login,
        "groupName": acc.group,
        "depositCurrency": acc.currency,
        "accessRights": acc.access_rights,
        "accountType": acc.account_type,
        "brokerName": acc.broker,
        "balance": acc.balance,
        "bonus": acc.bonus,
        "nonWithdrawableBonus": acc.credit,
        "cashEquity": acc.balance + profit,
        "equity": equity,
        "usedMargin": margin,
        "freeMargin": equity - margin,
        "minEquityDaily": equity,
        "maxEquityDaily": equity,
        "leverageInCents": acc.leverage * 100,
        "moneyDigits": acc.currency_digits,
        "name": acc.first_name,
        "lastName": acc.last_name,
        "description": acc.description,
        "contactDetails": {
            k: v for k, v in contact.items() if v not in (None, "") or _CONTACT_CORE[k] in blank
        },
        "registrationTimestamp": millis(acc.registered_at),
        "lastUpdateTimestamp": millis(acc.updated_at),
        "lastConnectionTimestamp": millis(acc.last_access),
        "isLimitedRisk": acc.limited_risk,
        "limitedRisk": acc.limited_risk,
        "limitedRiskMarginCalculationStrategy": acc.limited_risk_strategy,
        "sendOwnStatement": acc.send_own_statement,
        "sendStatementToBroker": acc.send_statement_to_broker,
        "swapFree": acc.swap_free,
        "totalMarginCalculationType": margin_mode,
        **_IB_DEFAULTS,
    }
    # The trader's own cap, else its group's (x100, as leverageInCents): always present, as
    # in a real server's TraderTO.
    if acc.max_leverage is not None:
        out["maxLeverage"] = acc.max_leverage
    elif group is not None:
        out["maxLeverage"] = group.max_leverage * 100
    else:
        out["maxLeverage"] = acc.leverage * 100
    return out


def _group_of(services: Application, acc: Account, actor: Actor) -> Group | None:
    return next((g for g in services.list_groups(actor) if g.id == acc.group_id), None)


def _read_trader(services: Application, login: int, actor: Actor) -> dict[str, Any]:
    acc = services.get_account(login, actor)
    risk = services.get_risk(login, actor)
    return trader_to(acc, _group_of(services, acc, actor), risk)


def _paths(path: str) -> list[str]:
    """A trader path with and without the trailing slash clients send (seed 003 does)."""
    return [path, path + "/"]


# ---- create, read, list ---------------------------------------------------------------------


def _create(
    services: Application, body: Body, actor: Actor, sent: keyed.SentKey | None = None
) -> dict[str, Any] | StoredResponse:
    """Open a trader (funded with `balance`). An Idempotency-Key (or x-request-id) makes it
    safe to retry: the same key and request replay the first answer, opening and funding
    nothing more; the same key with another request is refused."""
    _missing(body, CREATE_REQUIRED)
    balance = body.require_integer("balance")
    if balance < 0:
        raise invalid("balance must not be negative")
    profile = profile_changes(body, full=False)
    profile["name"] = _full_name(profile.get("first_name", ""), profile.get("last_name", ""))
    cmd = OpenAccount(
        group=body.require_text("groupName"),
        leverage=leverage_of(body.require_integer("leverageInCents")),
        currency=body.require_text("depositCurrency"),
        main_password_md5=body.require_text("hashedPassword").lower(),
        profile=profile,
        currency_free_groups=True,  # a trader's currency is its own (spec section 13)
    )
    # a demo account's starting balance: posted with the opening, or neither
    known = next((g for g in services.list_groups(actor) if g.name == cmd.group), None)

    request_print = keyed.fingerprint(
        "ctrader",
        "trader.create",
        balance,
        cmd.group,
        cmd.leverage,
        cmd.currency,
        cmd.main_password_md5,
        cmd.profile,
    )
    request = keyed.request_of(actor, sent, request_print)
    actor = keyed.keyed_actor(actor, request)
    opening = OpenFundedAccount(cmd, balance, "initial balance")
    outcome = keyed.run(
        lambda: services.run(opening, actor, request), lambda acc: (201, str(acc.login))
    )
    if isinstance(outcome, Replay):
        if outcome.response is not None:  # stored as it was sent, before answers were data
            return outcome.response
        return StoredResponse(201, keyed.encode(trader_to(outcome.result, known)))
    return trader_to(outcome, known or _group_of(services, outcome, actor))


@router.post("/traders")
@router.post("/traders/", include_in_schema=False)
async def create_trader(request: Request) -> Response:
    actor = await actor_of(request)
    body = await Body.of(request)
    sent = keyed.sent_key(request.headers)
    trader = await run_in_threadpool(_create, services_of(request), body, actor, sent)
    if isinstance(trader, StoredResponse):
        replay = answer(request, json.loads(trader.body), "trader", status=trader.status or 201)
        replay.headers[keyed.REPLAY_HEADER] = "true"
        return replay
    return answer(request, trader, "trader", status=201)


@router.get("/traders/{login:int}")
@router.get("/traders/{login:int}/", include_in_schema=False)
async def get_trader(login: int, request: Request) -> Response:
    actor = await actor_of(request)
    trader = await run_in_threadpool(_read_trader, services_of(request), login, actor)
    return answer(request, trader, "trader")


def _list(services: Application, request: Request, actor: Actor) -> dict[str, Any]:
    q = request.query_params
    start = parse_time(q.get("from"), "from")
    end = parse_time(q.get("to"), "to")
    if start is None or end is None:
        raise invalid("from and to are required")
    groups = services.list_groups(actor)
    mask = None
    group_id = to_int(q.get("groupId"), "groupId")
    if group_id is not None:
        group = next((g for g in groups if g.id == group_id), None)
        if group is None:
            raise GroupNotFound(group_id)
        mask = group.name
    cmd = ListAccounts(group_mask=mask, registered_from=start, registered_to=end)
    found = list(services.iter_accounts(cmd, actor))
    # The newest first: when hasMore, clients ask again with `to` = the earliest received.
    found.sort(key=lambda a: (millis(a.registered_at), a.login), reverse=True)
    chunk = sorted(found[:MAX_CHUNK], key=lambda a: (millis(a.registered_at), a.login))
    by_id = {g.id: g for g in groups}
    fields = [f.strip() for f in (q.get("fields") or "").split(",") if f.strip()]
    # the page's figures in one read, unless `fields` asks for none of them
    priced = not fields or not FIGURES.isdisjoint(fields)
    risks = services.get_risks(chunk, actor) if priced and chunk else {}
    traders = [trader_to(a, by_id.get(a.group_id), risks.get(a.login)) for a in chunk]
    if fields:
        traders = [{k: t[k] for k in fields if k in t} for t in traders]
    return {"trader": traders, "hasMore": len(found) > MAX_CHUNK}


@router.get("/traders")
@router.get("/traders/", include_in_schema=False)
async def list_traders(request: Request) -> Response:
    actor = await actor_of(request)
    result = await run_in_threadpool(_list, services_of(request), request, actor)
    return answer(request, result, "traders")


# ---- update and delete ----------------------------------------------------------------------


def _update(services: Application, login: int, body: Body, actor: Actor, full: bool) -> None:
    if full:
        _missing(body, UPDATE_REQUIRED)
    acc = services.get_account(login, actor)
    currency = body.text("depositCurrency")
    if currency is not None and currency.strip().upper() != acc.currency:
        raise CTraderError(
            400,
            "DEPOSIT_CURRENCY_NOT_ALLOWED",
            f"the deposit currency of trader {login} is {acc.currency}",
        )
    changes = profile_changes(body, full=full, blank=acc.blank_fields)
    if "first_name" in changes or "last_name" in changes:
        changes["name"] = _full_name(
            changes.get("first_name", acc.first_name) or "",
            changes.get("last_name", acc.last_name) or "",
        )
    if body.has("groupName"):
        changes["group"] = body.require_text("groupName")
    if body.has("leverageInCents"):
        changes["leverage"] = leverage_of(body.require_integer("leverageInCents"))
    if not changes:
        raise invalid("the body names no trader field to change")
    # a full update carries the password's MD5: changed with the rest, in one transaction
    new_hash = body.require_text("hashedPassword") if full and body.has("hashedPassword") else None
    cmd = UpdateAccount(login, changes, main_password_md5=new_hash, currency_free_groups=True)
    services.update_account(cmd, actor)


async def _update_route(login: int, request: Request, full: bool) -> Response:
    actor = await actor_of(request)
    body = await Body.of(request)
    await run_in_threadpool(_update, services_of(request), login, body, actor, full)
    return no_content()


@router.api_route("/traders/{login:int}", methods=["PUT", "POST"])
@router.api_route("/traders/{login:int}/", methods=["PUT", "POST"], include_in_schema=False)
async def replace_trader(login: int, request: Request) -> Response:
    """Full update: fields omitted are reset (spec §3.4); the docs use PUT and POST alike."""
    return await _update_route(login, request, full=True)


@router.patch("/traders/{login:int}")
@router.patch("/traders/{login:int}/", include_in_schema=False)
async def patch_trader(login: int, request: Request) -> Response:
    return await _update_route(login, request, full=False)


# ---- passwords ------------------------------------------------------------------------------


def _password_cmd(login: int, body: Body) -> tuple[int, str]:
    sent = body.integer("login")
    if sent is not None and sent != login:
        raise invalid(f"login {sent} in the body differs from {login} in the path")
    return login, body.require_text("hashedPassword")


@router.post("/traders/{login:int}/changepassword")
@router.post("/traders/{login:int}/changepassword/", include_in_schema=False)
async def change_password(login: int, request: Request) -> Response:
    """Set the trader's password from its MD5 (4.8); the old one stops matching."""
    actor = await actor_of(request)
    login, hashed = _password_cmd(login, await Body.of(request))
    cmd = ChangePassword(login, "main", hashed, hashed=True)
    await run_in_threadpool(services_of(request).change_password, cmd, actor)
    return no_content()


@router.post("/traders/{login:int}/checkpassword")
@router.post("/traders/{login:int}/checkpassword/", include_in_schema=False)
async def check_password(login: int, request: Request) -> Response:
    """204 when the MD5 is the trader's password's, WRONG_PASSWORD when not (4.9)."""
    actor = await actor_of(request)
    login, hashed = _password_cmd(login, await Body.of(request))
    cmd = CheckPassword(login, "main", hashed, hashed=True)
    if not await run_in_threadpool(services_of(request).check_password, cmd, actor):
        raise WrongPassword.field("hashedPassword", f"is not the password of trader {login}")
    return no_content()


@router.delete("/traders/{login:int}")
@router.delete("/traders/{login:int}/", include_in_schema=False)
async def delete_trader(login: int, request: Request) -> Response:
    actor = await actor_of(request)
    await run_in_threadpool(services_of(request).delete_account, DeleteAccount(login), actor)
    return no_content()


# ---- groups ---------------------------------------------------------------------------------


@router.get("/tradergroups")
@router.get("/tradergroups/", include_in_schema=False)
async def trader_groups(request: Request) -> Response:
    actor = await actor_of(request)
    groups = await run_in_threadpool(services_of(request).list_groups, actor)
    items = [{"id": g.id, "name": g.name, "description": g.description} for g in groups]
    return answer(request, {"traderGroup": items}, "traderGroups")
