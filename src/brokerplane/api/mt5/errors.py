"""MT5 return codes: the exact `retcode` strings clients compare, and the CoreError table."""

from __future__ import annotations

from brokerplane.api.kit.errortable import row_of
from brokerplane.core import errors as e

# code -> text, emitted as "<code> <text>" (spec §3.3). Clients compare "0 Done" and
# "13 Not found" as whole strings, so these texts never change.
TEXTS: dict[int, str] = {
    0: "Done",
    1: "OK no data",
    2: "Common error",
    3: "Invalid parameters",
    4: "Invalid data",
    8: "Not enough permissions",
    9: "Operation timeout",
    10: "No connection",
    11: "Service is not available",
    12: "Too frequent requests",
    13: "Not found",
    14: "Partial error",
    17: "Duplicate data",
    1001: "Invalid account",
    1002: "Account disabled",
    2003: "Accounts or trades in group/symbol",
    3002: "Logins range exhausted",
    3004: "Account already exists",
    3005: "Attempt of self-deletion",
    3006: "Invalid account password",
    3008: "Account has open trades",
    3010: "Attempt to move account to different currency group",
    4005: "Money limit reached",
    10006: "Request rejected",
    10013: "Invalid request",
    10014: "Invalid volume",
    10017: "Trade disabled",
    10019: "Not enough money",
    10021: "No prices",
    12000: "Not implement yet",
    12002: "Command doesn't supported",
}

OK = 0
ERR_COMMON = 2  # MT_RET_ERROR: what an unexpected error answers
ERR_PARAMS = 3
ERR_DATA = 4
ERR_PERMISSIONS = 8
ERR_NOTFOUND = 13
ERR_NOTIMPLEMENT = 12000
REQUEST_REJECTED = 10006


def retcode(code: int) -> str:
    return f"{code} {TEXTS.get(code, 'Common error')}"


# Every CoreError class, explicitly (a test checks nothing is missing): its MT5 return code.
ERROR_TABLE: dict[type[e.CoreError], int] = {
    e.CoreError: 2,
    e.ValidationError: 3,
    e.InvalidAmount: 3,
    e.AmountLimitExceeded: 4005,
    e.PasswordPolicyViolation: 3006,
    e.LeverageOutOfRange: 3,
    e.CurrencyMismatch: 3010,
    e.NotFound: 13,
    e.AccountNotFound: 13,
    e.GroupNotFound: 8,  # MT5 answers 8 for a group that does not exist or is not permitted
    e.SymbolNotFound: 13,
    e.ManagerNotFound: 13,
    e.ApiKeyNotFound: 13,
    e.UserNotFound: 13,
    e.WrongPassword: 3006,
    e.EmailAlreadyExists: 17,
    e.AccountAlreadyLinked: 17,
    e.ApprovalNotFound: 13,
    e.LedgerEntryNotFound: 13,
    e.Conflict: 17,
    e.LoginAlreadyExists: 3004,
    e.GroupAlreadyExists: 17,
    e.SymbolAlreadyExists: 17,
    e.ManagerAlreadyExists: 17,
    e.GroupInUse: 2003,  # MT_RET_CFG_NOT_EMPTY: accounts or trades in the group
    e.SymbolInUse: 2003,  # MT_RET_CFG_NOT_EMPTY: positions on the symbol
    e.UserHasAccounts: 2003,  # MT_RET_CFG_NOT_EMPTY: a client record still holding accounts
    e.RecordNotEditable: 12002,  # MT_RET_ERR_NOTSUPPORTED: the server does not do this
    e.AlreadyApplied: 17,
    e.RequestInFlight: 12,
    e.ApprovalNotPending: 10006,
    e.LoginRangeExhausted: 3002,
    e.InsufficientFunds: 10019,
    e.InvalidVolume: 10014,
    e.InvalidMask: 3,  # a name mask too long or with too many parts or stars
    e.PositionNotFound: 13,
    e.DealNotFound: 13,
    e.NoQuote: 10021,
    e.TradeDisabled: 10017,
    e.ApprovalRequired: 10006,  # above the approval threshold where it cannot be held
    e.Unauthorized: 8,
    e.TokenExpired: 8,
    e.RateLimited: 12,
    e.PermissionDenied: 8,
    e.MissingScope: 8,
    e.ReachTooNarrow: 8,
    e.SelfQuotedTrade: 8,
    e.StorageUnavailable: 11,
}


def code_for(err: e.CoreError) -> int:
    return row_of(ERROR_TABLE, err, 2)


class Mt5Error(Exception):
    """A failure in MT5's own words that no core rule produced (a bad `type`, say)."""

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(detail or retcode(code))
        self.code = code
