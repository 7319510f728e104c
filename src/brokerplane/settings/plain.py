"""The plain path: a Settings whose values are all plain (a value for each field that pydantic
would take unchanged or convert in the one obvious way: digits for a number, true/false, a
path, a string within its bounds) is built without pydantic, to the same result."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from brokerplane.settings.rules import BLANK_IS_UNSET, FIELD_VALIDATORS, check_together
from brokerplane.settings.spec import Spec

if TYPE_CHECKING:
    from pydantic import SecretStr


_DIGITS = re.compile(r"(?:0|[1-9][0-9]{0,17})")
_NUMBER = re.compile(r"(?:0|[1-9][0-9]{0,17})(?:\.[0-9]{1,17})?")
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


class _NotPlain(Exception):
    """A value the plain path leaves to pydantic."""


def _as_int(value: object) -> int:
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _NotPlain


def _as_float(value: object) -> float:
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return float(value)
    if isinstance(value, float) and math.isfinite(value):
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= 2**53:
        return float(value)  # exactly (a larger int may not fit a float: pydantic decides)
    raise _NotPlain


def _as_decimal(value: object) -> Decimal:
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return Decimal(value)
    if isinstance(value, Decimal) and value.is_finite():
        return value
    raise _NotPlain


def _as_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise _NotPlain


def _as_str(value: object) -> str:
    # A lone surrogate (an undecodable byte in the environment): pydantic refuses it where the
    # string has bounds, so it decides.
    if isinstance(value, str) and (value.isascii() or _is_utf8(value)):
        return value
    raise _NotPlain


def _is_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _as_path(value: object) -> Path:
    if isinstance(value, Path):
        return value
    if isinstance(value, str) and value:
        return Path(value)
    raise _NotPlain


def _as_secret(value: object) -> SecretStr:
    """An audit key: pydantic's SecretStr, whose module is far lighter than the model."""
    from pydantic import SecretStr

    if isinstance(value, str):
        return SecretStr(value)
    raise _NotPlain


_PLAIN: dict[str, Callable[[object], object]] = {
    "SecretStr": _as_secret,
    "int": _as_int,
    "float": _as_float,
    "Decimal": _as_decimal,
    "bool": _as_bool,
    "str": _as_str,
    "Path": _as_path,
}


def _within(value: Any, bounds: Mapping[str, Any]) -> bool:
    for bound, limit in bounds.items():
        if bound == "gt":
            ok = value > limit
        elif bound == "ge":
            ok = value >= limit
        elif bound == "le":
            ok = value <= limit
        elif bound == "max_length":
            ok = len(value) <= limit
        else:  # a bound the plain path does not know
            return False
        if not ok:
            return False
    return True


def _plain_value(name: str, spec: Spec, value: object) -> object:
    kind = spec.annotation
    if kind.endswith(" | None"):
        if name in BLANK_IS_UNSET and isinstance(value, str) and not value.strip():
            value = None
        if value is None:
            return None
        kind = kind.removesuffix(" | None")
    convert = _PLAIN.get(kind)
    if convert is None:
        raise _NotPlain
    converted = convert(value)
    if not _within(converted, spec.bounds):
        raise _NotPlain
    rule = FIELD_VALIDATORS.get(name)
    if rule is not None:
        try:
            converted = rule(cast(str, converted))
        except ValueError:
            raise _NotPlain from None
    return converted


def plain(specs: Mapping[str, Spec], given: Mapping[str, Any]) -> dict[str, Any] | None:
    """Every field's value as pydantic would make it, or None when one is not plain (or
    wrong): then pydantic decides."""
    values: dict[str, Any] = {}
    try:
        for name, spec in specs.items():
            values[name] = _plain_value(name, spec, given.get(name, spec.default))
        check_together(values)
    except (_NotPlain, ValueError):
        return None
    return values
