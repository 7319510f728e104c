"""Text cells a spreadsheet would run as a formula, made safe: the rule every CSV export
follows, whoever writes the CSV (api/csvcells.py explains why each character matters; the
database-written exports in storage/sql/csvcells.py follow the same rule).

A text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`
unless it is a plain decimal number; inside text, a `;` followed (after any `"`) by one of those
characters gets a `'` after it."""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# A `;` (a list separator where Excel's locale says so) before a formula character.
_SEPARATED_FORMULA = re.compile(r';(?="*[=+\-@\t\r])')


def needs_care(text: str) -> bool:
    """Whether `text` may need `safe_text` (cheap: its first character and a search for `;`)."""
    return text.startswith(FORMULA_STARTS) or ";" in text


def safe_text(text: str) -> str:
    """`text` as a cell no spreadsheet runs as a formula."""
    if ";" in text:
        text = _SEPARATED_FORMULA.sub(";'", text)
    if text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text
