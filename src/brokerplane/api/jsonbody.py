"""Reading JSON request bodies, the same way in every dialect.

`json.loads` raises RecursionError (not ValueError) on deeply nested input such as a megabyte
of `[`; every dialect must answer that as malformed JSON in its own words, never as a 500.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


class BodyProblem(ValueError):
    """The body cannot be read as asked; the message says why, for the caller."""


def loads(raw: bytes | str, *, decimals: bool = False) -> Any:
    """Parse JSON (numbers with fractions as Decimal when `decimals`); anything unreadable,
    however deep, is a ValueError."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return json.loads(text, parse_float=Decimal) if decimals else json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BodyProblem("the body is not valid JSON") from None


def json_object(raw: bytes, *, required: bool = True) -> dict[str, Any]:
    """A request body that must be one JSON object (its size was bounded while it was read:
    api/bodylimit.py); empty gives {} unless `required`. Numbers with fractions come as
    Decimal, so money stays exact."""
    raw = raw.strip()
    if not raw:
        if required:
            raise BodyProblem("the request has no body; a JSON object is expected")
        return {}
    parsed = loads(raw, decimals=True)
    if not isinstance(parsed, dict):
        raise BodyProblem("the body must be a JSON object")
    return parsed
