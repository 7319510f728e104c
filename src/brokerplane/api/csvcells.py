"""CSV safe to open in a spreadsheet, the same way in every dialect that writes CSV.

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage return
before one) as a formula, so a name or comment such as `=HYPERLINK(...)` typed by a client would
run on the back-office desk that opens the export. Text cells starting with one of those get a
leading `'` (OWASP's advice: the spreadsheet then shows the text as it is). Numbers stay numbers:
a cell that is a plain decimal number (`-5.00`, `-12`) is left alone, so money keeps its sign.
Only the first character (and whether the text holds a `;`, below) is looked at, so the cost
per cell is a comparison and a search.

A carriage return inside a cell would end the row for most readers (the writer's lines end in
`\n`, so csv.writer does not quote a lone `\r`), and the text after it would start a row of its
own, formula and all: `CsvOut` writes a row holding one with every cell quoted.

Excel splits an opened CSV on the list separator of the desk's locale, which is `;` in much of
Europe, not `,`; it reads quotes only at the start of what it splits off, and `,` is then text.
So an email `a;=9+9@x.io` gives a cell starting `=9+9@x.io`, quoted or not. Inside text, a `;`
followed (after any `"`) by one of the formula characters gets a `'` after it, so the piece that
starts there is text too: `a;'=9+9@x.io`. Text without a `;` costs one more search of the
cell; rows without such text are written byte for byte as before.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

# The rule itself is the core's (core/csvtext.py); the names stay importable from here.
from brokerplane.core.csvtext import FORMULA_STARTS, needs_care, safe_text

__all__ = ["FORMULA_STARTS", "CsvOut", "needs_care", "safe_cell", "safe_text"]


def safe_cell(value: Any) -> Any:
    """A cell for csv.writer: text made safe by `safe_text`, anything else as it is."""
    if isinstance(value, str) and needs_care(value):
        return safe_text(value)
    return value


class CsvOut:
    """CSV lines ending in `\n` into a buffer, taken out piece by piece; a row with a carriage
    return in some cell is written with every cell quoted, so it stays one row."""

    def __init__(self) -> None:
        self._buf = io.StringIO()
        self._plain = csv.writer(self._buf, lineterminator="\n")
        self._quoted = csv.writer(self._buf, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def writerow(self, row: Sequence[Any]) -> None:
        if any(isinstance(cell, str) and "\r" in cell for cell in row):
            self._quoted.writerow(row)
        else:
            self._plain.writerow(row)

    def writerows(self, rows: Iterable[Sequence[Any]]) -> None:
        """Many rows at once; only when what they wrote holds a carriage return (rare) are they
        written again one by one."""
        rows = list(rows)
        start = self._buf.tell()
        self._plain.writerows(rows)
        if "\r" in self._buf.getvalue()[start:]:
            self._buf.seek(start)
            self._buf.truncate()
            for row in rows:
                self.writerow(row)

    def take(self) -> str:
        """What was written since the last take."""
        text = self._buf.getvalue()
        self._buf.seek(0)
        self._buf.truncate()
        return text
