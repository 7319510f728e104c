"""The lenient body reader the cTrader and TraderEvolution dialects share: a request's JSON object
(api/jsonbody.py) read by name, where numbers may come quoted (`"balance": "00"`), booleans as
words and unknown keys are ignored. A dialect's subclass says which words are booleans, how a
refusal reads (`refuse`), how an integer is read (`number`), and two habits of its platform:
whether a boolean may stand for text, and whether required text is answered trimmed."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Self

from fastapi import Request

from brokerplane.api.jsonbody import BodyProblem, json_object
from brokerplane.core.errors import ValidationError
from brokerplane.core.money import parse_decimal


class LenientBody:
    """A request's JSON object, read leniently by the names a platform uses; a reader taking
    several names takes the first one present (not null)."""

    TRUE: frozenset[str] = frozenset()
    FALSE: frozenset[str] = frozenset()
    BOOL_AS_TEXT = False  # a boolean where text is wanted reads "true" / "false"
    TRIM_REQUIRED = False  # require_text answers the text without surrounding blanks

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = dict(data)

    @staticmethod
    def refuse(message: str, /) -> Exception:  # pragma: no cover - every dialect says its own
        raise NotImplementedError

    @staticmethod
    def number(value: Any, name: str, /) -> int | None:  # pragma: no cover - as refuse
        raise NotImplementedError

    @classmethod
    async def of(cls, request: Request, *, required: bool = True) -> Self:
        try:
            return cls(json_object(await request.body(), required=required))
        except BodyProblem as problem:
            raise cls.refuse(str(problem)) from None

    def pick(self, *names: str) -> tuple[str, Any]:
        """The first of `names` present (not null), with its value; (names[0], None) if none."""
        for name in names:
            if self.data.get(name) is not None:
                return name, self.data[name]
        return names[0], None

    def has(self, *names: str) -> bool:
        return self.pick(*names)[1] is not None

    def text(self, *names: str) -> str | None:
        name, value = self.pick(*names)
        if value is None:
            return None
        if isinstance(value, dict | list) or (isinstance(value, bool) and not self.BOOL_AS_TEXT):
            raise self.refuse(f"{name} must be a string")
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, Decimal):
            return format(value, "f")
        return str(value)

    def require_text(self, *names: str) -> str:
        value = self.text(*names)
        if value is None or not value.strip():
            raise self.refuse(f"{names[0]} is required")
        return value.strip() if self.TRIM_REQUIRED else value

    def integer(self, *names: str) -> int | None:
        name, value = self.pick(*names)
        return self.number(value, name)

    def require_integer(self, *names: str) -> int:
        value = self.integer(*names)
        if value is None:
            raise self.refuse(f"{names[0]} is required")
        return value

    def decimal(self, *names: str) -> Decimal | None:
        name, value = self.pick(*names)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
            raise self.refuse(f"{name} must be a number")
        try:
            return parse_decimal(value, name)
        except ValidationError:
            raise self.refuse(f"{name} must be a finite number") from None

    def boolean(self, *names: str) -> bool | None:
        name, value = self.pick(*names)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int | Decimal) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in self.TRUE | self.FALSE:
            return value.strip().lower() in self.TRUE
        raise self.refuse(f"{name} must be true or false")
