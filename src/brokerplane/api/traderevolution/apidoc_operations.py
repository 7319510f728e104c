"""The operations of the TraderEvolution API document (apidoc.py), keyed by the endpoint
function's name (one function may serve several spellings of a path): tag, summary, query
parameters, body and answer. Path parameters come from the route itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
WINDOW = (
    _q("startDate", "int64", "from, epoch milliseconds"),
    _q("endDate", "int64", "to, epoch milliseconds"),
)
IDEMPOTENCY = (
    Param("Idempotency-Key", "string", "a retry with the same key is applied once", where="header"),
)

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
