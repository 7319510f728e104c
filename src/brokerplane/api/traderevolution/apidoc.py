"""The TraderEvolution mount's API document: Swagger 2.0, as a TE back office publishes it
(spec 6), generated from the routes the mount serves, so a tool that discovers endpoints
through it finds exactly what exists.

Served without a token at the paths a TE installation and its tools use:
`/proftrading/rest/v2/api-docs`, `/swagger.json`, `/api-docs` and `/v2/swagger.json`; the page
`/swagger-ui.html` (also `/swagger-ui/index.html` and `/swagger-ui`) is a self-contained HTML
listing of the same document, rendered on the server: no script, no CDN, works offline.

Each operation is described by the OPERATIONS table below, keyed by the endpoint function's
name (one function may serve several spellings of a path). Path parameters come from the route
itself; query parameters and bodies from the table; bodies are `in: body` parameters whose
schema is a `$ref` into `definitions`. tests/dialects/traderevolution/test_apidoc.py checks
that every route is in the document and that every route has a row here.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute

from brokerplane.api.traderevolution.protocol import PREFIX, answer

router = APIRouter()

DOC_PATHS = ("/v2/api-docs", "/swagger.json", "/api-docs", "/v2/swagger.json")
UI_PATHS = ("/swagger-ui.html", "/swagger-ui/index.html", "/swagger-ui")
VERSION = "2"
_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


# ---- definitions ----------------------------------------------------------------------------


def _schema(kind: str) -> dict[str, Any]:
    """A schema from a short form: string, integer, int64, number, boolean, object, any,
    #Name (a $ref), [x] (an array of x)."""
    if kind.startswith("[") and kind.endswith("]"):
        return {"type": "array", "items": _schema(kind[1:-1])}
    if kind.startswith("#"):
        return {"$ref": f"#/definitions/{kind[1:]}"}
    if kind == "int64":
        return {"type": "integer", "format": "int64"}
    if kind == "number":
        return {"type": "number", "format": "double"}
    if kind == "any":
        return {}
    return {"type": kind}


def _model(doc: str, required: Sequence[str] = (), /, **props: str) -> dict[str, Any]:
    model: dict[str, Any] = {"type": "object", "description": doc,
                             "properties": {k: _schema(v) for k, v in props.items()}}  # fmt: skip
    if required:
        model["required"] = list(required)
    return model


_ACCOUNT = {
    "id": "int64", "accountName": "string", "userId": "int64", "userGroupId": "int64",
    "currency": "string", "leverage": "integer", "accountType": "string", "status": "integer",
    "statusName": "string", "balance": "number", "credit": "number", "bonus": "number",
    "equity": "number", "usedMargin": "number", "freeMargin": "number", "createdAt": "int64",
}  # fmt: skip
_USER = {
    "id": "int64", "login": "string", "email": "string", "firstName": "string",
    "lastName": "string", "userGroupId": "int64", "brandingId": "int64", "status": "integer",
    "statusName": "string", "createdAt": "int64",
}  # fmt: skip

DEFINITIONS: dict[str, dict[str, Any]] = {
    "Error": _model(
        "an error: a dotted code (decode it at /methods/errors) and a message",
        ("errorCode", "errorMessage"),
        errorCode="string",
        errorMessage="string",
    ),
    "SignIn": _model(
        "a back-office user's (numeric login) or a TE user's credentials",
        ("login", "password"),
        login="string",
        password="string",
    ),
    "TokenPair": _model(
        "access and refresh tokens; lifetimes in seconds",
        accessToken="string",
        refreshToken="string",
        accessTokenLifeTime="integer",
        refreshTokenLifeTime="integer",
    ),
    "RefreshToken": _model(
        "the refresh token (or send it in a 'token' header)", refreshToken="string"
    ),
    "PfixTokenVerification": _model(
        "whose trading-platform session a token is", login="string", isExpired="boolean"
    ),
    "User": _model("a TE user", **_USER),
    "UserWithAccounts": _model("a TE user with its accounts", **_USER, accounts="[#Account]"),
    "NewAccount": _model(
        "an account to open", ("accountName",), accountName="string", presetId="int64"
    ),
    "NewUser": _model(
        "a user with its accounts (an object or a list of them)",
        ("login", "password", "email", "userGroup", "accounts"),
        login="string",
        password="string",
        email="string",
        firstName="string",
        lastName="string",
        userGroup="int64",
        accounts="[#NewAccount]",
    ),
    "UserChange": _model(
        "a group move (userGroup) and/or a status (ruleValue: 0 Unlocked, "
        "1 Locked, 2 Locked after brute force, 3 Need activation, 4 Expired)",
        userGroup="int64",
        ruleName="string",
        ruleValue="integer",
    ),
    "PasswordChange": _model("the new password", ("password",), password="string"),
    "PasswordReset": _model(
        "the password a reset set: shown once", userId="int64", password="string"
    ),
    "Account": _model("a trading account with its figures", **_ACCOUNT),
    "AddAccount": _model(
        "one more account for a user",
        ("userId", "accountName"),
        userId="int64",
        accountName="string",
        presetId="int64",
    ),
    "AccountChange": _model(
        "what PATCH /accounts/{accountId} changes",
        accountName="string",
        leverage="integer",
        status="integer",
    ),
    "AccountDetails": _model(
        "an account's state",
        **_ACCOUNT,
        login="string",
        groupName="string",
        profit="number",
        marginLevel="number",
        positions="integer",
        blockedBalance="number",
        availableFunds="number",
        withdrawalAvailable="number",
    ),
    "UserGroup": _model(
        "a user group",
        id="int64",
        name="string",
        description="string",
        currency="string",
        brandingId="int64",
        planId="int64",
        serverId="int64",
        defaultLeverage="integer",
        maxLeverage="integer",
    ),
    "NewUserGroup": _model(
        "a user group to create",
        ("name",),
        name="string",
        currency="string",
        brandingId="int64",
        planId="int64",
        description="string",
        defaultLeverage="integer",
        maxLeverage="integer",
    ),
    "AccountPreset": _model(
        "an account preset",
        presetId="int64",
        presetName="string",
        currency="string",
        leverage="integer",
        accountType="string",
        swapFree="boolean",
        description="string",
    ),
    "NewAccountPreset": _model(
        "an account preset to create",
        ("presetName",),
        presetName="string",
        presetCurrency="string",
        leverage="integer",
        accountType="string",
        swapFree="boolean",
        description="string",
    ),
    "Branding": _model("a branding", id="int64", name="string", description="string"),
    "NewBranding": _model("a branding to create", ("name",), name="string", description="string"),
    "Plan": _model("a plan", id="int64", name="string", type="string", description="string"),
    "NewPlan": _model(
        "a plan to create", ("name",), name="string", type="string", description="string"
    ),
    "AccountOperationType": {
        "type": "integer",
        "format": "int32",
        "enum": [1, 2, 3, 12, 13, 17],
        "description": "1 Trading, 2 Deposit, 3 Withdrawal, 12 Adjustment, 13 Dividends, "
        "17 Transfer",
    },
    "AccountOperation": _model(
        "a money movement on an account",
        id="int64",
        accountId="int64",
        operationTypeId="#AccountOperationType",
        operationType="string",
        amount="number",
        balance="number",
        credit="number",
        currency="string",
        comment="string",
        time="int64",
        managerLogin="int64",
        isSettled="boolean",
    ),
    "NewAccountOperation": _model(
        "a deposit (2), withdrawal (3), adjustment (12) or transfer "
        "(17, to toAccountId: another account of the same user); "
        "the sign of amount is the direction",
        ("accountId", "amount", "operationTypeId"),
        accountId="int64",
        amount="number",
        operationTypeId="#AccountOperationType",
        toAccountId="int64",
        frontendComment="string",
    ),
    "Transfer": _model(
        "a transfer (type 17): the source leg, with the target leg",
        id="int64",
        accountId="int64",
        operationTypeId="#AccountOperationType",
        amount="number",
        balance="number",
        currency="string",
        transferId="string",
        counterOperation="#AccountOperation",
    ),
    "WebhookKey": _model(
        "a user's webhook key",
        id="int64",
        userId="int64",
        name="string",
        apiKey="string",
        createdAt="int64",
        expirationDate="int64",
    ),
    "NewWebhookKey": _model(
        "a webhook key to generate", userId="int64", name="string", expirationDate="int64"
    ),
    "IssuedWebhookKey": _model(
        "a new webhook key with its secret, shown once",
        id="int64",
        userId="int64",
        name="string",
        apiKey="string",
        secret="string",
        createdAt="int64",
        expirationDate="int64",
    ),
    "WebhookOrder": _model(
        "a market order from an alert",
        ("symbol", "side", "id", "timestamp"),
        symbol="string",
        side="string",
        volume="number",
        accountId="int64",
        comment="string",
        id="string",
        timestamp="int64",
        apiKey="string",
        secret="string",
    ),
    "WebhookFill": _model(
        "what a webhook order did",
        accountId="int64",
        deals="[object]",
        positions="[#Position]",
        account="#Account",
    ),
    "Position": _model(
        "an open position",
        id="int64",
        accountId="int64",
        symbol="string",
        side="string",
        quantity="number",
        openPrice="number",
        currentPrice="number",
        profit="number",
        margin="number",
        currency="string",
        openTime="int64",
        comment="string",
    ),
    "Report": _model(
        "a report the caller may run",
        id="int64",
        name="string",
        category="string",
        headers="[string]",
        requiredFilters="[string]",
        filters="[string]",
        ignoresDates="boolean",
    ),
    "ReportFunction": _model(
        "a column type of the report engine", name="string", description="string"
    ),
    "ReportResult": _model(
        "a report's columns and rows (each row an array in column order); "
        "total: one row of sums when isTotal=true, null when nothing adds up",
        headers="[string]",
        data="[[any]]",
        total="[any]",
    ),
    "Asset": _model(
        "a currency (asset)", id="int64", name="string", description="string", precision="integer"
    ),
    "ErrorDescription": _model(
        "a decoded error code", errorId="string", httpStatus="integer", description="string"
    ),
}


# ---- operations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    kind: str = "string"
    description: str = ""
    required: bool = False
    where: str = "query"
    enum: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Op:
    tag: str
    summary: str
    query: tuple[Param, ...] = ()
    body: str | None = None  # a definition name
    response: str | None = "any"  # a short schema form, None: 204
    auth: bool = True
    headers: tuple[Param, ...] = field(default_factory=tuple)


def _q(name: str, kind: str = "string", description: str = "", **kw: Any) -> Param:
    return Param(name, kind, description, **kw)


PAGE = (_q("offset", "integer", "rows to skip"), _q("limit", "integer", "rows at most (1000)"))
WINDOW = (_q("startDate", "int64", "from, epoch milliseconds"),
          _q("endDate", "int64", "to, epoch milliseconds"))  # fmt: skip
IDEMPOTENCY = (Param("Idempotency-Key", "string", "a retry with the same key is applied once",
                     where="header"),)  # fmt: skip

OPERATIONS: dict[str, Op] = {
    # authentication
    "token": Op(
        "Authentication",
        "Sign in for an access and a refresh token",
        body="SignIn",
        response="#TokenPair",
        auth=False,
    ),
    "refresh": Op(
        "Authentication",
        "A new token pair for a refresh token",
        body="RefreshToken",
        response="#TokenPair",
        auth=False,
        headers=(Param("token", description="the refresh token", where="header"),),
    ),
    "pfix_token_verify": Op(
        "Authentication",
        "Whose trading-platform session a token is",
        auth=False,
        response="#PfixTokenVerification",
        headers=(Param("token", description="the session token", required=True, where="header"),),
    ),
    # the document itself
    "api_docs": Op("API document", "This document (Swagger 2.0)", auth=False, response="object"),
    "swagger_ui": Op(
        "API document", "This document as an HTML page", auth=False, response="string"
    ),
    # users
    "create_user": Op(
        "Users", "Create a user with its accounts", body="NewUser", response="#UserWithAccounts"
    ),
    "find_users": Op(
        "Users",
        "Find users",
        query=(
            _q("login", description="logins, comma-separated"),
            _q("email"),
            _q("userGroupId", "int64"),
            _q("brandingId", "int64"),
            _q("planId", "int64"),
            *PAGE,
        ),
        response="[#User]",
    ),
    "get_user": Op("Users", "A user with its accounts", response="#UserWithAccounts"),
    "user_accounts": Op("Users", "A user's accounts", response="[#Account]"),
    "patch_user": Op(
        "Users",
        "Move a user to another group and/or set its status",
        body="UserChange",
        response=None,
    ),
    "change_password": Op(
        "Users", "Set a user's password", body="PasswordChange", response="#User"
    ),
    "reset_password": Op(
        "Users", "Reset a user's password to a new random one", response="#PasswordReset"
    ),
    "delete_user": Op("Users", "Delete a user and its accounts (emptied first)", response="#User"),
    # accounts
    "create_account": Op(
        "Accounts", "Add an account to a user", body="AddAccount", response="#Account"
    ),
    "list_accounts": Op(
        "Accounts",
        "Accounts, by id",
        query=(_q("userId", "int64"), _q("userGroupId", "int64"), *PAGE),
        response="[#Account]",
    ),
    "get_account": Op("Accounts", "An account with its figures", response="#Account"),
    "patch_account": Op(
        "Accounts",
        "Rename an account, set its leverage or status",
        body="AccountChange",
        response="#Account",
    ),
    "delete_account": Op("Accounts", "Delete an account (it must be empty)", response="#Account"),
    "close_account": Op("Accounts", "Close an account: blocked for good", response="#Account"),
    "account_details": Op(
        "Accounts",
        "An account's state",
        query=(_q("accountId", "int64", required=True),),
        response="#AccountDetails",
    ),
    "list_assets": Op(
        "Accounts", "Currencies (assets) in use", query=(_q("name"), *PAGE), response="[#Asset]"
    ),
    # catalogue
    "list_user_groups": Op(
        "User groups",
        "User groups",
        query=(
            _q("name"),
            _q("brandingId", "int64"),
            _q("planId", "int64"),
            _q("serverId", "int64"),
            *PAGE,
        ),
        response="[#UserGroup]",
    ),
    "get_user_group": Op("User groups", "A user group", response="#UserGroup"),
    "create_user_group": Op(
        "User groups", "Create a user group", body="NewUserGroup", response="#UserGroup"
    ),
    "list_presets": Op(
        "Account presets",
        "Account presets",
        query=(_q("presetCurrency", description="a currency code"), _q("presetName"), *PAGE),
        response="[#AccountPreset]",
    ),
    "create_preset": Op(
        "Account presets",
        "Create an account preset",
        body="NewAccountPreset",
        response="#AccountPreset",
    ),
    "list_brandings": Op("Brandings", "Brandings", query=PAGE, response="[#Branding]"),
    "get_branding": Op("Brandings", "A branding", response="#Branding"),
    "create_branding": Op(
        "Brandings", "Create a branding", body="NewBranding", response="#Branding"
    ),
    "list_plans": Op("Plans", "Plans", query=(_q("type"), *PAGE), response="[#Plan]"),
    "create_plan": Op("Plans", "Create a plan", body="NewPlan", response="#Plan"),
    # money
    "post_operation": Op(
        "Account operations",
        "Deposit, withdraw, adjust or transfer",
        body="NewAccountOperation",
        response="#AccountOperation",
        headers=IDEMPOTENCY,
    ),
    "list_operations": Op(
        "Account operations",
        "Account operations",
        query=(
            _q("accountId", "int64"),
            _q("operationTypeId", "integer"),
            _q(
                "isSettled",
                "string",
                "true: settled operations, false: unsettled",
                enum=("true", "false"),
            ),
            _q(
                "sort",
                description="asc or desc, optionally after a field and a comma "
                "(id,desc; time,asc; -id)",
            ),
            *WINDOW,
            *PAGE,
        ),
        response="[#AccountOperation]",
    ),
    # webhook keys and trading
    "generate": Op(
        "Webhook keys", "Generate a webhook key", body="NewWebhookKey", response="#IssuedWebhookKey"
    ),
    "list_keys": Op(
        "Webhook keys", "Webhook keys", query=(_q("userId", "int64"),), response="[#WebhookKey]"
    ),
    "delete_key": Op("Webhook keys", "Delete a webhook key", response="#WebhookKey"),
    "webhook": Op(
        "Trading",
        "Place a market order from an alert (a webhook key signs it)",
        body="WebhookOrder",
        response="#WebhookFill",
        auth=False,
        headers=(Param("X-Api-Key", where="header"), Param("X-Signature", where="header")),
    ),
    "list_positions": Op(
        "Trading",
        "Open positions",
        query=(_q("accountId", "int64"), _q("userId", "int64"), _q("symbol"), *PAGE),
        response="[#Position]",
    ),
    "get_position": Op("Trading", "An open position", response="#Position"),
    # reports
    "list_reports": Op("Reports", "The reports the caller may run", response="[#Report]"),
    "report_functions": Op(
        "Reports", "The report engine's column types", response="[#ReportFunction]"
    ),
    "run_report": Op(
        "Reports",
        "Run a report",
        query=(
            *WINDOW,
            _q("limit", "integer", "rows at most (10000)"),
            _q("offset", "integer"),
            _q("isTotal", "boolean", "add a row of sums"),
            _q("accountId", "int64"),
            _q("login"),
            _q("assetName", description="a currency code"),
            _q("instrumentName"),
            _q("userGroupId", "int64"),
        ),
        response="#ReportResult",
    ),
    # errors
    "error_description": Op(
        "Errors",
        "Decode an error code",
        query=(_q("errorId", required=True),),
        response="#ErrorDescription",
    ),
}


def _param(p: Param) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name, "in": p.where, "required": p.required}
    schema = _schema(p.kind)
    out.update(schema if "$ref" not in schema else {"type": "string"})
    if p.description:
        out["description"] = p.description
    if p.enum:
        out["enum"] = list(p.enum)
    return out


def _responses(op: Op, method: str) -> dict[str, Any]:
    error = {"schema": _schema("#Error")}
    out: dict[str, Any] = {}
    if op.response is None:
        out["204"] = {"description": "done"}
    else:
        out["200"] = {"description": "OK", "schema": _schema(op.response)}
    out["400"] = {"description": "bad input", **error}
    if op.auth:
        out["401"] = {"description": "no or expired access token", **error}
        out["403"] = {"description": "not allowed for this back-office user", **error}
    out["404"] = {"description": "not found (or out of the caller's reach)", **error}
    if op.tag == "Reports":
        out["406"] = {"description": "1.6.2.2: the report needs a filter", **error}
    out["429"] = {"description": "2.147.1.27: too many requests", **error}
    return out


_PARAM_NAMES = {"key_id": "webhookskeyId"}


def public_path(path: str) -> str:
    """The route's path as TE spells it: path parameters in camelCase (`{reportId}`)."""

    def camel(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in _PARAM_NAMES:
            return "{" + _PARAM_NAMES[name] + "}"
        head, *rest = name.split("_")
        return "{" + head + "".join(part.capitalize() for part in rest) + "}"

    return _PATH_PARAM.sub(camel, path)


def _operation_id(name: str, method: str, path: str, seen: set[str]) -> str:
    base = name if name not in seen else f"{name}Using{method.upper()}_{len(seen)}"
    seen.add(base)
    return base


def document(routes: Iterable[APIRoute], host: str, scheme: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for route in sorted(routes, key=lambda r: r.path):
        name = route.endpoint.__name__
        op = OPERATIONS.get(name) or Op("Other", (route.endpoint.__doc__ or name).split("\n")[0])
        path = public_path(route.path)
        for method in sorted(route.methods or ()):
            if method in ("HEAD", "OPTIONS"):
                continue
            params = [_param(Param(p, "integer", where="path", required=True))
                      for p in _PATH_PARAM.findall(path)]  # fmt: skip
            params += [_param(p) for p in (*op.headers, *op.query)]
            if op.body is not None and method in ("POST", "PUT", "PATCH"):
                params.append({"name": "body", "in": "body", "required": True,
                               "schema": _schema("#" + op.body)})  # fmt: skip
            entry: dict[str, Any] = {
                "tags": [op.tag], "summary": op.summary,
                "operationId": _operation_id(name, method, route.path, seen),
                "consumes": ["application/json"],
                "produces": ["text/html" if name == "swagger_ui" else "application/json"],
                "parameters": params, "responses": _responses(op, method),
                "deprecated": False,
            }  # fmt: skip
            if op.auth:
                entry["security"] = [{"Bearer": []}]
            paths.setdefault(path, {})[method.lower()] = entry
    tags = sorted({op["tags"][0] for item in paths.values() for op in item.values()})
    return {
        "swagger": "2.0",
        "info": {
            "title": "TraderEvolution Back-Office API (brokerplane)",
            "version": VERSION,
            "description": "The TraderEvolution Back-Office REST API as brokerplane serves "
            "it. Sign in at POST /auth/token, then send "
            "'Authorization: Bearer <accessToken>'.",
        },
        "host": host,
        "basePath": PREFIX,
        "schemes": [scheme],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "tags": [{"name": t} for t in tags],
        "securityDefinitions": {
            "Bearer": {"type": "apiKey", "name": "Authorization", "in": "header"}
        },
        "paths": paths,
        "definitions": DEFINITIONS,
    }


def te_routes(request: Request) -> list[APIRoute]:
    routers: Sequence[APIRouter] = request.app.state.te_routers
    return [r for rt in routers for r in rt.routes if isinstance(r, APIRoute)]


def _document_of(request: Request) -> dict[str, Any]:
    host = request.headers.get("host", "localhost")[:255]
    if not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", host):
        host = "localhost"
    return document(te_routes(request), host, request.url.scheme)


async def api_docs(request: Request) -> Response:
    """The API document (Swagger 2.0), no token needed."""
    return answer(_document_of(request))


async def swagger_ui(request: Request) -> Response:
    """The API document as a page: every operation, its parameters and answers."""
    doc = _document_of(request)
    rows: list[str] = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            params = ", ".join(f"{p['name']} ({p['in']}{', required' if p['required'] else ''})"
                               for p in op["parameters"])  # fmt: skip
            rows.append(
                f"<tr><td>{html.escape(op['tags'][0])}</td><td><code>{method.upper()}</code>"
                f"</td><td><code>{html.escape(PREFIX + path)}</code></td>"
                f"<td>{html.escape(op['summary'])}</td><td>{html.escape(params)}</td></tr>"
            )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<title>TraderEvolution Back-Office API</title><style>body{font-family:sans-serif;"
        "margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:left;vertical-align:top}</style></head><body>"
        "<h1>TraderEvolution Back-Office API</h1>"
        f"<p>Swagger 2.0 document: <a href='{PREFIX}/v2/api-docs'>{PREFIX}/v2/api-docs</a>. "
        "Sign in at <code>POST /auth/token</code>, then send "
        "<code>Authorization: Bearer &lt;accessToken&gt;</code>.</p>"
        "<table><tr><th>tag</th><th>method</th><th>path</th><th>summary</th>"
        f"<th>parameters</th></tr>{''.join(rows)}</table></body></html>"
    )
    return HTMLResponse(page)


for _path in DOC_PATHS:
    router.add_api_route(_path, api_docs, methods=["GET"])
for _path in UI_PATHS:
    router.add_api_route(_path, swagger_ui, methods=["GET"])
