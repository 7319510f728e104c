"""TraderEvolution Back-Office in and out: lenient JSON bodies and query strings, JSON answers
with amounts as exact JSON numbers, and per-collection rate limits.

In: a JSON object; numbers may come quoted (`"userGroup": "42495"`), booleans as `"true"`;
several TE spellings of one field are accepted where TE's own material uses both. Out: JSON;
money is written as a number with the currency's decimals, straight from Decimal."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from brokerplane.api.kit.appstate import app_state
from brokerplane.api.kit.body import LenientBody
from brokerplane.api.kit.ratelimit import Allowance, SharedTake
from brokerplane.api.traderevolution.errors import (
    INVALID_REQUEST,
    error_body,
    invalid,
)
from brokerplane.application.app import Application
from brokerplane.core.errors import ValidationError
from brokerplane.core.kinds import Dialect
from brokerplane.core.money import out_of_range, parse_integer
from brokerplane.settings import Settings

DIALECT = Dialect.TRADEREVOLUTION
PREFIX = "/proftrading/rest"
MAX_INT = 2**63 - 1
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def services_of(request: Request) -> Application:
    services: Application = app_state(request).runtime.app
    return services


def settings_of(request: Request) -> Settings:
    settings: Settings = app_state(request).runtime.settings
    return settings


# ---- answers --------------------------------------------------------------------------------


def to_json(data: Any) -> str:
    """JSON text in which every Decimal is an exact number literal (never through a float)."""
    nonce = secrets.token_hex(8)
    literals: list[str] = []

    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            literals.append(format(value, "f"))
            return f"@{nonce}:{len(literals) - 1}@"
        if isinstance(value, datetime):
            return millis(value)
        raise TypeError(f"{type(value).__name__} is not JSON")

    text = json.dumps(data, default=default, ensure_ascii=False, separators=(",", ":"))
    if not literals:
        return text
    return re.sub(rf'"@{nonce}:(\d+)@"', lambda m: literals[int(m.group(1))], text)


def answer(data: Any, status: int = 200) -> Response:
    return Response(to_json(data), status_code=status, media_type="application/json")


def no_content() -> Response:
    return Response(status_code=204)


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        to_json(error_body(code, message)),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )


def body_refused(request: Request, status: int, reason: str) -> Response:
    """A body over the server's limit or stalled (api/bodylimit.py), refused while read."""
    return error_response(status, INVALID_REQUEST, reason)


def millis(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def accepts_json(request: Request) -> bool:
    """Whether the Accept header (if any) admits a JSON answer."""
    accept = request.headers.get("accept", "").strip().lower()
    if not accept:
        return True
    for part in accept.split(","):
        media = part.split(";", 1)[0].strip()
        if media in ("*/*", "application/*", "") or "json" in media:
            return True
    return False


# ---- reading bodies and queries -------------------------------------------------------------


def to_int(value: Any, name: str) -> int | None:
    """An integer from a number or numeric string (`"42495"`, `42495.0`); None when absent."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise invalid(f"{name} must be an integer")
    try:
        number = parse_integer(value, name)
    except ValidationError as err:
        if out_of_range(err):
            raise invalid(f"{name} is out of range") from None
        raise invalid(f"{name} must be an integer") from None
    if not -MAX_INT <= number <= MAX_INT:
        raise invalid(f"{name} is out of range")
    return number


class Body(LenientBody):
    """A request's JSON object, read leniently by the names TraderEvolution uses."""

    TRUE = frozenset(_TRUE)
    FALSE = frozenset(_FALSE)

    refuse = staticmethod(invalid)
    number = staticmethod(to_int)

    def unknown(self, known: set[str]) -> list[str]:
        return sorted(k for k in self.data if k not in known)


def query_text(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise invalid(f"{name} is given more than once")
    value = values[0]
    if "\x00" in value:
        raise invalid(f"{name} must not contain NUL characters")
    return value.strip() or None


def query_int(request: Request, name: str, low: int = 0, high: int = MAX_INT) -> int | None:
    value = to_int(query_text(request, name), name)
    if value is not None and not low <= value <= high:
        raise invalid(f"{name} must be between {low} and {high}")
    return value


def query_list(request: Request, name: str) -> tuple[str, ...] | None:
    """A comma-separated list (the parameter may also repeat)."""
    values = request.query_params.getlist(name)
    if not values:
        return None
    items = [item.strip() for value in values for item in value.split(",")]
    if any("\x00" in item for item in items):
        raise invalid(f"{name} must not contain NUL characters")
    return tuple(item for item in items if item)


def query_time(request: Request, name: str) -> datetime | None:
    """A time as TraderEvolution sends it: epoch milliseconds."""
    value = query_int(request, name, 0, 253_402_300_799_999)  # up to 9999-12-31
    return datetime.fromtimestamp(value / 1000, UTC) if value is not None else None


def paging(request: Request, default_limit: int = 1000, max_limit: int = 1000) -> tuple[int, int]:
    """(offset, limit) from the query: limit 1..max_limit (default `default_limit`)."""
    offset = query_int(request, "offset", 0, 10**9) or 0
    limit = query_int(request, "limit", 1, max_limit)
    return offset, default_limit if limit is None else limit


def path_id(value: str, name: str = "id") -> int:
    number = to_int(value, name)
    if number is None or number <= 0:
        raise invalid(f"{name} must be a positive integer")
    return number


# ---- rate limits ----------------------------------------------------------------------------


class Throttle(Allowance):
    """A few requests a second per caller and collection (spec 4): a bucket of `per_second`
    requests refilled every second, in this process or (`shared`) in the database every
    process uses. 0 turns the limit off."""

    def __init__(
        self,
        per_second: int,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedTake | None = None,
    ) -> None:
        super().__init__(per_second, 1.0, clock=clock, shared=shared, namespace="te")
        self.per_second = per_second


async def throttle(request: Request, who: str) -> None:
    """Count the request against `who` for its collection (the path's first segment)."""
    path = request.url.path
    rest = path[len(PREFIX) :] if path.startswith(PREFIX) else path
    collection = rest.strip("/").split("/", 1)[0].lower()
    limiter: Throttle = app_state(request).te_throttle
    await limiter.admit(f"{who}|{collection}")
