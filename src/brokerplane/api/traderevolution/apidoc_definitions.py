"""The definitions of the TraderEvolution API document (apidoc.py): the Swagger 2.0 models of
bodies and answers, written in a short form (`schema`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def schema(kind: str) -> dict[str, Any]:
    """A schema from a short form: string, integer, int64, number, boolean, object, any,
    #Name (a $ref), [x] (an array of x)."""
    if kind.startswith("[") and kind.endswith("]"):
        return {"type": "array", "items": schema(kind[1:-1])}
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
    model: dict[str, Any] = {
        "type": "object",
        "description": doc,
        "properties": {k: schema(v) for k, v in props.items()},
    }
    if required:
        model["required"] = list(required)
    return model


_ACCOUNT = {
    "id": "int64",
    "accountName": "string",
    "userId": "int64",
    "userGroupId": "int64",
    "currency": "string",
    "leverage": "integer",
    "accountType": "string",
    "status": "integer",
    "statusName": "string",
    "balance": "number",
    "credit": "number",
    "bonus": "number",
    "equity": "number",
    "usedMargin": "number",
    "freeMargin": "number",
    "createdAt": "int64",
}
_USER = {
    "id": "int64",
    "login": "string",
    "email": "string",
    "firstName": "string",
    "lastName": "string",
    "userGroupId": "int64",
    "brandingId": "int64",
    "status": "integer",
    "statusName": "string",
    "createdAt": "int64",
}

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
