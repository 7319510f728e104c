"""cTID users under /cid (and seed 003's /v2/cid), translated onto the core's users.

Classic calls (WebServices 5.x): `ctid/create` answers the new user, or only `{userId}` when
the email has a user already; `ctid/link` proves the trading account's password MD5 and makes
the user its owner (`ctidTraderAccountId` is the link's id); `ctid/changeCtidTraderAccount`
moves the trader to another white label. SSO calls (`oauth2/ctid/...`, seed 001): create (201,
CH_EMAIL_ALREADY_EXISTS for a known email), changeEmail (204), getUserId (200 with an empty
body for an unknown email), logout and acceptAgreement (200, no body). The SSO calls read their
parameters from the query string or the JSON body alike; `brokerCrmName` is required and, on
create, names the white label the user is under (reach). Answers are JSON only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from brokerplane.api.ctrader.errors import CTraderError, invalid, status_and_code
from brokerplane.api.ctrader.protocol import Body, actor_of, millis, no_content, services_of
from brokerplane.core.account.service import UpdateAccount
from brokerplane.core.errors import ValidationError
from brokerplane.core.user.service import ChangeEmail, CreateUser, LinkAccount

router = APIRouter()

T = TypeVar("T")

# A new classic user's status: cTID marks it active only once the email is confirmed.
NEW_STATUS = "CTID_NEW"

# The core's field names in cTrader's words, for the descriptions of validation errors.
_CREATE_NAMES = {"broker": "brokerName", "language": "preferredLanguage", "email": "email"}
_SSO_CREATE_NAMES = {"broker": "brokerCrmName", "language": "preferredLanguage",
                     "first_name": "firstName", "email": "email"}  # fmt: skip
_LINK_NAMES = {"broker": "brokerName", "environment": "environmentName",
               "login": "traderLogin", "user_id": "userId"}  # fmt: skip
_MOVE_NAMES = {"broker": "brokerName", "login": "traderLogin"}
_EMAIL_NAMES = {"email": "newEmail", "user_id": "userId"}


def _paths(path: str) -> list[str]:
    return [path, path + "/"]


def _route(methods: list[str], path: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """One handler for the path with and without the trailing slash clients send."""

    def register(fn: Callable[..., T]) -> Callable[..., T]:
        for i, spelling in enumerate(_paths(path)):
            router.add_api_route(spelling, fn, methods=methods, include_in_schema=i == 0)
        return fn

    return register


@contextmanager
def _wire_names(names: dict[str, str]) -> Iterator[None]:
    """A core validation error naming fields, re-worded with the names the caller sent."""
    try:
        yield
    except ValidationError as err:
        if not err.fields:
            raise
        status, code = status_and_code(err)
        text = "; ".join(f"{names.get(f.field, f.field)}: {f.message}" for f in err.fields)
        raise CTraderError(status, code, text) from None


async def _call(names: dict[str, str], fn: Callable[..., T], *args: Any) -> T:
    with _wire_names(names):
        return await run_in_threadpool(fn, *args)


def _require(params: Body, *names: str) -> None:
    """Every required parameter that is missing or blank, named in one INVALID_REQUEST."""
    absent = [n for n in names if not (params.text(n) or "").strip()]
    if absent:
        raise invalid(", ".join(absent) + (" is" if len(absent) == 1 else " are") + " required")


async def _params(request: Request, *, body: bool = True) -> Body:
    """The SSO calls' parameters: the query string (token aside), then the JSON body over it."""
    query = {k: v for k, v in request.query_params.items() if k != "token"}
    if not body:
        return Body(query)
    sent = await Body.of(request, required=False)
    return Body({**query, **sent.data})


def _json(data: dict[str, Any], status: int = 200) -> Response:
    return JSONResponse(data, status_code=status)


def _empty() -> Response:
    """200 with no body: what cTrader answers for calls that produce no output."""
    return Response(status_code=200)


# ---- classic calls --------------------------------------------------------------------------


@_route(["POST"], "/ctid/create")
async def create_ctid(request: Request) -> Response:
    """WebServices 5.1: idempotent by email; a known email answers only its userId."""
    actor = await actor_of(request)
    body = await Body.of(request)
    _require(body, "email")
    email = body.require_text("email")
    cmd = CreateUser(
        email=email,
        broker=body.text("brokerName") or "",
        language=body.text("preferredLanguage") or "",
        nickname_source="user_id",
        if_exists="existing",
    )
    created = await _call(_CREATE_NAMES, services_of(request).create_user, cmd, actor)
    user = created.user
    if not created.created:
        return _json({"userId": user.id})
    out: dict[str, Any] = {
        "userId": user.id,
        "nickname": user.nickname,
        # Without personal_data the core hides emails; this one the caller has just sent.
        "email": user.email or email.lower(),
    }
    if user.language:
        out["preferredLanguage"] = user.language
    out["utcCreateTimestamp"] = millis(user.created_at)
    out["status"] = NEW_STATUS
    return _json(out)


@_route(["POST"], "/ctid/link")
async def link_trader(request: Request) -> Response:
    """WebServices 5.2 / SSO 3.4: `ctidTraderAccountId` when returnAccountDetails is true."""
    actor = await actor_of(request)
    body = await Body.of(request)
    _require(body, "traderLogin", "traderPasswordHash", "userId")
    cmd = LinkAccount(
        user_id=body.require_integer("userId"),
        login=body.require_integer("traderLogin"),
        password_md5=body.require_text("traderPasswordHash"),
        environment=(body.text("environmentName") or "").strip(),
        broker=body.text("brokerName"),
    )
    details = body.boolean("returnAccountDetails") or False
    linked = await _call(_LINK_NAMES, services_of(request).link_account, cmd, actor)
    if details:
        return _json({"ctidTraderAccountId": linked.link.id})
    return _empty()


@_route(["POST", "PUT"], "/ctid/changeCtidTraderAccount")
async def change_white_label(request: Request) -> Response:
    """WebServices 5.3: move the trader to another white label; the trader's brokerName reads
    the new one afterwards. No output."""
    actor = await actor_of(request)
    body = await Body.of(request)
    _require(body, "traderLogin", "brokerName")
    login = body.require_integer("traderLogin")
    cmd = UpdateAccount(login, {"broker": body.require_text("brokerName")})
    await _call(_MOVE_NAMES, services_of(request).update_account, cmd, actor)
    return no_content()


# ---- SSO calls ------------------------------------------------------------------------------


@_route(["POST"], "/oauth2/ctid/create")
async def create_sso_user(request: Request) -> Response:
    """SSO 3.2: 201 `{userId}`; a known email is CH_EMAIL_ALREADY_EXISTS. The nickname asked
    for is used when valid and free, else ctid<userId>; none asked: the email's, if free."""
    actor = await actor_of(request)
    body = await Body.of(request)
    _require(body, "brokerCrmName", "email")
    nickname = body.text("nickName") if body.has("nickName") else body.text("nickname")
    cmd = CreateUser(
        email=body.require_text("email"),
        broker=body.require_text("brokerCrmName"),
        first_name=(body.text("firstName") or "").strip(),
        language=body.text("preferredLanguage") or "",
        nickname=nickname,
        nickname_source="email",
        if_exists="error",
    )
    created = await _call(_SSO_CREATE_NAMES, services_of(request).create_user, cmd, actor)
    return _json({"userId": created.user.id}, status=201)


@_route(["PUT", "POST"], "/oauth2/ctid/changeEmail")
async def change_email(request: Request) -> Response:
    """SSO: 204; an email another user has is CH_EMAIL_ALREADY_EXISTS."""
    actor = await actor_of(request)
    params = await _params(request)
    _require(params, "userId", "newEmail", "brokerCrmName")
    cmd = ChangeEmail(params.require_integer("userId"), params.require_text("newEmail"))
    await _call(_EMAIL_NAMES, services_of(request).change_user_email, cmd, actor)
    return no_content()


@_route(["GET"], "/oauth2/ctid/getUserId")
async def get_user_id(request: Request) -> Response:
    """SSO 3.11: `{userId}`, or 200 with an empty body when no user has the email."""
    actor = await actor_of(request)
    params = await _params(request, body=False)
    _require(params, "brokerCrmName", "email")
    email = params.require_text("email")
    user = await run_in_threadpool(services_of(request).find_user_by_email, email, actor)
    if user is None:
        return _empty()
    return _json({"userId": user.id})


async def _user_call(request: Request, action: Callable[..., object]) -> Response:
    actor = await actor_of(request)
    params = await _params(request)
    _require(params, "brokerCrmName", "userId")
    user_id = params.require_integer("userId")
    await _call({"user_id": "userId"}, action, user_id, actor)
    return _empty()


@_route(["PUT", "POST"], "/oauth2/ctid/logout")
async def log_out(request: Request) -> Response:
    """SSO 3.12: end the user's sessions; 200, no output."""
    return await _user_call(request, services_of(request).log_out_user)


@_route(["PUT", "POST"], "/oauth2/ctid/acceptAgreement")
async def accept_agreement(request: Request) -> Response:
    """SSO 3.13: the user accepted the agreement; 200, no output. Parameters in the query
    (the docs' table) or in the body (the docs' example)."""
    return await _user_call(request, services_of(request).accept_user_agreement)
