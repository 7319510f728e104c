"""Reading JSON request bodies, the same way in every dialect.

`json.loads` raises RecursionError (not ValueError) on deeply nested input such as a megabyte
of `[`; every dialect must answer that as malformed JSON in its own words, never as a 500.

JSON lets a string spell half of a UTF-16 pair (`"\\ud800"`); Python reads that as a lone
surrogate, which no UTF-8 text can hold, so hashing it or storing it would fail deep inside a
request. Such a body is malformed input here, in every dialect. The check costs one search of
the raw text for an escape of a surrogate; only a body that has one is looked at string by
string.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any


class BodyProblem(ValueError):
    """The body cannot be read as asked; the message says why, for the caller."""


# `\uD800`-`\uDFFF`: the escapes that can spell a surrogate (as bytes and as text).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
_SURROGATE_ESCAPE_TEXT = re.compile(r"\\u[dD][89abcdefABCDEF]")
# A surrogate written out in the bytes themselves (UTF-8 may not encode one, but `json.loads`
# decodes bytes with "surrogatepass"): ED A0-BF.
_SURROGATE_BYTES = re.compile(rb"\xed[\xa0-\xbf]")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _all_utf8(parsed: Any) -> bool:
    """Whether every string in a parsed body, keys included, can be written as UTF-8; walked
    without recursion, however deep the body."""
    todo = [parsed]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            if not _is_utf8(item):
                return False
        elif isinstance(item, dict):
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return True


def may_hold_surrogate(raw: bytes | str) -> bool:
    """Whether a JSON text escapes a surrogate anywhere (cheap; most bodies never do)."""
    if isinstance(raw, bytes):
        if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw[:4]:
            return True  # UTF-16 or UTF-32, which `json.loads` reads too: its escapes hide
        return _SURROGATE_ESCAPE.search(raw) is not None or _SURROGATE_BYTES.search(raw) is not None
    return _SURROGATE_ESCAPE_TEXT.search(raw) is not None or not _is_utf8(raw)


def check_text(raw: bytes | str, parsed: Any) -> None:
    """Refuses (BodyProblem) a body whose strings hold a lone surrogate, as malformed JSON."""
    if may_hold_surrogate(raw) and not _all_utf8(parsed):
        raise BodyProblem("the body is not valid JSON: a string holds a lone surrogate")


def loads(raw: bytes | str, *, decimals: bool = False) -> Any:
    """Parse JSON (numbers with fractions as Decimal when `decimals`); anything unreadable,
    however deep, or a string holding a lone surrogate, is a ValueError (BodyProblem)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        parsed = json.loads(text, parse_float=Decimal) if decimals else json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BodyProblem("the body is not valid JSON") from None
    check_text(raw, parsed)
    return parsed


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
