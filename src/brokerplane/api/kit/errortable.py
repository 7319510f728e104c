"""The error-table base every dialect shares: each dialect maps every CoreError class to its own
words in one table (tests/architecture checks none is missing), and an error takes the row of
its nearest class."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from brokerplane.core.errors import CoreError

Row = TypeVar("Row")


def row_of(table: Mapping[type[CoreError], Row], err: CoreError, default: Row) -> Row:
    """The row of the nearest class of `err` in `table`; `default` only for a table that does
    not map CoreError itself (every dialect's does)."""
    for cls in type(err).__mro__:
        if cls in table:
            return table[cls]
    return default  # pragma: no cover - every dialect's table maps CoreError itself
