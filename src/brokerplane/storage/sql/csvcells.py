"""The users CSV's cells written by the database: the same text, byte for byte, that
`api/native/accounts.py` (`_csv_row`) and `api/csvcells.py` write from plain rows, so a big
export can leave the formatting to PostgreSQL's `COPY ... CSV` and only pass its bytes on, or,
on SQLite, have the statement write each page's lines as one text (`sqlite_page`).

Per column: money (`balance`, `credit`, `bonus`) as decimal text with the account currency's
digits; `enabled` as `True`/`False` from the rights; integers as digits; times as ISO 8601 in
UTC with Z; text made safe for spreadsheets (a leading `'` on a cell starting with a formula
character unless it is a plain number, and `;'` for a `;` before one), as `safe_text` does;
blank (hidden) cells and empty text as SQL NULL, which COPY writes as an empty field, as
csv.writer writes "". COPY quotes a cell holding `,`, `"`, a line feed or a carriage return,
as csv.writer does, except that the users CSV writes a row holding a carriage return with every
cell quoted: such a page (and one whose cells hold line feeds, which a caller cannot split into
rows cheaply) is left to the plain rows on PostgreSQL; SQLite writes such a row's line through
`careful_line`. tests/dialects/native/test_report_csv_copy.py holds the paths to the same bytes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Collection, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, NUMERIC

from brokerplane.core.account.model import RIGHT_ENABLED
from brokerplane.core.csvtext import needs_care, safe_text
from brokerplane.storage import tables as t
from brokerplane.storage.sql.isotime import iso_text

MONEY = frozenset({"balance", "credit", "bonus"})
# The characters a spreadsheet reads as the start of a formula (api/csvcells.FORMULA_STARTS).
_STARTS = "-=+@\t\r"
_FORMULA_START = f"^[{_STARTS}]"
_SEPARATED_FORMULA = f';(?="*[{_STARTS}])'
_NUMBER = r"^-?[0-9]+(\.[0-9]+)?$"


def _matches(column: Any, op: str, pattern: str) -> Any:
    """`column ~ pattern` (or `!~`): a POSIX regular expression, PostgreSQL's."""
    return column.op(op, is_comparison=True)(literal(pattern))


def _safe_text(column: Any) -> Any:
    """A text cell as `safe_text` writes it; NULL for empty text. Most cells need nothing:
    the first character's code and a search for `;` tell (regular expressions cost more)."""
    separated = func.regexp_replace(column, literal(_SEPARATED_FORMULA), literal(";'"), "g")
    safe = case(
        (
            _matches(separated, "~", _FORMULA_START) & _matches(separated, "!~", _NUMBER),
            literal("'") + separated,
        ),
        else_=separated,
    )
    care = func.ascii(column).in_([ord(c) for c in _STARTS]) | (func.strpos(column, ";") > 0)
    return case((care, safe), else_=func.nullif(column, ""))


# 10 ** -digits as exact decimals: minor units times one of them is the amount, with exactly
# `digits` decimals (a numeric product's scale is the sum of its factors' scales).
_SCALES = literal_column(
    "('{" + ",".join(f"{Decimal(1).scaleb(-d):f}" for d in range(19)) + "}'::numeric[])",
    type_=ARRAY(NUMERIC),
)


def _money(column: Any) -> Any:
    """Minor units as `format_units` writes them: `-12.30`, `0.05`, `7` for 0 digits."""
    digits = t.accounts.c.currency_digits
    scale = _SCALES[digits + 1]
    return case(
        (digits == 0, cast(column, String)),
        else_=cast(cast(column, NUMERIC) * scale, String),
    )


def iso_time(column: Any) -> Any:
    """A UTC time as `iso_text` writes it, from PostgreSQL's own text of the time (DateStyle
    ISO, which `account_csv` sets): `2031-02-03 04:05:06.12` becomes
    `2031-02-03T04:05:06.120000Z`; a time without a fraction keeps none. Cheaper than to_char."""
    utc = func.timezone("UTC", column)
    text = func.replace(cast(utc, String), " ", "T")
    whole = func.date_trunc("second", utc) == utc
    return case((whole, text + "Z"), else_=func.rpad(text, 26, "0") + "Z")


def csv_cell(name: str) -> Any:
    """The SQL of one users-CSV cell, on PostgreSQL."""
    return _cell(name, _safe_text, _money, iso_time)


# ---- SQLite: whole lines -------------------------------------------------------------------

# The SQL function SQLite calls for the rare row that needs more than its cells joined by
# commas (`careful_line`, registered on the connection by the export).
CAREFUL_LINE_FUNCTION = "bp_csv_line"
_UNIT = "\x1f"  # joins a row's text cells for the row's one check; never written out
# A text cell starting like a formula (after the joining character), or any cell holding a
# character that calls for quoting or for the `;` rule.
_STARTS_GLOB = f"*{_UNIT}[{_STARTS}]*"  # `-` first: a literal, not a range
_SPECIAL = (",", '"', ";", "\n", "\r")


def _sqlite_money(column: Any) -> Any:
    """Minor units as `format_units` writes them, by integer arithmetic (exact for any BIGINT):
    the sign, the units over 10 ** digits, a point, the remainder padded to `digits`."""
    digits = t.accounts.c.currency_digits
    ten = cast(func.substr("1" + "0" * 18, 1, digits + 1), Integer)  # 10 ** digits, up to 18
    sign = case((column < 0, "-"), else_="")
    whole = func.abs(column.op("/")(ten))  # SQLite's integer division (truncating)
    rest = func.abs(column.op("%")(ten))
    return case(
        (digits == 0, cast(column, String)),
        (column == 0, func.substr("0." + "0" * 18, 1, digits + 2)),
        else_=sign + func.printf("%d.%0*d", whole, digits, rest, type_=String),
    )


def _sqlite_plain(name: str) -> Any:
    """A cell of a row that needs no care, as SQLite's printf('%s') writes it: text as stored,
    money as text, `enabled` as True/False, integers as digits, times as ISO 8601 text."""
    return _cell(name, lambda column: column, _sqlite_money, lambda c: iso_text(c, "sqlite"))


def sqlite_page(
    columns: Sequence[str], blank: Collection[str], page: Callable[[list[Any]], Any]
) -> Any:
    """The SQL of a page's users-CSV lines on SQLite, as one row: (lines, last login, the
    page's text). `page(cells)` is the page's statement (ordered, limited) selecting `cells`.

    A row whose text cells hold no `,` `"` `;` or line break and none of which starts like a
    formula (nearly every row; one check over the row's text cells joined) is its cells
    joined by commas (one printf); any other row goes through CAREFUL_LINE_FUNCTION
    (`careful_line`). The page is a subquery (its LIMIT keeps it one), so each cell and the
    joined text are computed once per row, in the page's order, which group_concat keeps."""
    cells = [literal("", String) if n in blank else _sqlite_plain(n) for n in columns]
    texts = [c for n, c in zip(columns, cells, strict=True) if n not in blank and _is_text(n)]
    joined = func.printf(_UNIT.join(["", *("%s" for _ in texts)]), *texts, type_=String)
    rows = page([*(c.label(f"c{i}") for i, c in enumerate(cells)), joined.label("joined")])
    inner = rows.subquery()
    out = [inner.c[f"c{i}"] for i in range(len(cells))]
    j = inner.c.joined
    care = or_(
        *(func.instr(j, literal(ch)) > 0 for ch in _SPECIAL),
        j.op("GLOB")(literal(_STARTS_GLOB)),
    )
    plain = func.printf(",".join("%s" for _ in out) + "\n", *out, type_=String)
    careful = getattr(func, CAREFUL_LINE_FUNCTION)(*out, type_=String)
    line = case((care, careful), else_=plain)
    return select(func.count(), func.max(out[0]), func.group_concat(line, ""))


def _is_text(name: str) -> bool:
    return name == "group" or (
        name != "enabled" and name not in MONEY and isinstance(t.accounts.c[name].type, String)
    )


def careful_line(columns: Sequence[str], blank: Collection[str]) -> Callable[..., str]:
    """The line of a row that needs care, from its cells (`sqlite_line`'s): its text cells
    made safe (core.csvtext.safe_text), then written as csv.writer writes them, every cell
    quoted when one holds a carriage return (as the users CSV writes such a row)."""
    text_at = frozenset(i for i, n in enumerate(columns) if n not in blank and _is_text(n))

    def line(*cells: Any) -> str:
        row = [
            safe_text(c) if i in text_at and c and needs_care(c) else c for i, c in enumerate(cells)
        ]
        out = io.StringIO()
        if any(isinstance(c, str) and "\r" in c for c in row):
            csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL).writerow(row)
        else:
            csv.writer(out, lineterminator="\n").writerow(row)
        return out.getvalue()

    return line


def _cell(
    name: str, text: Callable[[Any], Any], money: Callable[[Any], Any], time: Callable[[Any], Any]
) -> Any:
    """One cell from the engine's own text, money and time expressions."""
    a = t.accounts.c
    if name == "enabled":
        return case((a.rights.op("&")(RIGHT_ENABLED) != 0, "True"), else_="False").label(name)
    if name == "group":
        return text(t.groups.c.name).label(name)
    column = a[name]
    if name in MONEY:
        return money(column).label(name)
    if isinstance(column.type, (Integer, BigInteger)):
        return column
    if isinstance(column.type, String):
        return text(column).label(name)
    return time(column).label(name)
