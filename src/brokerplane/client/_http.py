"""What the sync and async clients share: requests as data, the retry rule, bounded reading,
answers decoded into models or into the exception for their problem document."""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import pydantic

import brokerplane
from brokerplane.client import errors
from brokerplane.client.models import Problem

T = TypeVar("T")

log = logging.getLogger("brokerplane.client")

USER_AGENT = f"brokerplane-client/{brokerplane.__version__}"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAY_HEADER = "idempotent-replay"
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class Retry:
    """When and how a request is sent again.

    Reads, and writes carrying an idempotency key (every write this client sends), are retried
    on a refused or dropped connection, a timeout, 408, 429, any 5xx, and 409 RequestInFlight,
    always with the same key: the server applies a key once and replays its answer after.
    `attempts` counts the first try. Delays double from `backoff` (with jitter) up to
    `max_backoff`; a server's Retry-After is honoured up to `max_retry_after`."""

    attempts: int = 4
    backoff: float = 0.25
    max_backoff: float = 8.0
    max_retry_after: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        base = min(self.backoff * 2.0 ** (attempt - 1), self.max_backoff)
        return base * (0.5 + random.random() / 2)


NO_RETRY = Retry(attempts=1)


@dataclass(frozen=True)
class Limits:
    """How much of an answer the client reads before giving up on it.

    `max_response_bytes` bounds a JSON answer (it is parsed whole); `max_error_bytes` the part
    of an error answer that is read; `max_csv_record_bytes` one CSV record of a streamed
    export (an export itself is never held whole); `max_response_seconds` the time to read a
    JSON answer, so a server trickling bytes cannot hold a call forever; `max_event_bytes`
    one message of an event stream (Server-Sent Events)."""

    max_response_bytes: int = 32 * 1024 * 1024
    max_error_bytes: int = 256 * 1024
    max_csv_record_bytes: int = 1024 * 1024
    max_response_seconds: float = 300.0
    max_event_bytes: int = 1024 * 1024


@dataclass
class Call(Generic[T]):
    """One API call: what to send and how to read a successful answer."""

    method: str
    path: str
    decode: Callable[[Any], T]
    params: dict[str, Any] | None = None
    body: Any = None
    ok: tuple[int, ...] = (200,)
    idempotency_key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def retryable(self) -> bool:
        return self.method == "GET" or self.idempotency_key is not None

    def request_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = self.idempotency_key
        if self.body is not None:
            headers["Content-Type"] = "application/json"
        return headers

    def content(self) -> bytes | None:
        return None if self.body is None else encode_body(self.body)

    def query(self) -> dict[str, Any] | None:
        if not self.params:
            return None
        return {k: _query_value(v) for k, v in self.params.items() if v is not None}


def new_idempotency_key() -> str:
    """A fresh key for one logical write (the server accepts 1 to 127 printable characters)."""
    return "bpc-" + uuid.uuid4().hex


def check_idempotency_key(key: str) -> str:
    if not key or len(key) > 127 or not key.isprintable() or not key.isascii():
        raise ValueError("an idempotency key is 1 to 127 printable ASCII characters")
    return key


def money(value: Decimal | int | str) -> str:
    """An amount as the decimal string the API takes. Floats are refused: binary fractions are
    not money (0.1 + 0.2 != 0.3); pass a Decimal or a string."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(
            f"an amount is a Decimal, int or decimal string, not {type(value).__name__}"
        )
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("an amount must be finite")
        return format(value, "f")
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot be sent as JSON")


def encode_body(body: Any) -> bytes:
    return json.dumps(body, default=_json_default, allow_nan=False, ensure_ascii=False).encode()


def _query_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


# ---- reading answers ------------------------------------------------------------------------


def check_encoding(headers: Mapping[str, str], status: int) -> None:
    """The client asks for `Accept-Encoding: identity` and reads raw bytes, so its limits count
    what it keeps; a compressed answer it did not ask for (a decompression bomb) is refused."""
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise errors.InvalidResponse(
            f"the server sent a {encoding!r}-encoded answer the client did not ask for",
            status=status,
        )


def check_length(headers: Mapping[str, str], limit: int, status: int) -> None:
    declared = headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise errors.ResponseTooLarge(
            f"the answer declares {int(declared)} bytes, more than the client's limit of {limit} "
            "(Limits.max_response_bytes)",
            status=status,
        )


class Collector:
    """Bytes of an answer, refused once they pass the limit."""

    def __init__(self, limit: int, status: int, *, truncate: bool = False) -> None:
        self.limit, self.status, self.truncate = limit, status, truncate
        self.parts: list[bytes] = []
        self.size = 0
        self.full = False

    def add(self, chunk: bytes) -> bool:
        """Keep `chunk`; False once nothing more is wanted (the limit reached, truncating)."""
        room = self.limit - self.size
        if len(chunk) > room:
            if not self.truncate:
                raise errors.ResponseTooLarge(
                    f"the answer is larger than the client's limit of {self.limit} bytes "
                    "(Limits.max_response_bytes)",
                    status=self.status,
                )
            chunk, self.full = chunk[:room], True
        self.parts.append(chunk)
        self.size += len(chunk)
        return not self.full

    def data(self) -> bytes:
        return b"".join(self.parts)


def too_slow(limit: float, status: int) -> errors.InvalidResponse:
    return errors.InvalidResponse(
        f"the answer took longer than {limit:g} s to read (Limits.max_response_seconds)",
        status=status,
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(data: bytes, status: int) -> Any:
    try:
        return json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as err:
        snippet = data[:80].decode("utf-8", "replace")
        raise errors.InvalidResponse(
            f"the server answered {status} with a body that is not JSON ({err.__class__.__name__}"
            f"; it starts {snippet!r})",
            status=status,
        ) from None


def model_decoder(model: type[pydantic.BaseModel]) -> Callable[[Any], Any]:
    """Decode an answer into `model`, naming what did not fit."""

    def decode(data: Any) -> Any:
        try:
            return model.model_validate(data)
        except pydantic.ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "the answer"
            raise errors.InvalidResponse(
                f"the answer is not a {model.__name__}: {where}: {first.get('msg')} "
                f"({err.error_count()} problem(s))"
            ) from None

    return decode


def retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    text = value.strip()
    if text.isdigit() and len(text) < 10:
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - datetime.now(when.tzinfo)).total_seconds(), 0.0)


def api_error(status: int, headers: Mapping[str, str], data: bytes) -> errors.APIError:
    """The exception for an error answer: its problem document (members it lacks filled in),
    or, when the body is not one (a proxy's HTML page, a truncated body), a problem document
    saying so. The class follows the HTTP status, whatever the body claims."""
    reason = _REASONS.get(status, "Error")
    problem: Problem | None = None
    try:
        parsed = json.loads(data, parse_constant=_refuse_constant)
        if isinstance(parsed, dict):
            defaults = {
                "type": "about:blank",
                "title": reason,
                "status": status,
                "detail": "",
                "code": f"http.{status}",
            }
            problem = Problem.model_validate({**defaults, **parsed})
    except (ValueError, RecursionError, pydantic.ValidationError):
        problem = None
    if problem is None:
        snippet = data[:200].decode("utf-8", "replace").strip()
        problem = Problem(
            type="about:blank",
            title=reason,
            status=status,
            detail=f"the server answered {status} without a problem document"
            + (f": {snippet!r}" if snippet else ""),
            code=f"http.{status}",
        )
    cls = errors.error_class(status, problem.code)
    return cls(problem, status=status, retry_after=retry_after(headers))


_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    408: "RequestTimeout",
    409: "Conflict",
    413: "PayloadTooLarge",
    429: "TooManyRequests",
    500: "InternalError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


def should_retry(error: errors.APIError) -> bool:
    status = error.status
    return status >= 500 or status in (408, 429) or isinstance(error, errors.RequestInFlight)


def retrying(
    call: Call[Any], attempt: int, retry: Retry, why: Exception, retry_after: float | None
) -> float:
    """The wait before the next attempt, logged (never the key's secret or the body)."""
    delay = retry.delay(attempt, retry_after)
    reason = f"{why.status}" if isinstance(why, errors.APIError) else type(why).__name__
    log.info(
        "%s %s: %s; attempt %d of %d in %.2f s%s",
        call.method,
        call.path,
        reason,
        attempt + 1,
        retry.attempts,
        delay,
        f" with the same Idempotency-Key {call.idempotency_key}" if call.idempotency_key else "",
    )
    return delay


def transport_error(call: Call[Any], err: Exception, attempts: int) -> errors.TransportError:
    tries = f" (after {attempts} attempts)" if attempts > 1 else ""
    return errors.TransportError(
        f"{call.method} {call.path}: {type(err).__name__}: {err or 'no detail'}{tries}",
        attempts=attempts,
    )


def unexpected_status(call: Call[Any], status: int) -> errors.InvalidResponse:
    return errors.InvalidResponse(f"{call.method} {call.path} answered {status}", status=status)


def checked_page_size(page_size: int) -> int:
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise TypeError("page_size is an int")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size is 1 to {MAX_PAGE_SIZE}")
    return page_size


def next_cursor(seen: set[str], cursor: str | None) -> str | None:
    """The cursor for the next page; a server handing out a cursor again would loop forever."""
    if cursor is None:
        return None
    if cursor in seen:
        raise errors.InvalidResponse(f"the server returned the cursor {cursor[:40]!r} twice")
    seen.add(cursor)
    return cursor


def base_headers(api_key: str, operator_id: str | None) -> dict[str, str]:
    if not api_key or not api_key.strip():
        raise ValueError("an API key is required")
    headers = {
        "Authorization": f"Bearer {api_key.strip()}",
        "User-Agent": USER_AGENT,
        "Accept": "application/json",
        "Accept-Encoding": "identity",
    }
    if operator_id is not None:
        if not (0 < len(operator_id) <= 127 and operator_id.isprintable()):
            raise ValueError("operator_id is 1 to 127 printable characters")
        headers["x-operator-id"] = operator_id
    return headers


def api_root(base_url: str) -> str:
    """The API's root: `http://host:8080` and `http://host:8080/v1` both mean `.../v1`."""
    root = base_url.rstrip("/")
    return root if root.endswith("/v1") else root + "/v1"
