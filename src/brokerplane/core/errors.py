"""The CoreError tree: every failure the core can report, each with a stable dotted code.

    CoreError
    ├── ValidationError              validation.*          bad input, named by field
    │   ├── InvalidAmount            validation.amount
    │   ├── AmountLimitExceeded      ledger.amount_limit
    │   ├── PasswordPolicyViolation  validation.password
    │   ├── WrongPassword            validation.wrong_password
    │   ├── LeverageOutOfRange       validation.leverage
    │   ├── CurrencyMismatch         validation.currency_mismatch
    │   ├── InvalidVolume            trade.invalid_volume
    │   └── InvalidMask              validation.mask
    ├── NotFound                     *.not_found
    │   ├── AccountNotFound          account.not_found
    │   ├── GroupNotFound            group.not_found
    │   ├── SymbolNotFound           symbol.not_found
    │   ├── ManagerNotFound          manager.not_found
    │   ├── UserNotFound             user.not_found
    │   ├── ApiKeyNotFound           api_key.not_found
    │   ├── ApprovalNotFound         approval.not_found
    │   ├── LedgerEntryNotFound      ledger.entry_not_found
    │   ├── PositionNotFound         trade.position_not_found
    │   └── DealNotFound             trade.deal_not_found
    ├── Conflict                     *.exists / *.conflict
    │   ├── LoginAlreadyExists       account.login_exists
    │   ├── GroupAlreadyExists       group.exists
    │   ├── SymbolAlreadyExists      symbol.exists
    │   ├── ManagerAlreadyExists     manager.exists
    │   ├── EmailAlreadyExists       user.email_exists
    │   ├── AccountAlreadyLinked     user.account_linked
    │   ├── GroupInUse               group.in_use
    │   ├── AlreadyApplied           request.already_applied
    │   ├── RequestInFlight          request.in_flight
    │   └── ApprovalNotPending       approval.not_pending
    ├── LoginRangeExhausted          account.login_range_exhausted
    ├── InsufficientFunds            ledger.insufficient_funds
    ├── ApprovalRequired             ledger.approval_required
    ├── NoQuote                      trade.no_quote
    ├── TradeDisabled                trade.disabled
    ├── Unauthorized                 auth.unauthorized
    ├── RateLimited                  auth.rate_limited
    ├── PermissionDenied             auth.permission_denied
    │   ├── MissingScope             auth.missing_scope
    │   └── ReachTooNarrow           auth.reach_too_narrow
    └── StorageUnavailable           storage.unavailable

Dialects never invent errors of their own for core failures: each keeps one table mapping these
classes to its wire vocabulary, and a test checks that every class here is in every table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field; `field` is a dotted path in the caller's names."""

    field: str
    message: str


class CoreError(Exception):
    """Base of every error the core raises on purpose."""

    code: ClassVar[str] = "core.error"
    title: ClassVar[str] = "Error"

    def __init__(
        self, detail: str | None = None, *, fields: list[FieldError] | None = None, **context: Any
    ) -> None:
        self.detail = detail or self.title
        self.fields: list[FieldError] = list(fields or [])
        self.context: dict[str, Any] = context
        super().__init__(self.detail)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.detail!r}, {self.context!r})"


class ValidationError(CoreError):
    code = "validation.invalid"
    title = "ValidationError"

    @classmethod
    def field(cls, field: str, message: str, **context: Any) -> ValidationError:
        return cls(f"{field}: {message}", fields=[FieldError(field, message)], **context)


class InvalidAmount(ValidationError):
    code = "validation.amount"


class PasswordPolicyViolation(ValidationError):
    code = "validation.password"


class WrongPassword(ValidationError):
    """A password presented as proof (linking an account to a user, say) does not match."""

    code = "validation.wrong_password"
    title = "WrongPassword"


class LeverageOutOfRange(ValidationError):
    code = "validation.leverage"


class CurrencyMismatch(ValidationError):
    code = "validation.currency_mismatch"


class InvalidVolume(ValidationError):
    """A trade volume that is not positive, outside the symbol's limits or off its step."""

    code = "trade.invalid_volume"
    title = "InvalidVolume"


class NotFound(CoreError):
    code = "core.not_found"
    title = "NotFound"


class AccountNotFound(NotFound):
    code = "account.not_found"

    def __init__(self, login: int) -> None:
        super().__init__(f"account {login} does not exist", login=login)


class GroupNotFound(NotFound):
    code = "group.not_found"

    def __init__(self, group: str | int) -> None:
        super().__init__(f"group {group!s} does not exist", group=group)


class SymbolNotFound(NotFound):
    code = "symbol.not_found"

    def __init__(self, symbol: str) -> None:
        super().__init__(f"symbol {symbol} does not exist", symbol=symbol)


class ManagerNotFound(NotFound):
    code = "manager.not_found"

    def __init__(self, login: int) -> None:
        super().__init__(f"manager {login} does not exist", login=login)


class UserNotFound(NotFound):
    code = "user.not_found"

    def __init__(self, user_id: int | str) -> None:
        super().__init__(f"user {user_id} does not exist", user_id=user_id)


class ApiKeyNotFound(NotFound):
    code = "api_key.not_found"

    def __init__(self, key_id: str) -> None:
        super().__init__(f"API key {key_id} does not exist", key_id=key_id)


class ApprovalNotFound(NotFound):
    code = "approval.not_found"

    def __init__(self, approval_id: int) -> None:
        super().__init__(f"approval {approval_id} does not exist", approval_id=approval_id)


class LedgerEntryNotFound(NotFound):
    code = "ledger.entry_not_found"

    def __init__(self, entry_id: int) -> None:
        super().__init__(f"ledger entry {entry_id} does not exist", entry_id=entry_id)


class PositionNotFound(NotFound):
    code = "trade.position_not_found"

    def __init__(self, position_id: int) -> None:
        super().__init__(f"position {position_id} does not exist", position_id=position_id)


class DealNotFound(NotFound):
    code = "trade.deal_not_found"

    def __init__(self, deal_id: int) -> None:
        super().__init__(f"deal {deal_id} does not exist", deal_id=deal_id)


class Conflict(CoreError):
    code = "core.conflict"
    title = "Conflict"


class LoginAlreadyExists(Conflict):
    code = "account.login_exists"

    def __init__(self, login: int) -> None:
        super().__init__(
            f"login {login} is already in use",
            fields=[FieldError("login", "already in use")],
            login=login,
        )


class GroupAlreadyExists(Conflict):
    code = "group.exists"

    def __init__(self, group: str) -> None:
        super().__init__(
            f"group {group} already exists", fields=[FieldError("name", "already exists")]
        )


class SymbolAlreadyExists(Conflict):
    code = "symbol.exists"

    def __init__(self, symbol: str) -> None:
        super().__init__(
            f"symbol {symbol} already exists", fields=[FieldError("name", "already exists")]
        )


class ManagerAlreadyExists(Conflict):
    code = "manager.exists"

    def __init__(self, login: int) -> None:
        super().__init__(
            f"manager {login} already exists", fields=[FieldError("login", "already exists")]
        )


class EmailAlreadyExists(Conflict):
    code = "user.email_exists"

    def __init__(self, email: str) -> None:
        super().__init__(
            f"a user with email {email} already exists",
            fields=[FieldError("email", "already in use")],
            email=email,
        )


class AccountAlreadyLinked(Conflict):
    """The account is linked to another user already."""

    code = "user.account_linked"

    def __init__(self, login: int, user_id: int) -> None:
        super().__init__(
            f"account {login} is already linked to another user", login=login, user_id=user_id
        )


class GroupInUse(Conflict):
    code = "group.in_use"


class AlreadyApplied(Conflict):
    """The request id was used before for a different request; nothing new was applied."""

    code = "request.already_applied"
    title = "AlreadyApplied"
    # The earlier use's answer (core.idempotency.StoredResponse, or the result it holds once
    # the application layer has read it), for the dialect to name the earlier operation.
    earlier: object = None


class RequestInFlight(Conflict):
    """The request id belongs to a request still running; retry after `retry_after` seconds."""

    code = "request.in_flight"
    title = "RequestInFlight"

    def __init__(self, key: str, retry_after: int = 1) -> None:
        super().__init__(
            f"a request with id {key} is still being processed; retry shortly",
            key=key,
            retry_after=retry_after,
        )


class ApprovalNotPending(Conflict):
    code = "approval.not_pending"

    def __init__(self, approval_id: int, state: str) -> None:
        super().__init__(
            f"approval {approval_id} is {state}, not pending", approval_id=approval_id, state=state
        )


class InsufficientFunds(CoreError):
    """A withdrawal, charge or removal would take a figure below zero (or below margin)."""

    code = "ledger.insufficient_funds"
    title = "InsufficientFunds"


class ApprovalRequired(CoreError):
    """An operation above the approval threshold where it cannot be held for a second manager
    (a starting balance posted with the account's opening); whoever asks, with whatever
    rights: nobody approves their own operation."""

    code = "ledger.approval_required"
    title = "ApprovalRequired"


class NoQuote(CoreError):
    """A trade or a conversion needs a price that no quote gives (none set for the symbol, or
    no symbol converts between the two currencies)."""

    code = "trade.no_quote"
    title = "NoQuote"


class TradeDisabled(CoreError):
    """Trading is not allowed here: the account's rights (MT5 USER_RIGHT_TRADE_DISABLED,
    cTrader NO_TRADING or CLOSE_ONLY), a locked owner, or the symbol's trade mode."""

    code = "trade.disabled"
    title = "TradeDisabled"


class AmountLimitExceeded(ValidationError):
    """The amount is above the per-operation maximum."""

    code = "ledger.amount_limit"
    title = "AmountLimitExceeded"


class LoginRangeExhausted(CoreError):
    code = "account.login_range_exhausted"
    title = "LoginRangeExhausted"

    def __init__(self, low: int, high: int) -> None:
        super().__init__(
            f"no free login left in the range {low}-{high}", range_from=low, range_to=high
        )


class Unauthorized(CoreError):
    code = "auth.unauthorized"
    title = "Unauthorized"


class RateLimited(CoreError):
    """The credential sent more requests than its limit allows; retry after `retry_after` s."""

    code = "auth.rate_limited"
    title = "TooManyRequests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many requests for this key; retry after {retry_after} s", retry_after=retry_after
        )


class PermissionDenied(CoreError):
    code = "auth.permission_denied"
    title = "PermissionDenied"


class MissingScope(PermissionDenied):
    code = "auth.missing_scope"

    def __init__(self, scope: str) -> None:
        super().__init__(f"this credential lacks the scope {scope}", scope=scope)


class StorageUnavailable(CoreError):
    code = "storage.unavailable"
    title = "ManagerOffline"


def all_error_classes() -> list[type[CoreError]]:
    """Every CoreError class, for the dialects' completeness tests."""
    seen: list[type[CoreError]] = []
    stack: list[type[CoreError]] = [CoreError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen


class InvalidMask(ValidationError):
    """A name mask (`demo\\*,!demo\\vip`) longer or with more parts or stars than allowed
    (core.masks.MAX_LENGTH, MAX_PARTS, MAX_STARS)."""

    code = "validation.mask"
    title = "ValidationError"


class TokenExpired(Unauthorized):
    """A session token outlived its lifetime: sign in again for a new one."""

    code = "auth.token_expired"


class ReachTooNarrow(PermissionDenied):
    """A setting that affects accounts outside the manager's reach (a currency-wide approval
    threshold, a quote, a symbol, a group out of reach) asked for by a manager of limited
    reach: it needs unlimited reach (groups and white labels `*`)."""

    code = "auth.reach_too_narrow"

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} affects accounts outside this manager's reach; it needs unlimited reach "
            "(groups and white labels *)",
            what=what,
        )


class SelfQuotedTrade(PermissionDenied):
    """Separation of duties: a manager may not open or close a position on a symbol whose
    current quote it set itself (it could otherwise book any profit it liked). Quotes from
    the quotes feed or an operator carry no manager and may be traded against."""

    code = "trade.self_quoted"

    def __init__(self, symbol: str) -> None:
        super().__init__(
            f"the current quote of {symbol} was set by this manager; a manager may not trade "
            "against its own quote (quotes come from a price feed)",
            symbol=symbol,
        )


class SymbolInUse(Conflict):
    """A symbol with open positions cannot be deleted: their figures are priced from it."""

    code = "symbol.in_use"


class RecordNotEditable(CoreError):
    """Deals are ledger entries and open positions carry money figures: neither is edited or
    deleted by hand; a correction is a new ledger entry, a position is closed by a deal."""

    code = "trade.record_not_editable"


class UserHasAccounts(Conflict):
    """A user who owns accounts (open or archived) or has linked ones is not deleted: its
    accounts would lose their owner. Unlink them first."""

    code = "user.has_accounts"

    def __init__(self, user_id: int, logins: list[int]) -> None:
        shown = ", ".join(str(n) for n in logins[:10]) + (", ..." if len(logins) > 10 else "")
        super().__init__(
            f"user {user_id} owns accounts ({shown}); unlink them before deleting the user",
            user_id=user_id,
        )
