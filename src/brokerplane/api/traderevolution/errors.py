"""TraderEvolution's error vocabulary: the one table from CoreError to (HTTP status, dotted
errorCode), and the error body `{"errorCode": "1.2.0.11", "errorMessage": "..."}`.

The codes TraderEvolution documents keep their meaning: 1.2.0.11 wrong login or password,
2.0.2.4 not allowed for this back-office user, 2.147.1.27 too many requests, 1.6.2.2 not
acceptable. The others are brokerplane's, in the same dotted form: 1.0.* bad input, 1.2.* the
session, 1.4.* not found, 1.9.* already exists or in use, 2.* business rules.
TraderEvolution documents no 409, so what already exists is a 400.
"""

from __future__ import annotations

from brokerplane.api.kit.errortable import row_of
from brokerplane.core import errors as e

WRONG_CREDENTIALS = "1.2.0.11"
NOT_AUTHENTICATED = "1.2.0.1"
NOT_ALLOWED = "2.0.2.4"
RATE_LIMITED = "2.147.1.27"
NOT_ACCEPTABLE = "1.6.2.2"
INVALID_REQUEST = "1.0.0.1"
NOT_FOUND = "1.4.0.0"
NO_SUCH_PATH = "1.4.0.404"
METHOD_NOT_ALLOWED = "1.4.0.405"
INTERNAL = "2.500.0.0"

# Every CoreError class, explicitly: tests/dialects/traderevolution checks nothing is missing.
ERROR_TABLE: dict[type[e.CoreError], tuple[int, str]] = {
    e.CoreError: (400, INVALID_REQUEST),
    e.ValidationError: (400, INVALID_REQUEST),
    e.InvalidAmount: (400, "1.0.3.1"),
    e.AmountLimitExceeded: (400, "1.0.3.2"),
    e.CurrencyMismatch: (400, "1.0.3.3"),
    e.PasswordPolicyViolation: (400, "1.0.1.3"),
    e.WrongPassword: (400, "1.0.1.4"),
    e.LeverageOutOfRange: (400, "1.0.2.1"),
    e.NotFound: (404, NOT_FOUND),
    e.UserNotFound: (404, "1.4.0.1"),
    e.AccountNotFound: (404, "1.4.0.2"),
    e.GroupNotFound: (404, "1.4.0.3"),
    e.SymbolNotFound: (404, "1.4.0.4"),
    e.ManagerNotFound: (404, "1.4.0.5"),
    e.ApiKeyNotFound: (404, "1.4.0.6"),
    e.ApprovalNotFound: (404, "1.4.0.7"),
    e.LedgerEntryNotFound: (404, "1.4.0.8"),
    e.Conflict: (400, "1.9.0.0"),
    e.LoginAlreadyExists: (400, "1.9.0.1"),
    e.GroupAlreadyExists: (400, "1.9.0.2"),
    e.SymbolAlreadyExists: (400, "1.9.0.3"),
    e.ManagerAlreadyExists: (400, "1.9.0.4"),
    e.EmailAlreadyExists: (400, "1.9.0.5"),
    e.AccountAlreadyLinked: (400, "1.9.0.6"),
    e.GroupInUse: (400, "1.9.0.7"),
    e.SymbolInUse: (400, "1.9.0.11"),
    e.UserHasAccounts: (400, "1.9.0.13"),
    e.RecordNotEditable: (400, "1.9.0.12"),
    e.AlreadyApplied: (400, "1.9.0.8"),
    e.RequestInFlight: (400, "1.9.0.9"),
    e.ApprovalNotPending: (400, "1.9.0.10"),
    e.LoginRangeExhausted: (400, "2.1.0.1"),
    e.InsufficientFunds: (400, "2.3.0.1"),
    e.InvalidVolume: (400, "1.0.4.1"),
    e.InvalidMask: (400, "1.0.5.1"),
    e.PositionNotFound: (404, "1.4.0.9"),
    e.DealNotFound: (404, "1.4.0.10"),
    e.NoQuote: (400, "2.4.0.1"),
    e.TradeDisabled: (403, "2.4.0.2"),
    # TraderEvolution has no "held for approval" answer: above the threshold the operation is
    # held for a second manager and answered with this refusal, naming the approval.
    e.ApprovalRequired: (403, "2.3.0.2"),
    e.Unauthorized: (401, NOT_AUTHENTICATED),
    e.TokenExpired: (401, NOT_AUTHENTICATED),
    e.RateLimited: (429, RATE_LIMITED),
    e.PermissionDenied: (403, NOT_ALLOWED),
    e.MissingScope: (403, NOT_ALLOWED),
    e.ReachTooNarrow: (403, NOT_ALLOWED),
    e.SelfQuotedTrade: (403, NOT_ALLOWED),
    e.StorageUnavailable: (503, "2.503.0.0"),
}


def status_and_code(err: e.CoreError) -> tuple[int, str]:
    return row_of(ERROR_TABLE, err, (400, INVALID_REQUEST))


def message_of(err: e.CoreError) -> str:
    """The detail, naming each bad field's problem when the detail only lists the fields."""
    if err.fields and err.detail.startswith("invalid fields"):
        return "; ".join(f"{f.field}: {f.message}" for f in err.fields)
    return err.detail


class TEError(Exception):
    """A failure in TraderEvolution's words that no core rule produced (a malformed body)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def invalid(message: str) -> TEError:
    return TEError(400, INVALID_REQUEST, message)


def error_body(code: str, message: str) -> dict[str, str]:
    return {"errorCode": code, "errorMessage": message}


# What each code means, for GET /methods/errors: the codes with a fixed meaning first, then
# every code of the table, named after the core error it stands for.
_MEANINGS: dict[str, tuple[int, str]] = {
    WRONG_CREDENTIALS: (401, "wrong login or password"),
    NOT_AUTHENTICATED: (401, "no access token, or it is not valid or has expired"),
    NOT_ALLOWED: (403, "not allowed for this back-office user"),
    RATE_LIMITED: (429, "too many requests: wait and retry"),
    NOT_ACCEPTABLE: (
        406,
        (
            "PARAM / REPORT_REQUEST / FILTER_TYPE / EMPTY: the report needs a "
            "filter (accountId, assetName, ...); also: the answer cannot be JSON"
        ),
    ),
    INVALID_REQUEST: (400, "the request is malformed or a value is not valid"),
    NOT_FOUND: (404, "not found, or out of this back-office user's reach"),
    NO_SUCH_PATH: (404, "no such endpoint"),
    METHOD_NOT_ALLOWED: (405, "method not allowed on this path"),
    INTERNAL: (500, "an unexpected error; it has been logged"),
}


def _words(name: str) -> str:
    out = "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()
    return out[0].upper() + out[1:] if out else name


def describe(code: str) -> tuple[int, str] | None:
    if code in _MEANINGS:
        return _MEANINGS[code]
    for cls, (status, mapped) in ERROR_TABLE.items():
        if mapped == code:
            return status, _words(cls.__name__)
    return None
