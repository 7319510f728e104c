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

from brokerplane.api.ctrader.auth import actor_of
from brokerplane.api.ctrader.errors import CTraderError, invalid, status_and_code
from brokerplane.api.ctrader.wire import Body, millis, no_content, services_of
from brokerplane.core.account.commands import UpdateAccount
from brokerplane.core.errors import ValidationError
from brokerplane.core.user.commands import (
    ChangeEmail,
    CreateUser,
    LinkAccount,
    Partner,
    SetInAppControls,
    SetPartner,
)

router = APIRouter()

T = TypeVar("T")

# A new classic user's status: cTID marks it active only once the email is confirmed.
NEW_STATUS = "CTID_NEW"

# The core's field names in cTrader's words, for the descriptions of validation errors.
_CREATE_NAMES = {"broker": "brokerName", "language": "preferredLanguage", "email": "email"}
_SSO_CREATE_NAMES = {
    "broker": "brokerCrmName",
    "language": "preferredLanguage",
    "first_name": "firstName",
    "email": "email",
}
_LINK_NAMES = {
    "broker": "brokerName",
    "environment": "environmentName",
    "login": "traderLogin",
    "user_id": "userId",
}
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


# ---- in-app controls and partner attribution (spec sections 9 and 10) ------------------------

MAX_RIBBONS = 20
TITLE_MAX = 255
URL_MAX = 2048
_HEX = frozenset("0123456789abcdefABCDEF")
_URL_KINDS = ("urlExternal", "urlinApp")


def _color(value: object, where: str) -> str:
    if (
        not isinstance(value, str)
        or len(value) != 7
        or value[0] != "#"
        or not _HEX.issuperset(value[1:])
    ):
        raise invalid(f"{where}.color must be a six-digit hex colour such as #ff33ee")
    return value


def _flag(ribbon: Body, name: str, where: str) -> bool:
    value = ribbon.boolean(name)
    if value is None:
        raise invalid(f"{where}.{name} is required (true or false)")
    return value


def _action(ribbon: Body, where: str) -> dict[str, str]:
    action = ribbon.sub("action")
    found = {}
    for kind in _URL_KINDS:
        url = action.text(kind)
        if url is None:
            continue
        url = url.strip()
        if len(url) > URL_MAX or not url.lower().startswith(("https://", "http://")):
            raise invalid(f"{where}.action.{kind} must be an http(s) URL of at most {URL_MAX}")
        found[kind] = url
    if not found:
        raise invalid(f"{where}.action needs urlExternal or urlinApp")
    return found


def _ribbon(raw: object, n: int) -> dict[str, Any]:
    where = f"rules.ribbons[{n}]"
    if not isinstance(raw, dict):
        raise invalid(f"{where} must be an object")
    ribbon = Body(raw)
    title = ribbon.text("title")
    if title is None or not title.strip() or len(title) > TITLE_MAX:
        raise invalid(f"{where}.title is required (1 to {TITLE_MAX} characters)")
    out: dict[str, Any] = {
        "color": _color(raw.get("color"), where),
        "title": title,
        "enabled": _flag(ribbon, "enabled", where),
        "closable": _flag(ribbon, "closable", where),
        "action": _action(ribbon, where),
    }
    broker = ribbon.text("brokerName")
    if broker is not None and broker.strip():
        if len(broker) > 63:
            raise invalid(f"{where}.brokerName must be at most 63 characters")
        out["brokerName"] = broker.strip()
    account = ribbon.integer("ctidTraderAccountId")  # a number or a numeric string
    if account is not None:
        out["ctidTraderAccountId"] = account
    return out


def in_app_rules(body: Body) -> tuple[int, dict[str, Any]]:
    """The user id (top level, or inside `rules` as the 2023 docs put it) and the rules as
    stored: {} clears every ribbon; otherwise `ribbons`, each checked and in plain types."""
    if not body.has("rules"):
        raise invalid("rules is required (an empty object clears the ribbons)")
    rules = body.sub("rules")
    user_id = body.integer("userId")
    if user_id is None:
        user_id = rules.integer("userId")
    if user_id is None:
        raise invalid("userId is required")
    if not any(k != "userId" for k in rules.data):
        return user_id, {}
    ribbons = rules.data.get("ribbons")
    if not isinstance(ribbons, list):
        raise invalid("rules.ribbons is required (an array)")
    if len(ribbons) > MAX_RIBBONS:
        raise invalid(f"rules.ribbons holds at most {MAX_RIBBONS} ribbons")
    return user_id, {"ribbons": [_ribbon(r, n) for n, r in enumerate(ribbons)]}


@_route(["PUT"], "/oauth2/ctid/inAppControls")
async def set_in_app_controls(request: Request) -> Response:
    """Replace the user's ribbons (an empty `rules` clears them): 201, `{}`."""
    actor = await actor_of(request)
    params = await _params(request)
    _require(params, "brokerCrmName")
    user_id, rules = in_app_rules(params)
    cmd = SetInAppControls(user_id, rules)
    await _call({"user_id": "userId"}, services_of(request).set_in_app_controls, cmd, actor)
    return _json({}, status=201)


def _partner_ids(params: Body) -> tuple[int | None, int | None]:
    user_id = params.integer("userId")
    link_id = params.integer("ctidTraderAccountId")
    if user_id is None and link_id is None:
        raise invalid("userId or ctidTraderAccountId is required")
    return user_id, link_id


def _partner_json(partner: Partner) -> dict[str, Any]:
    out: dict[str, Any] = {"userId": partner.user_id}
    if partner.link_id is not None:
        out["ctidTraderAccountId"] = partner.link_id
    if partner.partner_id:
        out["partnerId"] = partner.partner_id
    return out


_PARTNER_NAMES = {"user_id": "userId", "partner_id": "partnerId", "link_id": "ctidTraderAccountId"}


async def _set_referral(request: Request) -> Response:
    actor = await actor_of(request)
    params = await _params(request)
    _require(params, "brokerCrmName", "partnerId")
    user_id, link_id = _partner_ids(params)
    cmd = SetPartner(user_id, params.require_text("partnerId"), link_id)
    partner = await _call(_PARTNER_NAMES, services_of(request).set_partner, cmd, actor)
    return _json(_partner_json(partner))


@_route(["PUT"], "/oauth2/ctid/referral")
async def set_referral(request: Request) -> Response:
    """Attribute the user (userId) or one of its accounts (ctidTraderAccountId, both given:
    the account) to partnerId: 200 `{userId[, ctidTraderAccountId], partnerId}`."""
    return await _set_referral(request)


@_route(["PUT", "POST"], "/oauth2/ctid/setReferral")
async def set_referral_proxy_path(request: Request) -> Response:
    """The path one broker's CRM calls (spec section 10): the same as PUT .../referral."""
    return await _set_referral(request)


@_route(["GET"], "/oauth2/ctid/referral")
async def get_referral(request: Request) -> Response:
    """200 `{userId[, ctidTraderAccountId], partnerId}`; without partnerId when none is set."""
    actor = await actor_of(request)
    params = await _params(request, body=False)
    _require(params, "brokerCrmName")
    user_id, link_id = _partner_ids(params)
    partner = await _call(_PARTNER_NAMES, services_of(request).get_partner, user_id, link_id, actor)
    return _json(_partner_json(partner))


@_route(["DELETE"], "/oauth2/ctid/referral")
async def delete_referral(request: Request) -> Response:
    """Remove the user-level partner id (only userId given) or the account's: 200, no body."""
    actor = await actor_of(request)
    params = await _params(request)
    _require(params, "brokerCrmName", "userId")
    cmd = SetPartner(params.require_integer("userId"), "", params.integer("ctidTraderAccountId"))
    await _call(_PARTNER_NAMES, services_of(request).set_partner, cmd, actor)
    return _empty()
