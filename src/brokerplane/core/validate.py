"""Small shared checks for command fields: text lengths, integer ranges, enumerations."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from brokerplane.core.errors import FieldError, ValidationError

# The largest login, ticket or row id: every integer a caller sends that reaches a query must
# be a signed 64-bit number (SQLite's INTEGER and PostgreSQL's BIGINT), checked before it does.
MAX_LOGIN = 2**63 - 1
MAX_ID = MAX_LOGIN


def require_id(field: str, value: int | None, low: int = 1, high: int = MAX_ID) -> None:
    """A login or id a caller named, when given: between `low` and `high` (a signed 64-bit
    number by default), else a ValidationError naming the field."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError.field(field, f"must be between {low} and {high}")


class Problems:
    """Collects field errors so one response can name every bad field at once."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, field: str, message: str) -> None:
        self.items.append(FieldError(field, message))

    def raise_if_any(self, error: type[ValidationError] = ValidationError) -> None:
        if self.items:
            names = ", ".join(dict.fromkeys(f.field for f in self.items))
            raise error(f"invalid fields: {names}", fields=self.items)

    def text(self, field: str, value: Any, limit: int, *, required: bool = False) -> None:
        if not isinstance(value, str):
            self.add(field, "must be a string")
        elif "\x00" in value:
            self.add(field, "must not contain NUL characters")
        elif len(value) > limit:
            self.add(field, f"is longer than {limit} characters")
        elif required and not value.strip():
            self.add(field, "is required")

    def integer(self, field: str, value: Any, low: int, high: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(field, "must be an integer")
        elif not low <= value <= high:
            self.add(field, f"must be between {low} and {high}")

    def choice(self, field: str, value: Any, choices: Iterable[str]) -> None:
        options = tuple(choices)
        if value not in options:
            self.add(field, "must be one of " + ", ".join(options))

    def boolean(self, field: str, value: Any) -> None:
        if not isinstance(value, bool):
            self.add(field, "must be true or false")
