"""cTrader's error vocabulary: the one table from CoreError to (HTTP status, errorCode), and
the error body `{"error": {"errorCode", "description"}}` (spec §5)."""

from __future__ import annotations

from brokerplane.api.kit.errortable import row_of
from brokerplane.core import errors as e

# Every CoreError class, explicitly: tests/dialects/ctrader checks nothing is missing.
ERROR_TABLE: dict[type[e.CoreError], tuple[int, str]] = {
    e.CoreError: (400, "INVALID_REQUEST"),
    e.ValidationError: (400, "INVALID_REQUEST"),
    e.InvalidAmount: (400, "CHANGE_BALANCE_BAD_AMOUNT"),
    e.AmountLimitExceeded: (400, "CHANGE_BALANCE_BAD_AMOUNT"),
    e.PasswordPolicyViolation: (400, "INVALID_REQUEST"),
    e.LeverageOutOfRange: (400, "WRONG_LEVERAGE"),
    e.CurrencyMismatch: (400, "DEPOSIT_CURRENCY_NOT_ALLOWED"),
    e.NotFound: (404, "ENTITY_NOT_FOUND"),
    e.AccountNotFound: (404, "TRADER_NOT_FOUND"),
    e.GroupNotFound: (404, "TRADER_GROUP_NOT_FOUND"),
    e.SymbolNotFound: (404, "SYMBOL_NOT_FOUND"),
    e.ManagerNotFound: (404, "ENTITY_NOT_FOUND"),
    e.ApiKeyNotFound: (404, "ENTITY_NOT_FOUND"),
    e.UserNotFound: (404, "CH_USER_NOT_FOUND"),
    e.WrongPassword: (400, "WRONG_PASSWORD"),
    e.EmailAlreadyExists: (400, "CH_EMAIL_ALREADY_EXISTS"),
    e.AccountAlreadyLinked: (400, "CH_TRADER_ACCOUNT_ALREADY_LINKED"),
    e.ApprovalNotFound: (404, "ENTITY_NOT_FOUND"),
    e.LedgerEntryNotFound: (404, "ENTITY_NOT_FOUND"),
    e.Conflict: (409, "CONCURRENT_MODIFICATION"),
    e.LoginAlreadyExists: (400, "INVALID_DATA"),
    e.GroupAlreadyExists: (400, "INVALID_DATA"),
    e.SymbolAlreadyExists: (400, "INVALID_DATA"),
    e.ManagerAlreadyExists: (400, "INVALID_DATA"),
    e.GroupInUse: (400, "OPERATION_NOT_ALLOWED"),
    e.SymbolInUse: (400, "OPERATION_NOT_ALLOWED"),
    e.UserHasAccounts: (400, "OPERATION_NOT_ALLOWED"),
    e.RecordNotEditable: (400, "OPERATION_NOT_ALLOWED"),
    # An idempotency key (Idempotency-Key / x-request-id) used before for a different
    # request: nothing was applied.
    e.AlreadyApplied: (409, "INVALID_REQUEST"),
    e.RequestInFlight: (409, "CONCURRENT_MODIFICATION"),
    e.ApprovalNotPending: (400, "OPERATION_NOT_ALLOWED"),
    e.LoginRangeExhausted: (400, "OPERATION_NOT_ALLOWED"),
    e.InsufficientFunds: (400, "NOT_ENOUGH_MONEY"),
    e.InvalidVolume: (400, "TRADING_BAD_VOLUME"),
    e.InvalidMask: (400, "INVALID_REQUEST"),
    e.PositionNotFound: (404, "POSITION_NOT_FOUND"),
    e.DealNotFound: (404, "DEAL_NOT_FOUND"),
    e.NoQuote: (400, "NO_QUOTES"),
    e.TradeDisabled: (403, "TRADING_DISABLED"),
    # cTrader has no "held for approval" answer: above the threshold the operation is held
    # for a second manager and answered with this refusal, naming the approval.
    e.ApprovalRequired: (403, "NOT_ENOUGH_RIGHTS"),
    e.Unauthorized: (401, "CH_CLIENT_AUTH_FAILURE"),
    # cTrader's word for an expired token (its SSO contract), with 401: the status on which
    # clients drop a token and request a new one.
    e.TokenExpired: (401, "CID_TOKEN_EXPIRED"),
    e.RateLimited: (429, "REQUEST_FREQUENCY_EXCEEDED"),
    e.PermissionDenied: (403, "NOT_ENOUGH_RIGHTS"),
    e.MissingScope: (403, "NOT_ENOUGH_RIGHTS"),
    e.ReachTooNarrow: (403, "NOT_ENOUGH_RIGHTS"),
    e.SelfQuotedTrade: (403, "NOT_ENOUGH_RIGHTS"),
    e.StorageUnavailable: (503, "DATASTORE_IS_NOT_AVAILABLE"),
}


def status_and_code(err: e.CoreError) -> tuple[int, str]:
    return row_of(ERROR_TABLE, err, (400, "INVALID_REQUEST"))


class CTraderError(Exception):
    """A failure in cTrader's own words that no core rule produced (a malformed body, say)."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description


def invalid(description: str) -> CTraderError:
    return CTraderError(400, "INVALID_REQUEST", description)


def error_body(code: str, description: str) -> dict[str, dict[str, str]]:
    return {"error": {"errorCode": code, "description": description}}
