"""The client's exceptions: one base, the server's problem documents by kind, and the client's
own errors for a server it could not reach or whose answer it could not use.

    BrokerplaneError
    ├── APIError                 the server answered with an error (carries the Problem)
    │   ├── ValidationError      400: the input is invalid (`errors` names the fields)
    │   ├── Unauthorized         401: missing, wrong, expired or revoked key
    │   ├── PermissionDenied     403: the key lacks the scope or the reach
    │   ├── NotFound             404
    │   ├── Conflict             409
    │   │   ├── AlreadyApplied   the idempotency key was used for a different request
    │   │   └── RequestInFlight  the idempotency key's first request is still running
    │   ├── PayloadTooLarge      413
    │   ├── RateLimited          429 (`retry_after` seconds)
    │   └── ServerError          5xx
    │       └── ServiceUnavailable  503: the database is unreachable
    ├── PendingApproval          a money operation was held (only with require_applied=True)
    ├── SecretNotReturned        a key was made but a retry's replay holds no secret
    ├── TransportError           no answer: connection refused or dropped, timeout
    └── InvalidResponse          an answer the client cannot use (not JSON, wrong shape, ...)
        └── ResponseTooLarge     more bytes than the client's limit
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from brokerplane.client.models import IssuedKey, Operation, Problem


class BrokerplaneError(Exception):
    """Every error the client raises. `idempotency_key` is the key the failed write was sent
    with: after a TransportError or a 5xx, the outcome is unknown, and sending the same call
    again with `idempotency_key=err.idempotency_key` applies it at most once."""

    idempotency_key: str | None = None


class APIError(BrokerplaneError):
    """The server answered with an error; `problem` is its problem document."""

    def __init__(
        self, problem: Problem, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        self.problem = problem
        self.http_status = problem.status if status is None else status
        self.retry_after = retry_after
        fields = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in problem.errors)
        text = f"{self.http_status} {problem.title} ({problem.code}): {problem.detail}"
        if fields:
            text += f" [{fields}]"
        if problem.request_id:
            text += f" (request {problem.request_id})"
        super().__init__(text)

    @property
    def status(self) -> int:
        """The HTTP status of the answer (the document's `status` says the same when honest)."""
        return self.http_status

    @property
    def type(self) -> str:
        return self.problem.type

    @property
    def title(self) -> str:
        return self.problem.title

    @property
    def detail(self) -> str:
        return self.problem.detail

    @property
    def code(self) -> str:
        return self.problem.code

    @property
    def errors(self) -> list[dict[str, str]]:
        return self.problem.errors

    @property
    def request_id(self) -> str | None:
        return self.problem.request_id

    @property
    def extensions(self) -> dict[str, Any]:
        return self.problem.extensions


class ValidationError(APIError):
    pass


class Unauthorized(APIError):
    pass


class PermissionDenied(APIError):
    pass


class NotFound(APIError):
    pass


class Conflict(APIError):
    pass


class AlreadyApplied(Conflict):
    """The idempotency key was already used for a different request: nothing was applied."""


class RequestInFlight(Conflict):
    """The idempotency key's first request is still running (raised once retries run out)."""


class PayloadTooLarge(APIError):
    pass


class RateLimited(APIError):
    pass


class ServerError(APIError):
    pass


class ServiceUnavailable(ServerError):
    pass


class PendingApproval(BrokerplaneError):
    """A money operation above the approval threshold was held, not applied."""

    def __init__(self, operation: Operation) -> None:
        self.operation = operation
        self.approval_id = operation.approval_id
        super().__init__(
            f"{operation.kind} of {operation.amount} {operation.currency} on {operation.login} "
            f"is held for approval {operation.approval_id}: nothing is applied until another "
            "manager approves it"
        )


class SecretNotReturned(BrokerplaneError):
    """The key was created (or rotated), but the answer that carried its secret was lost and
    the retry's replay does not repeat secrets. Revoke `issued.id` and make another."""

    def __init__(self, issued: IssuedKey) -> None:
        self.issued = issued
        super().__init__(
            f"key {issued.id} was issued but its secret was lost in transit (a replayed answer "
            "never repeats it): revoke that key and create another"
        )


class TransportError(BrokerplaneError):
    """No usable answer reached the client: refused or dropped connection, timeout, TLS."""

    def __init__(self, message: str, *, attempts: int = 1) -> None:
        self.attempts = attempts
        super().__init__(message)


class InvalidResponse(BrokerplaneError):
    """The server answered, but not with something this client can use."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class ResponseTooLarge(InvalidResponse):
    """The answer is larger than the client accepts (see `Limits`)."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: ValidationError,
    401: Unauthorized,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    429: RateLimited,
    503: ServiceUnavailable,
}
_BY_CODE: dict[str, type[APIError]] = {
    "request.already_applied": AlreadyApplied,
    "request.in_flight": RequestInFlight,
}


def error_class(status: int, code: str) -> type[APIError]:
    """The exception for a problem's status and code."""
    if code in _BY_CODE:
        return _BY_CODE[code]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else APIError
