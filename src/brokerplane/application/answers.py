"""A command's result as stored data: what a request id remembers, replayed after a restart.

The idempotency record of a keyed write holds the command's result (a posting, a transfer, an
account...), not any dialect's rendering of it: the dialect renders the answer once, after the
commit, from the fresh result or from the one read back here. The form is JSON with tagged
values, so a result reads back as the same dataclasses, decimals, times and enums.

Secrets are never remembered: a field named in NEVER_STORED (a new key's or webhook's secret,
passwords and their hashes, token hashes, verifiers) is stored as null, so a replay shows it
null, as a secret shown once should; no dialect renders the others.
Classes read back must be brokerplane's own dataclasses or enums.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

NEVER_STORED = frozenset(
    {
        "secret",
        "secret_hash",
        "secret_digest",
        "sealed_secret",
        "token_hash",
        "verifiers",
        "password",
        "main_password",
        "investor_password",
        "phone_password",
        "api_password",
    }
)
_PACKAGE = "brokerplane."


def dump(result: object) -> str:
    """`result` as the text stored with its request id."""
    return json.dumps(_encode(result), ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def load(text: str) -> Any:
    """A result as `dump` stored it."""
    return _decode(json.loads(text))


def _name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


_PLAIN = (type(None), bool, int, str)
# Per dataclass: its tag and its fields' names, worked out once (the keyed money path runs hot).
_SHAPES: dict[type, tuple[str, tuple[str, ...]]] = {}


def _shape(cls: type) -> tuple[str, tuple[str, ...]]:
    shape = _SHAPES.get(cls)
    if shape is None:
        names = tuple(f.name for f in dataclasses.fields(cls))
        shape = _SHAPES[cls] = (_name(cls), names)
    return shape


def _encode(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:  # exactly these: an IntEnum or StrEnum keeps its class below
        return value
    if kind in _SHAPES or (dataclasses.is_dataclass(value) and not isinstance(value, type)):
        tag, names = _shape(kind)
        fields: dict[str, Any] = {}
        for name in names:
            if name in NEVER_STORED:
                fields[name] = None
                continue
            field = getattr(value, name)
            # plain values as they are, without a call each (most of a result's fields)
            fields[name] = field if type(field) in _PLAIN else _encode(field)
        return {"$c": tag, "f": fields}
    if isinstance(value, Enum):
        return {"$e": _name(kind), "v": _encode(value.value)}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return {"$f": repr(value)}
    if isinstance(value, Decimal):
        return {"$d": str(value)}
    if isinstance(value, datetime):
        return {"$t": value.isoformat()}
    if isinstance(value, date):
        return {"$day": value.isoformat()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, tuple):
        return {"$tu": [_encode(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"$fs": [_encode(v) for v in value]}
    if isinstance(value, dict):
        return {"$m": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode()}
    raise TypeError(f"a {kind.__name__} cannot be stored as a command's answer")


def _class(name: str) -> type:
    module, _, qualname = name.partition(":")
    if not module.startswith(_PACKAGE):
        raise ValueError(f"not a brokerplane class: {name}")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    if not isinstance(found, type):
        raise ValueError(f"not a class: {name}")
    return found


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$c" in value:
        cls = _class(value["$c"])
        if not dataclasses.is_dataclass(cls):
            raise ValueError(f"not a dataclass: {value['$c']}")
        made = object.__new__(cls)  # as stored: no __init__ or __post_init__ runs again
        for name, field_value in value["f"].items():
            object.__setattr__(made, name, _decode(field_value))
        return made
    if "$d" in value:
        return Decimal(value["$d"])
    if "$t" in value:
        return datetime.fromisoformat(value["$t"])
    if "$tu" in value:
        return tuple(_decode(v) for v in value["$tu"])
    if "$e" in value:
        enum_class = _class(value["$e"])
        if not issubclass(enum_class, Enum):
            raise ValueError(f"not an enum: {value['$e']}")
        return enum_class(_decode(value["v"]))
    if "$m" in value:
        return {_decode(k): _decode(v) for k, v in value["$m"]}
    if "$fs" in value:
        return frozenset(_decode(v) for v in value["$fs"])
    if "$day" in value:
        return date.fromisoformat(value["$day"])
    if "$f" in value:
        return float(value["$f"])
    if "$b" in value:
        return base64.b64decode(value["$b"])
    raise ValueError(f"not a stored answer: {sorted(value)}")
