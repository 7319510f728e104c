"""Helpers every native router shares: services lookup, query parsing, cursors, error docs."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from brokerplane.api.native.auth import runtime_of
from brokerplane.api.native.errors import PROBLEM_MEDIA_TYPE
from brokerplane.api.native.schemas import Problem
from brokerplane.application.services import Services
from brokerplane.core.errors import ValidationError
from brokerplane.core.validate import MAX_ID

# Errors are sent as problem+json: the document gives that media type the Problem schema.
PROBLEM = {
    "model": Problem,
    "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {**PROBLEM, "description": "ValidationError: the input is invalid (fields named)"},
    401: {**PROBLEM, "description": "Unauthorized: missing or invalid bearer key"},
    403: {**PROBLEM, "description": "PermissionDenied: the key lacks the scope"},
    429: {**PROBLEM, "description": "TooManyRequests: the key's rate limit; see Retry-After"},
    503: {**PROBLEM, "description": "ManagerOffline: the database is unreachable"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {**PROBLEM, "description": "NotFound"}}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        **PROBLEM,
        "description": "Conflict; AlreadyApplied (the request id was used for a different "
        "request); RequestInFlight (the request id is still being processed: see Retry-After)",
    }
}


def services(request: Request) -> Services:
    return runtime_of(request).services


def encode_cursor(kind: str, value: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def next_cursor(kind: str, page: list[Any], limit: int, key: str) -> str | None:
    """A cursor after the last item of a full page; None when the page is the last."""
    if len(page) < limit:
        return None
    return encode_cursor(kind, int(getattr(page[-1], key)))


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        found, _, value = raw.partition(":")
        if found != kind:
            raise ValueError(found)
        number = int(value)
        if not 0 <= number <= MAX_ID:  # a forged cursor must not reach the query
            raise ValueError(value)
        return number
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError.field("cursor", "is not a cursor this API returned") from None


def parse_time(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 time (naive means UTC) or unix seconds."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise ValidationError.field(name, "must be an ISO 8601 time or unix seconds") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def wants_csv(request: Request, format: str | None) -> bool:
    if format not in (None, "json", "csv"):
        raise ValidationError.field("format", "must be json or csv")
    return format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))
