"""What a setting is: a field's default, bounds and description (`setting()`), the limits the
fields share, and where values come from (BROKERPLANE_* variables). No pydantic here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar, cast

from brokerplane.core.backoffice.model import REPLAY_WINDOW
from brokerplane.core.kinds import API_DIALECTS

DIALECTS: tuple[str, ...] = API_DIALECTS
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical", "trace")
# A signed webhook is accepted while its timestamp is within REPLAY_WINDOW of the server's time
# (either side): its id must be remembered at least twice that long, or it could run again.
MIN_RETENTION = 2 * REPLAY_WINDOW
MIN_RETENTION_DAYS = MIN_RETENTION.total_seconds() / 86400


ENV_PREFIX = "BROKERPLANE_"
# Upper bounds of durations and rates: every value beyond is a typo (and would overflow the
# timedelta or the database integer it becomes).
MAX_DAYS = 36_500
MAX_HOURS = MAX_DAYS * 24
MAX_RATE = 10_000_000

T = TypeVar("T")


def environment(fields: Any) -> dict[str, str]:
    """The BROKERPLANE_<FIELD> variables set (names in any case), by field name."""
    prefix = ENV_PREFIX.lower()
    found: dict[str, str] = {}
    for key, value in os.environ.items():
        name = key.lower()
        if name.startswith(prefix) and name[len(prefix) :] in fields:
            found[name[len(prefix) :]] = value
    return found


class Spec:
    """One field: its default, its pydantic bounds (gt, ge, le, max_length) and description."""

    __slots__ = ("annotation", "bounds", "default", "description")

    def __init__(self, default: Any, description: str | None, bounds: dict[str, Any]) -> None:
        self.default = default
        self.description = description
        self.bounds = bounds
        self.annotation = ""  # the field's type as written, set when the class is made


def setting(default: T, *, description: str | None = None, **bounds: Any) -> T:
    """A field's default with pydantic's Field bounds (gt, ge, le, max_length)."""
    return cast(T, Spec(default, description, bounds))


def fields_of(cls: type) -> dict[str, Spec]:
    """The class's fields in order, each default put back as the class attribute."""
    found: dict[str, Spec] = {}
    for name, annotation in cls.__annotations__.items():
        value = cls.__dict__.get(name)
        spec = value if isinstance(value, Spec) else Spec(value, None, {})
        spec.annotation = annotation
        found[name] = spec
        setattr(cls, name, spec.default)
    return found


def database_url(database_url: str, data_dir: Path) -> str:
    """The URL the settings name: `database_url`, else SQLite under `data_dir`."""
    if database_url:
        return database_url
    return f"sqlite:///{(data_dir / 'brokerplane.db').as_posix()}"
