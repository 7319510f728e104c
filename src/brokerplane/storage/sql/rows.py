"""What every repository's statements share: statements built per dialect, rows as dicts, and
the keyset page of the verifiers' streams."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Row

from brokerplane.storage.engine import dialect_insert

# Keyset pages of the verifiers' streams.
STREAM_PAGE = 5000


class PerDialect(dict[str, Any]):
    """Statements built for a dialect when it first asks for them (`build(insert)`)."""

    def __init__(self, build: Callable[[Any], Any]) -> None:
        super().__init__()
        self._build = build

    def __missing__(self, name: str) -> Any:
        made = self[name] = self._build(dialect_insert(name))
        return made


def row_dict(row: Row[Any]) -> dict[str, Any]:
    return dict(row._mapping)
