"""The native dialect's one table from CoreError to HTTP status and problem+json title."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from brokerplane.api.kit.errortable import row_of
from brokerplane.core import errors as e

PROBLEM_TYPE_BASE = "https://brokerplane.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

# Every CoreError class, explicitly: tests/dialects/native checks nothing is missing.
ERROR_TABLE: dict[type[e.CoreError], tuple[int, str]] = {
    e.CoreError: (400, "ValidationError"),
    e.ValidationError: (400, "ValidationError"),
    e.PasswordPolicyViolation: (400, "ValidationError"),
    e.LeverageOutOfRange: (400, "ValidationError"),
    e.CurrencyMismatch: (400, "ValidationError"),
    e.NotFound: (404, "NotFound"),
    e.AccountNotFound: (404, "NotFound"),
    e.GroupNotFound: (404, "NotFound"),
    e.SymbolNotFound: (404, "NotFound"),
    e.ManagerNotFound: (404, "NotFound"),
    e.ApiKeyNotFound: (404, "NotFound"),
    e.UserNotFound: (404, "NotFound"),
    e.WrongPassword: (400, "ValidationError"),
    e.EmailAlreadyExists: (409, "Conflict"),
    e.AccountAlreadyLinked: (409, "Conflict"),
    e.Conflict: (409, "Conflict"),
    e.LoginAlreadyExists: (409, "Conflict"),
    e.GroupAlreadyExists: (409, "Conflict"),
    e.SymbolAlreadyExists: (409, "Conflict"),
    e.ManagerAlreadyExists: (409, "Conflict"),
    e.GroupInUse: (409, "Conflict"),
    e.SymbolInUse: (409, "Conflict"),
    e.UserHasAccounts: (409, "Conflict"),
    e.RecordNotEditable: (409, "Conflict"),
    e.AlreadyApplied: (409, "AlreadyApplied"),
    e.RequestInFlight: (409, "Conflict"),
    e.ApprovalNotPending: (409, "Conflict"),
    e.ApprovalNotFound: (404, "NotFound"),
    e.LedgerEntryNotFound: (404, "NotFound"),
    e.InvalidAmount: (400, "ValidationError"),
    e.AmountLimitExceeded: (400, "ValidationError"),
    e.InsufficientFunds: (400, "ValidationError"),
    e.InvalidVolume: (400, "ValidationError"),
    e.InvalidMask: (400, "ValidationError"),
    e.PositionNotFound: (404, "NotFound"),
    e.DealNotFound: (404, "NotFound"),
    e.NoQuote: (409, "Conflict"),
    e.TradeDisabled: (403, "PermissionDenied"),
    # Only dialects that cannot hold an operation raise it; native holds (202) instead.
    e.ApprovalRequired: (403, "PermissionDenied"),
    e.LoginRangeExhausted: (409, "Conflict"),
    e.Unauthorized: (401, "Unauthorized"),
    e.TokenExpired: (401, "Unauthorized"),
    e.RateLimited: (429, "TooManyRequests"),
    e.PermissionDenied: (403, "PermissionDenied"),
    e.MissingScope: (403, "PermissionDenied"),
    e.ReachTooNarrow: (403, "PermissionDenied"),
    e.SelfQuotedTrade: (403, "PermissionDenied"),
    e.StorageUnavailable: (503, "ManagerOffline"),
}


def status_and_title(err: e.CoreError) -> tuple[int, str]:
    return row_of(ERROR_TABLE, err, (400, "ValidationError"))


def problem(
    status: int,
    title: str,
    detail: str,
    code: str,
    request_id: str | None,
    fields: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        **(extra or {}),
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "errors": fields or [],
        "request_id": request_id,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def core_problem(err: e.CoreError, request_id: str | None) -> JSONResponse:
    status, title = status_and_title(err)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status == 503:
        headers["Retry-After"] = "5"
    if isinstance(err, e.RequestInFlight | e.RateLimited):
        headers["Retry-After"] = str(err.context.get("retry_after", 1))
    fields = [{"field": f.field, "message": f.message} for f in err.fields]
    response = problem(
        status, title, err.detail, err.code, request_id, fields, headers, extra=_extensions(err)
    )
    return response


# Context members safe and useful to show as problem extension members.
_EXTENSIONS = ("operation_id", "original_status", "approval_id", "state", "available", "figure")


def _extensions(err: e.CoreError) -> dict[str, Any]:
    return {k: err.context[k] for k in _EXTENSIONS if err.context.get(k) is not None}
